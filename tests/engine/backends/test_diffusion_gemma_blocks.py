"""DiffusionGemma on spans longer than one canvas, warm starts with kept text, and batched alternatives, on the
tiny random-weight model (canvas 32, byte tokens: one character is one token)."""

import threading

import pytest
import torch

from engine import EditRequest, Engine, backend_for
from engine.backends.diffusion_gemma import DiffusionGemmaBackend
from engine.cli import main as cli_main
from tests.tiny_models import EOS

INTRO = "A note before the long paragraph.\n\n"
LONG = " ".join(f"word{i}" for i in range(25))  # 139 characters: 139 tokens, 5+ canvases of 32
DOC = INTRO + LONG + "\n\nAnd a line after it.\n"
SPAN = (len(INTRO), len(INTRO) + len(LONG))


class NeverEnds(DiffusionGemmaBackend):
    """The tiny model with its end token's logit pushed down: random weights would otherwise end the text in
    some block at random, and these tests need every block of the span to run."""

    def load(self):
        info = super().load()
        self.model.lm_head.register_forward_hook(lambda _m, _i, out: out.index_fill_(-1, torch.tensor([EOS]), -50.0))
        return info


@pytest.fixture(scope="module")
def backend(checkpoint):
    b = NeverEnds(str(checkpoint), device="cpu")
    b.load()
    yield b
    b.close()


def run(backend, **kw):
    drafts = []
    options = {"seed": 3, "steps": 3, **kw}
    result = backend.edit(EditRequest(DOC, *SPAN, **options), drafts.append, threading.Event())
    return result, drafts


def test_a_span_longer_than_the_canvas_is_rewritten_block_by_block(backend):
    result, drafts = run(backend)
    blocks = sorted({d.block for d in drafts})
    assert len(blocks) >= 3 and blocks == list(range(1, len(blocks) + 1))
    assert all(d.blocks == result.blocks == len(blocks) for d in drafts)
    assert result.stop_reason == "length"  # random weights never end the text: every block ran
    assert all(d.step <= d.max_steps == 3 for d in drafts) and result.steps == len(drafts)
    # A committed block never changes after it ends: every later draft starts with its settled text.
    for i, draft in enumerate(drafts):
        settled = "".join(draft.pieces[: draft.settled])
        assert all(later.text.startswith(settled) for later in drafts[i:])
        assert not any(draft.changed[: draft.settled])
    assert [d.settled for d in drafts] == sorted(d.settled for d in drafts)
    assert drafts[-1].settled > 0 and result.text == drafts[-1].text


def test_the_document_outside_a_long_span_is_byte_identical(checkpoint):
    request = EditRequest(DOC, *SPAN, seed=1, steps=2)
    with Engine() as engine:
        engine.load(lambda: NeverEnds(str(checkpoint), device="cpu")).result()
        result = engine.edit(request)
    edited = request.splice(result.text)
    assert result.ok and result.blocks >= 3
    assert edited[: SPAN[0]] == DOC[: SPAN[0]] and edited[SPAN[0] + len(result.text) :] == DOC[SPAN[1] :]


def test_the_canvas_is_the_models_unless_fit_is_asked_for(tmp_path):
    from tests.tiny_models import save_checkpoint

    folder = save_checkpoint(tmp_path / "canvas-64", canvas_length=64, max_denoising_steps=2)
    short = EditRequest("Hi there.", 0, 2, seed=0, steps=2)
    for canvas, positions in (("model", 64), ("fit", 32)):  # a 2-token span wants 11 tokens: fit rounds to 32
        b = backend_for(str(folder), device="cpu")
        b.canvas = canvas
        b.load()
        widths = []
        b.model.model.register_forward_pre_hook(lambda _m, _a, kw: widths.append(kw["decoder_input_ids"].shape[1]),
                                                with_kwargs=True)
        b.edit(short, lambda d: None, threading.Event())
        b.close()
        assert set(widths) == {positions}


def kept_text(draft):
    return "".join(piece for piece, kept in zip(draft.pieces, draft.kept, strict=True) if kept)


WARM = "The quick brown fox jumps over the lazy dog."
KEEP = (WARM.index("brown fox"), WARM.index("brown fox") + len("brown fox"))


def test_kept_words_stay_at_their_place_in_every_draft_while_the_rest_changes(backend):
    result, drafts = run(backend, warm_start=WARM, keep=(KEEP,))
    assert drafts and all(kept_text(d) == "brown fox" for d in drafts)
    kept_changed = [any(c for c, k in zip(d.changed, d.kept, strict=True) if k) for d in drafts[1:]]
    others_changed = [any(c for c, k in zip(d.changed, d.kept, strict=True) if not k) for d in drafts[1:]]
    assert not any(kept_changed) and any(others_changed)  # only the other positions change
    assert "brown fox" in result.text


def test_renoise_only_a_selection_keeps_the_rest_of_the_draft(backend):
    first, _ = run(backend, seed=4)
    start, end = 40, 50  # re-noise these characters only
    result, drafts = run(backend, seed=5, warm_start=first.text, keep=((0, start), (end, len(first.text))))
    for draft in drafts:  # a draft shows the blocks up to the one denoising: the kept head as far as it goes
        n = min(len(draft.text), start)
        assert draft.text[:n] == first.text[:n]
    assert result.text[:start] == first.text[:start]
    assert kept_text(drafts[-1]) == first.text[:start] + first.text[end:]  # the tail is kept whole too


def test_no_end_token_lands_before_a_kept_piece(checkpoint):
    b = backend_for(str(checkpoint), device="cpu")
    b.load()
    # Every position prefers the end token: without the ban, the text would end at its first position.
    hook = b.model.lm_head.register_forward_hook(lambda _m, _i, out: out.index_fill_(-1, torch.tensor([EOS]), 50.0))
    try:
        result, drafts = run(b, warm_start=WARM, keep=((KEEP[1] - 3, KEEP[1]),))  # keep "fox"
    finally:
        hook.remove()
        b.close()
    assert result.text.endswith("fox") and drafts[-1].kept[-3:] == (True,) * 3  # ends right after the kept piece
    assert result.stop_reason in ("eos", "max_steps")


def test_alternatives_come_from_one_batch(backend):
    calls = []  # the decoder's batch at each pass (the encoder's passes have no canvas)
    handle = backend.model.model.register_forward_pre_hook(
        lambda _m, _a, kw: calls.append(kw["decoder_input_ids"].shape[0]) if kw.get("decoder_input_ids") is not None else None,
        with_kwargs=True,
    )
    try:
        result, drafts = run(backend, alternatives=3, max_new_tokens=32)
    finally:
        handle.remove()
    assert set(calls) == {3}  # every decoder pass denoised the three canvases together
    assert len(result.alternatives) == 2 and len({result.text, *result.alternatives}) == 3
    assert drafts[-1].text == result.text  # the shown row is the first answer


def test_keeping_words_is_refused_on_a_model_that_cannot(tmp_path):
    from engine import write_tiny_llama_gguf

    gguf = write_tiny_llama_gguf(tmp_path / "tiny-llama.gguf")
    with Engine() as eng:
        eng.load(lambda: backend_for(str(gguf))).result()
        result = eng.edit(EditRequest(DOC, *SPAN, warm_start=WARM, keep=(KEEP,)))
    assert result.stop_reason == "error" and "not available with this model" in result.error


def test_the_cli_json_result_carries_the_blocks_and_the_stop_reason(checkpoint, tmp_path, capsys):
    import json

    path = tmp_path / "doc.txt"
    path.write_text(DOC, encoding="utf-8")
    code = cli_main(["rewrite", str(path), "--start", str(SPAN[0]), "--end", str(SPAN[1]), "--model", str(checkpoint),
                     "--steps", "2", "--seed", "0", "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    drafts, result = lines[:-1], lines[-1]
    assert code == 0 and result["blocks"] >= 3 and result["stop_reason"] == "length"
    assert {d["block"] for d in drafts} == set(range(1, result["blocks"] + 1))
    assert all(d["blocks"] == result["blocks"] and d["progress"].startswith(f"block {d['block']}/") for d in drafts)


def test_the_cli_keeps_ranges_of_a_warm_start(checkpoint, tmp_path, capsys):
    import json

    path = tmp_path / "doc.txt"
    path.write_text(DOC, encoding="utf-8")
    base = ["rewrite", str(path), "--start", str(SPAN[0]), "--end", str(SPAN[1]), "--model", str(checkpoint),
            "--steps", "2", "--seed", "0"]
    code = cli_main([*base, "--json", "--from-text", WARM, "--keep", f"{KEEP[0]}:{KEEP[1]}", "--alternatives", "2"])
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 0 and "brown fox" in result["text"] and len(result["alternatives"]) == 1
    assert "brown fox" in result["alternatives"][0]  # the batch's other canvas keeps it too
    assert cli_main([*base, "--keep", "1:3"]) == 2
    assert "--keep needs --from-text" in capsys.readouterr().err
    assert cli_main([*base, "--from-text", "abc", "--keep", "2:9"]) == 2  # outside the text: one line, exit 2
    assert "outside the warm start" in capsys.readouterr().err


def test_a_span_past_the_models_positions_is_refused_in_one_line(backend, monkeypatch):
    from engine import RequestError

    monkeypatch.setattr(backend.model.config.text_config, "max_position_embeddings", 96)
    with pytest.raises(RequestError) as caught:
        run(backend)
    message = str(caught.value)
    assert "over this model's 96 positions; select less" in message and "\n" not in message


def test_a_cancel_in_a_later_block_stops_within_one_step(backend):
    cancel, drafts = threading.Event(), []

    def on_draft(draft):
        drafts.append(draft)
        if draft.block == 2:
            cancel.set()

    result = backend.edit(EditRequest(DOC, *SPAN, seed=3, steps=3), on_draft, cancel)
    assert result.stop_reason == "cancelled" and result.text == ""
    assert [d.block for d in drafts].count(2) == 1 and max(d.block for d in drafts) == 2
