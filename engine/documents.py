"""Reading a text file for editing and writing it back, losing nothing.

The text is kept exactly as stored (CRLF stays two characters, so offsets match the file); the encoding
is detected from a BOM or is strict UTF-8. The one guess: a file without a BOM whose NUL bytes fall on every
other byte (mostly-ASCII UTF-16) is read as UTF-16 LE or BE and written back without a BOM. A caller that
can show the user which encoding it fell back to (the editor's status bar) may pass `fallback="cp1252"`: a
file that is not UTF-8 then opens as Windows-1252, which decodes and re-encodes its defined bytes exactly (a
file using one of its five undefined bytes is still refused). Latin-1 is not offered: it would "decode" any
binary-ish file without complaint.
Only regular files are read or written: a FIFO or a device would block a read or be replaced by a save, so
each is refused before it is opened (and a path swapped for one meanwhile is caught on the open descriptor).
Writes go to a temporary file in the same folder, `.redraft-<hex>.tmp` (short, so a name up to NAME_MAX
still saves), that replaces the original only once it is complete and on disk; temporary files of ours that a
killed save left behind are removed by the next save into that folder. A file without write permission is
refused rather than replaced (a rename would ignore its mode).
"""

from __future__ import annotations

import codecs
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 100 * 1024 * 1024
_MB = 1024 * 1024

# The BOM each supported encoding is stored with. No UTF-32: its LE BOM starts with UTF-16 LE's, so such
# a file reads as UTF-16 LE text starting with NUL, which is still lossless on write-back.
_BOMS = {"utf-8-sig": codecs.BOM_UTF8, "utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}
# UTF-16 found without a BOM is written back without one; the codec is the name without "-nobom".
_NO_BOM = ("utf-16-le-nobom", "utf-16-be-nobom")
ENCODINGS = ("utf-8", *_BOMS, *_NO_BOM)
FALLBACK_ENCODINGS = ("cp1252",)  # never detected, only used when the caller asks for a fallback


class DocumentError(Exception):
    """A file that cannot be read or written; the message is one line naming it."""


@dataclass(frozen=True)
class TextFile:
    path: Path
    text: str  # exactly as stored, BOM excluded: line endings untouched
    # "utf-8", "utf-8-sig", "utf-16-le" or "utf-16-be" (the last three with a BOM), "utf-16-le-nobom" or
    # "utf-16-be-nobom" (found without a BOM, written without one), or a fallback
    encoding: str
    newline: str  # the most common line ending: "\n", "\r\n" or "\r" ("\n" when there is none)


def read_text_file(path: str | os.PathLike, max_bytes: int = MAX_BYTES, fallback: str | None = None) -> TextFile:
    """The file's text; `fallback` (one of FALLBACK_ENCODINGS) is tried when the file has no BOM and is not UTF-8."""
    if fallback is not None and fallback not in FALLBACK_ENCODINGS:
        raise ValueError(f"fallback must be one of {FALLBACK_ENCODINGS}, not {fallback!r}")
    path = Path(path)
    try:
        _refuse_special(path, os.stat(path).st_mode, "open")  # before open(): opening a FIFO blocks
        # O_NONBLOCK: a path swapped for a FIFO since the stat opens at once instead of waiting for a writer.
        fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0))
        with open(fd, "rb") as f:
            info = os.fstat(fd)
            _refuse_special(path, info.st_mode, "open")
            if info.st_size > max_bytes:
                raise DocumentError(f"{path} is {info.st_size / _MB:.1f} MB, over the {max_bytes / _MB:g} MB limit")
            data = f.read(max_bytes + 1)  # the file may have grown since fstat
    except FileNotFoundError:
        raise DocumentError(f"cannot open {path}: no such file") from None
    except PermissionError:
        raise DocumentError(f"cannot open {path}: permission denied") from None
    except OSError as exc:
        raise DocumentError(f"cannot open {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise DocumentError(f"{path} is over the {max_bytes / _MB:g} MB limit")
    encoding = next((name for name, bom in _BOMS.items() if data.startswith(bom)), "utf-8")
    start = len(_BOMS.get(encoding, b""))
    if not encoding.startswith("utf-16") and b"\x00" in data[:8192]:  # NUL is normal only in UTF-16
        found = _utf16_without_bom(data) if encoding == "utf-8" else None  # a UTF-8 BOM does not make NUL text
        if found is None:
            raise DocumentError(f"{path} looks like a binary file (it contains NUL bytes); refusing to edit it")
        encoding, text = found
        return TextFile(path=path, text=text, encoding=encoding, newline=_newline(text))
    try:
        text = data[start:].decode(encoding.removesuffix("-sig"))
    except UnicodeDecodeError as exc:
        if encoding == "utf-8" and fallback is not None:
            try:
                text = data.decode(fallback)
            except UnicodeDecodeError:
                pass
            else:
                return TextFile(path=path, text=text, encoding=fallback, newline=_newline(text))
        offset, utf8 = start + exc.start, encoding.startswith("utf-8")
        name = "UTF-8" if utf8 else encoding.upper()
        hint = "tried UTF-8, and UTF-16 needs a BOM" if utf8 else f"its BOM says {name}, but the rest is not"
        raise DocumentError(
            f"{path} is not valid {name} (byte 0x{data[offset]:02x} at offset {offset}); {hint}; re-save it as UTF-8"
        ) from None
    return TextFile(path=path, text=text, encoding=encoding, newline=_newline(text))


def write_text_file_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    path = Path(path)
    if encoding not in ENCODINGS + FALLBACK_ENCODINGS:  # anything else could not be read back
        raise DocumentError(f"cannot save {path}: unsupported encoding {encoding!r}")
    try:
        data = _BOMS.get(encoding, b"") + text.encode(encoding.removesuffix("-sig").removesuffix("-nobom"))
    except UnicodeEncodeError as exc:
        raise DocumentError(
            f"cannot save {path}: the text cannot be encoded as {encoding} ({exc.reason} at character {exc.start})"
        ) from None
    target = Path(os.path.realpath(path))  # write through a symlink rather than replacing the link itself
    try:
        mode = os.stat(target).st_mode
    except OSError:
        mode = None  # a new file, or one that vanished: the write below reports any real problem
    if mode is not None:
        # A rename would put a regular file where the FIFO or device was: refuse instead.
        _refuse_special(path, mode, "save")
        if not mode & stat.S_IWUSR or not os.access(target, os.W_OK):
            # Replacing the file would succeed even so (a rename needs only the folder), so honour its mode.
            raise DocumentError(f"cannot save {path}: the file is read-only")
    _remove_stale_temps(target.parent)
    temp = None
    try:
        for _ in range(100):  # O_EXCL + a random name: never clobber; mode 0o666 lets the umask apply
            name = target.with_name(f"{_TEMP_PREFIX}{secrets.token_hex(4)}{_TEMP_SUFFIX}")
            try:
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            except FileExistsError:
                continue
            temp = name  # only a file we created is ours to remove
            break
        else:
            raise FileExistsError("no free temporary file name")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the rename makes it the file
        try:
            os.chmod(temp, os.stat(target).st_mode & 0o7777)  # keep the original's permissions
        except FileNotFoundError:
            pass  # a new file: the umask already applied
        os.replace(temp, target)
        temp = None
    except OSError as exc:
        raise DocumentError(f"cannot save {path}: {exc.strerror or exc}") from None
    finally:
        if temp is not None:  # any failure, even KeyboardInterrupt: the original is untouched, drop the temp
            try:
                temp.unlink(missing_ok=True)
            except OSError:
                pass  # the error being raised says more than this one would
    _fsync_dir(target.parent)


_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # absent on Windows, which has no FIFOs on the file system
_KINDS = (
    (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _refuse_special(path: Path, mode: int, verb: str) -> None:
    """Raise unless `mode` is a regular file's."""
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise DocumentError(f"cannot {verb} {path}: it is a folder")
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    raise DocumentError(f"cannot {verb} {path}: it is not a regular file ({kind})")


# Temporary files: ours are `.redraft-` + 8 hex digits + `.tmp` (and, from earlier versions,
# `.<name>.<8 hex>.redraft-tmp`). One older than STALE_AFTER_S belongs to a save that was killed: a live
# save holds its temp for the time of one write and fsync.
_TEMP_PREFIX, _TEMP_SUFFIX = ".redraft-", ".tmp"
_OUR_TEMP = re.compile(r"\.redraft-[0-9a-f]{8}\.tmp|\..+\.[0-9a-f]{8}\.redraft-tmp", re.DOTALL)
STALE_AFTER_S = 60


def _remove_stale_temps(folder: Path) -> None:
    """Best effort: delete regular files named like our temps and unchanged for a minute, in `folder` only."""
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return  # the save itself reports an unusable folder
    for entry in entries:
        if not _OUR_TEMP.fullmatch(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime > STALE_AFTER_S:
                os.unlink(entry.path)
        except OSError:
            pass  # gone meanwhile, or not ours to delete


def _utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """(encoding, text) when `data` is BOM-less UTF-16 of mostly-ASCII text, else None (binary).

    Such text has a NUL in every other byte: the high byte of each unit, odd offsets for LE, even for BE.
    A binary file has NULs on both sides or few at all; what passes must also decode strictly and hold no
    control characters but whitespace, so a table of small numbers is not taken for text.
    """
    if len(data) % 2:
        return None
    head = data[:8192]
    units = len(head) // 2
    even, odd = head[0::2].count(0), head[1::2].count(0)
    for codec, high, low in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if high * 2 >= units and low * 10 < units:
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                return None
            if _CONTROL.search(text, 0, 8192):
                return None
            return f"{codec}-nobom", text
    return None


_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # C0 controls but tab, LF, VT, FF, CR; and DEL


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; best effort, since some platforms cannot open a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _newline(text: str) -> str:
    crlf = text.count("\r\n")
    counts = {"\r\n": crlf, "\n": text.count("\n") - crlf, "\r": text.count("\r") - crlf}
    best = max(counts, key=counts.get)
    return best if counts[best] else "\n"
