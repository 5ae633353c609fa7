"""`redraft-cli` end to end on real files with the tiny model: output formats, in-place writes, bad input."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import MODEL_ENV
from engine.cli import main
from tests import ROOT



@pytest.fixture(autouse=True)
def model(checkpoint, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(checkpoint))


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def json_lines(out):
    return [json.loads(line) for line in out.splitlines()]


def test_json_streams_one_draft_per_step_then_the_result(tmp_path, capsys):
    path = tmp_path / "story.txt"
    text = "Once upon a time.\nA fox 🦊 ran far.\nThe end.\n"
    path.write_text(text, encoding="utf-8")
    start, end = text.index("A fox"), text.index("The end")
    code, out, err = run(capsys, "rewrite", path, "--start", start, "--end", end, "--seed", 1, "--json")
    assert code == 0, err
    events = json_lines(out)
    drafts, result = events[:-1], events[-1]
    assert [d["type"] for d in drafts] == ["draft"] * result["steps"]
    # Steps count within a block: they restart at 1 in each block after the first.
    assert [d["step"] for d in drafts if d["block"] == 1] == list(range(1, len(drafts) + 1))[: sum(
        d["block"] == 1 for d in drafts)]
    assert {d["block"] for d in drafts} == set(range(1, result["blocks"] + 1))
    assert result["type"] == "result" and result["stop_reason"] in ("eos", "max_steps", "length")
    assert result["text"] == drafts[-1]["text"]
    assert result["document"] == text[:start] + result["text"] + text[end:]
    assert set(result) >= {"tokens", "first_draft_s", "elapsed_s", "tokens_per_s"}
    assert path.read_text(encoding="utf-8") == text  # not --in-place: untouched


def spliced(path, text, start, end):
    """What the model put between text[:start] and text[end:] in the file written --in-place."""
    written = path.open(encoding="utf-8", newline="").read()
    assert written.startswith(text[:start]) and written.endswith(text[end:])
    return written[start:len(written) - len(text) + end]


def test_piped_output_is_the_final_text_only(tmp_path, capsys):
    path = tmp_path / "a.txt"
    path.write_text(text := "alpha beta gamma\n", encoding="utf-8")
    code, out, err = run(capsys, "rewrite", path, "--start", 6, "--end", 10, "--steps", 3, "--seed", 2, "--in-place")
    assert (code, err) == (0, "")
    assert out == spliced(path, text, 6, 10)  # exactly the new span: no drafts, no summary, nothing added


def test_show_steps_puts_the_drafts_on_stderr_and_keeps_stdout_the_result(tmp_path, capsys):
    path = tmp_path / "a.txt"
    path.write_text(text := "alpha beta gamma\n", encoding="utf-8")
    code, out, err = run(capsys, "rewrite", path, "--start", 6, "--end", 10, "--steps", 3, "--seed", 2,
                         "--in-place", "--show-steps")
    assert code == 0, err
    assert out == spliced(path, text, 6, 10)
    lines = err.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [["[step", "1/3"], ["[step", "2/3"], ["[step", "3/3"]]
    assert lines[3].startswith("-- length after 3 steps") and len(lines) == 4


def test_piped_through_a_real_pipe_prints_only_the_text(tmp_path, checkpoint):
    path = tmp_path / "a.txt"
    path.write_text(text := "alpha beta gamma\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "rewrite", str(path), "--start", "1:7", "--end", "1:11", "--steps", "2",
         "--in-place"],
        capture_output=True, timeout=300, cwd=ROOT,  # bytes: text=True would turn a lone "\r" into "\n"
        env={**os.environ, MODEL_ENV: str(checkpoint), "PYTHONPATH": str(ROOT)},
    )
    assert (done.returncode, done.stderr) == (0, b"")
    # newline="" when reading the file too: the random model's text may hold a lone "\r".
    assert done.stdout == spliced(path, text, 6, 10).encode()


# -- LINE:COL: 1-based lines and columns (code points), as editors show them ------------------------------------

LINE_COL = "first\r\nsecond 🦊 line\r\nthird\nlast"
POSITIONS = [
    ("2:1", "2:9", 7, 15),  # the fox is one column; CRLF ends line 1
    ("1:3", "1:6", 2, 5),  # the end of a line: one past its last character
    ("3:1", "4:5", 22, 32),  # across a LF break to the end of the file
    ("2:8", "20", 14, 20),  # LINE:COL and an offset mix
]


@pytest.mark.parametrize("start, end, start_offset, end_offset", POSITIONS)
def test_line_col_selects_the_same_span_as_offsets(tmp_path, capsys, start, end, start_offset, end_offset):
    path = tmp_path / "lines.txt"
    path.write_bytes(LINE_COL.encode("utf-8"))
    code, out, err = run(capsys, "rewrite", path, "--start", start, "--end", end, "--steps", 1, "--in-place", "--json")
    assert code == 0, err
    result = json_lines(out)[-1]
    assert result["document"] == LINE_COL[:start_offset] + result["text"] + LINE_COL[end_offset:]
    assert spliced(path, LINE_COL, start_offset, end_offset) == result["text"]


def test_line_col_on_the_empty_last_line(tmp_path, capsys):
    path = tmp_path / "a.txt"
    path.write_text("alpha\n", encoding="utf-8")
    code, out, err = run(capsys, "rewrite", path, "--start", "2:1", "--end", "2:1", "--steps", 1, "--json")
    assert code == 0, err
    assert json_lines(out)[-1]["document"].startswith("alpha\n")  # a fill after the last line break


def test_terminal_redraws_the_span_in_place(tmp_path):
    """Under a real pseudo-terminal the drafts overwrite each other with cursor movements."""
    import pty

    path = tmp_path / "a.txt"
    path.write_text("alpha beta gamma\n", encoding="utf-8")
    pid, fd = pty.fork()
    if pid == 0:  # the child runs the real console entry point on the pty
        os.execv(sys.executable, [sys.executable, "-m", "engine.cli", "rewrite", str(path), "--start", "6",
                                  "--end", "10", "--steps", "3", "--seed", "2"])
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, screen
    assert screen.count("\x1b[1F\x1b[J") >= 3  # each later draft and the result replace the previous
    assert "[step 3/3" in screen and "-- length after 3 steps" in screen


def test_in_place_keeps_crlf_encoding_and_everything_outside_the_span(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    original = "first\r\nsecond 𝒳 line\r\nthird\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + original.encode("utf-8"))  # UTF-8 with BOM, CRLF
    start = original.index("second")  # code points of the stored text: CRLF counts as two
    end = original.index("\r\nthird")
    code, out, err = run(capsys, "rewrite", path, "--start", start, "--end", end, "--in-place", "--json", "--seed", 3)
    assert code == 0, err
    result = json_lines(out)[-1]
    written = path.read_bytes()
    assert written.startswith(b"\xef\xbb\xbf" + original[:start].encode("utf-8"))
    assert written.endswith(original[end:].encode("utf-8"))
    assert written == b"\xef\xbb\xbf" + result["document"].encode("utf-8")
    assert not [p for p in tmp_path.iterdir() if p.name != "notes.txt"]  # no temp files left


surrogate_free = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=40)
tricky = st.lists(
    st.sampled_from(["a", "é", "e\u0301", "🦊", "👩‍💻", "世界", "\r\n", "\n", " ", "𝒳"]), max_size=12
).map("".join)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(tricky, surrogate_free, st.tuples(tricky, surrogate_free).map("".join)), data=st.data())
def test_text_outside_the_span_is_byte_identical(tmp_path, capsys, text, data):
    start = data.draw(st.integers(0, len(text)), label="start")
    end = data.draw(st.integers(start, len(text)), label="end")
    path = tmp_path / "doc.txt"
    path.write_bytes(text.encode("utf-8"))
    code, out, err = run(capsys, "rewrite", path, "--start", start, "--end", end, "--steps", 2, "--seed", 0,
                         "--in-place", "--json")
    if code == 2:  # a span longer than the tiny model's 32-token canvas, or only whitespace, is refused
        refused = "only whitespace" if not text[start:end].strip() else "over this model's canvas of 32 tokens"
        assert refused in err and path.read_bytes() == text.encode("utf-8")  # and nothing is written
        return
    assert code == 0, err
    written = path.read_bytes()
    assert written.startswith(text[:start].encode("utf-8"))
    assert written.endswith(text[end:].encode("utf-8"))
    assert written.decode("utf-8") == json_lines(out)[-1]["document"]


def test_models_lists_the_model_from_the_environment(capsys, checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("REDRAFT_MODELS_DIR", str(tmp_path / "no-models-yet"))
    code, out, _ = run(capsys, "models", "--json")
    assert code == 0
    env_model, bundled = json_lines(out)[0]["found"]
    assert env_model.items() >= {"id": str(checkpoint), "family": "diffusion_gemma", "path": str(checkpoint),
                                 "size_bytes": (checkpoint / "model.safetensors").stat().st_size,
                                 "source": "REDRAFT_MODEL", "problem": None}.items()
    assert (bundled["id"], bundled["source"]) == ("bundled", "bundled")


# -- bad input: one line on stderr, exit 2, the file untouched --------------------------------------------------

BAD = [
    (["--start", 5, "--end", 99], "redraft-cli: --start 5 --end 99 is outside {name} (0..11 code points)"),
    (["--start", -1, "--end", 3], "redraft-cli: --start -1 --end 3 is outside {name} (0..11 code points)"),
    (["--start", 6, "--end", 2], "redraft-cli: --start 6 is after --end 2"),
    (["--start", 2, "--end", 2, "--mode", "rewrite"], "redraft-cli: rewrite needs a selection: start and end are equal"),
    (["--start", 0, "--end", 11, "--context-budget", 4],
     "redraft-cli: the selection is 11 tokens, over the context budget of 4 tokens; select less or raise the budget"),
    (["--start", 0, "--end", 3, "--model", "/nonexistent/model"], "redraft-cli: model not found: /nonexistent/model does not exist"),
    (["--start", 0, "--end", 3, "--steps", 0], "redraft-cli: --steps must be a positive number"),
    (["--start", "1:3", "--end", "1:13"], "redraft-cli: --end 1:13 is outside {name}: line 1 has 11 characters"),
    (["--start", "2:1", "--end", "2:1"], "redraft-cli: --start 2:1 is outside {name}, which has 1 line"),
    (["--start", "0:1", "--end", "1:3"], "redraft-cli: --start 0:1: lines and columns count from 1"),
    (["--start", "1:0", "--end", "1:3"], "redraft-cli: --start 1:0: lines and columns count from 1"),
    (["--start", "abc", "--end", "3"], "redraft-cli: --start 'abc' is neither an offset nor LINE:COL"),
    (["--start", "1", "--end", "1:2:3"], "redraft-cli: --end '1:2:3' is neither an offset nor LINE:COL"),
    (["--start", "1", "--end", "٣"], "redraft-cli: --end '٣' is neither an offset nor LINE:COL"),
    (["--start", "1:8", "--end", "3"], "redraft-cli: --start 1:8 is after --end 3"),
    (["--start", "", "--end", "3"], "redraft-cli: --start '' is neither an offset nor LINE:COL"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_arguments(tmp_path, capsys, args, message):
    path = tmp_path / "f.txt"
    path.write_bytes(b"hello world")
    code, out, err = run(capsys, "rewrite", path, *args, "--in-place")
    assert (code, err) == (2, message.format(name=path) + "\n")
    assert path.read_bytes() == b"hello world" and out == ""


def test_offsets_count_code_points_outside_the_bmp(tmp_path, capsys):
    path = tmp_path / "emoji.txt"
    path.write_text("🦊🦊x", encoding="utf-8")  # 3 code points, 5 UTF-16 units
    code, _, err = run(capsys, "rewrite", path, "--start", 2, "--end", 5)
    assert (code, err) == (2, f"redraft-cli: --start 2 --end 5 is outside {path} (0..3 code points)\n")
    code, out, err = run(capsys, "rewrite", path, "--start", 2, "--end", 3, "--json", "--steps", 1)
    assert code == 0, err
    assert json_lines(out)[-1]["document"].startswith("🦊🦊")


def test_binary_and_non_utf8_files_are_refused(tmp_path, capsys):
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    code, _, err = run(capsys, "rewrite", binary, "--start", 0, "--end", 2, "--in-place")
    assert code == 2 and "binary" in err and err.count("\n") == 1
    latin1 = tmp_path / "old.txt"
    latin1.write_bytes("café au lait".encode("latin-1"))
    code, _, err = run(capsys, "rewrite", latin1, "--start", 0, "--end", 2, "--in-place")
    assert code == 2 and "UTF-8" in err and err.count("\n") == 1
    assert binary.read_bytes().startswith(b"\x89PNG") and latin1.read_bytes() == "café au lait".encode("latin-1")


def test_console_script_runs_as_installed(tmp_path, checkpoint):
    path = tmp_path / "f.txt"
    path.write_text("hello there\n", encoding="utf-8")
    script = Path(sys.executable).parent / "redraft-cli"
    done = subprocess.run(
        [str(a) for a in (script, "rewrite", path, "--start", 0, "--end", 5, "--json", "--steps", 2, "--in-place")],
        capture_output=True, text=True, env={**os.environ, MODEL_ENV: str(checkpoint)}, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    # newline="": the random model's text may hold a lone "\r", which universal newlines would rewrite.
    written = path.open(encoding="utf-8", newline="").read()
    assert written == result["document"] and result["document"].endswith(" there\n")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_at_once(tmp_path, checkpoint):
    os.mkfifo(fifo := tmp_path / "pipe")  # no writer: a plain open() for reading would wait for one forever
    try:
        done = subprocess.run(
            [sys.executable, "-m", "engine.cli", "rewrite", str(fifo), "--start", "0", "--end", "1", "--in-place"],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
            env={**os.environ, MODEL_ENV: str(checkpoint), "PYTHONPATH": str(ROOT)},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"redraft-cli rewrite {fifo} hung")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"redraft-cli: cannot open {fifo}: it is not a regular file (a FIFO)\n"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_in_place_on_a_name_of_255_bytes(tmp_path, capsys):
    (path := tmp_path / ("n" * 251 + ".txt")).write_text("alpha beta gamma\n", encoding="utf-8")
    code, out, err = run(capsys, "rewrite", path, "--start", 6, "--end", 10, "--steps", 1, "--in-place", "--json")
    assert code == 0, err
    assert path.open(encoding="utf-8", newline="").read() == json_lines(out)[-1]["document"]
    assert os.listdir(tmp_path) == [path.name]  # no temp file left


def test_a_name_that_cannot_exist_is_one_line(tmp_path, capsys):
    path = tmp_path / ("n" * 252 + ".txt")
    code, out, err = run(capsys, "rewrite", path, "--start", 0, "--end", 1, "--in-place")
    assert (code, out, err) == (2, "", f"redraft-cli: cannot open {path}: File name too long\n")
