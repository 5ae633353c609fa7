"""The benchmark end to end on a model that produces junk (a random-weight DiffusionGemma): every case runs
through the real engine, fails, and is recorded with its output; nothing crashes."""

from __future__ import annotations

import json

from tests.bench.quality import __main__ as bench


def test_a_junk_model_fails_every_case_and_nothing_crashes(tmp_path, capsys):
    out = tmp_path / "quality.json"
    code = bench.main(["--model", "tiny-diffusion-gemma", "--kinds", "grammar,type-hints", "--limit", "1",
                       "--steps", "2", "--out", str(out), "--markdown"])
    assert code == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    (model,) = report["models"]
    assert [r["id"] for r in model["cases"]] == ["gr-school-bus", "th-slugify"]
    assert all(not r["passed"] and r["checks"]["no_error"] for r in model["cases"])
    assert model["summary"]["all"] == {"passed": 0, "total": 2, "rate": 0.0}
    assert all(isinstance(r["output"], str) and r["edit_s"] >= 0 for r in model["cases"])
    assert "| grammar | 0/1 (0%) | – |" in capsys.readouterr().out
