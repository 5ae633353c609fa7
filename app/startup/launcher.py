"""The `redraft` command (and the frozen app's entry): checks that must run before Qt is imported.

`redraft --self-test` checks the install and exits 0 or 1; `redraft [FILE...]` opens the editor. On Linux a
missing system library Qt needs is named with its package here, as one line and exit 1, instead of Qt's
abort at startup (app/startup/system_libs.py). Nothing in this module imports PySide6 at import time.
"""

from __future__ import annotations

import sys

USAGE = "usage: redraft [--self-test] [FILE...]"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if "-h" in args or "--help" in args:
        print(USAGE)
        return 0
    self_test = "--self-test" in args
    unknown = [arg for arg in args if arg.startswith("--") and arg != "--self-test"]
    if unknown:
        print(f"redraft: unknown option {unknown[0]}\n{USAGE}", file=sys.stderr)
        return 2
    from app.startup.system_libs import check_before_qt

    problem = check_before_qt()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    if self_test:
        from app.startup.self_test import run_self_test

        return run_self_test()
    from app.startup.main import main as run_editor

    return run_editor(args)


if __name__ == "__main__":
    sys.exit(main())
