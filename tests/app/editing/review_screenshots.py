"""`python -m tests.app.editing.review_screenshots OUT_DIR`: the review colours in pictures, light and dark.

Writes OUT_DIR/review-light.png and review-dark.png (the window twice, stacked: a draft being refined with
changed, faded and still-masked pieces; then the hunk review of a result with one hunk kept, one dropped, the
current one and one undecided) and preview-dark.png (the Markdown preview with a code block). No model runs:
the editor shows the draft and the result through its own session and review code, as the rewrite flow does.
Settings and the journal live in a temporary folder; nothing is saved.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app.startup.screenshot import SAMPLE as SCREENSHOT_SAMPLE
from app.startup.screenshot import close_scripted, scripted_window, session_over, settle, stacked

# The app's own screenshot sample, with a link and inline code for the preview's colours.
SAMPLE = SCREENSHOT_SAMPLE.replace(
    "before the weather turns.\n",
    "before the weather turns\n(see [the route map](https://example.org/map) and `bearing()`).\n",
)
DRAFT_SPAN = "nobody fully trusted."
REVIEW_SPAN = "By noon the trail had vanished under fresh scree."
REVIEW_RESULT = "At noon the path had gone under fresh rock."  # four word hunks


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tests.app.editing.review_screenshots OUT_DIR", file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.storage.settings import apply_theme
    from engine import PLACEHOLDER, Draft, EditResult

    app, window, scratch = scripted_window("redraft-review-shots-", (1200, 560), SAMPLE)
    editor = window.editor

    def caret_on(text: str) -> None:  # no selection, the current line on a line of prose
        cursor = editor.textCursor()
        cursor.setPosition(editor.raw_text().index(text) + len(text))
        editor.setTextCursor(cursor)

    for theme in ("light", "dark"):
        apply_theme(theme)
        settle(app)
        caret_on("sample the spring")
        # 1. a draft mid-run: changed pieces tinted, low-confidence ones faded, masked ones still placeholders
        session = session_over(editor, DRAFT_SPAN)
        pieces = ("hardly", " anyone", " fully", " trusted", PLACEHOLDER, PLACEHOLDER, ".")
        draft = Draft(9, 24, "".join(pieces), pieces, (0.9, 0.2, 0.95, 0.3, 0.0, 0.0, 0.9),
                      (True, True, False, False, False, False, False))
        session.show_draft(draft)
        editor.draft_shown(session, draft)
        settle(app)
        window.tab.preview.render_now()
        settle(app)
        top = window.grab().toImage()
        editor.cancel_rewrite()
        caret_on("sample the spring")
        # 2. the review of a result: first hunk kept, second dropped, third current, fourth undecided
        session = session_over(editor, REVIEW_SPAN)
        result = EditResult(REVIEW_RESULT, 24, 12, 0.1, 1.2, 10.0, "sample", "done")
        session.finish(result)
        editor.run_finished(session, result)
        editor._decide(True)
        editor._decide(False)
        settle(app)
        bottom = window.grab().toImage()
        stacked([top, bottom]).save(str(out / f"review-{theme}.png"))
        if theme == "dark":
            window.tab.preview.grab().save(str(out / "preview-dark.png"))
        editor.cancel_rewrite()
        caret_on("sample the spring")
    print(f"{out}/review-light.png, review-dark.png, preview-dark.png")
    apply_theme("system")
    close_scripted(window, scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
