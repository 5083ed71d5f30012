"""Make the manifest of the embedded `essen` collection from the installed music21 corpus.

    python -m musicexp.data.corpus.essen_manifest            # write essen.csv
    python -m musicexp.data.corpus.essen_manifest --check    # exit 1 if the shipped one differs

`essen` is the **held-back** collection: no default of musicexp is chosen on it; it is run
once, to report (docs/embedded-dataset.md).

Source: the Essen folk song collection of the music21 corpus (``essenFolksong/*.abc``, ABC
encodings by Seymour Shlien of the EsAC database), every file but :data:`EXCLUDED_FILES`.
The ABC text is scanned, never parsed by music21: each ``X:`` entry gives one tune with its
number, its title (first ``T:``), its Essen code (first ``N:``), its place (first ``O:``) and
its meter (first ``M:`` of the header, before ``K:``). The output is deterministic (files and
tunes in order, a seeded sample).

**Label** ``origin`` (:func:`origin`): the ``O:`` field is split at commas; the leading
continent words (Europa, Mitteleuropa, Asien, Ostasien, ...) are dropped and the next part is
the country: ``China`` -> china, ``Deutschland`` (also ``Deutschland (BRD)``, ``(DDR)``) ->
germany, ``Lothringen`` -> lorraine, ``Luxemburg`` -> luxembourg. A country part naming two
countries (``Deutschland / Frankreich``, ``Deutschland; Schweiz``) is ``mixed``; any other
(``Oesterreich``, ``Schweiz``, ``Irland``, a Chinese province given without ``China``) is
``other``: both are left out, and counted by ``main``.

**Label** ``meter`` (:func:`meter`): the first ``M:`` of the header, spaces removed; ``none``
and ``FREI...`` (free rhythm, unbarred) -> ``free``. A tune that changes meter inside (an
``M:`` line or an inline ``[M:...]`` after ``K:``) would be left out and counted
(``meter_change``): the Essen files have none (the EsAC-to-ABC conversion wrote one meter
per tune). Meters with fewer than ``MIN_METER_TUNES`` tunes in the drawn sample are mapped
to ``other`` (so every tune keeps both labels: a class dropped at run time by
``steps.train.min_class_count`` would take its tunes out of the ``origin`` task too).

**Sample**: ``PER_ORIGIN`` tunes per origin, drawn with ``SEED``; within an origin the tunes
are allotted to its source files in proportion to the file's eligible tunes (largest
remainders), so every file of an origin contributes (e.g. the Lorraine tunes of ``dva0``
besides ``lot``), then drawn at random within the file.

**Group** (:func:`groups`): tunes share a group when they share the base of their Essen code
(the code without its trailing letters: ``E0001``, ``E0001A`` and ``E0001B`` are variants of
one song) or their normalised title (:func:`title_identity`), transitively (union-find over
the whole eligible collection before drawing, so that the groups do not depend on the
sample). The `labels` step's near-duplicate search (``dataset.labels.duplicates=group``)
merges same-melody tunes on top, as for `folk`. Merging too much only makes folds coarser.

**Text**: the files are UTF-8, but some titles hold the C1 control characters U+0080..U+009F
for umlauts of DOS code page 437 (``\\x81`` = ü, ``\\x84`` = ä, ``\\x94`` = ö): they are read
as code page 437 (:func:`clean_text`).

**Ids**: ``<file stem>__<X: number>``.
"""

from __future__ import annotations

import csv
import io
import random
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

from musicexp.data.corpus.folk_manifest import corpus_dir, manifest_args, to_csv  # as for folk

FOLDER = "essenFolksong"
#: music21's test files (copies of tunes of the other files), a set of variants made for
#: testing, and Haydn's arrangements of Scottish songs (whose O: says Deutschland)
EXCLUDED_FILES = ("folkHaydn.abc", "test0.abc", "test1.abc", "testd.abc", "teste.abc", "variant0.abc")
ORIGINS = ("china", "germany", "lorraine", "luxembourg")
PER_ORIGIN = 150
MIN_METER_TUNES = 20
SEED = 1982
COLUMNS = ("id", "source", "number", "origin", "meter", "collection", "code", "place", "title", "group")
NAME = "essen.csv"

#: parts of an O: field before the country
_CONTINENTS = {"europa", "mitteleuropa", "westeuropa", "osteuropa", "suedosteuropa", "suedeuropa",
               "nordeuropa", "asien", "ostasien"}
_COUNTRIES = {"china": "china", "deutschland": "germany", "lothringen": "lorraine", "luxemburg": "luxembourg"}
_FIELD = re.compile(r"^([A-Za-z]):(.*)$")
_UMLAUTS = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}


# --------------------------------------------------------------------------- scanning

def clean_text(text: str) -> str:
    """Read C1 control characters (U+0080..U+009F) as DOS code page 437 (the Essen umlauts)."""
    return re.sub("[\x80-\x9f]", lambda m: bytes([ord(m.group(0))]).decode("cp437"), text)


def scan_abc(text: str) -> list[dict]:
    """One dict per ``X:`` entry: number, title (first T:), code (first N:), place (first O:),
    the M: fields of the header and whether the body changes meter."""
    tunes: list[dict] = []
    tune = None
    for line in text.splitlines():
        m = _FIELD.match(line.strip())
        if m and m.group(1) == "X":
            number = re.match(r"\s*(\d+)", m.group(2))
            tune = {"number": int(number.group(1)), "title": "", "code": "", "place": "", "meters": [],
                    "meter_change": False, "header": True} if number else None
            if tune is not None:  # an entry without a number cannot be picked out of its file
                tunes.append(tune)
        elif tune is None:
            continue
        elif tune["header"] and m:
            key, value = m.group(1), m.group(2).strip()
            if key in "TNO" and not tune[{"T": "title", "N": "code", "O": "place"}[key]]:
                tune[{"T": "title", "N": "code", "O": "place"}[key]] = clean_text(value)
            elif key == "M":
                tune["meters"].append(value)
            elif key == "K":
                tune["header"] = False
        elif not tune["header"] and (line.startswith("M:") or "[M:" in line):
            tune["meter_change"] = True
    for t in tunes:
        del t["header"]
    return tunes


def origin(place: str) -> str:
    """china | germany | lorraine | luxembourg | mixed | other, from an O: field."""
    parts = [p.strip() for p in place.split(",") if p.strip()]
    while parts and parts[0].lower() in _CONTINENTS:
        parts.pop(0)
    if not parts:
        return "other"
    country = parts[0]
    if "/" in country or ";" in country:
        return "mixed"
    country = re.sub(r"\(.*?\)", "", country).strip().lower()
    return _COUNTRIES.get(country, "other")


def meter(value: str) -> str:
    """The normalised M: field: spaces and stray brackets removed, free rhythm -> 'free'."""
    m = re.sub(r"[\s\]\[]+", "", value).lower()
    return "free" if m in ("", "none") or m.startswith("frei") else m


def code_base(code: str) -> str:
    """The Essen code without its variant letters ('E0001B' -> 'E0001'); '' if none."""
    m = re.match(r"([A-Za-z]+\d+)", code.strip())
    return m.group(1).upper() if m else ""


def title_identity(title: str) -> str:
    """The normalised title: a final page reference ("S. 18", "S. 70f"), parenthesised remarks and
    punctuation removed, umlauts spelt out (ü -> ue), lower case, words joined by ``_``."""
    t = title.lower()
    t = re.sub(r"\([^)]*\)", " ", t)  # "(Band 1)", "(Hildesage)"
    t = re.sub(r",?\s*s\.\s*\d+\s*f*\.?\s*$", " ", t.strip())  # ", S. 18", "S. 70f"
    t = "".join(_UMLAUTS.get(ch, ch) for ch in t)
    t = unicodedata.normalize("NFKD", t).encode("ascii", "ignore").decode("ascii")
    words = re.sub(r"[^a-z0-9]+", " ", t).split()
    return "_".join(words) or "untitled"


def source_files(root: Path | None = None) -> list[Path]:
    root = root or corpus_dir()
    return [p for p in sorted((root / FOLDER).glob("*.abc")) if p.name not in EXCLUDED_FILES]


def all_tunes(root: Path | None = None) -> list[dict]:
    """Every tune of the used files, in file and X: order, with origin, meter and group."""
    out = []
    for path in source_files(root):
        text = path.read_bytes().decode("utf-8", errors="replace")
        for t in scan_abc(text):
            out.append({"id": f"{path.stem}__{t['number']}", "source": f"{FOLDER}/{path.name}",
                        "number": str(t["number"]), "origin": origin(t["place"]),
                        "meter": meter(t["meters"][0]) if t["meters"] else "",
                        "meter_change": t["meter_change"] or len(t["meters"]) > 1,
                        "collection": re.sub(r"\d+$", "", path.stem), "code": t["code"],
                        "place": t["place"], "title": t["title"]})
    groups(out)
    return out


def groups(tunes: list[dict]) -> None:
    """Set each tune's ``group``: union of tunes sharing a code base or a title identity."""
    parent: dict[str, str] = {}

    def find(k: str) -> str:
        while parent.get(k, k) != k:
            parent[k] = parent.get(parent[k], parent[k])
            k = parent[k]
        return k

    def union(a: str, b: str) -> None:
        ra, rb = sorted((find(a), find(b)))
        if ra != rb:
            parent[rb] = ra

    keys = []
    for t in tunes:
        title = "t:" + title_identity(t["title"])
        base = code_base(t["code"])
        if base:
            union(title, "c:" + base)
        keys.append(title)
    names: dict[str, str] = {}
    for t, k in zip(tunes, keys):  # a group is named by the first title identity found in it
        names.setdefault(find(k), k[2:])
    for t, k in zip(tunes, keys):
        t["group"] = names[find(k)]


def eligible(tunes: list[dict]) -> tuple[list[dict], Counter]:
    """The tunes of the four origins with one meter; and the counts of those left out, by reason."""
    left_out: Counter = Counter()
    keep = []
    for t in tunes:
        if t["origin"] not in ORIGINS:
            left_out[f"origin {t['origin']}"] += 1
        elif not t["meter"]:
            left_out["no M: field"] += 1
        elif t["meter_change"]:
            left_out["meter_change"] += 1
        else:
            keep.append(t)
    return keep, left_out


def draw(tunes: list[dict], per_origin: int = PER_ORIGIN, seed: int = SEED) -> list[dict]:
    """`per_origin` tunes per origin, allotted to its files in proportion (largest remainders),
    drawn at random within each file (seeded); in manifest (file, X:) order."""
    rng = random.Random(seed)
    chosen: set[str] = set()
    for o in ORIGINS:
        rows = [t for t in tunes if t["origin"] == o]
        if len(rows) < per_origin:
            raise RuntimeError(f"origin {o!r} has {len(rows)} tunes, fewer than PER_ORIGIN={per_origin}")
        counts = Counter(t["source"] for t in rows)
        exact = {s: per_origin * n / len(rows) for s, n in counts.items()}
        quota = {s: int(v) for s, v in exact.items()}
        for s in sorted(exact, key=lambda s: (-(exact[s] - quota[s]), s))[: per_origin - sum(quota.values())]:
            quota[s] += 1
        for s in sorted(quota):
            chosen.update(rng.sample([t["id"] for t in rows if t["source"] == s], quota[s]))
    return [t for t in tunes if t["id"] in chosen]


def map_rare_meters(rows: list[dict], min_tunes: int = MIN_METER_TUNES) -> dict[str, str]:
    """Relabel meters with fewer than `min_tunes` rows as 'other' (in place); return the mapping."""
    counts = Counter(r["meter"] for r in rows)
    mapping = {m: "other" for m, n in counts.items() if n < min_tunes}
    for r in rows:
        r["meter"] = mapping.get(r["meter"], r["meter"])
    return mapping


def manifest_rows(tunes: list[dict]) -> list[dict]:
    keep, _ = eligible(tunes)
    rows = [{c: t[c] for c in COLUMNS} for t in draw(keep)]
    map_rare_meters(rows)
    dup = [i for i, n in Counter(r["id"] for r in rows).items() if n > 1]
    if dup:
        raise RuntimeError(f"two tunes share an X: number in one file: {dup[:5]}")
    return rows


def manifest(root: Path | None = None) -> str:
    """The text of essen.csv made from the installed corpus."""
    return to_csv(manifest_rows(all_tunes(root)), COLUMNS)


def main(argv: list[str] | None = None) -> int:
    args = manifest_args(__doc__, argv)
    tunes = all_tunes()
    keep, left_out = eligible(tunes)
    rows = list(csv.DictReader(io.StringIO(text := manifest())))
    mapping = Counter(meter(t["meter"]) for t in draw(keep))
    print(f"{len(tunes)} tunes in {len(source_files())} files; left out: "
          + ", ".join(f"{k} {n}" for k, n in sorted(left_out.items())) + f"; eligible {len(keep)}: "
          + ", ".join(f"{k} {n}" for k, n in Counter(t["origin"] for t in keep).most_common()))
    path = args.out / NAME
    print(f"{path}: {len(rows)} tunes, {len({r['group'] for r in rows})} groups; origin "
          + ", ".join(f"{k} {n}" for k, n in Counter(r["origin"] for r in rows).most_common()) + "; meter "
          + ", ".join(f"{k} {n}" for k, n in Counter(r["meter"] for r in rows).most_common())
          + " (other = " + ", ".join(f"{k} {n}" for k, n in sorted(mapping.items()) if n < MIN_METER_TUNES) + ")")
    if args.check:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            print(f"differs from the installed corpus: {path}", file=sys.stderr)
            return 1
    else:
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
