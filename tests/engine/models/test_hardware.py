"""Fit verdicts from real catalog entries on machines of given sizes, and this machine's own numbers."""

import shutil

import pytest

from engine.models.catalog import GB, entry_by_id, load_catalog
from engine.models.hardware import Gpu, Hardware, detect, fit, fit_weights, free_disk_bytes

CATALOG = load_catalog()


def machine(ram_gb: float, vram_gb: float = 0) -> Hardware:
    gpus = (Gpu("test GPU", "cuda", int(vram_gb * GB), int(vram_gb * GB)),) if vram_gb else ()
    return Hardware(int(ram_gb * GB), int(ram_gb * GB), gpus)


def test_this_machine_is_measured(tmp_path):
    hw = detect(tmp_path)
    assert hw.ram_total_bytes > 256 * 2**20 and 0 < hw.ram_available_bytes <= hw.ram_total_bytes
    assert abs(hw.disk_free_bytes - shutil.disk_usage(tmp_path).free) < 2**30
    assert free_disk_bytes(tmp_path / "not" / "made" / "yet") > 0  # the nearest existing parent's volume
    for gpu in hw.gpus:
        assert gpu.total_bytes >= gpu.free_bytes > 0


def test_a_big_gpu_fits_diffusion_gemma_bf16():
    result = fit(entry_by_id("diffusiongemma-26b-a4b-it"), machine(64, 80), CATALOG, "bf16")
    assert result.verdict == "fits" and result.message.startswith("fits: needs 50.9 GB, the GPU has 80.0 GB")


def test_enough_ram_but_no_gpu_is_cpu_only_and_slow():
    result = fit(entry_by_id("diffusiongemma-26b-a4b-it"), machine(128), CATALOG, "bf16")
    assert result.verdict == "cpu-only" and result.message.startswith("fits on CPU only (slow)")


def test_small_models_fit_on_a_cpu():
    assert fit(entry_by_id("bundled"), machine(4), CATALOG).verdict == "fits"


def test_too_big_names_the_need_what_you_have_and_the_nearest_smaller_option():
    result = fit(entry_by_id("diffusiongemma-26b-a4b-it"), machine(16, 24), CATALOG, "bf16")
    assert result.verdict == "no"
    # The same family first: the Q4_K_M GGUF (17 + 0.4 + 0.5 GB) fits a 24 GB GPU.
    assert result.suggestion == "diffusiongemma-26b-a4b-it-q4_k_m-gguf"
    assert result.message.startswith("does not fit: needs 50.9 GB, you have 24.0 GB; try DiffusionGemma 26B-A4B-it (GGUF Q4_K_M")


def test_a_longer_context_needs_more_and_nothing_fits_a_tiny_machine():
    entry = entry_by_id("dream-7b-gguf")
    short, long = (fit(entry, machine(64), CATALOG, context_tokens=n).need_gb for n in (1024, 32768))
    assert long > short
    tiny = fit(entry, machine(0.1), CATALOG)
    assert (tiny.verdict, tiny.suggestion) == ("no", None)
    with pytest.raises(ValueError, match="has no 'bf16' option"):
        fit(entry, machine(64), CATALOG, "bf16")


def test_models_the_catalog_does_not_know_are_judged_by_their_size_on_disk():
    small = fit_weights(300_000_000, machine(8), CATALOG)
    assert small.verdict == "fits" and small.dtype == "as stored"
    assert fit_weights(10 * GB, machine(32), CATALOG).verdict == "cpu-only"
    assert fit_weights(10 * GB, machine(32, 24), CATALOG).verdict == "fits"
    big = fit_weights(40 * GB, machine(16), CATALOG)
    assert big.verdict == "no" and big.message.startswith("does not fit: needs 40.9 GB, you have 16.0 GB; try ")
