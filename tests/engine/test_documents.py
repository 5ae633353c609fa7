"""Files as stored: encodings and line endings survive a round trip; bad files are refused clearly."""

import os
import random
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.documents import DocumentError, read_text_file, write_text_file_atomic
from tests import ROOT

MB = 1024 * 1024
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16-le", "utf-16-be"]
BOMS = {"utf-8": b"", "utf-8-sig": b"\xef\xbb\xbf", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}
TEXTS = {
    "crlf": "caf\u00e9 \U0001f98a\r\nline two\r\n",
    "lf": "BOM first\nsecond\n",
    "cr": "old mac\rline\r",
    "cjk and emoji": "h\u00e9 \u4e16\u754c \U0001f468\u200d\U0001f469\u200d\U0001f467\r\n\U0001f98a",
    "combining marks": "e\u0301 n\u0303 a\u0308\u0304 \u0915\u094d\u0937\n",
    "no final newline": "one line",
    "empty": "",
}


def stored(text, encoding):
    return BOMS[encoding] + text.encode(encoding.removesuffix("-sig"))


def temp_files(folder):
    return [name for name in os.listdir(folder) if name.endswith((".tmp", ".redraft-tmp"))]


@contextmanager
def hang_guard(fifo, seconds=30):
    """Fail instead of hanging: should the code under test still be blocked opening `fifo` after `seconds`,
    a writer opens its other end (which wakes a blocked reader) and the test fails on `woke`."""
    woke = threading.Event()
    fds = []

    def wake():
        fds.append(os.open(fifo, os.O_RDWR | os.O_NONBLOCK))
        woke.set()

    timer = threading.Timer(seconds, wake)
    timer.start()
    try:
        yield woke
    finally:
        timer.cancel()
        for fd in fds:
            os.close(fd)
    assert not woke.is_set(), f"opening {fifo} blocked until a writer came"


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("sample", TEXTS)
def test_read_then_write_back_is_byte_identical(tmp_path, encoding, sample):
    path = tmp_path / "f.txt"
    path.write_bytes(original := stored(TEXTS[sample], encoding))
    doc = read_text_file(path)
    assert (doc.text, doc.encoding, doc.path) == (TEXTS[sample], encoding, path)  # BOM excluded, CRLF kept
    write_text_file_atomic(path, doc.text, doc.encoding)
    assert path.read_bytes() == original
    assert temp_files(tmp_path) == []


def test_empty_file_is_utf8_with_lf(tmp_path):
    (path := tmp_path / "empty.txt").write_bytes(b"")
    doc = read_text_file(str(path))  # a str path works too
    assert (doc.text, doc.encoding, doc.newline) == ("", "utf-8", "\n")


@pytest.mark.parametrize(
    ("text", "newline"),
    [
        ("a\nb\n", "\n"),
        ("a\r\nb\r\n", "\r\n"),
        ("a\rb\r", "\r"),
        ("a\r\nb\r\nc\n", "\r\n"),  # the most common one wins
        ("a\nb\nc\r\n", "\n"),
        ("a\r\n", "\r\n"),  # CRLF is not also counted as a CR and an LF
        ("no line ending", "\n"),
        ("", "\n"),
    ],
)
def test_newline_is_the_dominant_line_ending(tmp_path, text, newline):
    (path := tmp_path / "f.txt").write_bytes(text.encode())
    doc = read_text_file(path)
    assert doc.newline == newline and doc.text == text  # the text itself is never normalised


def test_binary_file_is_refused(tmp_path):
    (path := tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(DocumentError, match=r"logo\.png looks like a binary file \(it contains NUL bytes\); refusing"):
        read_text_file(path)
    (sig := tmp_path / "sig.bin").write_bytes(b"\xef\xbb\xbfab\x00cd")  # a UTF-8 BOM does not make NUL text
    with pytest.raises(DocumentError, match="binary"):
        read_text_file(sig)


UTF16_TEXTS = ["hello", "caf\u00e9 au lait\r\nline two\r\n", "fox \U0001f98a, \u4e00 one\n\ttabbed\n", "x" * 9000]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", UTF16_TEXTS, ids=["word", "crlf", "astral and cjk", "past the sample"])
def test_utf16_without_bom_is_recognised_and_round_trips(tmp_path, codec, text):
    (path := tmp_path / "f.txt").write_bytes(original := text.encode(codec))
    doc = read_text_file(path)
    assert (doc.text, doc.encoding) == (text, f"{codec}-nobom")
    write_text_file_atomic(path, doc.text, doc.encoding)
    assert path.read_bytes() == original  # no BOM added
    write_text_file_atomic(path, "edited\n" + doc.text, doc.encoding)
    assert path.read_bytes() == ("edited\n" + text).encode(codec)


ELF_HEADER = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x03\x00\x3e\x00\x01\x00\x00\x00" + bytes(range(40))
BINARIES = {
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00",
    "elf": ELF_HEADER,
    "random": random.Random(12).randbytes(4096),
    "small numbers": b"".join(n.to_bytes(2, "little") for n in range(1, 200)),  # UTF-16 shaped, but controls
    "odd length": "hello".encode("utf-16-le") + b"!",
    "nul characters": "a\x00b\x00".encode("utf-16-le"),
}


@pytest.mark.parametrize("name", BINARIES)
def test_binaries_are_still_refused(tmp_path, name):
    (path := tmp_path / "blob").write_bytes(BINARIES[name])
    with pytest.raises(DocumentError, match=r"blob looks like a binary file \(it contains NUL bytes\)"):
        read_text_file(path)


def test_latin1_is_refused_naming_utf8_and_the_offset(tmp_path):
    (path := tmp_path / "latin.txt").write_bytes("na\u00efve caf\u00e9".encode("latin-1"))
    with pytest.raises(DocumentError) as info:
        read_text_file(path)
    message = str(info.value)
    assert message == (
        f"{path} is not valid UTF-8 (byte 0xef at offset 2); tried UTF-8, and UTF-16 needs a BOM; re-save it as UTF-8"
    )
    (sig := tmp_path / "sig.txt").write_bytes(b"\xef\xbb\xbfab\xe9")  # the offset counts the BOM
    with pytest.raises(DocumentError, match=r"not valid UTF-8 \(byte 0xe9 at offset 5\)"):
        read_text_file(sig)


def test_broken_utf16_is_refused(tmp_path):
    (path := tmp_path / "f.txt").write_bytes(b"\xff\xfe" + "ok".encode("utf-16-le") + b"\x00\xd8")  # lone surrogate
    with pytest.raises(DocumentError, match=r"f\.txt is not valid UTF-16-LE \(byte 0x00 at offset 6\).*UTF-8$"):
        read_text_file(path)


def test_oversize_file_is_refused(tmp_path):
    (path := tmp_path / "big.txt").write_bytes(b"x" * (3 * MB))
    with pytest.raises(DocumentError, match=r"big\.txt is 3\.0 MB, over the 2 MB limit$"):
        read_text_file(path, max_bytes=2 * MB)
    assert read_text_file(path, max_bytes=3 * MB).text == "x" * (3 * MB)  # exactly at the limit is fine


def test_default_limit_is_100_mb(tmp_path):
    with open(path := tmp_path / "huge.txt", "wb") as f:
        f.truncate(150 * MB)  # sparse: nothing is written, and the size check comes before any read
    with pytest.raises(DocumentError, match=r"huge\.txt is 150\.0 MB, over the 100 MB limit$"):
        read_text_file(path)


def test_unopenable_paths_are_refused_in_one_line(tmp_path):
    with pytest.raises(DocumentError, match=r"^cannot open .*notes\.txt: no such file$"):
        read_text_file(tmp_path / "notes.txt")
    with pytest.raises(DocumentError, match=r"^cannot open .*: it is a folder$"):
        read_text_file(tmp_path)


@pytest.mark.skipif(AS_ROOT or sys.platform == "win32", reason="root reads anything; no POSIX modes on Windows")
def test_unreadable_file_is_refused(tmp_path):
    (path := tmp_path / "secret.txt").write_text("x")
    path.chmod(0)
    with pytest.raises(DocumentError, match=r"^cannot open .*secret\.txt: permission denied$"):
        read_text_file(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(path := tmp_path / "pipe")  # no writer: opening it for reading would wait for one
    (link := tmp_path / "link").symlink_to(path)
    for name in (path, link):
        with hang_guard(path):
            with pytest.raises(DocumentError) as info:
                read_text_file(name)
        assert str(info.value) == f"cannot open {name}: it is not a regular file (a FIFO)"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_path_swapped_for_a_fifo_after_the_check_does_not_block(tmp_path, monkeypatch):
    (path := tmp_path / "notes.txt").write_text("text")
    real_open = os.open

    def swap_then_open(name, flags, *args):
        if name == path:  # between the stat and the open, someone puts a FIFO there
            os.unlink(path)
            os.mkfifo(path)
        return real_open(name, flags, *args)

    monkeypatch.setattr(os, "open", swap_then_open)
    with hang_guard(path):
        with pytest.raises(DocumentError, match=r"notes\.txt: it is not a regular file \(a FIFO\)$"):
            read_text_file(path)


def special_files(tmp_path):
    """A FIFO, a character device like /dev/null (root only) and a symlink to the FIFO, made in tmp_path."""
    found = {}
    if hasattr(os, "mkfifo"):
        os.mkfifo(fifo := tmp_path / "pipe")
        found["pipe"] = (fifo, "a FIFO")
        (link := tmp_path / "link-to-pipe").symlink_to(fifo)
        found["link-to-pipe"] = (link, "a FIFO")
    try:
        os.mknod(null := tmp_path / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is
        found["null"] = (null, "a character device")
    except (AttributeError, PermissionError, OSError):
        pass  # not root here: the FIFO stands for every special file
    return found


def test_saving_onto_a_fifo_or_device_is_refused_and_keeps_it(tmp_path):
    found = special_files(tmp_path)
    if not found:
        pytest.skip("no special files can be made here")
    kinds = {name: os.stat(path).st_mode for name, (path, _) in found.items()}
    for name, (path, kind) in found.items():
        with pytest.raises(DocumentError) as info:
            write_text_file_atomic(path, "text")
        assert str(info.value) == f"cannot save {path}: it is not a regular file ({kind})"
    assert {name: os.stat(path).st_mode for name, (path, _) in found.items()} == kinds  # nothing replaced
    assert os.path.islink(tmp_path / "link-to-pipe") or "link-to-pipe" not in found
    assert temp_files(tmp_path) == []


NAME_MAX = 255


def test_a_name_of_name_max_bytes_saves(tmp_path):
    for length in (234, NAME_MAX):
        path = tmp_path / ("n" * (length - 4) + ".txt")
        write_text_file_atomic(path, "new")
        assert path.read_text() == "new" and len(path.name.encode()) == length
        write_text_file_atomic(path, "again")  # replacing an existing one too
        assert read_text_file(path).text == "again"
    assert temp_files(tmp_path) == []


def test_a_name_that_cannot_exist_is_one_line(tmp_path):
    path = tmp_path / ("n" * (NAME_MAX - 3) + ".txt")
    with pytest.raises(DocumentError) as info:
        write_text_file_atomic(path, "text")
    assert str(info.value) == f"cannot save {path}: File name too long"
    with pytest.raises(DocumentError, match=r"^cannot open .*: File name too long$"):
        read_text_file(path)
    assert os.listdir(tmp_path) == []


OURS = re.compile(r"\.redraft-[0-9a-f]{8}\.tmp")
KILLED_WRITER = """
import os, signal, sys
from engine.documents import write_text_file_atomic
def die(fd):  # the temp file is written; the process dies before the rename
    os.kill(os.getpid(), signal.SIGKILL)
os.fsync = die
write_text_file_atomic(sys.argv[1], "x" * 100000)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGKILL on Windows")
def test_a_killed_save_leaves_a_temp_that_the_next_save_removes_and_nothing_else(tmp_path):
    (path := tmp_path / "notes.txt").write_text("original")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], env=env, timeout=120)
    assert done.returncode == -signal.SIGKILL
    left = [name for name in os.listdir(tmp_path) if name != "notes.txt"]
    assert len(left) == 1 and OURS.fullmatch(left[0]) and len(left[0]) < 24  # short and recognisable
    assert path.read_text() == "original"

    hour_ago = time.time() - 3600
    (other := tmp_path / "other").mkdir()
    kept = {
        "fresh": ".redraft-0123abcd.tmp",  # under a minute old: perhaps a save running now
        "not hex": ".redraft-0123abcg.tmp",
        "longer": ".redraft-0123abcd0.tmp",
        "no dot": "redraft-0123abcd.tmp",
        "suffix": ".redraft-0123abcd.tmp.bak",
        "someone else's": ".notes.txt.swp",
    }
    for name in kept.values():
        (tmp_path / name).write_text("keep")
    for name in list(kept.values())[1:]:
        os.utime(tmp_path / name, (hour_ago, hour_ago))
    stale = [left[0], ".redraft-ffffffff.tmp", ".notes.txt.89abcdef.redraft-tmp"]  # the last: earlier versions
    for name in stale[1:]:
        (tmp_path / name).write_text("stale")
    (tmp_path / ".redraft-aaaaaaaa.tmp").mkdir()  # a folder named like ours is not ours
    (tmp_path / ".redraft-bbbbbbbb.tmp").symlink_to(path)  # nor is a link
    (other / ".redraft-cccccccc.tmp").write_text("another folder")
    for name in (*stale, ".redraft-aaaaaaaa.tmp"):
        os.utime(tmp_path / name, (hour_ago, hour_ago))
    os.utime(other / ".redraft-cccccccc.tmp", (hour_ago, hour_ago))

    write_text_file_atomic(path, "saved")
    assert path.read_text() == "saved"
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["notes.txt", "other", ".redraft-aaaaaaaa.tmp", ".redraft-bbbbbbbb.tmp", *kept.values()]
    )
    assert os.listdir(other) == [".redraft-cccccccc.tmp"]


def test_unencodable_text_writes_nothing(tmp_path):
    (path := tmp_path / "keep.txt").write_bytes(b"original")
    with pytest.raises(DocumentError, match=r"^cannot save .*keep\.txt: the text cannot be encoded as utf-8 \("):
        write_text_file_atomic(path, "lone surrogate \ud800")
    with pytest.raises(DocumentError, match="unsupported encoding 'latin-1'"):
        write_text_file_atomic(path, "caf\u00e9", "latin-1")
    assert path.read_bytes() == b"original" and os.listdir(tmp_path) == ["keep.txt"]


def test_failure_after_the_temp_file_exists_keeps_the_original(tmp_path, monkeypatch):
    (path := tmp_path / "keep.txt").write_bytes(b"original")

    def fail(*args):
        raise OSError(28, "No space left on device")

    for step in ("fsync", "replace"):
        with monkeypatch.context() as m:
            m.setattr(os, step, fail)
            with pytest.raises(DocumentError, match=r"^cannot save .*keep\.txt: No space left on device$"):
                write_text_file_atomic(path, "new text")
        assert path.read_bytes() == b"original" and os.listdir(tmp_path) == ["keep.txt"]


def test_interrupted_write_leaves_no_temp_file(tmp_path, monkeypatch):
    (path := tmp_path / "keep.txt").write_bytes(b"original")

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_text_file_atomic(path, "new text")
    assert path.read_bytes() == b"original" and os.listdir(tmp_path) == ["keep.txt"]


def test_real_write_failures_are_reported(tmp_path):
    (folder := tmp_path / "target.txt").mkdir()  # replacing a folder with a file fails, even as root
    with pytest.raises(DocumentError, match=r"^cannot save .*target\.txt: "):
        write_text_file_atomic(folder, "text")
    assert temp_files(tmp_path) == [] and folder.is_dir()
    with pytest.raises(DocumentError, match=r"^cannot save .*x\.txt: "):
        write_text_file_atomic(tmp_path / "no-such-dir" / "x.txt", "text")


@pytest.mark.skipif(AS_ROOT or sys.platform == "win32", reason="root writes anywhere; no POSIX modes on Windows")
def test_read_only_folder_keeps_the_original(tmp_path):
    (path := tmp_path / "keep.txt").write_bytes(b"original")
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(DocumentError, match=r"^cannot save .*keep\.txt: Permission denied$"):
            write_text_file_atomic(path, "new text")
    finally:
        tmp_path.chmod(0o755)
    assert path.read_bytes() == b"original" and os.listdir(tmp_path) == ["keep.txt"]


@pytest.mark.skipif(sys.platform == "win32", reason="no POSIX modes on Windows")
def test_permissions_are_preserved_and_new_files_follow_the_umask(tmp_path):
    (path := tmp_path / "script.sh").write_text("#!/bin/sh\n")
    path.chmod(0o751)
    write_text_file_atomic(path, "#!/bin/sh\necho hi\n")
    assert path.stat().st_mode & 0o7777 == 0o751 and path.read_text() == "#!/bin/sh\necho hi\n"
    umask = os.umask(0o022)
    os.umask(umask)
    write_text_file_atomic(new := tmp_path / "new.txt", "fresh")
    assert new.read_bytes() == b"fresh" and new.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_writing_through_a_symlink_keeps_the_link(tmp_path):
    (real := tmp_path / "real.txt").write_text("old")
    (link := tmp_path / "link.txt").symlink_to(real)
    write_text_file_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def encodable(text):
    try:
        text.encode("utf-8")  # only lone surrogates fail, and they fail in every encoding here
    except UnicodeEncodeError:
        return False
    return True




@settings(deadline=None)  # each example fsyncs, whose latency varies
@given(text=st.text().filter(encodable), encoding=st.sampled_from(ENCODINGS))
@example(text="\ufeffzero-width no-break space first", encoding="utf-8")
@example(text="a\x00b", encoding="utf-8-sig")
def test_any_text_survives_write_then_read(tmp_path_factory, text, encoding):
    path = tmp_path_factory.mktemp("rt") / "f.txt"
    write_text_file_atomic(path, text, encoding)
    data = path.read_bytes()
    assert data == stored(text, encoding)
    if not encoding.startswith("utf-16") and b"\x00" in data[:8192]:
        # NUL means binary unless the bytes read as BOM-less UTF-16 (then they write back the same)
        try:
            doc = read_text_file(path)
        except DocumentError as exc:
            assert "binary" in str(exc)
        else:
            assert encoding == "utf-8" and doc.encoding.endswith("-nobom")
            write_text_file_atomic(path, doc.text, doc.encoding)
            assert path.read_bytes() == data
    elif encoding == "utf-8" and text.startswith("\ufeff"):
        # Plain UTF-8 text starting with U+FEFF is byte for byte a UTF-8 file with a BOM: it reads as one,
        # and writing it back that way still gives the same bytes.
        doc = read_text_file(path)
        assert (doc.encoding, doc.text) == ("utf-8-sig", text[1:])
        write_text_file_atomic(path, doc.text, doc.encoding)
        assert path.read_bytes() == data
    else:
        doc = read_text_file(path)
        assert (doc.text, doc.encoding) == (text, encoding)


@settings(deadline=None)
@given(data=st.binary(max_size=200))
@example(data=b"\xff\xfe\x00\x00a\x00")  # a UTF-32 LE BOM reads as UTF-16 LE text starting with NUL
@example(data=b"\xef\xbb\xbf\xef\xbb\xbf")  # two BOMs: the second is text
def test_any_file_that_reads_writes_back_byte_identical(tmp_path_factory, data):
    (path := tmp_path_factory.mktemp("bytes") / "f.txt").write_bytes(data)
    try:
        doc = read_text_file(path)
    except DocumentError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    write_text_file_atomic(path, doc.text, doc.encoding)
    assert path.read_bytes() == data
