"""Test support: what the tests share, and what the benchmark tooling
(bench/) borrows from them, e.g. the gunicorn harness (server.py). Nothing
in the product imports it."""
