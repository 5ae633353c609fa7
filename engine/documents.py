"""Reading a text file for editing and writing it back, losing nothing.

The text is kept exactly as stored (CRLF stays two characters, so offsets match the file); the encoding
is detected from a BOM or is strict UTF-8, never guessed. A caller that can show the user which encoding it
fell back to (the editor's status bar) may pass `fallback="cp1252"`: a file that is not UTF-8 then opens as
Windows-1252, which decodes and re-encodes its defined bytes exactly (a file using one of its five undefined
bytes is still refused). Latin-1 is not offered: it would "decode" any binary-ish file without complaint.
Writes go to a temporary file in the same folder that replaces the original only once it is complete and on
disk; a file without write permission is refused rather than replaced (a rename would ignore its mode).
"""

from __future__ import annotations

import codecs
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 100 * 1024 * 1024
_MB = 1024 * 1024

# The BOM each supported encoding is stored with. No UTF-32: its LE BOM starts with UTF-16 LE's, so such
# a file reads as UTF-16 LE text starting with NUL, which is still lossless on write-back.
_BOMS = {"utf-8-sig": codecs.BOM_UTF8, "utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}
ENCODINGS = ("utf-8", *_BOMS)
FALLBACK_ENCODINGS = ("cp1252",)  # never detected, only used when the caller asks for a fallback


class DocumentError(Exception):
    """A file that cannot be read or written; the message is one line naming it."""


@dataclass(frozen=True)
class TextFile:
    path: Path
    text: str  # exactly as stored, BOM excluded: line endings untouched
    encoding: str  # "utf-8", "utf-8-sig", "utf-16-le" or "utf-16-be" (the last three with a BOM), or a fallback
    newline: str  # the most common line ending: "\n", "\r\n" or "\r" ("\n" when there is none)


def read_text_file(path: str | os.PathLike, max_bytes: int = MAX_BYTES, fallback: str | None = None) -> TextFile:
    """The file's text; `fallback` (one of FALLBACK_ENCODINGS) is tried when the file has no BOM and is not UTF-8."""
    if fallback is not None and fallback not in FALLBACK_ENCODINGS:
        raise ValueError(f"fallback must be one of {FALLBACK_ENCODINGS}, not {fallback!r}")
    path = Path(path)
    try:
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
                raise DocumentError(f"cannot open {path}: not a regular file")
            if info.st_size > max_bytes:
                raise DocumentError(f"{path} is {info.st_size / _MB:.1f} MB, over the {max_bytes / _MB:g} MB limit")
            data = f.read(max_bytes + 1)  # the file may have grown since fstat
    except FileNotFoundError:
        raise DocumentError(f"cannot open {path}: no such file") from None
    except IsADirectoryError:
        raise DocumentError(f"cannot open {path}: it is a folder") from None
    except PermissionError:
        raise DocumentError(f"cannot open {path}: permission denied") from None
    except OSError as exc:
        raise DocumentError(f"cannot open {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise DocumentError(f"{path} is over the {max_bytes / _MB:g} MB limit")
    encoding = next((name for name, bom in _BOMS.items() if data.startswith(bom)), "utf-8")
    start = len(_BOMS.get(encoding, b""))
    if not encoding.startswith("utf-16") and b"\x00" in data[:8192]:  # NUL is normal only in UTF-16
        raise DocumentError(f"{path} looks like a binary file (it contains NUL bytes); refusing to edit it")
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
        data = _BOMS.get(encoding, b"") + text.encode(encoding.removesuffix("-sig"))
    except UnicodeEncodeError as exc:
        raise DocumentError(
            f"cannot save {path}: the text cannot be encoded as {encoding} ({exc.reason} at character {exc.start})"
        ) from None
    target = Path(os.path.realpath(path))  # write through a symlink rather than replacing the link itself
    try:
        mode = os.stat(target).st_mode
    except OSError:
        mode = None  # a new file, or one that vanished: the write below reports any real problem
    if mode is not None and (not mode & stat.S_IWUSR or not os.access(target, os.W_OK)):
        # Replacing the file would succeed even so (a rename needs only the folder), so honour its mode.
        raise DocumentError(f"cannot save {path}: the file is read-only")
    temp = None
    try:
        for _ in range(100):  # O_EXCL + a random name: never clobber; mode 0o666 lets the umask apply
            temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.redraft-tmp")
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
                break
            except FileExistsError:
                temp = None
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
            temp.unlink(missing_ok=True)
    _fsync_dir(target.parent)


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
