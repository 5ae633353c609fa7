"""One list of the system packages a bare Debian/Ubuntu needs: packaging/debian-packages.txt, installed by
.ci/run and quoted by README.md before its first command."""

import re
import subprocess

from app.startup.system_libs import XCB_LIBRARIES
from tests import ROOT


def listed() -> list[str]:
    lines = (ROOT / "packaging" / "debian-packages.txt").read_text().splitlines()
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]


def test_the_readme_quotes_the_list_before_its_first_command():
    readme = (ROOT / "README.md").read_text()
    install = re.search(r"`sudo apt install ([^`]+)`", readme)
    assert install and install.group(1).split() == listed()
    assert install.start() < readme.index("python3 -m venv")  # before the first command, not after it fails


def test_ci_installs_the_list_and_only_adds_its_own_tools():
    script = (ROOT / ".ci" / "run").read_text()
    # .ci/run's own lines that build the list, run as they are (not a copy of them).
    build = script[script.index("packages=()"):script.index("missing=()")]
    done = subprocess.run(["bash", "-euc", build + 'printf "%s\\n" "${packages[@]}"'], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    packages = done.stdout.split()
    assert packages[: len(listed())] == listed()
    assert set(packages[len(listed()):]) == {"xvfb", "xauth", "desktop-file-utils", "appstream"}  # CI's tools


def test_the_list_holds_every_library_the_launcher_checks_and_the_deb_depends_on():
    assert set(XCB_LIBRARIES.values()) <= set(listed())
    control = (ROOT / "packaging" / "linux" / "control").read_text()
    depends_line = next(line for line in control.splitlines() if line.startswith("Depends:"))
    depends = {item.split("(")[0].strip() for item in depends_line.removeprefix("Depends:").split(",")}
    # libc6 and fontconfig come with any Debian that has a python3; the rest must be named.
    assert depends - {"libc6", "fontconfig"} <= set(listed())
