"""Fit verdicts from real catalog entries on machines of given sizes, and this machine's own numbers."""

import shutil

import pytest

from engine.models.catalog import GB, entry_by_id, load_catalog
from engine.models.hardware import Gpu, Hardware, detect, fit, fit_weights, free_disk_bytes, loadable

CATALOG = load_catalog()


def machine(ram_gb: float, vram_gb: float = 0, kind: str = "cuda", bitsandbytes: bool = False) -> Hardware:
    gpus = (Gpu("test GPU", kind, int(vram_gb * GB), int(vram_gb * GB)),) if vram_gb else ()
    return Hardware(int(ram_gb * GB), int(ram_gb * GB), gpus, bitsandbytes=bitsandbytes)


def test_this_machine_is_measured(tmp_path):
    import psutil

    hw = detect(tmp_path)
    assert hw.ram_total_bytes == psutil.virtual_memory().total
    assert hw.ram_total_bytes > 256 * 2**20 and 0 < hw.ram_available_bytes < hw.ram_total_bytes  # not total: in use
    assert abs(hw.disk_free_bytes - shutil.disk_usage(tmp_path).free) < 2**30
    assert free_disk_bytes(tmp_path / "not" / "made" / "yet") > 0  # the nearest existing parent's volume
    for gpu in hw.gpus:
        assert gpu.total_bytes >= gpu.free_bytes > 0


DG = entry_by_id("diffusiongemma-26b-a4b-it")


def test_a_big_gpu_fits_diffusion_gemma_bf16():
    result = fit(DG, machine(64, 80), CATALOG)
    assert (result.verdict, result.dtype) == ("fits", "bf16")
    assert result.message.startswith("fits: needs 50.9 GB (bf16), the GPU has 80.0 GB")


def test_40_gb_cuda_without_bitsandbytes_does_not_fit_at_bf16_and_names_the_smaller_gguf():
    # The int4 figure (31 GB) would fit, but without bitsandbytes the backend loads bf16 and runs out of memory.
    result = fit(DG, machine(64, 40), CATALOG)
    assert (result.verdict, result.dtype, result.need_gb, result.where) == ("no", "bf16", pytest.approx(50.9), "gpu")
    # DiffusionGemma's own GGUFs would fit but this llama.cpp cannot run them: the largest model that runs is named.
    assert result.suggestion == "gemma-4-26b-a4b-it-gguf"
    assert result.message == (
        "does not fit: needs 50.9 GB (bf16), the GPU has 40.0 GB; "
        "try Gemma 4 26B-A4B-it (GGUF UD-Q4_K_M, autoregressive) (UD-Q4_K_M, 18.9 GB)"
    )


def test_4_bit_is_offered_only_with_bitsandbytes_and_cuda():
    assert fit(DG, machine(64, 40, bitsandbytes=True), CATALOG).dtype == "int4"
    assert fit(DG, machine(64, 40, bitsandbytes=True), CATALOG).verdict == "fits"
    # bf16 still wins where it fits: 4-bit is the fallback, not the default.
    assert fit(DG, machine(64, 80, bitsandbytes=True), CATALOG).dtype == "bf16"
    # An Apple GPU with bitsandbytes installed still loads bf16 only (bitsandbytes needs CUDA).
    mps = fit(DG, machine(40, 40, kind="mps", bitsandbytes=True), CATALOG)
    assert (mps.verdict, mps.dtype) == ("no", "bf16")
    assert "int4" not in {d for d, _ in loadable(DG, machine(64, 0, bitsandbytes=True))}


def test_cpu_only_is_judged_at_fp32_the_dtype_the_backend_loads_there():
    result = fit(DG, machine(128), CATALOG)
    assert (result.verdict, result.dtype, result.need_gb) == ("cpu-only", "fp32", pytest.approx(100.9))
    assert result.message.startswith("fits on CPU only (slow): needs 100.9 GB (fp32), 128.0 GB of RAM")
    # 64 GB of RAM held the bf16 figure (50.9 GB), but fp32 does not fit.
    small = fit(DG, machine(64), CATALOG)
    assert (small.verdict, small.dtype) == ("no", "fp32")
    assert small.message.startswith("does not fit: needs 100.9 GB (fp32), this machine has 64.0 GB of RAM")
    # A GPU too small for bf16 beside enough RAM: the CPU fallback is fp32 too.
    assert fit(DG, machine(128, 24), CATALOG).dtype == "fp32"


def test_an_unknown_checkpoint_folder_doubles_on_a_cpu():
    assert fit_weights(30 * GB, machine(48), CATALOG).verdict == "cpu-only"  # a GGUF loads as stored
    doubled = fit_weights(30 * GB, machine(48), CATALOG, cpu_factor=2.0)
    assert (doubled.verdict, doubled.dtype, doubled.need_gb) == ("no", "fp32", pytest.approx(60.9))


def test_small_models_fit_on_a_cpu():
    assert fit(entry_by_id("bundled"), machine(4), CATALOG).verdict == "fits"


def test_too_big_names_the_need_what_you_have_and_the_nearest_smaller_option():
    result = fit(DG, machine(16, 24), CATALOG)
    assert result.verdict == "no"
    # The same family first, among what runs here (not DiffusionGemma's GGUFs, which this llama.cpp cannot run).
    assert result.suggestion == "gemma-4-26b-a4b-it-gguf"
    assert result.message.startswith("does not fit: needs 50.9 GB (bf16), the GPU has 24.0 GB; try Gemma 4 26B-A4B-it")


def test_a_longer_context_needs_more_and_nothing_fits_a_tiny_machine():
    entry = entry_by_id("dream-7b-gguf")
    short, long = (fit(entry, machine(64), CATALOG, context_tokens=n).need_gb for n in (1024, 32768))
    assert long > short
    tiny = fit(entry, machine(0.1), CATALOG)
    assert (tiny.verdict, tiny.suggestion) == ("no", None)


def test_models_the_catalog_does_not_know_are_judged_by_their_size_on_disk():
    small = fit_weights(300_000_000, machine(8), CATALOG)
    assert small.verdict == "fits" and small.dtype == "as stored"
    assert fit_weights(10 * GB, machine(32), CATALOG).verdict == "cpu-only"
    assert fit_weights(10 * GB, machine(32, 24), CATALOG).verdict == "fits"
    big = fit_weights(40 * GB, machine(16), CATALOG)
    assert big.verdict == "no" and big.message.startswith("does not fit: needs 40.9 GB (as stored), this machine has 16.0 GB of RAM; try ")
