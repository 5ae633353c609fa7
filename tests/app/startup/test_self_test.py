"""`redraft --self-test` and the pre-Qt system library check, run as the real command."""

import os
import subprocess
import sys
from pathlib import Path

from tests import ROOT
from tests.bundled_package import fake_bundled_package
from app.startup.system_libs import XCB_LIBRARIES, check_before_qt, missing_libraries, missing_message, needed_libraries


def run_redraft(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "app.startup.launcher", *args], cwd=os.getcwd(), env=environment,
        capture_output=True, text=True, timeout=300,
    )


def test_self_test_passes_on_this_install():
    result = run_redraft("--self-test")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name in ("transformers", "llama.cpp", "bundled model", "spelling dictionary", "main window"):
        assert any(line.startswith(f"ok   {name}:") for line in lines), result.stdout
    assert not any("diffusers" in line for line in lines)  # no product code uses it: not checked, not shipped
    assert lines[-1] == "self-test passed"


def test_self_test_names_what_is_broken(tmp_path):
    # An install whose bundled model file was damaged: its package's record no longer matches the file.
    fake_bundled_package(tmp_path, b"not the model")
    result = run_redraft("--self-test", env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.getcwd()}"})
    assert result.returncode == 1
    assert any(line.startswith("FAIL bundled model:") and "damaged" in line for line in result.stdout.splitlines())
    assert result.stdout.splitlines()[-1] == "self-test failed: bundled model"


def test_unknown_option_is_one_line_and_exit_2():
    result = run_redraft("--frobnicate")
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "redraft: unknown option --frobnicate"


def test_missing_library_is_named_with_its_package():
    missing = missing_libraries({"libc.so.6": "libc6", "libredraft-not-there.so.7": "redraft-missing"})
    assert missing == {"libredraft-not-there.so.7": "redraft-missing"}
    message = missing_message(missing)
    assert "libredraft-not-there.so.7" in message and message.endswith("sudo apt install redraft-missing")
    assert "\n" not in message


def test_offscreen_needs_no_xcb_libraries_and_this_machine_has_qts():
    assert "libxcb-cursor.so.0" not in needed_libraries("offscreen")
    assert needed_libraries("xcb") == XCB_LIBRARIES
    assert check_before_qt("offscreen") is None


def test_the_deb_depends_on_every_library_the_launcher_checks():
    control = (ROOT / "packaging" / "linux" / "control").read_text()
    depends_line = next(line for line in control.splitlines() if line.startswith("Depends:"))
    depends = {item.split("(")[0].strip() for item in depends_line.removeprefix("Depends:").split(",")}
    assert set(XCB_LIBRARIES.values()) <= depends
    assert {"libxcb-cursor0", "libxkbcommon-x11-0", "libegl1", "fontconfig"} <= depends


def test_no_display_is_one_line_and_exit_1_instead_of_a_qt_abort():
    environment = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    environment["QT_QPA_PLATFORM"] = "xcb"
    result = subprocess.run(
        [sys.executable, "-m", "app.startup.launcher"], cwd=os.getcwd(), env=environment, capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Redraft cannot start: no display")
