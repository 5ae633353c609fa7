"""The frozen app's entry script: the same launcher as the `redraft` command (checks before Qt loads)."""

import multiprocessing
import sys

from app.startup.launcher import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # the Markdown preview's render process starts this executable again
    sys.exit(main())
