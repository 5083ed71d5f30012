"""Tests for musicexp.data.corpus: the music21-corpus -> MIDI dataset builder.

Fast tests convert a handful of short real corpus pieces (a few seconds in all); the
full subset conversion is marked slow.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from musicexp.data import corpus
from musicexp.data.corpus import convert
from musicexp.core import fsutil

HEADER = "id,source,composer,composer_detail,era,collection,group\n"
# Short pieces of three encoders; the first id has the punctuation real ids have.
TINY = HEADER + textwrap.dedent("""\
    "bach, bwv66.6 (test)",bach/bwv66.6.mxl,bach,J.S. Bach,baroque,bach,bwv66
    bach__bwv281,bach/bwv281.krn,bach,J.S. Bach,baroque,bach,bwv281
    palestrina__Credo_67_c,palestrina/Credo_67_c.krn,palestrina,Palestrina,renaissance,palestrina,Credo_67
    trecento__Fava_Dicant_nunc_iudei,trecento/Fava_Dicant_nunc_iudei.xml,trecento,anonymous,medieval,trecento,Fava
    """)
IDS = ["bach, bwv66.6 (test)", "bach__bwv281", "palestrina__Credo_67_c",
       "trecento__Fava_Dicant_nunc_iudei"]
REPO = Path(corpus.__file__).resolve().parents[3]


def _write_manifest(folder: Path, text: str = TINY, name: str = "tiny.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.mid")}


def _programs(path: Path) -> set[int]:
    import symusic

    return {t.program for t in symusic.Score(str(path)).tracks if len(t.notes)}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """One tiny build shared by the read-only tests: (manifest, out_dir)."""
    root = tmp_path_factory.mktemp("tiny")
    manifest = _write_manifest(root)
    out = corpus.build_dataset(manifest, root / "out", n_jobs=2, progress=False)
    return manifest, out


@pytest.fixture
def built_copy(built, tmp_path) -> tuple[Path, Path]:
    """A private copy of the tiny build, for tests that damage it."""
    manifest, out = built
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    return manifest, copy


# --------------------------------------------------------------------------- outputs

def test_build_writes_files_labels_and_record(built):
    manifest, out = built
    assert sorted(p.name for p in out.glob("*.mid")) == sorted(f"{i}.mid" for i in IDS)
    assert not list(out.glob(".tmp-*"))

    with open(out / "labels.csv", newline="", encoding="utf-8") as fh:
        labels = list(csv.DictReader(fh))
    assert list(labels[0]) == ["file", "composer", "composer_detail", "era", "collection",
                               "group"]
    assert [r["file"] for r in labels] == [f"{i}.mid" for i in IDS]
    assert labels[2]["composer"] == "palestrina" and labels[2]["group"] == "Credo_67"

    record = json.loads((out / "dataset.json").read_text())
    assert record["manifest"] == "tiny"
    assert record["manifest_sha256"] == _sha(manifest)
    assert record["music21"] == importlib.metadata.version("music21")
    assert record["program"] == 0
    assert set(record["files"]) == {f"{i}.mid" for i in IDS}
    for name, entry in record["files"].items():
        assert entry == {"sha256": _sha(out / name), "size": (out / name).stat().st_size}
    assert record["labels"]["sha256"] == _sha(out / "labels.csv")
    assert corpus.is_built(out, manifest, 0)


def test_every_track_has_the_normalised_program(built, tmp_path):
    manifest, out = built
    for name in IDS:
        assert _programs(out / f"{name}.mid") == {0}, name
    # program=None keeps music21's own numbers: Palestrina is written as 53 (the leak).
    raw = corpus.build_dataset(manifest, tmp_path / "raw", program=None, n_jobs=1,
                               progress=False)
    assert _programs(raw / "palestrina__Credo_67_c.mid") == {53}
    assert json.loads((raw / "dataset.json").read_text())["program"] is None


def test_other_program_number(built, tmp_path):
    manifest, _ = built
    out = corpus.build_dataset(manifest, tmp_path / "p5", program=5, n_jobs=1, progress=False)
    for name in IDS:
        assert _programs(out / f"{name}.mid") == {5}, name


def test_output_is_byte_identical_across_runs(built, tmp_path):
    manifest, out = built
    again = corpus.build_dataset(manifest, tmp_path / "again", n_jobs=1, progress=False)
    for name in IDS:
        assert _sha(again / f"{name}.mid") == _sha(out / f"{name}.mid"), name


# --------------------------------------------------------------------------- caching

def test_second_call_does_no_work_and_does_not_import_music21(built):
    manifest, out = built
    before = _mtimes(out)
    record = (out / "dataset.json").stat().st_mtime_ns
    script = textwrap.dedent(f"""
        import sys
        from musicexp.data.corpus import build_dataset
        out = build_dataset({str(manifest)!r}, {str(out)!r}, progress=False)
        assert str(out) == {str(out)!r}, out
        heavy = [m for m in ('music21', 'symusic', 'tqdm') if m in sys.modules]
        assert not heavy, heavy
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60)
    assert _mtimes(out) == before
    assert (out / "dataset.json").stat().st_mtime_ns == record


def test_interrupted_build_converts_only_the_missing_file(built_copy):
    manifest, out = built_copy
    record = json.loads((out / "dataset.json").read_text())
    victim = out / "bach__bwv281.mid"
    victim.unlink()
    (out / "dataset.json").unlink()
    stale = out / f".tmp-bach__bwv281.mid-2147483646-deadbeef-{fsutil.HOST}"  # a crashed writer's leftover
    stale.write_bytes(b"half a file")
    before = _mtimes(out)

    assert not corpus.is_built(out, manifest, 0)
    corpus.build_dataset(manifest, out, n_jobs=1, progress=False)

    after = _mtimes(out)
    assert {k: v for k, v in after.items() if k != victim.name} == before
    assert _sha(victim) == record["files"][victim.name]["sha256"]
    assert not stale.exists()
    assert json.loads((out / "dataset.json").read_text()) == record


def test_truncated_file_is_converted_again(built_copy):
    manifest, out = built_copy
    victim = out / "palestrina__Credo_67_c.mid"
    good = _sha(victim)
    victim.write_bytes(victim.read_bytes()[:10])
    assert not corpus.is_built(out, manifest, 0)
    corpus.build_dataset(manifest, out, n_jobs=1, progress=False)
    assert _sha(victim) == good


def test_is_built(built, tmp_path):
    manifest, out = built
    assert corpus.is_built(out, manifest, 0)
    assert not corpus.is_built(out, manifest, 1)
    assert not corpus.is_built(out, manifest, None)
    assert not corpus.is_built(tmp_path / "nothing", manifest, 0)
    other = _write_manifest(tmp_path, TINY.replace("J.S. Bach", "JSB"))
    assert not corpus.is_built(out, other, 0)


def test_folder_of_another_build_is_refused(built_copy):
    manifest, out = built_copy
    with pytest.raises(RuntimeError, match="delete the folder"):
        corpus.build_dataset(manifest, out, program=7, progress=False)


def test_other_music21_release_is_not_mixed_in(built_copy):
    manifest, out = built_copy
    for name in ("dataset.json", ".build.json"):
        record = json.loads((out / name).read_text())
        record["music21"] = "0.0.1"
        (out / name).write_text(json.dumps(record))
    # Complete folder: usable as it is (nothing to convert).
    corpus.build_dataset(manifest, out, progress=False)
    # A file to convert: music21 would differ from the recorded release.
    (out / "bach__bwv281.mid").unlink()
    with pytest.raises(RuntimeError, match=r"music21 0\.0\.1"):
        corpus.build_dataset(manifest, out, progress=False)


# --------------------------------------------------------------------------- failures

def test_bad_source_raises_naming_the_id_and_keeps_the_good_files(tmp_path):
    text = HEADER + ("palestrina__Credo_67_c,palestrina/Credo_67_c.krn,palestrina,P,"
                     "renaissance,palestrina,Credo_67\n"
                     "my odd id #1,bach/no_such_piece.mxl,bach,B,baroque,bach,x\n")
    manifest = _write_manifest(tmp_path, text)
    out = tmp_path / "out"
    with pytest.raises(corpus.ConversionError) as err:
        corpus.build_dataset(manifest, out, n_jobs=2, progress=False)
    message = str(err.value)
    assert "'my odd id #1'" in message and "bach/no_such_piece.mxl" in message
    assert "palestrina__Credo_67_c" not in message
    assert (out / "palestrina__Credo_67_c.mid").is_file()
    assert not (out / "dataset.json").exists()
    assert not list(out.glob(".tmp-*"))


@pytest.mark.parametrize("program", [-1, 128, 1.0, True, "0"])
def test_bad_program_is_rejected(tmp_path, program):
    with pytest.raises(ValueError, match="program"):
        corpus.build_dataset(_write_manifest(tmp_path), tmp_path / "out", program=program)


@pytest.mark.parametrize("bad_id", ["a/b", "..", ""])
def test_ids_that_are_not_file_names_are_rejected(tmp_path, bad_id):
    text = HEADER + f"{bad_id},bach/bwv281.krn,bach,B,baroque,bach,x\n"
    with pytest.raises(ValueError, match="id"):
        corpus.read_manifest(_write_manifest(tmp_path, text))


def test_duplicate_ids_are_rejected(tmp_path):
    row = "x,bach/bwv281.krn,bach,B,baroque,bach,x\n"
    with pytest.raises(ValueError, match="duplicate"):
        corpus.read_manifest(_write_manifest(tmp_path, HEADER + row + row))


def test_unknown_manifest_name():
    with pytest.raises(ValueError, match="subset100"):
        corpus.manifest_path("nope")


# --------------------------------------------------------------------------- cures

def test_malformed_repeats_are_stripped(tmp_path, caplog):
    # Mozart K. 458/ii has repeat marks music21 cannot expand.
    text = HEADER + "mozart__k458__movement2,mozart/k458/movement2.mxl,mozart,mozart," \
                    "classical,mozart,k458\n"
    caplog.set_level(logging.INFO, logger="musicexp.data.corpus")
    out = corpus.build_dataset(_write_manifest(tmp_path, text), tmp_path / "out",
                               n_jobs=1, progress=False)
    assert "stripped repeats" in caplog.text
    assert _programs(out / "mozart__k458__movement2.mid") == {0}


def test_multi_voice_abc_is_merged_into_one_score(tmp_path):
    # Each voice of this Josquin chanson is a separate ABC tune: music21 returns an Opus.
    text = HEADER + "josquin__milleRegrets,josquin/milleRegrets.abc,josquin,Josquin," \
                    "renaissance,josquin,milleRegrets\n"
    out = corpus.build_dataset(_write_manifest(tmp_path, text), tmp_path / "out",
                               n_jobs=1, progress=False)
    import symusic

    tracks = [t for t in symusic.Score(str(out / "josquin__milleRegrets.mid")).tracks
              if len(t.notes)]
    assert len(tracks) == 4 and {t.program for t in tracks} == {0}


def test_opus_of_different_tunes_is_refused():
    from music21 import metadata, stream

    opus = stream.Opus()
    for title in ("Tune A", "Tune B"):
        score = stream.Score([stream.Part()])
        score.insert(0, metadata.Metadata(title=title))
        opus.append(score)
    with pytest.raises(ValueError, match="different tunes"):
        convert._merge_opus(opus)


def test_time_signature_shared_by_two_measures_is_copied():
    # music21's ABC reader puts one TimeSignature object in two measures of this tune,
    # and MIDI export then fails with "already found in this Stream".
    import music21

    score = music21.corpus.parse("essenFolksong/irl.abc", number=15, forceSource=True)
    with pytest.raises(music21.exceptions21.StreamException, match="already found"):
        convert._render(score)
    assert convert._unshare_time_signatures(score) > 0
    assert convert._unshare_time_signatures(score) == 0
    assert convert._render(score).startswith(b"MThd")


# --------------------------------------------------------------------------- manifests

@pytest.mark.parametrize("name, rows", [("default", 564), ("subset100", 100)])
def test_packaged_manifests_point_at_installed_scores(name, rows):
    entries = corpus.read_manifest(name)
    assert len(entries) == rows
    corpus_dir = convert._corpus_dir()
    missing = [r["source"] for r in entries if not (corpus_dir / r["source"]).is_file()]
    assert not missing


@pytest.mark.slow
def test_subset100_builds_completely_with_program_0(tmp_path):
    out = corpus.build_dataset("subset100", tmp_path / "Data_100", n_jobs=2, progress=False)
    record = json.loads((out / "dataset.json").read_text())
    assert len(record["files"]) == 100
    for name in record["files"]:
        assert _programs(out / name) == {0}, name


def test_a_new_version_of_the_manifest_updates_the_folder(built_copy, tmp_path, caplog):
    """Rows removed, relabelled and added: the removed file goes, the kept ones are not
    converted again, the new one is, and labels.csv follows the new manifest."""
    manifest, out = built_copy
    lines = TINY.splitlines()
    v2 = "\n".join([l for l in lines if not l.startswith("bach__bwv281")]
                   + ["bach__bwv1.6,bach/bwv1.6.mxl,bach,J.S. Bach,baroque,bach,bwv1"]).replace(
        "trecento,Fava\n", "trecento,Fava_Dicant\n") + "\n"
    new = _write_manifest(tmp_path / "v2", v2, name=manifest.name)  # the same manifest, a new version
    before = _mtimes(out)
    caplog.set_level(logging.WARNING, logger="musicexp.data.corpus")
    assert not corpus.is_built(out, new, 0)
    corpus.build_dataset(new, out, n_jobs=1, progress=False)
    after = _mtimes(out)
    assert "bach__bwv281.mid" not in after and "bach__bwv1.6.mid" in after
    assert {k: v for k, v in after.items() if k in before} == {k: v for k, v in before.items() if k in after}
    assert "manifest 'tiny' changed; updating the folder (1 file(s) removed" in caplog.text
    labels = list(csv.DictReader(open(out / "labels.csv")))
    assert {r["file"]: r["group"] for r in labels}["trecento__Fava_Dicant_nunc_iudei.mid"] == "Fava_Dicant"
    assert corpus.is_built(out, new, 0) and not corpus.is_built(out, manifest, 0)
