"""Tiny real MIDI datasets written by the tests themselves, and ways to run musicexp."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

# three "composers", each with its own scale and rhythm, so that features can separate them
STYLES = {
    "alpha": {"scale": [0, 2, 4, 5, 7, 9, 11], "step": 1.0, "era": "old", "program": 0},
    "beta": {"scale": [0, 1, 3, 5, 6, 8, 10], "step": 0.5, "era": "old", "program": 0},
    "gamma": {"scale": [0, 3, 5, 7, 10], "step": 0.75, "era": "new", "program": 0},
}


def write_midi(path: Path, notes: list[tuple[float, float, int, int]], tpq: int = 480, program: int = 0,
               tempo_qpm: float = 120.0, tracks: int = 1, drums: list | None = None) -> Path:
    """Write (onset_beats, duration_beats, pitch, velocity) notes as a real MIDI file."""
    import symusic

    score = symusic.Score(tpq)
    score.tempos.append(symusic.Tempo(0, tempo_qpm))
    for k in range(tracks):
        tr = symusic.Track(f"part{k}", program, False)
        for i, (on, dur, pitch, vel) in enumerate(notes):
            if i % tracks == k:
                tr.notes.append(symusic.Note(int(round(on * tpq)), int(round(dur * tpq)), int(pitch), int(vel)))
        score.tracks.append(tr)
    if drums:
        tr = symusic.Track("drums", 0, True)
        for on, dur, pitch, vel in drums:
            tr.notes.append(symusic.Note(int(round(on * tpq)), int(round(dur * tpq)), int(pitch), int(vel)))
        score.tracks.append(tr)
    path.parent.mkdir(parents=True, exist_ok=True)
    score.dump_midi(str(path))
    return path


def style_notes(style: str, rng: np.random.Generator, n: int = 48) -> list[tuple]:
    s = STYLES[style]
    notes, t = [], 0.0
    base = 60 + int(rng.integers(-3, 4))
    for _ in range(n):
        deg = int(rng.integers(0, len(s["scale"])))
        pitch = base + s["scale"][deg] + 12 * int(rng.integers(-1, 1))
        notes.append((t, s["step"], pitch, int(rng.integers(60, 100))))
        if rng.random() < 0.3:  # a simultaneous note: ties must be broken deterministically
            notes.append((t, s["step"], pitch - 12 + s["scale"][(deg + 2) % len(s["scale"])], 70))
        t += s["step"]
    return notes


def make_dataset(root: Path, per_class: int = 8, seed: int = 0, groups: bool = False) -> Path:
    """A labelled folder: <root>/<style>_<k>.mid and labels.csv (composer, era[, group])."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for style in STYLES:
        for k in range(per_class):
            name = f"{style}_{k:02d}.mid"
            write_midi(root / name, style_notes(style, rng), tracks=2)
            rows.append({"file": name, "composer": style, "era": STYLES[style]["era"],
                         "group": f"{style}-{k // 2}"})
    with open(root / "labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]) if groups else ["file", "composer", "era"],
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return root


def tiny_overrides(data: Path, work: Path, *extra: str) -> list[str]:
    """Overrides that point musicexp at a test dataset and keep every output under ``work``."""
    own = {e.split("=", 1)[0] for e in extra}
    return [
        "dataset=data_100",
        "dataset.id=tiny",
        f"dataset.data_root={data}",
        "dataset.build=null",
        *([] if "dataset.neutralize" in own else ["dataset.neutralize=[]"]),  # (data_100's is for its corpus)
        "dataset.labels.group_column=null",
        f"paths.artifacts_root={work / 'artifacts'}",
        f"paths.results_jsonl={work / 'results' / 'results.jsonl'}",
        f"paths.results_csv={work / 'results' / 'results.csv'}",
        "steps.train.n_splits=3",
        *([] if "steps.train.repeats" in own else ["steps.train.repeats=1"]),  # (the default 3 triples the fits)
        "steps.train.model=logreg",
        "steps.train.modes=[sgt_only]",
        "steps.sgt.top_vocab=12",
        "progress=false",
        *extra,
    ]


def run_cli(args: list[str], cwd: Path, python_flags: tuple = (), timeout: float = 600,
            check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real console entrypoint (``python -m musicexp``) in a subprocess (``env``: extra
    variables; a PYTHONPATH there is put in front of the inherited one)."""
    extra = dict(env or {})
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    if "PYTHONPATH" in extra and env.get("PYTHONPATH"):
        extra["PYTHONPATH"] += os.pathsep + env["PYTHONPATH"]
    env.update(extra)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    cmd = [sys.executable, *python_flags, "-m", "musicexp", f"hydra.run.dir={cwd / 'outputs'}", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"musicexp failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_step(cfg, name: str, inputs: dict, dataset=None):
    """Run one registered step's ``run`` directly, with the params the engine would give it."""
    from musicexp.core import registry
    from musicexp.engine.plan import step_params
    from musicexp.core.registry import Context

    params, settings = step_params(cfg, name)
    return registry.get(name).run(inputs, params, Context(dataset, settings, False))


def abc_entry(source: str, number: str) -> str:
    """The text of tune X:`number` of an ABC file of the music21 corpus, cut straight from the file."""
    import re

    from musicexp.data.corpus import convert

    text = (convert._corpus_dir() / source).read_bytes().decode("utf-8", errors="replace")
    for entry in re.split(r"(?m)^(?=X:)", text):
        if entry.startswith("X:") and re.match(rf"X:\s*{number}\s*$", entry.splitlines()[0]):
            return entry
    raise AssertionError(f"no X:{number} in {source}")


def abc_field(entry: str, key: str) -> str:
    """The first ``key:`` field of an ABC entry ('' when absent)."""
    import re

    m = re.search(rf"(?m)^{key}:(.*)$", entry)
    return m.group(1).strip() if m else ""
