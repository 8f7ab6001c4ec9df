"""Scripts that drive Binance's own connectors against the paper exchange. They run in the
connectors' interpreters (tests/connector_envs.py), started by tests/test_paper_connectors.py
with `python -m tests.connectors.<name>_script` from the repository root; nothing here is a
test module of its own."""
