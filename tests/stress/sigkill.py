"""SIGKILL at random moments of a real app process (tests/stress/sigkill_child.py): while typing, mid-rewrite
(the tiny random DiffusionGemma showing drafts) and mid-save (a 2 MB file saved again and again).

Per kill: a fresh window process opens its file, starts its activity, and is killed after a random delay
(typing and rewrite: 2..8 s, so the journal has written; save: 0..40 ms after a save began). What the
user gets back is then read as the next start would: the dead session's journal entry (Journal.orphans), or
the file itself when there is none. Exact recovery: that text is one the child had as the user's text
(never one holding an unaccepted draft) and not older than the last one journaled or saved. Also counted:
files that are neither the old nor a complete new version (truncated), and temporary files left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests import ROOT
from tests.stress import common

SMALL = "Hello brave world.\n\tTabs, ünïcödé and a line.\nThe end.\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _one_kill(kind: str, tmp: Path, checkpoint: Path, seed: int, rng: random.Random) -> dict:
    folder = tmp / f"{kind}-{seed}"
    folder.mkdir()
    path = folder / "notes.txt"
    text = SMALL if kind != "save" else ("A line of a long document, " * 3 + "ü\n") * 24_000  # ~2 MB
    path.write_bytes(text.encode("utf-8"))
    journal = folder / "journal"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", REDRAFT_JOURNAL_DIR=str(journal), HF_HUB_OFFLINE="1",
               PYTHONPATH=str(ROOT))
    env["REDRAFT_MODEL"] = str(checkpoint) if kind == "rewrite" else str(folder / "no-model")
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.stress.sigkill_child", kind, str(path), str(folder / "s.ini"), str(seed)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    events: list[dict] = []
    ready, saving = threading.Event(), threading.Event()

    def read() -> None:
        for line in child.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            events.append(event)
            if "ready" in event:
                ready.set()
            if "saving" in event and sum(1 for e in events if "saving" in e) >= target_save:
                saving.set()

    target_save = rng.randint(3, 12)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = ready.wait(120)
    if started:
        if kind == "save":
            saving.wait(120)
            time.sleep(rng.uniform(0.0, 0.04))
        else:
            time.sleep(rng.uniform(2.0, 8.0))
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    reader.join(10)
    child.stdout.close()
    if not started:
        return {"kind": kind, "outcome": "the child never got ready"}

    # What the events say. The last marker tells whether the kill landed mid-save.
    states = [e["state"] for e in events if "state" in e]
    journaled = [e["journaled"] for e in events if "journaled" in e]
    saved = [e["saved"] for e in events if "saved" in e]
    begun = [e["saving"] for e in events if "saving" in e]
    markers = [e for e in events if "saving" in e or "saved" in e]
    mid_save = bool(markers) and "saving" in markers[-1]

    # What is on disk, before anything cleans up.
    data = path.read_bytes()
    versions = {_sha(text.encode("utf-8")), *begun}
    truncated = _sha(data) not in versions
    temps = [p.name for p in folder.iterdir() if p.name.endswith(".redraft-tmp")]
    temps += [p.name for p in journal.glob("session-*/.tmp-*")]

    from app.storage.journal import Journal

    orphans = _orphans(journal)
    entries = [e for o in orphans for e in o.entries]
    recovered = entries[0].text if entries else data.decode("utf-8")
    got = _sha(recovered.encode("utf-8", "surrogatepass"))
    durable = [i for i, s in enumerate(states) if s in journaled[-1:] or s in saved[-1:]]
    floor = max(durable) if durable else 0
    if got not in states:
        outcome = "not the user's text (a draft, or a mix)"
    elif max(i for i, s in enumerate(states) if s == got) < floor:
        outcome = "older than what was journaled or saved"
    else:
        outcome = "exact"
    for orphan in orphans:
        orphan.discard()
    return {
        "kind": kind, "outcome": outcome, "truncated": truncated, "temps": temps, "mid_save": mid_save,
        "journal_writes": len(journaled), "saves": len(saved), "from_journal": bool(entries), "keys": len(states) - 1,
    }


def _orphans(journal: Path):
    from app.storage.journal import Journal

    reader = Journal(journal)  # a new session in the same folder, as the next start makes
    try:
        return reader.orphans()
    finally:
        reader._lock.unlock()  # leave the reader's own (empty) folder; it is removed with the rest


def run(quick: bool) -> dict:
    started = time.monotonic()
    from tests.tiny_models import save_checkpoint

    rng = random.Random(3)
    tmp = Path(tempfile.mkdtemp(prefix="stress-kill-"))
    checkpoint = save_checkpoint(tmp / "tiny-diffusion-gemma")
    per_kind = 2 if quick else 8
    kills = [kind for kind in ("typing", "rewrite", "save") for _ in range(per_kind)]
    found = [_one_kill(kind, tmp, checkpoint, seed, rng) for seed, kind in enumerate(kills)]
    ran = [f for f in found if "truncated" in f]
    figures = {"kills": len(found)}
    for kind in ("typing", "rewrite", "save"):
        mine = [f for f in ran if f["kind"] == kind]
        figures[f"{kind}: kills / exact recoveries"] = f"{len(mine)}/{sum(f['outcome'] == 'exact' for f in mine)}"
        figures[f"{kind}: recovered from the journal / from the file"] = (
            f"{sum(f['from_journal'] for f in mine)}/{sum(not f['from_journal'] for f in mine)}"
        )
        figures[f"{kind}: journal writes before the kill (min..max)"] = (
            f"{min((f['journal_writes'] for f in mine), default=0)}..{max((f['journal_writes'] for f in mine), default=0)}"
        )
    saves = [f for f in ran if f["kind"] == "save"]
    figures["save: kills that landed mid-save (between its start and end)"] = sum(f["mid_save"] for f in saves)
    figures["save: saves completed before the kills (total)"] = sum(f["saves"] for f in saves)
    exact = sum(f["outcome"] == "exact" for f in ran)
    drafts = sum(f["outcome"].startswith("not the user's") for f in ran)
    truncated = sum(f["truncated"] for f in ran)
    temps = sum(len(f["temps"]) for f in ran)
    figures.update({
        "exact recoveries": f"{exact}/{len(found)}",
        "recovered text holding an unaccepted draft (or not the user's)": drafts,
        "recovered text older than the last journaled/saved": sum(f["outcome"].startswith("older") for f in ran),
        "truncated or mixed files": truncated,
        "temporary files left (save temps + journal temps)": temps,
        "kills after which a temporary file was left": sum(bool(f["temps"]) for f in ran),
    })
    failures = [f"{f['kind']} kill {i}: {f['outcome']}" for i, f in enumerate(found) if f["outcome"] != "exact"]
    failures += [f"{f['kind']} kill {i}: temporary files left {f['temps']}" for i, f in enumerate(found) if f.get("temps")]
    checks = [
        common.check("exact recoveries", f"{exact}/{len(found)}", f"{len(found)}/{len(found)}", exact == len(found)),
        common.check("recovered text holding a draft", drafts, "0", drafts == 0),
        common.check("truncated files after a kill", truncated, "0", truncated == 0),
        common.check("temporary files left after a kill", temps, "0", temps == 0),
    ]
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return common.result("SIGKILL at random moments", __doc__.split("\n\n")[1].replace("\n", " "), figures, checks,
                         failures, started)


if __name__ == "__main__":
    common.main(run)
