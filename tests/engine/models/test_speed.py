"""The throughput probe (measured once per machine, cached as JSON) and the estimates and recommendation built
on it, from real catalog entries on machines of given sizes. Nothing here asserts on how fast this machine is."""

import json

import pytest

from engine.models.catalog import GB, entry_by_id, load_catalog
from engine.models.hardware import Gpu, Hardware, fit
from engine.models.recommend import MAX_EDIT_S, recommend, why_not_downloadable
from engine.models.speed import CACHE_NAME, Throughput, edit_seconds, estimate, machine_key, measured, probe

CATALOG = load_catalog()
LAPTOP = Throughput(bandwidth_gbps=30.0, matmul_gflops=60.0, cpu="test CPU", cores=2, probe_s=0.3)


def machine(ram_gb: float, vram_gb: float = 0) -> Hardware:
    gpus = (Gpu("test GPU", "cuda", int(vram_gb * GB), int(vram_gb * GB)),) if vram_gb else ()
    return Hardware(int(ram_gb * GB), int(ram_gb * GB), gpus)


def test_the_probe_measures_both_rates_and_is_cached_under_this_machines_key(tmp_path, monkeypatch):
    first = measured(tmp_path)
    assert first.bandwidth_gbps > 0 and first.matmul_gflops > 0 and first.cores >= 1 and first.cpu
    cached = json.loads((tmp_path / CACHE_NAME).read_text(encoding="utf-8"))
    assert list(cached) == [machine_key()] and cached[machine_key()]["bandwidth_gbps"] == first.bandwidth_gbps

    # A second start reads the cache: the probe does not run again.
    monkeypatch.setattr("engine.models.speed.probe", lambda: pytest.fail("probed again"))
    assert measured(tmp_path) == first

    # Another CPU (its own key) is probed and kept beside the first; a corrupt cache is probed over, not fatal.
    monkeypatch.setattr("engine.models.speed.probe", lambda: LAPTOP)
    monkeypatch.setattr("engine.models.speed.machine_key", lambda: "other CPU x8")
    assert measured(tmp_path) == LAPTOP
    assert set(json.loads((tmp_path / CACHE_NAME).read_text(encoding="utf-8"))) == {machine_key(), "other CPU x8"}
    (tmp_path / CACHE_NAME).write_text("[not, json", encoding="utf-8")
    assert measured(tmp_path) == LAPTOP


def test_an_unwritable_cache_only_costs_a_new_probe(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    assert measured(blocker / "cache").bandwidth_gbps > 0  # the folder cannot be made: measured, not cached


def test_the_probe_says_how_long_it_took():
    result = probe()
    assert result.probe_s > 0 and result.cpu


def test_estimates_grow_with_active_parameters_and_say_the_edit_length():
    bundled, small, qwen = (entry_by_id(i, CATALOG) for i in ("bundled", "gemma-3-1b-it-gguf", "qwen3-4b-instruct-2507-gguf"))
    times = [edit_seconds(e, "Q4_K_M", LAPTOP) for e in (bundled, small, qwen)]
    assert times == sorted(times) and times[0] < times[-1]
    text = estimate(small, "Q4_K_M", "cpu", LAPTOP).text
    assert text.startswith("about ") and text.endswith(" for a 64-token rewrite")
    # Twice the bandwidth and matrix rate: half the time (every phase is limited by one of the two).
    fast = Throughput(60.0, 120.0, "test CPU", 2, 0.3)
    assert edit_seconds(qwen, "Q4_K_M", fast) == pytest.approx(edit_seconds(qwen, "Q4_K_M", LAPTOP) / 2)
    # A longer rewrite takes longer; a Q8_0 file reads more bytes per token than Q4_K_M.
    assert edit_seconds(qwen, "Q4_K_M", LAPTOP, tokens=256) > edit_seconds(qwen, "Q4_K_M", LAPTOP)
    slow_bandwidth = Throughput(2.0, 60.0, "test CPU", 2, 0.3)
    assert edit_seconds(qwen, "Q8_0", slow_bandwidth) > edit_seconds(qwen, "Q4_K_M", slow_bandwidth)


def test_diffusion_costs_steps_times_a_forward_over_the_canvas():
    llada = entry_by_id("llada-moe-7b-a1b-gguf", CATALOG)
    dense_1b = entry_by_id("gemma-3-1b-it-gguf", CATALOG)
    # LLaDA-MoE reads only 1.4B parameters per position, but 32 steps over the whole sequence: slower than a 1B
    # autoregressive model writing 64 tokens.
    assert edit_seconds(llada, "Q4_K_M", LAPTOP) > edit_seconds(dense_1b, "Q4_K_M", LAPTOP)
    fewer = dataclass_replace(llada, steps=16)
    assert edit_seconds(fewer, "Q4_K_M", LAPTOP) == pytest.approx(edit_seconds(llada, "Q4_K_M", LAPTOP) / 2)


def test_a_gpu_load_is_not_estimated_from_the_cpu_probe():
    dg = entry_by_id("diffusiongemma-26b-a4b-it", CATALOG)
    result = estimate(dg, "bf16", "gpu", LAPTOP)
    assert result.seconds is None and "GPU" in result.text


def dataclass_replace(entry, **changes):
    import dataclasses

    return dataclasses.replace(entry, **changes)


def verdicts(hw: Hardware, throughput: Throughput = LAPTOP):
    fits = {e.id: fit(e, hw, CATALOG) for e in CATALOG}
    estimates = {e.id: estimate(e, fits[e.id].dtype, fits[e.id].where, throughput) for e in CATALOG}
    return fits, estimates


def test_the_recommendation_is_the_best_model_that_fits_and_is_fast_enough():
    # A 2-core laptop: the 4B models fit but take longer than MAX_EDIT_S; the 1B is the best fast one.
    fits, estimates = verdicts(machine(16))
    best = recommend(CATALOG, fits, estimates)
    assert best.id == "gemma-3-1b-it-gguf" and estimates[best.id].seconds <= MAX_EDIT_S
    assert estimates["qwen3-4b-instruct-2507-gguf"].seconds > MAX_EDIT_S
    # A machine four times as fast: the 4B instruct model is recommended (the better of the two that fit).
    fits, estimates = verdicts(machine(16), Throughput(120.0, 400.0, "fast CPU", 16, 0.3))
    assert recommend(CATALOG, fits, estimates).id == "qwen3-4b-instruct-2507-gguf"
    # A big GPU: DiffusionGemma, the best model, is recommended (on a GPU it is taken as fast enough).
    fits, estimates = verdicts(machine(64, 80))
    assert recommend(CATALOG, fits, estimates).id == "diffusiongemma-26b-a4b-it"
    # A tiny, slow machine: only the bundled model qualifies; nothing at all when even that does not fit.
    crawl = Throughput(10.0, 20.0, "slow CPU", 1, 0.3)
    assert recommend(CATALOG, *verdicts(machine(2), crawl)).id == "bundled"
    assert recommend(CATALOG, *verdicts(machine(0.1), crawl)) is None


def test_download_says_why_it_cannot_help():
    hw = machine(16)
    fits, _ = verdicts(hw)
    reason = {e.id: why_not_downloadable(e, fits[e.id], hw) for e in CATALOG}
    assert reason["gemma-3-1b-it-gguf"] is None and reason["qwen3-4b-instruct-2507-gguf"] is None
    assert reason["bundled"] == "comes with Redraft: nothing to download"
    assert reason["diffusiongemma-26b-a4b-it-q4_k_m-gguf"].startswith("cannot run here: this llama.cpp cannot run diffusion-gemma")
    assert reason["diffusiongemma-26b-a4b-it"].startswith("needs a GPU: does not fit: needs 100.9 GB (fp32)")
    assert reason["dream-7b-gguf"] is None  # 6.9 GB fits 16 GB of RAM: slow, but it runs
    tiny = machine(2)
    assert why_not_downloadable(entry_by_id("dream-7b-gguf"), fit(entry_by_id("dream-7b-gguf"), tiny, CATALOG), tiny).startswith(
        "does not fit: needs"
    )
    no_repo = dataclass_replace(entry_by_id("dream-7b-gguf"), id="x", repo=None)
    assert why_not_downloadable(no_repo, fits["dream-7b-gguf"], hw) == "no known repository"
