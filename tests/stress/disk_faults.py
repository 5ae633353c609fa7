"""Saves onto a full disk and onto read-only places: engine.documents.write_text_file_atomic (the editor's and
the CLI's save) and the recovery journal's own atomic write.

Disk full: a 1 MiB tmpfs mounted for the run (this runs as root; where mounting is refused, the scenario
says so and uses only the file-size limit below), holding the original file and a filler that leaves a
random amount of room (0..64 KiB); then a save of a random size (1..256 KiB). File-size limit: a forked
child with RLIMIT_FSIZE below the new text's size (writes fail with EFBIG). Read-only: the file made
immutable (chattr +i), its folder made immutable, a read-only bind mount of the folder, and a file with
mode 0444. Each failed save must leave the original byte-identical and no temporary file; each save that
succeeds must leave exactly the new text; an error is one DocumentError line.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.stress import common


def _sh(*args: str) -> bool:
    return subprocess.run(list(args), capture_output=True).returncode == 0


def _temps(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".redraft-tmp") or p.name.startswith(".tmp-")]


class _Tally:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.failures: list[str] = []

    def add(self, group: str, outcome: str, detail: str = "") -> None:
        key = f"{group}: {outcome}"
        self.counts[key] = self.counts.get(key, 0) + 1
        if outcome not in ("refused, original intact", "saved exactly"):
            self.failures.append(f"{group}: {outcome} {detail}".strip())


def _save_trial(tally: _Tally, group: str, folder: Path, path: Path, original: bytes, text: str, save) -> None:
    from engine import DocumentError

    try:
        save(path, text)
    except DocumentError as exc:
        message = str(exc)
        intact = path.read_bytes() == original
        left = _temps(folder)
        if not intact:
            tally.add(group, "refused but the original changed", f"({len(path.read_bytes())} of {len(original)} bytes)")
        elif left:
            tally.add(group, "refused, temporary files left", f"{left}")
        elif "\n" in message:
            tally.add(group, "refused, message not one line", message[:100])
        else:
            tally.add(group, "refused, original intact")
        return
    except Exception as exc:  # noqa: BLE001 - counted
        tally.add(group, "another exception", f"{type(exc).__name__}: {exc}"[:200])
        return
    if path.read_bytes() != text.encode("utf-8"):
        tally.add(group, "saved but the file is not the new text", f"({len(path.read_bytes())} bytes)")
    elif _temps(folder):
        tally.add(group, "saved, temporary files left", f"{_temps(folder)}")
    else:
        tally.add(group, "saved exactly")


def _disk_full(tally: _Tally, root: Path, trials: int, rng: random.Random) -> bool:
    from engine import write_text_file_atomic

    mount = root / "full"
    mount.mkdir()
    if not _sh("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)):
        return False
    try:
        for i in range(trials):
            for p in mount.iterdir():
                p.unlink()
            path = mount / "notes.txt"
            original = ("original line ü\n" * rng.randint(1, 2000)).encode("utf-8")
            path.write_bytes(original)
            free = rng.randrange(0, 64 * 1024)
            stat = os.statvfs(mount)
            room = stat.f_bavail * stat.f_frsize - free
            with open(mount / "filler", "wb") as f:
                try:
                    f.write(b"\0" * max(0, room))
                except OSError:
                    pass
            text = "new text " * rng.randint(100, 256 * 1024 // 9)
            _save_trial(tally, "disk full", mount, path, original, text, write_text_file_atomic)
        # The journal's own write on a full disk: the previous entry must survive.
        _journal_on_full_disk(tally, mount)
    finally:
        _sh("umount", "-l", str(mount))
    return True


def _journal_on_full_disk(tally: _Tally, mount: Path) -> None:
    from app.storage.journal import Journal, JournalEntry

    for p in mount.iterdir():
        if p.is_file():
            p.unlink()
    journal = Journal(mount / "journal")
    before = JournalEntry(None, "utf-8", "\n", "the previous entry")
    journal.write("doc-1", before)
    stat = os.statvfs(mount)
    with open(mount / "filler", "wb") as f:
        try:
            f.write(b"\0" * (stat.f_bavail * stat.f_frsize))
        except OSError:
            pass
    try:
        journal.write("doc-1", JournalEntry(None, "utf-8", "\n", "x" * 200_000))
        outcome = "journal write on a full disk: no error (unexpected)"
    except OSError:
        outcome = "journal write on a full disk: OSError raised"
    kept = journal.entries() == [before]
    left = _temps(journal.folder)
    tally.add("journal", "refused, original intact" if kept and not left else f"previous entry kept {kept}, temps {left}")
    tally.counts[outcome] = tally.counts.get(outcome, 0) + 1
    journal.close()


def _file_size_limit(tally: _Tally, root: Path, trials: int, rng: random.Random) -> None:
    """RLIMIT_FSIZE in a forked child: the write fails with EFBIG (SIGXFSZ ignored)."""
    from engine import write_text_file_atomic

    folder = root / "fsize"
    folder.mkdir()
    for i in range(trials):
        path = folder / "notes.txt"
        original = ("before\n" * rng.randint(1, 500)).encode()
        path.write_bytes(original)
        limit = rng.randint(1, 64) * 1024
        text = "after " * ((limit + rng.randint(1, 50_000)) // 6)

        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
                inner = _Tally()
                _save_trial(inner, "file size limit (EFBIG)", folder, path, original, text, write_text_file_atomic)
                os.write(write_end, repr(list(inner.counts)[0]).encode() + b"\n" + "\n".join(inner.failures).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        os.waitpid(pid, 0)
        data = b""
        while chunk := os.read(read_end, 65536):
            data += chunk
        os.close(read_end)
        head, _, rest = data.decode().partition("\n")
        outcome = eval(head).split(": ", 1)[1] if head else "child died"  # noqa: S307 - our own repr
        tally.add("file size limit (EFBIG)", outcome, rest)
        for p in folder.iterdir():
            p.unlink()


def _read_only(tally: _Tally, root: Path, trials: int) -> list[str]:
    from engine import write_text_file_atomic

    used = []
    original = "keep me exactly\r\nsecond line ü\n".encode()
    # chattr +i on the file, then on its folder (ext4 under /tmp here).
    for what in ("file immutable (chattr +i)", "folder immutable (chattr +i)"):
        folder = root / what.split()[0]
        folder.mkdir()
        path = folder / "notes.txt"
        path.write_bytes(original)
        target = path if what.startswith("file") else folder
        if not _sh("chattr", "+i", str(target)):
            continue
        used.append(what)
        try:
            for _ in range(trials):
                _save_trial(tally, what, folder, path, original, "replaced", write_text_file_atomic)
        finally:
            _sh("chattr", "-i", str(target))
    # A read-only bind mount of a folder.
    folder, view = root / "rw", root / "ro"
    folder.mkdir()
    view.mkdir()
    (folder / "notes.txt").write_bytes(original)
    if _sh("mount", "--bind", str(folder), str(view)) and _sh("mount", "-o", "remount,bind,ro", str(view)):
        used.append("read-only bind mount")
        try:
            for _ in range(trials):
                _save_trial(tally, "read-only bind mount", view, view / "notes.txt", original, "replaced", write_text_file_atomic)
        finally:
            _sh("umount", "-l", str(view))
    # Mode 0444 (root ignores it for writes: the save refuses by the mode bits).
    folder = root / "mode"
    folder.mkdir()
    path = folder / "notes.txt"
    path.write_bytes(original)
    path.chmod(0o444)
    used.append("file mode 0444")
    for _ in range(trials):
        _save_trial(tally, "file mode 0444", folder, path, original, "replaced", write_text_file_atomic)
    return used


def run(quick: bool) -> dict:
    started = time.monotonic()
    rng = random.Random(5)
    root = Path(tempfile.mkdtemp(prefix="stress-disk-"))
    tally = _Tally()
    mounted = _disk_full(tally, root, 30 if quick else 200, rng)
    _file_size_limit(tally, root, 10 if quick else 60, rng)
    used = _read_only(tally, root, 3 if quick else 10)
    shutil.rmtree(root, ignore_errors=True)
    saves = sum(v for k, v in tally.counts.items() if not k.startswith("journal write"))
    intact = sum(v for k, v in tally.counts.items() if k.endswith("refused, original intact"))
    exact = sum(v for k, v in tally.counts.items() if k.endswith("saved exactly"))
    figures = {
        "disk full via": "a 1 MiB tmpfs mounted for the run" if mounted else "mount refused: only RLIMIT_FSIZE (EFBIG)",
        "read-only via": ", ".join(used),
        "writes tried": saves,
        "refused with the original byte-identical and no temporary file": intact,
        "saved exactly (there was room)": exact,
        "anything else (truncated, changed, temp left, other error)": saves - intact - exact,
        **{k: v for k, v in sorted(tally.counts.items())},
    }
    checks = [
        common.check("saves leaving a truncated or changed file, or a temporary file", saves - intact - exact, "0",
                     saves == intact + exact),
    ]
    return common.result("Disk full and read-only saves", __doc__.split("\n\n")[1].replace("\n", " "), figures, checks,
                         tally.failures, started)


if __name__ == "__main__":
    common.main(run)
