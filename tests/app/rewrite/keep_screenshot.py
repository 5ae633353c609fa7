"""`python -m tests.app.rewrite.keep_screenshot OUT.png`: kept words pinned while the rest re-denoises.

The window twice, stacked (light, then dark): a result was shown, the user kept "the path" and "fresh rock."
(Ctrl+K), and Alt+R's re-noise is mid-run: the kept words pinned in place, the pieces around them changed,
faded or still masked. No model runs: the editor shows the result and the draft through its own session,
kept-ranges and highlight code, as the rewrite flow does. Settings and the journal live in a temporary
folder; nothing is saved.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app.startup.screenshot import SAMPLE, close_scripted, scripted_window, session_over, settle, stacked

SPAN = "By noon the trail had vanished under fresh scree."
RESULT = "At noon the path had gone under fresh rock."
KEEP = ("the path", "fresh rock.")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tests.app.rewrite.keep_screenshot OUT.png", file=sys.stderr)
        return 2
    out = Path(args[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.rewrite.kept_ranges import Kept
    from app.storage.settings import apply_theme
    from engine import PLACEHOLDER, Draft, EditResult

    app, window, scratch = scripted_window("redraft-keep-shot-", (1200, 420), SAMPLE)
    editor = window.editor

    images = []
    for theme in ("light", "dark"):
        apply_theme(theme)
        settle(app)
        # 1. the result shown, and the words the user keeps in it (what Ctrl+K on each does)
        session = session_over(editor, SPAN)
        result = EditResult(RESULT, 24, 12, 0.1, 1.2, 10.0, "sample", "done")
        session.finish(result)
        editor.run_finished(session, result)
        kept = Kept(session.shown_text)
        for word in KEEP:
            kept = kept.toggled(RESULT.index(word), RESULT.index(word) + len(word))
        # 2. Alt+R's re-noise, mid-run: the result is the warm start, the kept words stay in place
        editor.cancel_rewrite()
        session = session_over(editor, SPAN)
        session.warm_start, session.keep, editor.kept = kept.text, kept.ranges, kept
        pieces = ("Around", " noon", " the", " path", " was", PLACEHOLDER, PLACEHOLDER, " under", " fresh", " rock", ".")
        confidence = (0.8, 0.3, 1.0, 1.0, 0.2, 0.0, 0.0, 0.9, 1.0, 1.0, 1.0)
        changed = (True, False, False, False, True, False, False, True, False, False, False)
        draft = Draft(5, 24, "".join(pieces), pieces, confidence, changed)
        session.show_draft(draft)
        editor.draft_shown(session, draft)
        cursor = editor.textCursor()
        cursor.setPosition(editor.raw_text().index("sample the spring"))
        editor.setTextCursor(cursor)
        settle(app)
        images.append(window.grab().toImage())
        editor.cancel_rewrite()
    stacked(images).save(str(out))
    print(f"{out}: kept {', '.join(KEEP)} pinned in a re-noise at step 5/24, light and dark")
    apply_theme("system")
    close_scripted(window, scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
