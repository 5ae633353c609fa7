"""The quality benchmark: real edit cases kept as data (cases/*.toml), run through the real engine, scored
automatically. `python -m tests.bench.quality --help`. A benchmark, not a test: no file here is collected by
pytest except test_cases.py, which checks the data and the scoring themselves (no model).
"""
