"""Crafted and mutated GGUF and safetensors files through the header checks and the real backend load.

Files: the crafted GGUF structures and hostile hyperparameters of tests/engine/models/test_hostile_files.py,
a few more from issue 12 (a 2^31-1 context, 512 declared layers over 1 layer of tensors), random mutations of
a valid tiny LLaDA GGUF (bytes flipped, lengths, counts and hyperparameters set to huge values, the file
cut), and for safetensors the crafted headers of that test module, crafted config.json / index files and
random mutations of a tiny DiffusionGemma checkpoint's weights header.

Each file runs in its own forked child (forked from a process that has imported the model libraries, so a
child starts in milliseconds): the checker (read_gguf, or inspect_folder with check_safetensors), then
`engine.backend_for(spec).load()`, and when that loads, one short edit. A child must end with a result or
one ModelLoadError line; an abort is a crash. Its time is measured by the parent and its peak RSS is
`ru_maxrss` from os.wait4 (it includes the RSS the child starts with: the fork parent's, reported too).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import struct
import tempfile
import time
from pathlib import Path

from tests.stress import common

TIME_LIMIT_S = 10.0
MEMORY_LIMIT_MB = 1024.0
KILL_AFTER_S = 30.0  # a child still running then is killed and counted as hung
KILL_OVER_MB = 3072.0  # a child over this RSS is killed (the machine is shared) and counted as over memory


# -- the corpus ---------------------------------------------------------------------------------------------


def _gguf_corpus(folder: Path, mutations: int, rng: random.Random) -> list[tuple[str, Path]]:
    import numpy as np

    from tests.engine.models.test_header_fuzz import integer_offsets
    from tests.engine.models.test_hostile_files import CRAFTED, HOSTILE, write_llama
    from tests.llada_gguf import write_llada_gguf

    files = []
    for i, (name, data) in enumerate(CRAFTED.items()):
        (path := folder / f"crafted-{i}.gguf").write_bytes(data)
        files.append((f"crafted: {name}", path))
    for i, (name, (overrides, _)) in enumerate(HOSTILE.items()):
        files.append((f"hostile: {name}", write_llama(folder / f"hostile-{i}.gguf", **overrides)))
    files.append(("issue 12: context 2^31-1", write_llama(folder / "ctx31.gguf", context_length=2**31 - 1)))
    files.append(("issue 12: LLaDA, context 2^31-1", write_llada_gguf(folder / "llada-ctx31.gguf", context_length=2**31 - 1)))
    files.append(("issue 12: 512 layers declared, 1 in the file", write_llama(folder / "deep.gguf", block_count=512)))
    files.append(("LLaDA, key width 16384", write_llada_gguf(folder / "llada-kw.gguf", key_length=16384)))

    valid = write_llada_gguf(folder / "valid.gguf")
    data = valid.read_bytes()
    u64s, u32s, values = integer_offsets(
        valid,
        lambda field: field.name.startswith("llada.") and len(field.parts[-1]) == 1 and field.parts[-1].dtype == np.uint32,
    )
    header_end = max(u64s + u32s) + 8
    huge = [0, 1, 3, 24, 2**31 - 1, 2**32 - 1, 2**32, 2**62, 2**63, 2**64 - 1]
    for i in range(mutations):
        out = bytearray(data)
        done = []
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(["flip", "u64", "u32", "value", "value", "cut"])
            if kind == "cut":
                at = rng.randrange(len(out))
                del out[at:]
                done.append(f"cut at {at}")
                continue
            spots = {"flip": range(min(header_end, len(out))), "u64": u64s, "u32": u32s, "value": values}[kind]
            spots = [s for s in spots if s + 8 <= len(out)]
            if not spots:
                continue
            at = rng.choice(spots)
            if kind == "flip":
                out[at] = rng.randrange(256)
            elif kind == "u64":
                struct.pack_into("<Q", out, at, rng.choice(huge) if rng.random() < 0.7 else rng.getrandbits(64))
            elif kind == "value":
                struct.pack_into("<I", out, at, rng.choice([0, 1, 3, 24, 1_000_000, 2**31 - 1, 2**32 - 1]))
            else:
                struct.pack_into("<I", out, at, rng.choice(huge) & 0xFFFFFFFF)
            done.append(f"{kind}@{at}")
        (path := folder / f"mutated-{i}.gguf").write_bytes(bytes(out))
        files.append((f"mutated LLaDA GGUF: {', '.join(done)}", path))
    return files


def _safetensors_corpus(folder: Path, checkpoint: Path, mutations: int, rng: random.Random) -> list[tuple[str, Path]]:
    from tests.engine.models.test_hostile_files import BAD_SAFETENSORS, CRAFTED_CONFIGS

    files = []

    def copy(name: str) -> Path:
        target = folder / name
        shutil.copytree(checkpoint, target)
        return target

    for i, (name, data) in enumerate(BAD_SAFETENSORS.items()):
        (copy(f"st-{i}") / "model.safetensors").write_bytes(data)
        files.append((f"crafted safetensors: {name}", folder / f"st-{i}"))
    for i, (name, text) in enumerate(CRAFTED_CONFIGS):
        (copy(f"cfg-{i}") / name).write_text(text, encoding="utf-8")
        files.append((f"crafted {name}: {text[:40]}", folder / f"cfg-{i}"))
    weights = (checkpoint / "model.safetensors").read_bytes()
    (header_len,) = struct.unpack_from("<Q", weights)
    header = json.loads(weights[8 : 8 + header_len])
    names = [n for n in header if n != "__metadata__"]
    for i in range(mutations):
        how = rng.choice(["flip", "length", "shape", "offsets", "dtype", "cut"])
        if how == "flip":
            out = bytearray(weights)
            for _ in range(rng.randint(1, 4)):
                out[rng.randrange(8, 8 + header_len)] = rng.randrange(256)
            out = bytes(out)
        elif how == "length":
            out = struct.pack("<Q", rng.choice([0, 1, header_len - 1, header_len + 1, 2**32, 2**63])) + weights[8:]
        elif how == "cut":
            out = weights[: rng.randrange(len(weights))]
        else:
            mutated = json.loads(json.dumps(header))
            name = rng.choice(names)
            entry = mutated[name]
            if how == "shape":
                entry["shape"] = [rng.choice([0, 1, 2**31, 2**40, 2**62])] + entry["shape"][1:]
            elif how == "offsets":
                entry["data_offsets"] = [rng.choice([0, 2**40]), rng.choice([2**40, 2**63, 1])]
            else:
                entry["dtype"] = rng.choice(["F64", "I8", "F8_E4M3", "Q4", "", "BF16"])
            body = json.dumps(mutated).encode()
            out = struct.pack("<Q", len(body)) + body + weights[8 + header_len :]
        (copy(f"mut-{i}") / "model.safetensors").write_bytes(out)
        files.append((f"mutated safetensors header: {how}", folder / f"mut-{i}"))
    return files


# -- one file, in a forked child -------------------------------------------------------------------------------


def _verdict(call) -> tuple[str, str]:
    from engine import EngineError

    try:
        call()
    except EngineError as exc:
        message = str(exc)
        one = "\n" not in message and 0 < len(message) <= 400
        return ("refused" if one else "unclear"), message[:300]
    except BaseException as exc:  # noqa: BLE001 - anything else is what this scenario counts
        return "unclear", f"{type(exc).__name__}: {str(exc)[:250]}"
    return "accepted", ""


def _child(spec: str, kind: str, say) -> dict:
    from engine import EditRequest, Engine, backend_for
    from engine.models.checkpoint import inspect_folder
    from engine.models.gguf_header import read_gguf

    if kind == "gguf":
        check = _verdict(lambda: read_gguf(spec))
    else:
        check = _verdict(lambda: inspect_folder(Path(spec), "diffusion_gemma"))
    say(f"checked: {check[0]}")
    loaded = {}

    def load() -> None:
        backend = backend_for(spec, device="cpu")
        loaded["backend"] = backend
        backend.load()

    load_verdict = _verdict(load)
    say(f"loaded: {load_verdict[0]}")
    edit = ("-", "")
    if load_verdict[0] == "accepted":
        import threading

        backend = loaded["backend"]
        text = "the cat sat on the mat and the dog ran.\n"

        def one_edit() -> None:
            result = backend.edit(EditRequest(text, 4, 7, steps=2, seed=1), lambda d: None, threading.Event())
            if result.stop_reason == "error" and ("\n" in (result.error or "") or not result.error):
                raise ValueError(f"an error result that is not one line: {result.error!r}")

        edit = _verdict(one_edit)
    return {"check": check, "load": load_verdict, "edit": edit}


def _run_in_child(spec: str, kind: str) -> dict:
    import psutil

    read_end, write_end = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never return into the parent's code
        try:
            os.close(read_end)
            say = lambda phase: os.write(write_end, json.dumps({"phase": phase}).encode() + b"\n")  # noqa: E731
            os.write(write_end, json.dumps(_child(spec, kind, say)).encode() + b"\n")
        finally:
            os._exit(0)
    os.close(write_end)
    killed = None
    status = rusage = None
    while True:
        done, status, rusage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        elapsed = time.monotonic() - started
        try:
            rss = psutil.Process(pid).memory_info().rss / 2**20
        except psutil.Error:
            rss = 0.0
        if elapsed > KILL_AFTER_S or rss > KILL_OVER_MB:
            killed = "hung" if elapsed > KILL_AFTER_S else "over memory"
            os.kill(pid, signal.SIGKILL)
            _, status, rusage = os.wait4(pid, 0)
            break
        time.sleep(0.005)
    wall = time.monotonic() - started
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    peak_mb = rusage.ru_maxrss / 1024  # kilobytes on Linux
    answer, phases = None, []
    for line in b"".join(chunks).splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if "phase" in item:
            phases.append(item["phase"])
        else:
            answer = item
    if killed:
        outcome = killed
    elif answer is None:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        outcome = f"crashed ({'signal ' + str(sig) if sig else 'exit ' + str(os.WEXITSTATUS(status))})"
    else:
        verdicts = [answer["check"][0], answer["load"][0], answer["edit"][0]]
        outcome = "unclear" if "unclear" in verdicts else "refused" if "refused" in verdicts else "accepted"
    return {"outcome": outcome, "wall_s": wall, "peak_mb": peak_mb, "answer": answer, "phases": phases}


def run(quick: bool) -> dict:
    started = time.monotonic()
    # What the children need, imported once here (a fork then starts with them loaded).
    import llama_cpp  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401

    import engine.backends.diffusion_gemma  # noqa: F401
    import engine.backends.llamacpp.autoregressive  # noqa: F401
    import engine.backends.llamacpp.masked_diffusion  # noqa: F401
    from tests.tiny_models import save_checkpoint

    torch.set_num_threads(1)
    rng = random.Random(12)
    tmp = Path(tempfile.mkdtemp(prefix="stress-fuzz-"))
    checkpoint = save_checkpoint(tmp / "tiny-diffusion-gemma", hidden_size=32, layers=1, vocab_size=300)
    (tmp / "g").mkdir()
    (tmp / "s").mkdir()
    corpus = [(name, path, "gguf") for name, path in _gguf_corpus(tmp / "g", 30 if quick else 200, rng)]
    corpus += [(name, path, "st") for name, path in _safetensors_corpus(tmp / "s", checkpoint, 6 if quick else 40, rng)]
    if quick:
        corpus = [c for i, c in enumerate(corpus) if i % 2 == 0 or c[0].startswith("issue")]
    parent_rss = common.rss_mb()
    counts: dict[str, int] = {}
    by_kind = {"gguf": {}, "st": {}}
    worst_time, worst_mem, failures = (0.0, ""), (0.0, ""), []
    for name, path, kind in corpus:
        found = _run_in_child(str(path), kind)
        outcome = found["outcome"]
        counts[outcome] = counts.get(outcome, 0) + 1
        by_kind[kind][outcome] = by_kind[kind].get(outcome, 0) + 1
        if found["wall_s"] > worst_time[0]:
            worst_time = (found["wall_s"], name)
        if found["peak_mb"] > worst_mem[0]:
            worst_mem = (found["peak_mb"], name)
        bad = outcome not in ("refused", "accepted")
        if bad or found["wall_s"] > TIME_LIMIT_S or found["peak_mb"] > MEMORY_LIMIT_MB:
            answer = found["answer"] or {}
            why = "; ".join(f"{k}: {v[0]} {v[1]}" for k, v in answer.items() if v[0] != "-")
            why = why or "after " + (", ".join(found["phases"]) or "nothing")
            failures.append(f"{name}: {outcome}, {found['wall_s']:.1f} s, {found['peak_mb']:.0f} MB peak; {why[:300]}")
    shutil.rmtree(tmp, ignore_errors=True)
    n = len(corpus)
    crashed = sum(v for k, v in counts.items() if k.startswith("crashed"))
    figures = {
        "files": n,
        "GGUF files (refused/accepted/other)": _split(by_kind["gguf"]),
        "safetensors checkpoints (refused/accepted/other)": _split(by_kind["st"]),
        "refused with one ModelLoadError line": counts.get("refused", 0),
        "accepted (loaded, and one edit ended in a result)": counts.get("accepted", 0),
        "crashed (the child died)": crashed,
        "unclear (another exception, or not one line)": counts.get("unclear", 0),
        "hung (killed at 30 s) / over 3 GB (killed)": f"{counts.get('hung', 0)}/{counts.get('over memory', 0)}",
        "worst time (s)": round(worst_time[0], 2),
        "worst time, file": worst_time[1],
        "worst peak RSS of a child (MB)": round(worst_mem[0]),
        "worst peak RSS, file": worst_mem[1],
        "RSS of the fork parent, which each child starts with (MB)": round(parent_rss),
    }
    checks = [
        common.check("crafted files crashing the process", crashed, "0", crashed == 0),
        common.check("crafted files not ending in one clear line", counts.get("unclear", 0) + counts.get("hung", 0),
                     "0", not counts.get("unclear") and not counts.get("hung")),
        common.check("worst time per file (s)", round(worst_time[0], 2), f"< {TIME_LIMIT_S:g}", worst_time[0] < TIME_LIMIT_S),
        common.check("worst peak RSS per file (MB)", round(worst_mem[0]), f"< {MEMORY_LIMIT_MB:g}", worst_mem[0] < MEMORY_LIMIT_MB),
    ]
    return common.result("Crafted model files", __doc__.split("\n\n")[1].replace("\n", " ") + " "
                         + __doc__.split("\n\n")[2].replace("\n", " "), figures, checks, failures, started)


def _split(counts: dict) -> str:
    other = sum(v for k, v in counts.items() if k not in ("refused", "accepted"))
    return f"{counts.get('refused', 0)}/{counts.get('accepted', 0)}/{other}"


if __name__ == "__main__":
    common.main(run)
