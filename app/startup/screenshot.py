"""`python -m app.startup.screenshot OUT.png [FILE]`: a picture of the editor in the middle of a rewrite.

Starts the real window on a virtual screen (Qt's offscreen platform unless QT_QPA_PLATFORM says otherwise,
e.g. xcb under Xvfb), opens FILE (or a sample Markdown note), selects a paragraph, rewrites it with the
active model ($REDRAFT_MODEL, else the bundled one) and saves the window as soon as a draft a third of the
way through the run is on screen: highlighting of changed and low-confidence pieces, step counter in the
status bar. Prints one line saying which step was captured.

It touches nothing of the user's: settings and the recovery journal live in a temporary folder, and the file
is never saved (the run is cancelled after the picture).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from app.event_loop import run_until_done

SAMPLE = """# Field notes

The survey team left the valley before dawn, carrying three days of water and a map that
nobody fully trusted.

By noon the trail had vanished under fresh scree. We agreed to follow the ridge line instead,
checking the compass every hundred metres and marking cairns for the way back.

```python
def bearing(a, b):
    # degrees clockwise from north
    return (b - a) % 360
```

Tomorrow: cross the saddle, sample the spring, and return before the weather turns.
"""
STEPS = 48
TIMEOUT_S = 300


def close_scripted(window, scratch: str | Path) -> None:
    """End a window a script opened as closing it would (engine awaited, journal closed) and drop its scratch
    folder (its settings and journal live there, so nothing of the run stays in the user's)."""
    run_until_done(window.aclose())
    window.journal.close()
    shutil.rmtree(scratch, ignore_errors=True)


def scripted_window(prefix: str, size: tuple[int, int], text: str = SAMPLE, no_model: bool = True):
    """The window a screenshot script drives: `text` in a notes.md of a scratch folder that also holds its
    settings and journal (see `close_scripted`), resized and shown. `no_model`: none loads, the drafts are the
    script's own (the model label says so). Returns the application, the window and the scratch folder."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    if no_model:
        os.environ["REDRAFT_MODEL"] = str(scratch / "no-model")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.window.main_window import create_main_window

    app = QApplication.instance() or QApplication([sys.argv[0]])
    path = scratch / "notes.md"
    path.write_text(text, encoding="utf-8")
    settings = QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat)
    window = create_main_window([str(path)], settings, str(scratch / "journal"))
    window.resize(*size)
    window.show()
    if no_model:
        window.model_label.setText("Model: none (these drafts are shown without a run)")
    return app, window, scratch


def session_over(editor, span: str):
    """A rewrite session over the first `span` of the editor's text, as the editor would make (the script
    then shows its own drafts and result through it)."""
    from app.rewrite.session import RewriteSession

    start = editor.raw_text().index(span)
    session = editor.session = RewriteSession(editor.document(), start, start + len(span))
    return session


def stacked(images):
    """The QImages one above the other, as one picture (light over dark, before over after)."""
    from PySide6.QtGui import QImage, QPainter

    both = QImage(max(i.width() for i in images), sum(i.height() for i in images), QImage.Format.Format_RGB32)
    painter = QPainter(both)
    top = 0
    for image in images:
        painter.drawImage(0, top, image)
        top += image.height()
    painter.end()
    return both


def settle(app) -> None:
    """Let queued paints, layouts and timers run."""
    for _ in range(50):
        app.processEvents()


def _span(text: str, canvas: int | None) -> tuple[int, int]:
    """The second paragraph of prose (the first for a short file), as offsets; for a model with a canvas,
    cut to whole sentences (else words) of at most `canvas` UTF-8 bytes, which is at most `canvas` tokens."""
    blocks, pos = [], 0
    for block in text.split("\n\n"):
        stripped = block.strip()
        if stripped and not stripped.startswith(("#", "```")):
            start = pos + block.index(stripped)
            blocks.append((start, start + len(stripped)))
        pos += len(block) + 2
    start, end = (blocks[1] if len(blocks) > 1 else blocks[0]) if blocks else (0, min(len(text), 200))
    if canvas is None or len(text[start:end].encode("utf-8")) <= canvas:
        return start, end
    for separator in (". ", " "):
        cut = start
        while True:
            found = text.find(separator, cut + 1, end)
            if found < 0 or len(text[start : found + 1].encode("utf-8")) > canvas:
                break
            cut = found + 1
        if cut > start:
            return start, cut
    return start, start + canvas // 4


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or len(args) > 2 or args[0].startswith("-"):
        print("usage: python -m app.startup.screenshot OUT.png [FILE]", file=sys.stderr)
        return 2
    out = Path(args[0])
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="redraft-screenshot-"))

    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QTextCursor
    from PySide6.QtWidgets import QApplication

    from app.window.main_window import create_main_window
    from engine import index_to_utf16

    if len(args) == 2:
        path = Path(args[1])
    else:
        path = scratch / "notes.md"
        path.write_text(SAMPLE, encoding="utf-8")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    settings = QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat)
    window = create_main_window([str(path)], settings, str(scratch / "journal"))
    if window.errors:
        print(window.errors[0], file=sys.stderr)
        return 1
    window.resize(1200, 720)
    window.show()
    deadline = time.monotonic() + TIMEOUT_S

    def wait(condition) -> bool:
        while not condition():
            if time.monotonic() > deadline:
                return False
            app.processEvents()
            time.sleep(0.005)
        return True

    failed: list[str] = []
    window.modelFailed.connect(failed.append)
    if not wait(lambda: window.bridge.model_info is not None or failed):
        print("the model did not load in time", file=sys.stderr)
        return 1
    if failed:
        print(f"the model failed: {failed[0]}", file=sys.stderr)
        return 1
    editor = window.editor
    text = editor.raw_text()
    start, end = _span(text, window.bridge.model_info.canvas_length)
    cursor = editor.textCursor()
    cursor.setPosition(index_to_utf16(text, start))
    cursor.setPosition(index_to_utf16(text, end), QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    editor.steps = STEPS
    if not editor.start_rewrite():
        print(f"cannot rewrite: {window.run_label.text()}", file=sys.stderr)
        return 1
    captured: list[tuple[int, int, object]] = []

    def on_draft(draft) -> None:
        # Emitted once the draft is in the document and highlighted: grabbed now (grab() paints at once), so
        # the picture is this draft's, not whatever a later one or the review made of it by the next repaint.
        if not captured and 3 * draft.step >= draft.max_steps and draft.step < draft.max_steps:
            captured.append((draft.step, draft.max_steps, window.grab()))

    editor.draftShown.connect(on_draft)
    session = editor.session
    if not wait(lambda: captured or not session.active or session.state != "running"):
        print("no draft in time", file=sys.stderr)
        return 1
    if not captured:
        print(f"the run ended before a mid-run draft ({session.state}); try more steps or another model", file=sys.stderr)
        return 1
    step, max_steps, picture = captured[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    if not picture.save(str(out)):
        print(f"cannot write {out}", file=sys.stderr)
        return 1
    print(f"{out}: step {step}/{max_steps} of a rewrite with {window.bridge.model_info.id}")
    editor.cancel_rewrite()
    close_scripted(window, scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
