"""Data: datasets and their labels, MIDI -> note table, the embedded corpus."""
