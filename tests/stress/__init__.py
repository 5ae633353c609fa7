"""The stress and fault suite: `python -m tests.stress.report [--quick]` runs every scenario and writes
docs/RELIABILITY.md and docs/reliability.json.

Not part of the pytest suite: no module here is named test_*, so `python -m pytest` collects nothing from this
folder. Each scenario is a module with `run(quick: bool) -> dict` (see common.result for its shape) and can be
run alone: `python -m tests.stress.<name> [--quick]`. Everything is local: tiny models written on the spot,
servers on 127.0.0.1, files in a temporary folder.
"""
