"""Reading a text file for editing and writing it back, losing nothing.

The text is kept exactly as stored (CRLF stays two characters, so offsets match the file); the encoding
is detected from a BOM or is strict UTF-8, never guessed; writes go to a temporary file in the same folder
that replaces the original only once it is complete.
"""

from __future__ import annotations

import codecs
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 100 * 1024 * 1024

_BOMS = (  # longest first: the UTF-32 BOMs are not supported, but UTF-16's would match their prefix
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class DocumentError(Exception):
    """A file that cannot be read or written; the message is one line naming it."""


@dataclass(frozen=True)
class TextFile:
    path: Path
    text: str  # exactly as stored: line endings untouched
    encoding: str  # "utf-8", "utf-8-sig", "utf-16-le" or "utf-16-be" (the last three with a BOM)
    newline: str  # the most common line ending: "\n", "\r\n" or "\r"


def read_text_file(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> TextFile:
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise DocumentError(f"cannot open {path}: it is a folder")
        if size > max_bytes:
            raise DocumentError(f"{path} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit")
        data = path.read_bytes()
    except FileNotFoundError:
        raise DocumentError(f"cannot open {path}: no such file") from None
    except PermissionError:
        raise DocumentError(f"cannot open {path}: permission denied") from None
    except OSError as exc:
        raise DocumentError(f"cannot open {path}: {exc.strerror or exc}") from None
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    if encoding == "utf-8" and b"\x00" in data[:8192]:
        raise DocumentError(f"{path} looks like a binary file (it contains NUL bytes); refusing to edit it")
    bom = codecs.BOM_UTF8 if encoding == "utf-8-sig" else b"" if encoding == "utf-8" else data[:2]
    try:
        text = data[len(bom) :].decode(encoding.removesuffix("-sig"))
    except UnicodeDecodeError as exc:
        tried = "UTF-8" if encoding.startswith("utf-8") else encoding.upper()
        raise DocumentError(
            f"{path} is not valid {tried} (byte 0x{data[len(bom) + exc.start]:02x} at offset "
            f"{len(bom) + exc.start}); tried {tried} (other encodings need a BOM): re-save it as UTF-8"
        ) from None
    return TextFile(path=path, text=text, encoding=encoding, newline=_newline(text))


def write_text_file_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    path = Path(path)
    bom = {"utf-8-sig": codecs.BOM_UTF8, "utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}
    try:
        data = bom.get(encoding, b"") + text.encode(encoding.removesuffix("-sig"))
    except UnicodeEncodeError as exc:
        raise DocumentError(f"cannot save {path}: the text cannot be encoded as {encoding} ({exc.reason})") from None
    temp = None
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".redraft-tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(temp, path.stat().st_mode & 0o7777)  # keep the original's permissions
        except FileNotFoundError:
            os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
    except OSError as exc:
        if temp:
            Path(temp).unlink(missing_ok=True)
        raise DocumentError(f"cannot save {path}: {exc.strerror or exc}") from None


def _newline(text: str) -> str:
    crlf = text.count("\r\n")
    counts = {"\r\n": crlf, "\n": text.count("\n") - crlf, "\r": text.count("\r") - crlf}
    best = max(counts, key=counts.get)
    return best if counts[best] else "\n"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
