"""The Markdown preview beside a `.md` file (app/editing/markdown_render.py makes the HTML).

The widget re-renders DEBOUNCE_S after the last change, but never more than MAX_WAIT_S behind a text that
keeps changing (a rewrite's drafts arrive every frame: the preview follows them). markdown-it is pure Python
(~60 ms at app/window/document_tab.PREVIEW_MAX_CHARS); on a thread it holds the GIL the GUI thread needs for
every callback, and while drafts arrived that made 130 ms stalls (tests/bench/gui_latency.py, md-preview), so
it renders in a process of its own (spawned once, on first use; a dead one is replaced) and only `setHtml`
(~20 ms there) runs on the GUI thread: 39 ms at worst in the same benchmark.

Colours (app/editing/colors.py): body text is the palette's Text on Base; links, code blocks and inline code
come from the document's default style sheet, code tokens from the inline styles the render writes. A theme
switch (PaletteChange) sets the style sheet again and renders once more with the new code colours.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtWidgets import QTextBrowser
from shiboken6 import isValid

from app.editing.colors import Colors, colors_for
from app.editing.markdown_render import CodeStyles, render_markdown

DEBOUNCE_S = 0.25
MAX_WAIT_S = 1.0
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")

_pool: ProcessPoolExecutor | None = None


def _render_pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # spawn: a fork of a process holding Qt's and the model libraries' threads is not safe.
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    return _pool


async def render_elsewhere(text: str, code_styles: CodeStyles | None = None) -> str:
    """`render_markdown(text, code_styles)` in the render process (a new one if the last one died)."""
    global _pool
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_render_pool(), render_markdown, text, code_styles)
    except BrokenProcessPool:
        _pool = None
        return await loop.run_in_executor(_render_pool(), render_markdown, text, code_styles)


def style_sheet(colors: Colors) -> str:
    """The preview's CSS for links and code (Qt applies it to each setHtml)."""
    code = f"background-color: {colors.code_background.name()}; color: {colors.code_text.name()}"
    return f"a {{ color: {colors.link.name()}; }} pre {{ {code}; }} code {{ {code}; }}"


def is_markdown(file_name: str | None) -> bool:
    return bool(file_name) and file_name.lower().endswith(MARKDOWN_SUFFIXES)


class MarkdownPreview(QTextBrowser):
    """A read-only view of rendered Markdown; `schedule(text_source)` renders after a quiet moment.

    Attributes:
        html: the HTML shown now; renders: how many times it was set.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)  # a click must not navigate away from the preview or open anything
        self._source = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer)
        self._changed_since: float | None = None  # the first change not rendered yet
        self._rendering: asyncio.Task | None = None
        self._again = False
        self.html = ""
        self.renders = 0
        self._rendered: str | None = ""
        self._apply_colors()

    def schedule(self, source) -> None:
        """Re-render from `source()` (a callable returning the text) DEBOUNCE_S after the last call, or
        MAX_WAIT_S after the first unrendered one."""
        self._source = source
        now = time.monotonic()
        if self._changed_since is None:
            self._changed_since = now
        wait_ms = int(1000 * min(DEBOUNCE_S, max(0.0, self._changed_since + MAX_WAIT_S - now)))
        # Only ever move the render later for the debounce: restarting a due timer on every change (the
        # highlighter's re-formatting reports changes too) would starve it.
        if not (self._timer.isActive() and self._timer.remainingTime() <= wait_ms):
            self._timer.start(wait_ms)

    def render_now(self) -> None:
        """Render on this thread at once (the self-test's check)."""
        self._timer.stop()
        if self._source is not None:
            text = self._source()
            self._show(text, render_markdown(text, self._code_styles()))

    def _on_timer(self) -> None:
        if self._rendering is not None and not self._rendering.done():
            self._again = True  # one more render when this one is in
            return
        self._rendering = asyncio.ensure_future(self._render())

    async def _render(self) -> None:
        self._changed_since = None
        text = self._source()
        if text == self._rendered and self.html:
            return  # highlighting re-formats blocks and Qt reports that as a change: nothing to render
        html_text = await render_elsewhere(text, self._code_styles())
        if not isValid(self):
            return  # the tab closed while its render ran
        self._show(text, html_text)
        if self._again:
            self._again = False
            self._on_timer()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_colors()
            if self._source is not None:
                self._rendered = None  # the same text, rendered again in the new code colours
                self.schedule(self._source)

    def _code_styles(self) -> CodeStyles:
        return colors_for(self.palette()).code_styles()

    def _apply_colors(self) -> None:
        self.document().setDefaultStyleSheet(style_sheet(colors_for(self.palette())))

    def _show(self, text: str, html_text: str) -> None:
        self._rendered, self.html = text, html_text
        self.renders += 1
        bar = self.verticalScrollBar()
        position = bar.value()
        self.setHtml(html_text)
        bar.setValue(position)  # keep the reader's place while the text changes
