"""Freeze Redraft with PyInstaller and wrap it in the host OS's installer; `--smoke` also proves it runs.

    python packaging/build.py            # build/dist/redraft (one folder) + dist/<installer>
    python packaging/build.py --smoke    # Linux: the above, then run it every way a user would

Why one-folder, not one-file: a one-file app unpacks ~1 GB (torch, Qt, the bundled model) into a temporary
folder at every start. Installers: Linux a `.deb` built with dpkg-deb (bundle in /opt/redraft, launcher in
/usr/bin, desktop entry, AppStream metainfo, icons; the control file depends on the system libraries Qt's
xcb plugin loads), Windows an Inno Setup installer (packaging/windows/redraft.iss, needs `iscc` on PATH),
macOS a signed (when REDRAFT_CODESIGN_IDENTITY is set) and notarized (when APPLE_ID, APPLE_TEAM_ID and
APPLE_APP_PASSWORD are set too) `.dmg` made with hdiutil. Without credentials the macOS app is ad-hoc signed.

`--smoke` (Linux): the desktop entry and metainfo validated, the frozen `--self-test` under Qt's offscreen platform and under a real X server (Xvfb),
the `.deb` installed with `dpkg --root` into a temporary root and run from there as an unprivileged user
for whom the install location is read-only, `ldd` on every ELF file of the bundle, no CUDA library in it,
and the sizes. Any failure exits 1 with one line saying what failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
DIST = ROOT / "dist"
BUNDLE = BUILD / "dist" / "redraft"
# GPU runtimes that must never be in the CPU build (torch's CUDA wheels, NVIDIA's pip packages).
CUDA_NAME = re.compile(r"^lib(cu[a-z]+|nv[a-zA-Z_-]+|nccl|cudnn|c10_cuda|torch_cuda)")
ICON_SIZES = (48, 128, 256, 512)
SELF_TEST_TIMEOUT_S = 300


class BuildError(Exception):
    pass


def version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def run(command: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, text=True, capture_output=True, **kwargs)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        print("\n".join(tail), file=sys.stderr)
        raise BuildError(f"{what} failed (exit {result.returncode})")
    return result


def freeze() -> Path:
    """The PyInstaller one-folder bundle (build/dist/redraft, or Redraft.app beside it on macOS)."""
    run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--distpath", str(BUILD / "dist"),
         "--workpath", str(BUILD / "work"), str(ROOT / "packaging" / "redraft.spec")],
        "PyInstaller",
    )
    return BUILD / "dist" / ("Redraft.app" if sys.platform == "darwin" else "redraft")


def size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def check_no_cuda(bundle: Path) -> None:
    found = sorted(p.name for p in bundle.rglob("*") if CUDA_NAME.match(p.name))
    if found:
        raise BuildError(f"CUDA libraries in the CPU build: {', '.join(found[:5])}")


# -- Linux ------------------------------------------------------------------------------------------------

def make_deb(bundle: Path) -> Path:
    """dist/redraft_<version>_amd64.deb: /opt/redraft, /usr/bin/redraft, desktop entry, metainfo, icons."""
    stage = BUILD / "deb" / "redraft"
    shutil.rmtree(stage.parent, ignore_errors=True)
    shutil.copytree(bundle, stage / "opt" / "redraft", symlinks=True)
    linux = ROOT / "packaging" / "linux"
    files = {
        linux / "redraft.sh": stage / "usr" / "bin" / "redraft",
        linux / "redraft.desktop": stage / "usr" / "share" / "applications" / "redraft.desktop",
        linux / "app.redraft.Redraft.metainfo.xml": stage / "usr" / "share" / "metainfo" / "app.redraft.Redraft.metainfo.xml",
        ROOT / "resources" / "icons" / "redraft.svg": stage / "usr" / "share" / "icons" / "hicolor" / "scalable" / "apps" / "redraft.svg",
    }
    for n in ICON_SIZES:
        files[ROOT / "resources" / "icons" / f"redraft-{n}.png"] = (
            stage / "usr" / "share" / "icons" / "hicolor" / f"{n}x{n}" / "apps" / "redraft.png"
        )
    for source, target in files.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    (stage / "DEBIAN").mkdir()
    # The bundle needs at least the C library it was built against (ubuntu-22.04 in CI: 2.35).
    libc = platform.libc_ver()[1]
    control = (linux / "control").read_text().format(
        version=version(), installed_kb=int(size_mb(stage) * 1000 / 1024), libc=libc
    )
    (stage / "DEBIAN" / "control").write_text(control)
    for path in stage.rglob("*"):  # dpkg-deb refuses group/other-writable control files; be uniform
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
    DIST.mkdir(exist_ok=True)
    deb = DIST / f"redraft_{version()}_amd64.deb"
    # gzip: every dpkg reads it, and on 2 cores it is minutes faster than xz for ~1 GB.
    run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z6", "--build", str(stage), str(deb)], "dpkg-deb")
    shutil.rmtree(stage.parent)
    return deb


def elf_files(bundle: Path) -> list[Path]:
    found = []
    for path in bundle.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def check_ldd(bundle: Path) -> int:
    """Every ELF file's libraries resolve from the bundle or the system; returns how many files were checked."""
    missing: dict[str, set[str]] = {}
    files = elf_files(bundle)
    for path in files:
        result = subprocess.run(["ldd", str(path)], text=True, capture_output=True)
        for line in result.stdout.splitlines():
            if "=> not found" in line:
                missing.setdefault(line.split("=>")[0].strip(), set()).add(str(path.relative_to(bundle)))
    if missing:
        detail = "; ".join(f"{lib} (needed by {sorted(users)[0]})" for lib, users in sorted(missing.items()))
        raise BuildError(f"ldd finds no {detail}")
    return len(files)


def self_test(executable: Path, env: dict[str, str], what: str, user_command: list[str] | None = None) -> float:
    start = time.perf_counter()
    command = [*(user_command or []), str(executable), "--self-test"]
    result = subprocess.run(command, text=True, capture_output=True, env=env, timeout=SELF_TEST_TIMEOUT_S)
    print(f"  {what}:")
    for line in (result.stdout + result.stderr).strip().splitlines():
        print(f"    {line}")
    if result.returncode != 0:
        raise BuildError(f"the frozen self-test failed {what} (exit {result.returncode})")
    return time.perf_counter() - start


def install_deb(deb: Path, root: Path) -> Path:
    """`dpkg --root` into an empty root (its own dpkg database; dependencies are the host's, so not checked)."""
    admin = root / "var" / "lib" / "dpkg"
    (admin / "info").mkdir(parents=True)
    (admin / "updates").mkdir()
    (admin / "status").touch()
    run(["dpkg", f"--root={root}", "--force-not-root", "--force-depends", "--force-script-chrootless",
         "--install", str(deb)], "dpkg --root --install")
    return root / "usr" / "bin" / "redraft"


def as_unprivileged() -> list[str]:
    """A command prefix that drops root, so that a read-only install location is really read-only."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def validate_desktop_files() -> None:
    linux = ROOT / "packaging" / "linux"
    run(["desktop-file-validate", str(linux / "redraft.desktop")], "desktop-file-validate")
    run(["appstreamcli", "validate", "--no-net", str(linux / "app.redraft.Redraft.metainfo.xml")], "appstreamcli validate")


def smoke_linux(bundle: Path, deb: Path) -> None:
    validate_desktop_files()
    print("  desktop entry and AppStream metainfo: valid")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "PYTHON", "VIRTUAL_ENV"))}
    executable = bundle / "redraft"
    with tempfile.TemporaryDirectory(prefix="redraft-smoke-") as folder:
        Path(folder).chmod(0o755)  # the unprivileged user below must reach the installed root
        home = Path(folder) / "home"
        home.mkdir()
        home.chmod(0o777)
        env = {**base_env, "HOME": str(home), "XDG_RUNTIME_DIR": str(home), "REDRAFT_JOURNAL_DIR": str(home / "j")}
        env.pop("DISPLAY", None)
        times = {"offscreen": self_test(executable, {**env, "QT_QPA_PLATFORM": "offscreen"}, "offscreen")}
        if not shutil.which("xvfb-run"):
            raise BuildError("xvfb-run is not installed (apt-get install xvfb)")
        times["xvfb"] = self_test(
            executable, {**env, "QT_QPA_PLATFORM": "xcb"}, "under Xvfb (xcb)", ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24"]
        )
        root = Path(folder) / "root"
        launcher = install_deb(deb, root)
        for path in [root, *root.rglob("*")]:  # read-only for everyone: the installed app must not write there
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~0o222)
        try:
            times["installed"] = self_test(
                launcher, {**env, "QT_QPA_PLATFORM": "offscreen"}, f"installed from the .deb, read-only, {'as nobody' if as_unprivileged() else 'as this user'}",
                as_unprivileged(),
            )
        finally:
            for path in [root, *root.rglob("*")]:
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | 0o200)
    checked = check_ldd(bundle)
    print(f"  ldd: every library found for {checked} ELF files")
    print("  self-test seconds: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in times.items()))


# -- Windows and macOS ------------------------------------------------------------------------------------

def make_windows_installer(bundle: Path) -> Path:
    from PIL import Image  # Pillow comes with the model libraries

    icon = BUILD / "redraft.ico"
    Image.open(ROOT / "resources" / "icons" / "redraft-256.png").save(icon, sizes=[(n, n) for n in (16, 32, 48, 256)])
    iscc = shutil.which("iscc") or r"C:\Program Files (x86)\Inno Setup 6\ISCC.exe"
    DIST.mkdir(exist_ok=True)
    run([iscc, f"/DAppVersion={version()}", f"/DSourceDir={bundle}", f"/DOutputDir={DIST}", f"/DIconFile={icon}",
         str(ROOT / "packaging" / "windows" / "redraft.iss")], "Inno Setup")
    return DIST / f"Redraft-{version()}-windows-x64-setup.exe"


def make_dmg(app: Path) -> Path:
    identity = os.environ.get("REDRAFT_CODESIGN_IDENTITY")
    entitlements = ROOT / "packaging" / "macos" / "entitlements.plist"
    # Without an identity: ad-hoc ("-"), enough for Apple silicon to run it on the building machine.
    sign = ["codesign", "--force", "--deep", "--options", "runtime", "--timestamp", "--entitlements", str(entitlements),
            "--sign", identity] if identity else ["codesign", "--force", "--deep", "--sign", "-"]
    run([*sign, str(app)], "codesign")
    DIST.mkdir(exist_ok=True)
    dmg = DIST / f"Redraft-{version()}-macos-arm64.dmg"
    dmg.unlink(missing_ok=True)
    stage = BUILD / "dmg"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    shutil.copytree(app, stage / app.name, symlinks=True)
    (stage / "Applications").symlink_to("/Applications")
    run(["hdiutil", "create", "-volname", "Redraft", "-srcfolder", str(stage), "-ov", "-format", "UDZO", str(dmg)],
        "hdiutil")
    if identity:
        run(["codesign", "--sign", identity, "--timestamp", str(dmg)], "codesign (dmg)")
    notary = [os.environ.get(key) for key in ("APPLE_ID", "APPLE_TEAM_ID", "APPLE_APP_PASSWORD")]
    if identity and all(notary):
        apple_id, team, password = notary
        run(["xcrun", "notarytool", "submit", str(dmg), "--apple-id", apple_id, "--team-id", team,
             "--password", password, "--wait"], "notarization")
        run(["xcrun", "stapler", "staple", str(dmg)], "stapling")
    else:
        print("  not notarized: REDRAFT_CODESIGN_IDENTITY, APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD not all set")
    return dmg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="Linux: also run the frozen app every way a user would")
    args = parser.parse_args(argv)
    if args.smoke and not sys.platform.startswith("linux"):
        print("--smoke builds the Linux bundle; on this OS run the frozen app's --self-test instead", file=sys.stderr)
        return 2
    try:
        start = time.perf_counter()
        bundle = freeze()
        frozen_s = time.perf_counter() - start
        check_no_cuda(bundle)
        print(f"bundle: {bundle} ({size_mb(bundle):.0f} MB, frozen in {frozen_s:.0f} s, no CUDA libraries)")
        if sys.platform.startswith("linux"):
            installer = make_deb(bundle)
        elif sys.platform == "win32":
            installer = make_windows_installer(bundle)
        else:
            installer = make_dmg(bundle)
        print(f"installer: {installer} ({size_mb(installer):.0f} MB)")
        if args.smoke:
            smoke_linux(bundle, installer)
        print(f"done in {time.perf_counter() - start:.0f} s")
    except (BuildError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
