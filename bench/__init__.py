"""Benchmarks for the quality bars of SPEC §7. Run one with `python -m bench.<name>` from the
repository root, or all of them with `python -m bench`; `--quick` runs a few iterations only.

Each prints the machine it ran on, its figures, the baseline measured in the same run, the ratio
to it, the target and PASS/MISS. Timing targets are checked here, never in the test suite.
"""
