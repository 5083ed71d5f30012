"""The MIDI reader on files the test writes."""

import numpy as np
import pytest

from helpers import write_midi
from musicexp.data.midi import MidiError, read_notes


def test_onsets_in_beats_and_seconds_follow_the_tempo_map(tmp_path):
    import symusic

    path = write_midi(tmp_path / "a.mid", [(0, 1, 60, 80), (2, 1, 62, 80), (4, 2, 64, 90)], tpq=10080)
    score = symusic.Score(str(path))
    score.tempos.append(symusic.Tempo(int(2 * 10080), 60.0))  # 120 bpm, then 60 bpm from beat 2
    score.dump_midi(str(path))
    cols = read_notes(path)["columns"]
    assert np.allclose(cols["onset"], [0, 2, 4]) and cols["onset"].dtype == np.float64
    assert np.allclose(cols["onset_s"], [0, 1.0, 3.0])  # 2 beats at 0.5 s, then 2 beats at 1 s
    assert np.allclose(cols["duration_s"], [0.5, 1.0, 2.0])
    assert list(cols["pitch"]) == [60, 62, 64]


def test_drums_and_programs_are_kept(tmp_path):
    path = write_midi(tmp_path / "d.mid", [(0, 1, 60, 80)], program=41, drums=[(0, 0.5, 36, 100)])
    cols = read_notes(path)["columns"]
    assert sorted(zip(cols["program"].tolist(), cols["is_drum"].tolist())) == [(0, True), (41, False)]


@pytest.mark.parametrize("content, reason", [(b"", "unreadable"), (b"MThd\x00\x00\x00\x06\x00", "unreadable"),
                                             (bytes(range(256)) * 4, "unreadable")])
def test_corrupt_files_raise_midi_error(tmp_path, content, reason):
    p = tmp_path / "bad.mid"
    p.write_bytes(content)
    with pytest.raises(MidiError, match=reason):
        read_notes(p)


def test_a_file_without_notes_is_an_error(tmp_path):
    import symusic

    s = symusic.Score(480)
    s.tracks.append(symusic.Track("empty", 0, False))
    s.dump_midi(str(tmp_path / "e.mid"))
    with pytest.raises(MidiError, match="no notes"):
        read_notes(tmp_path / "e.mid")
