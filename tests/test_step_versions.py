"""A step's code does not change without a bump of its version (tests/step_versions.py says what
a step's source is and how to record it)."""

from __future__ import annotations

import shutil

import pytest

import step_versions as sv


def test_every_steps_source_matches_its_recorded_version():
    found = sv.problems(sv.load(), sv.current())
    assert not found, "\n".join(found.values())


def test_the_digest_ignores_comments_docstrings_and_layout(tmp_path):
    a, b, c = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    a.write_text('def f(x):\n    """Doc."""\n    return x + 1\n')
    b.write_text('def f(x):  # a comment\n    """Another doc, longer."""\n\n    return (x\n            + 1)\n')
    c.write_text('def f(x):\n    """Doc."""\n    return x + 2\n')
    assert sv.module_digest(a) == sv.module_digest(b) != sv.module_digest(c)


def test_a_step_changed_without_a_bump_fails_and_passes_once_bumped_and_recorded(tmp_path, monkeypatch,
                                                                                  replace_step):
    """The mutation check: a change to a module of sgt's source (here its kernel) fails the test,
    naming the step, the file and what to do; the record refuses it at the same version; after a
    bump it is recorded and the test passes."""
    record = tmp_path / "step_versions.json"
    shutil.copy(sv.RECORD, record)
    monkeypatch.setattr(sv, "RECORD", record)
    real = sv.module_digest
    monkeypatch.setattr(sv, "module_digest",
                        lambda p: "changed" if p.name == "kernel.py" and p.parent.name == "sgt" else real(p))

    found = sv.problems(sv.load(), sv.current())
    assert list(found) == ["sgt"]
    assert "musicexp/features/sgt/kernel.py" in found["sgt"] and "bump version= in musicexp/steps/sgt.py" in found["sgt"]
    assert sv.update() == ["sgt"]  # not recorded at the same version
    assert list(sv.problems(sv.load(), sv.current())) == ["sgt"]

    from musicexp.core import registry

    replace_step("sgt", version=str(int(registry.get("sgt").version) + 1))
    assert "record its source" in sv.problems(sv.load(), sv.current())["sgt"]
    assert sv.update() == []
    assert sv.problems(sv.load(), sv.current()) == {}


def test_a_refactor_is_recorded_at_the_same_version_only_when_named(tmp_path, monkeypatch):
    record = tmp_path / "step_versions.json"
    shutil.copy(sv.RECORD, record)
    monkeypatch.setattr(sv, "RECORD", record)
    real = sv.module_digest
    monkeypatch.setattr(sv, "module_digest", lambda p: "changed" if p.name == "labels.py" else real(p))
    assert sorted(sv.problems(sv.load(), sv.current())) == ["labels", "train"]  # data/labels.py: both read it
    assert sv.update(keep_version=("labels", "train")) == []
    assert sv.problems(sv.load(), sv.current()) == {}


@pytest.mark.parametrize("step, module", [("sgt", "musicexp/features/sgt/_kernel.pyx"),
                                          ("train", "musicexp/evaluation/cv.py"),
                                          ("embed", "musicexp/features/midi2vec/word2vec.py")])
def test_a_steps_source_reaches_the_modules_it_calls(step, module):
    now = sv.current()[step]["sources"]
    assert module in now and f"musicexp/steps/{step}.py" in now
    assert not any(f.startswith(("musicexp/core/", "musicexp/engine/")) for f in now)
