"""Fuzzing the header checkers: valid tiny GGUF and safetensors files, mutated (bytes flipped, lengths and counts
set to huge or random values, cut short, headers replaced by arbitrary JSON). Each run ends in a valid parse or
one ModelLoadError line, never another exception, reading and holding a bounded number of bytes."""

from __future__ import annotations

import json
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import psutil
import pytest
from gguf import GGUFReader, GGUFValueType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from engine.models.checkpoint import MAX_HEADER_BYTES as MAX_SAFETENSORS_HEADER
from engine.models.checkpoint import check_safetensors
from engine.models.gguf_header import read_gguf
from engine.self_check import write_tiny_llama_gguf
from engine.types import ModelLoadError
from tests.engine.models.test_hostile_files import write_llama

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLACK = 1 << 20  # Python's own bookkeeping around one call


@pytest.fixture(scope="module", params=["vocabulary", "alignment"])
def gguf_file(request, tmp_path_factory) -> tuple[bytes, list[int], list[int], list[int]]:
    """A valid tiny Llama GGUF (with a 260-token vocabulary, or with an explicit general.alignment), and where
    its u64 lengths/counts and its u32 types, values and dimension counts sit."""
    folder = tmp_path_factory.mktemp("fuzz")
    if request.param == "vocabulary":
        path = write_tiny_llama_gguf(folder / "tiny.gguf")
    else:
        path = write_llama(folder / "aligned.gguf", alignment=64)
    u64s, u32s, values = integer_offsets(
        path, lambda field: field.types == [GGUFValueType.UINT32] and not field.name.startswith("GGUF.")
    )  # a scalar's value: alignment, layers, heads
    return path.read_bytes(), sorted(set(u64s)), sorted(set(u32s)), values


def integer_offsets(path, is_value) -> tuple[list[int], list[int], list[int]]:
    """Where a GGUF's u64 lengths and counts, its u32 types and dimension counts, and the u32 values of the
    fields `is_value(field)` picks sit in the file (the stress suite mutates the same places)."""
    reader = GGUFReader(path)
    u64s, u32s, values = [], [], []
    for field in [*reader.fields.values(), *(t.field for t in reader.tensors)]:
        pos = field.offset
        for part in field.parts:
            if part.size == 1 and part.dtype == np.uint64:
                u64s.append(pos)
            elif part.size == 1 and part.dtype == np.uint32:
                u32s.append(pos)
            pos += part.nbytes
        if is_value(field):
            values.append(pos - 4)
    return u64s, u32s, values


@pytest.fixture(scope="module")
def safetensors_file(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "tiny.safetensors"
    save_file({"a": np.zeros((2, 3), np.float32), "b": np.ones(4, np.int64)}, str(path), {"format": "np"})
    return path.read_bytes()


HUGE = st.sampled_from([0, 1, 3, 24, 2**31 - 1, 2**32 - 1, 2**32, 2**62, 2**63, 2**64 - 1]) | st.integers(0, 2**64 - 1)


def mutate(data: bytes, draw, u64s: list[int], u32s: list[int], header_end: int, values: list[int] = ()) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "u64", "u32", "value", "cut"]))
        at = {"flip": range(min(header_end, len(out))), "u64": u64s, "u32": u32s, "value": values}.get(kind)
        if kind == "cut":
            del out[draw(st.integers(0, len(out))) :]
            continue
        at = [i for i in at if i + {"flip": 1, "u64": 8, "u32": 4, "value": 4}[kind] <= len(out)]
        if not at:
            continue
        i = draw(st.sampled_from(at))
        if kind == "flip":
            out[i] = draw(st.integers(0, 255))
        elif kind == "u64":
            struct.pack_into("<Q", out, i, draw(HUGE))
        elif kind == "value":  # zero, off by one, not a power of two, past every limit
            struct.pack_into("<I", out, i, draw(st.sampled_from([0, 1, 3, 24, 1_000_000, 2**31 - 1, 2**32 - 1])))
        else:
            struct.pack_into("<I", out, i, draw(HUGE) & 0xFFFFFFFF)
    return bytes(out)


def held_and_read(check, path: Path) -> tuple[int, int]:
    """Run the check; the peak Python memory it held and the bytes it read with read() (mmap is not counted)."""
    process = psutil.Process()
    io = getattr(process, "io_counters", None)
    before = io().read_chars if io else 0
    tracemalloc.start()
    try:
        try:
            check(path)
        except ModelLoadError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(path.name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, (io().read_chars - before if io else 0)


@FUZZ
@given(data=st.data())
def test_mutated_gguf_headers_parse_or_fail_in_one_line(gguf_file, tmp_path, data):
    valid, u64s, u32s, values = gguf_file
    header_end = max(u64s + u32s) + 8
    mutated = mutate(valid, data.draw, u64s, u32s, header_end, values)
    path = tmp_path / "mutated.gguf"
    path.write_bytes(mutated)
    peak, _ = held_and_read(read_gguf, path)
    # What the parser keeps (keys, scalars, strings) comes out of the header it walked: never more than the file.
    assert peak <= len(mutated) + SLACK


def arbitrary_json():
    scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20)
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    )


@FUZZ
@given(data=st.data())
def test_mutated_safetensors_headers_pass_or_fail_in_one_line(safetensors_file, tmp_path, data):
    (header_len,) = struct.unpack_from("<Q", safetensors_file)
    how = data.draw(st.sampled_from(["bytes", "json", "tensor fields", "deep"]))
    if how == "bytes":  # flips in the header, its length changed, the file cut
        mutated = mutate(safetensors_file, data.draw, [0], [], 8 + header_len)
    else:
        header = json.loads(safetensors_file[8 : 8 + header_len])
        if how == "json":
            header = data.draw(arbitrary_json())
        elif how == "tensor fields":
            name = data.draw(st.sampled_from(sorted(header)))
            field = data.draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
            header[name] = {**header[name], field: data.draw(arbitrary_json())} if name != "__metadata__" else data.draw(arbitrary_json())
        else:
            depth = data.draw(st.integers(1, 200_000))
            header = json.loads("[" * min(depth, 500) + "]" * min(depth, 500)) if depth <= 500 else None
            if header is None:
                body = b"[" * depth + b"]" * depth
                mutated = struct.pack("<Q", len(body)) + body + safetensors_file[8 + header_len :]
        if how != "deep" or header is not None:
            body = json.dumps(header).encode()
            mutated = struct.pack("<Q", len(body)) + body + safetensors_file[8 + header_len :]
    path = tmp_path / "mutated.safetensors"
    path.write_bytes(mutated)
    peak, read = held_and_read(check_safetensors, path)
    # The 8-byte length, then at most the header it allows (plus one buffered read ahead).
    assert read <= min(len(mutated), 8 + MAX_SAFETENSORS_HEADER) + 64 * 1024
    assert peak <= 20 * len(mutated) + SLACK  # the parsed JSON of what was read, nothing sized by a claimed length
