"""Files as stored: encodings and line endings survive a round trip; bad files are refused clearly."""

import os
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.documents import DocumentError, read_text_file, write_text_file_atomic

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
    return [name for name in os.listdir(folder) if name.endswith(".redraft-tmp")]


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


def test_utf16_without_bom_is_refused_rather_than_guessed(tmp_path):
    (path := tmp_path / "f.txt").write_bytes("hello".encode("utf-16-le"))
    with pytest.raises(DocumentError, match="binary"):
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
    os.mkfifo(path := tmp_path / "pipe")
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # a writer exists, so opening for reading does not block
    try:
        with pytest.raises(DocumentError, match="not a regular file"):
            read_text_file(path)
    finally:
        os.close(fd)


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
        with pytest.raises(DocumentError, match="binary"):  # NUL means binary unless the file is UTF-16
            read_text_file(path)
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
