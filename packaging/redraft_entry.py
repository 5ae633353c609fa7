"""The frozen app's entry script: the same launcher as the `redraft` command (checks before Qt loads)."""

import sys

from app.startup.launcher import main

if __name__ == "__main__":
    sys.exit(main())
