"""`python -m app.startup.screenshot`: a real process, the tiny model, a picture taken mid-refinement."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

from app.editing.colors import colors_for

from engine import MODEL_ENV
from tests import ROOT

def test_screenshot_of_a_file_mid_rewrite(qapp, tmp_path, checkpoint):
    # The background of pieces changed at this step, in the palette the screenshot's process starts with too.
    changed_colour = colors_for(qapp.palette()).changed.rgb()
    source = tmp_path / "story.md"
    text = "# Story\n\nA first paragraph of prose.\n\nThe second one is the span we rewrite here.\n"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "shots" / "mid.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1")
    env[MODEL_ENV] = str(checkpoint)
    done = subprocess.run(
        [sys.executable, "-m", "app.startup.screenshot", str(out), str(source)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    step, max_steps = map(int, re.search(r"step (\d+)/(\d+)", done.stdout).groups())
    assert max_steps == 48 and 16 <= step < 48  # a third of the way in, not finished
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 720)
    changed = sum(1 for y in range(0, 720, 2) for x in range(0, 600, 2) if image.pixel(x, y) == changed_colour)
    assert changed > 50  # the draft's changed pieces are highlighted in the editor
    assert source.read_text(encoding="utf-8") == text  # the file is never written


def test_screenshot_usage_errors_are_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "app.startup.screenshot"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and done.stderr.strip() == "usage: python -m app.startup.screenshot OUT.png [FILE]"
