"""Files as stored: encodings and line endings survive a round trip; bad files are refused clearly."""

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.documents import DocumentError, read_text_file, write_text_file_atomic

SAMPLES = {
    "utf-8": b"caf\xc3\xa9 \xf0\x9f\xa6\x8a\r\nline two\r\n",
    "utf-8-sig": b"\xef\xbb\xbfBOM first\nsecond\n",
    "utf-16-le": "\ufeffhé 世界\r\n🦊".encode("utf-16-le"),
    "utf-16-be": "\ufeffhé 世界\n🦊".encode("utf-16-be"),
}


@pytest.mark.parametrize("encoding", SAMPLES)
def test_round_trip_is_byte_identical(tmp_path, encoding):
    path = tmp_path / "f.txt"
    path.write_bytes(SAMPLES[encoding])
    doc = read_text_file(path)
    assert doc.encoding == encoding and "\ufeff" not in doc.text
    write_text_file_atomic(path, doc.text, doc.encoding)
    assert path.read_bytes() == SAMPLES[encoding]


def test_line_endings_are_kept_and_detected(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"a\r\nb\r\nc\n")
    doc = read_text_file(path)
    assert doc.text == "a\r\nb\r\nc\n" and doc.newline == "\r\n"


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"])), st.sampled_from(list(SAMPLES)))
def test_any_text_survives_write_then_read(tmp_path_factory, text, encoding):
    path = tmp_path_factory.mktemp("rt") / "f.txt"
    write_text_file_atomic(path, text, encoding)
    if encoding == "utf-8" and "\x00" in text:
        with pytest.raises(DocumentError, match="binary"):
            read_text_file(path)
    else:
        assert read_text_file(path).text == text


def test_refusals_name_the_file_and_the_reason(tmp_path):
    with pytest.raises(DocumentError, match=r"^cannot open .*gone\.txt: no such file$"):
        read_text_file(tmp_path / "gone.txt")
    with pytest.raises(DocumentError, match=r"cannot open .*: it is a folder"):
        read_text_file(tmp_path)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"na\xefve")
    with pytest.raises(DocumentError, match=r"is not valid UTF-8 \(byte 0xef at offset 2\); tried UTF-8"):
        read_text_file(latin)
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 3_000_000)
    with pytest.raises(DocumentError, match=r"is 3\.0 MB, over the 2 MB limit"):
        read_text_file(big, max_bytes=2_000_000)


def test_failed_write_keeps_the_original_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_bytes(b"original")
    with pytest.raises(DocumentError, match="cannot be encoded as utf-8"):
        write_text_file_atomic(path, "lone surrogate \ud800")
    with pytest.raises(DocumentError, match="cannot save"):
        write_text_file_atomic(tmp_path / "no-such-dir" / "x.txt", "text")
    assert path.read_bytes() == b"original" and os.listdir(tmp_path) == ["keep.txt"]


def test_permissions_are_preserved(tmp_path):
    path = tmp_path / "script.sh"
    path.write_text("#!/bin/sh\n")
    path.chmod(0o751)
    write_text_file_atomic(path, "#!/bin/sh\necho hi\n")
    assert path.stat().st_mode & 0o777 == 0o751
