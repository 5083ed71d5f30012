"""MIDI2vec (Lisena et al., Semantic Web 13(3), 2022): graph, node2vec walks, word2vec, its block.

Pure numpy functions (gensim for word2vec); see docs/midi2vec.md for the method and the
conventions chosen here.
"""

#: node kinds that carry edition / encoder metadata rather than the notes (``steps.graph.omit``)
METADATA_KINDS = {"velocity": "vel", "program": "program", "tempo": "tempo", "time_signature": "timesig"}
