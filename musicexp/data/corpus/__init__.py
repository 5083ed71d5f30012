"""The embedded datasets: music21 corpus scores converted to MIDI on the user's machine.

:mod:`.build` keeps the books (manifests, what was built with what, resuming, checksums);
:mod:`.convert` turns one score into one MIDI file. Importing this package is cheap.
"""

from musicexp.data.corpus.build import (ConversionError, build_dataset, is_built, manifest_path, read_manifest,
                                        resolve_manifest)

__all__ = ["ConversionError", "build_dataset", "is_built", "manifest_path", "read_manifest", "resolve_manifest"]
