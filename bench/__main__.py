"""`python -m bench`: every benchmark and a summary table (bench/run_all.py)."""

from bench.run_all import main

raise SystemExit(main())
