"""`python -m tests.app.rewrite.scrub_screenshot OUT_DIR`: the review bar's slider mid-scrub, in a picture.

Writes OUT_DIR/scrub.png: a finished rewrite whose run's drafts are kept, scrubbed back to step 4 of 8 (the
draft of that step in place, the bar saying where it stands, the slider part way). No model runs: the drafts
go through the session's history and the editor's scrub code as the rewrite flow's would. Settings and the
journal live in a temporary folder; nothing is saved.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app.startup.screenshot import SAMPLE, close_scripted, scripted_window, session_over, settle

SPAN = "By noon the trail had vanished under fresh scree."
# A denoising of SPAN, step by step: pieces settle from noise into the result.
STEPS = [
    ("Qz", " nn", " tke", " pxth", " hd", " gxne", " unr", " frsh", " rk", "."),
    ("At", " nn", " the", " pxth", " hd", " gone", " unr", " frsh", " rk", "."),
    ("At", " noon", " the", " path", " hd", " gone", " undr", " frsh", " rck", "."),
    ("At", " noon", " the", " path", " had", " gone", " under", " frsh", " rock", "."),
    ("At", " noon", " the", " path", " had", " gone", " under", " fresh", " rock", "."),
    ("At", " noon", " the", " path", " had", " gone", " under", " fresh", " rock", "."),
    ("At", " noon", " the", " path", " had", " gone", " under", " fresh", " rock", "."),
    ("At", " noon", " the", " path", " had", " gone", " under", " fresh", " rock", "."),
]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tests.app.rewrite.scrub_screenshot OUT_DIR", file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from engine import Draft, EditResult

    app, window, scratch = scripted_window("redraft-scrub-shot-", (1200, 560), SAMPLE)
    editor = window.editor

    settle(app)
    session = session_over(editor, SPAN)
    before: tuple[str, ...] = ()
    for step, pieces in enumerate(STEPS, 1):
        changed = tuple(i >= len(before) or p != before[i] for i, p in enumerate(pieces))
        confidence = tuple(0.3 + 0.7 * step / len(STEPS) for _ in pieces)
        draft = Draft(step, len(STEPS), "".join(pieces), pieces, confidence, changed, 0.15 * step)
        session.history.add(draft)
        session.show_draft(draft)
        before = pieces
    result = EditResult("".join(STEPS[-1]), len(STEPS), len(STEPS[-1]), 0.15, 1.2, 8.0, "sample", "eos")
    session.finish(result)
    editor.run_finished(session, result)
    editor.bar.slider.setValue(2)  # the slider dragged back to step 3, then Alt+Right to step 4
    editor.scrub(+1)
    settle(app)
    window.tab.preview.render_now()
    settle(app)
    window.grab().save(str(out / "scrub.png"))
    print(f"{out}/scrub.png: {window.run_label.text()}")
    editor.cancel_rewrite()
    close_scripted(window, scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
