"""Crafted GGUF and safetensors files: each ends in one ModelLoadError line, never a raw Python error, and one
bad file never breaks the model list (`redraft-cli models`, the discovery scan the model manager runs)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import numpy as np
import pytest
from gguf import GGUFWriter

from engine.cli import main as cli_main
from engine.models.checkpoint import check_safetensors, inspect_folder
from engine.models.discovery import find_models
from engine.models.gguf_header import MAX_CONTEXT, MAX_LAYERS, read_gguf
from engine.self_check import add_llama_blocks, random_matrix, write_tiny_llama_gguf
from engine.types import ModelLoadError
from tests.llada_gguf import write_llada_gguf


def one_line_error(check, path) -> str:
    with pytest.raises(ModelLoadError) as info:
        check(path)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400
    return message


# -- GGUF structure, written byte by byte -------------------------------------------------------------------


def s(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


def kv(key: bytes, kind: int, payload: bytes) -> bytes:
    return s(key) + struct.pack("<I", kind) + payload


def gguf(*kvs: bytes, tensors: bytes = b"", n_tensors: int = 0, version: int = 3, n_kv: int | None = None) -> bytes:
    n_kv = len(kvs) if n_kv is None else n_kv
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + b"".join(kvs) + tensors


ARCH = kv(b"general.architecture", 8, s(b"llama"))
U32, STRING, ARRAY = 4, 8, 9


def tensor(name: bytes, dims: list[int], kind: int = 0, offset: int = 0) -> bytes:
    return s(name) + struct.pack(f"<I{len(dims)}Q", len(dims), *dims) + struct.pack("<IQ", kind, offset)


CRAFTED = {
    "alignment 0": gguf(ARCH, kv(b"general.alignment", U32, struct.pack("<I", 0))),
    "alignment a string": gguf(ARCH, kv(b"general.alignment", STRING, s(b"32"))),
    "alignment not a power of two": gguf(ARCH, kv(b"general.alignment", U32, struct.pack("<I", 24))),
    "alignment a bool": gguf(ARCH, kv(b"general.alignment", 7, b"\x01")),
    "nested arrays": gguf(ARCH, kv(b"x", ARRAY, struct.pack("<IQ", ARRAY, 1) + struct.pack("<IQ", U32, 0))),
    "arrays nested 100,000 deep": gguf(ARCH, kv(b"x", ARRAY, struct.pack("<IQ", ARRAY, 1) * 100_000)),
    "a huge scalar array": gguf(ARCH, kv(b"x", ARRAY, struct.pack("<IQ", U32, 2**62))),
    "a huge string array": gguf(ARCH, kv(b"x", ARRAY, struct.pack("<IQ", STRING, 2**40))),
    "a string array past the end": gguf(ARCH, kv(b"x", ARRAY, struct.pack("<IQ", STRING, 1000) + s(b"a"))),
    "a huge key length": gguf(struct.pack("<Q", 2**63) + b"key"),
    "2^64-1 metadata keys": gguf(ARCH, n_kv=2**64 - 1),
    "a key that is not UTF-8": gguf(ARCH, kv(b"\xff\xfe\x80", U32, struct.pack("<I", 1))),
    "a value that is not UTF-8": gguf(kv(b"general.architecture", STRING, s(b"ll\xc3"))),
    "an unknown metadata type": gguf(ARCH, kv(b"x", 99, b"")),
    "an unknown array type": gguf(ARCH, kv(b"x", ARRAY, struct.pack("<IQ", 77, 1))),
    "a duplicate key": gguf(ARCH, ARCH),
    "no architecture": gguf(kv(b"general.name", STRING, s(b"x"))),
    "version 1": gguf(ARCH, version=1),
    "version 99": gguf(ARCH, version=99),
    "only the magic": b"GGUF",
    "empty": b"",
    "2^31 dimensions": gguf(ARCH, tensors=s(b"t") + struct.pack("<I", 2**31), n_tensors=1),
    "an unknown tensor type": gguf(ARCH, tensors=tensor(b"t", [4], kind=999), n_tensors=1),
    "a tensor bigger than the file": gguf(ARCH, tensors=tensor(b"t", [2**40, 2**20]), n_tensors=1),
    "a tensor at an offset past the end": gguf(ARCH, tensors=tensor(b"t", [1], offset=2**60), n_tensors=1),
    "an unaligned tensor offset": gguf(ARCH, tensors=tensor(b"t", [1], offset=3), n_tensors=1),
    "a Q4_0 row that is not whole blocks": gguf(ARCH, tensors=tensor(b"t", [7], kind=2), n_tensors=1),
    "2^60 tensors": gguf(ARCH, n_tensors=2**60),
}


@pytest.mark.parametrize("case", CRAFTED)
def test_a_crafted_gguf_is_one_line(tmp_path, case):
    path = tmp_path / "crafted.gguf"
    path.write_bytes(CRAFTED[case])
    assert one_line_error(read_gguf, path).startswith("crafted.gguf ")


def test_real_tiny_ggufs_and_the_bundled_model_still_pass(tmp_path):
    from engine.models.bundled import bundled_file_path

    assert read_gguf(write_llada_gguf(tmp_path / "llada.gguf")).architecture == "llada"
    llama = read_gguf(write_tiny_llama_gguf(tmp_path / "llama.gguf"))
    assert (llama.architecture, llama.context_length, llama.get("tokenizer.ggml.tokens")) == ("llama", 64, 260)
    assert read_gguf(bundled_file_path()).get("llama.block_count") == 30  # SmolLM2-135M


# -- hostile hyperparameters, written with gguf.GGUFWriter ---------------------------------------------------


def write_llama(path, alignment: int | None = None, **overrides):
    """A tiny Llama whose declared hyperparameters are overridden; the tensors stay those of a one-layer model,
    as a crafted file's would. `alignment` writes an explicit general.alignment."""
    shape = dict(context_length=64, embedding_length=32, block_count=1, feed_forward_length=64,
                 **{"attention.head_count": 2, "attention.head_count_kv": 2})  # fmt: skip
    shape.update(overrides)
    writer = GGUFWriter(str(path), "llama")
    if alignment is not None:
        writer.add_custom_alignment(alignment)
    for key, value in shape.items():
        name = f"llama.{key}"
        if isinstance(value, str):
            writer.add_string(name, value)
        elif isinstance(value, float):
            writer.add_float32(name, value)
        elif isinstance(value, list):
            writer.add_array(name, value)
        elif value >= 2**32:
            writer.add_uint64(name, value)
        else:
            writer.add_uint32(name, value)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("llama")
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), "a"]  # byte fallback: any text spells
    writer.add_token_list(tokens)
    rng = np.random.default_rng(0)
    writer.add_tensor("token_embd.weight", random_matrix(rng, len(tokens), 32))
    add_llama_blocks(writer, rng, 1, 32, 64)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


HOSTILE = {
    "a million layers": ({"block_count": 1_000_000}, "llama.block_count = 1,000,000 (layers) is outside 1..512"),
    "no layers": ({"block_count": 0}, "llama.block_count = 0 (layers)"),
    "layers as a string": ({"block_count": "12"}, "llama.block_count is '12', not an integer"),
    "layers as a float": ({"block_count": 2.0}, "llama.block_count is 2.0, not an integer"),
    "a million heads": ({"attention.head_count": 10**6}, "llama.attention.head_count = 1,000,000"),
    "more heads than dimensions": ({"attention.head_count": 64, "attention.head_count_kv": 64}, "more heads than the embedding's 32"),
    "kv heads that do not divide": ({"attention.head_count_kv": 3}, "llama.attention.head_count_kv = 3 does not divide 2"),
    "a per-layer head count past the limit": ({"attention.head_count": [2, 5000]}, "llama.attention.head_count = 5,000"),
    "an embedding of 2^20": ({"embedding_length": 2**20}, "llama.embedding_length = 1,048,576"),
    "a feed-forward of 2^30": ({"feed_forward_length": 2**30}, "llama.feed_forward_length = 1,073,741,824"),
    "a vocabulary of 2^30": ({"vocab_size": 2**30}, "llama.vocab_size = 1,073,741,824"),
    "a context of 2^40": ({"context_length": 2**40}, "llama.context_length = 1,099,511,627,776"),
    "a context of 0": ({"context_length": 0}, "llama.context_length = 0"),
    "2^20 experts": ({"expert_count": 2**20}, "llama.expert_count = 1,048,576"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_hyperparameters_are_refused_in_one_line(tmp_path, case):
    overrides, expected = HOSTILE[case]
    message = one_line_error(read_gguf, write_llama(tmp_path / "hostile.gguf", **overrides))
    assert message.startswith("hostile.gguf is refused before loading: ") and expected in message


def test_a_huge_context_is_refused_and_a_large_one_exposed_for_the_backends_to_cap(tmp_path):
    # llama-cpp-python's tokenize allocates the trained context for every call: 2^31-1 took 8 GB a call.
    with pytest.raises(ModelLoadError, match=r"llama.context_length = 2,147,483,647 \(context length\) is outside"):
        read_gguf(write_llama(tmp_path / "huge.gguf", context_length=2**31 - 1))
    info = read_gguf(write_llama(tmp_path / "long.gguf", context_length=MAX_CONTEXT))
    assert info.context_length == MAX_CONTEXT
    assert read_gguf(write_llama(tmp_path / "deep.gguf", block_count=MAX_LAYERS)).get("llama.block_count") == 512


def test_a_million_layers_never_reaches_llama_cpp(tmp_path):
    """The backend's load refuses it with the header's line (llama.cpp aborted the process with exit -6)."""
    from engine import Engine, EngineError, backend_for

    path = write_llama(tmp_path / "million.gguf", block_count=1_000_000)
    with Engine() as eng:
        with pytest.raises(EngineError, match=r"^million.gguf is refused before loading: llama.block_count = 1,000,000"):
            eng.load(lambda: backend_for(str(path))).result()


# -- safetensors ----------------------------------------------------------------------------------------------


def safetensors(header: object, data: bytes = b"\0" * 16, raw: bytes | None = None) -> bytes:
    body = raw if raw is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(body)) + body + data


GOOD = {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}
BAD_SAFETENSORS = {
    "shorter than 8 bytes": b"\x01\x02",
    "a header length past the end": struct.pack("<Q", 2**63) + b"{}",
    "not JSON": safetensors(None, raw=b"{not json"),
    "not UTF-8": safetensors(None, raw=b'{"\xff": 1}'),
    "nested 100,000 deep": safetensors(None, raw=b"[" * 100_000 + b"]" * 100_000),
    "a list, not an object": safetensors([1, 2]),
    "a tensor described by a string": safetensors({"w": "F32"}),
    "no data offsets": safetensors({"w": {"dtype": "F32", "shape": [4]}}),
    "string offsets": safetensors({"w": {"dtype": "F32", "shape": [4], "data_offsets": ["0", "16"]}}),
    "three offsets": safetensors({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8, 16]}}),
    "negative offsets": safetensors({"w": {"dtype": "F32", "shape": [4], "data_offsets": [-16, 0]}}),
    "an end before the start": safetensors({"w": {"dtype": "F32", "shape": [0], "data_offsets": [16, 0]}}),
    "a dtype that is a number": safetensors({"w": {"dtype": 7, "shape": [4], "data_offsets": [0, 16]}}),
    "a shape of strings": safetensors({"w": {"dtype": "F32", "shape": ["4"], "data_offsets": [0, 16]}}),
    "bytes that do not match the shape": safetensors({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}),
    "metadata that is not strings": safetensors({**GOOD, "__metadata__": {"format": {"nested": 1}}}),
    "offsets outside the file": safetensors({"w": {"dtype": "U8", "shape": [2**40], "data_offsets": [0, 2**40]}}),
}


@pytest.mark.parametrize("case", BAD_SAFETENSORS)
def test_a_crafted_safetensors_file_is_one_line(tmp_path, case):
    path = tmp_path / "model.safetensors"
    path.write_bytes(BAD_SAFETENSORS[case])
    assert one_line_error(check_safetensors, path).startswith("model.safetensors ")
    check_safetensors_path = tmp_path / "good.safetensors"
    check_safetensors_path.write_bytes(safetensors(GOOD))
    check_safetensors(check_safetensors_path)  # the well-formed one beside it passes


CRAFTED_CONFIGS = [  # (file, text) written into a good checkpoint folder; the stress suite uses them too
    ("config.json", "[1, 2]"),
    ("config.json", "[" * 100_000),
    ("config.json", '{"model_type": ["llama"], "architectures": 7}'),
    ("model.safetensors.index.json", '{"weight_map": ["a"]}'),
    ("model.safetensors.index.json", '{"weight_map": {"w": ["x"]}}'),
    ("model.safetensors.index.json", '{"weight_map": {"w": "../../outside.safetensors"}}'),
    ("model.safetensors.index.json", "[]"),
]


@pytest.mark.parametrize("name, text", CRAFTED_CONFIGS)
def test_a_crafted_config_or_index_is_one_line(checkpoint, tmp_path, name, text):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(checkpoint, folder)
    (folder / name).write_text(text, encoding="utf-8")
    one_line_error(lambda f: inspect_folder(f, "diffusion_gemma"), folder)


# -- the model list survives ----------------------------------------------------------------------------------


@pytest.fixture
def bad_folder(tmp_path, checkpoint, monkeypatch):
    import shutil

    monkeypatch.delenv("REDRAFT_MODEL", raising=False)
    monkeypatch.setenv("REDRAFT_MODELS_DIR", str(tmp_path / "models-dir"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    folder = tmp_path / "models"
    folder.mkdir()
    for case in ("alignment 0", "alignment a string", "nested arrays", "a key that is not UTF-8"):
        (folder / f"{case.replace(' ', '-')}.gguf").write_bytes(CRAFTED[case])
    write_llama(folder / "million-layers.gguf", block_count=1_000_000)
    write_llada_gguf(folder / "good.gguf")
    # A checkpoint whose weights file is a folder, and one whose weights link to nothing: both raised OSError
    # out of the scan before.
    shutil.copytree(checkpoint, folder / "weights-a-folder")
    (folder / "weights-a-folder" / "model.safetensors").unlink()
    (folder / "weights-a-folder" / "model.safetensors").mkdir()
    shutil.copytree(checkpoint, folder / "weights-a-dead-link")
    (folder / "weights-a-dead-link" / "model.safetensors").unlink()
    (folder / "weights-a-dead-link" / "model.safetensors").symlink_to(tmp_path / "gone.safetensors")
    return folder


def test_the_scan_lists_every_bad_file_with_its_problem(bad_folder):
    found = {m.path: m for m in find_models(folders=[str(bad_folder)])}
    for name in ("alignment-0", "alignment-a-string", "nested-arrays", "a-key-that-is-not-UTF-8", "million-layers"):
        problem = found[str(bad_folder / f"{name}.gguf")].problem
        assert problem and problem.startswith(f"{name}.gguf ") and "\n" not in problem
    assert found[str(bad_folder / "good.gguf")].problem is None
    assert "Is a directory" in found[str(bad_folder / "weights-a-folder")].problem
    assert found[str(bad_folder / "weights-a-dead-link")].problem.startswith("cannot be checked: ")


def test_redraft_cli_models_lists_bad_files_and_exits_0(bad_folder, capsys):
    assert cli_main(["models", "--folder", str(bad_folder)]) == 0
    out = capsys.readouterr().out
    assert "million-layers.gguf is refused before loading: llama.block_count = 1,000,000" in out
    assert "alignment-0.gguf is truncated or not a GGUF file (general.alignment is 0, not a power of two)" in out
    assert "nested-arrays.gguf is truncated or not a GGUF file (x is an array of arrays" in out
    assert cli_main(["models", "--json", "--folder", str(bad_folder)]) == 0
    listed = json.loads(capsys.readouterr().out)["found"]
    assert sum(1 for m in listed if m["problem"]) == 7


def test_a_vocabulary_without_byte_tokens_is_refused_before_llama_cpp_aborts_on_it(tmp_path):
    """llama.cpp looks byte tokens up with std::unordered_map::at: a crafted SentencePiece vocabulary without
    them loaded, then killed the process ("terminate called ... unordered_map::at") on the first edit."""
    writer = GGUFWriter(str(tmp_path / "nobytes.gguf"), "llama")
    for key, value in dict(context_length=64, embedding_length=32, block_count=1, feed_forward_length=64).items():
        writer.add_uint32(f"llama.{key}", value)
    writer.add_uint32("llama.attention.head_count", 2)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(["<unk>", "<s>", "</s>", "a", "<0x41>"])
    rng = np.random.default_rng(0)
    writer.add_tensor("token_embd.weight", random_matrix(rng, 5, 32))
    add_llama_blocks(writer, rng, 1, 32, 64)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelLoadError) as info:
        read_gguf(tmp_path / "nobytes.gguf")
    assert str(info.value).endswith("its llama vocabulary lacks 255 of the 256 byte tokens; llama.cpp aborts on text it cannot spell with them")



def test_a_bpe_vocabulary_without_some_byte_tokens_loads_and_llama_cpp_spells_every_byte():
    """llama.cpp's BPE tokenizer skips a byte it has no token for (its SentencePiece one aborts): the bundled
    SmolLM2's real vocabulary lacks 21 byte tokens, passes the header check, and tokenizes all 256 bytes in a
    child process (an abort there would show as its exit code, not kill the test run)."""
    from engine.models.bundled import bundled_model_path

    path = bundled_model_path()
    assert read_gguf(path).get("tokenizer.ggml.model") == "gpt2"
    script = (
        "import sys; from llama_cpp import Llama\n"
        "llm = Llama(sys.argv[1], n_ctx=64, verbose=False)\n"
        "n = sum(len(llm.tokenize(b'x' + bytes([b]) + b'y', add_bos=False)) > 0 for b in range(256))\n"
        "print(n)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.split()[-1:]) == (0, ["256"]), done.stderr[-500:]
