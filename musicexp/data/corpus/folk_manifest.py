"""Make the manifests of the embedded `folk` benchmark from the installed music21 corpus.

    python -m musicexp.data.corpus.folk_manifest            # write folk.csv and folk300.csv
    python -m musicexp.data.corpus.folk_manifest --check    # exit 1 if the shipped ones differ

Source: the ABC tune books ``ryansMammoth`` (one tune per file) and ``oneills1850`` (up to 100
tunes per file, one per ``X:`` entry) of the music21 corpus. The ABC text is scanned, never
parsed by music21: each ``X:`` entry gives one tune with its number, its title (the first
``T:`` field) and its rhythm (the first ``R:`` field of the header, before ``K:``).
The output is deterministic (files and tunes in order, a seeded subset).

**Label** ``tune_type``: the ``R:`` field, normalised (:func:`tune_type`): lower case, single
spaces, ``double jig``/``single jig`` -> ``jig``, ``slipjig``/``slip jig`` -> ``slip_jig``,
``fling`` -> ``highland_fling``, remaining spaces -> ``_``. The label follows ``R:`` even where a
title names another type (Ryan files some "... -- Jig" under ``R:reel``).

**Classes kept** (:func:`kept_types`): the types present in *both* collections with at least
``MIN_TUNES`` tunes in all. A type found in one collection only would be learned from that
collection's transcription style, not from the music.

**Group** (:func:`tune_identity`): the normalised title, so that settings of one tune never
straddle a CV split, also across the two books' title styles ("Trumpet Hornpipe", "Trumpet --
Hornpipe", "Bashful Lover., The"): lower case; ASCII apostrophes; a parenthesised
remark removed; "X, The" -> "X"; everything after " -- " removed, then punctuation and
apostrophes ("Kate's" -> "kates"); trailing type words (reel, jig, hornpipe, ...) removed; the
words "the", "a", "an", "and" removed; British spellings unified (humours -> humors, favourite ->
favorite, ...); a final plural or possessive "s" dropped from words of four letters or more
("Bonnie Kate's" = "Bonnie Kate", but "miss" is kept); words joined by ``_``. Merging too much
only makes the folds coarser; merging too little would leak, so the rule leans to merging.
The `labels` step's near-duplicate search (``dataset.labels.duplicates=group``) merges same-melody tunes on top.

O'Neill's tunes are numbered as in the printed book, and tunes that share a number (files that
overlap: two transcriptions of one tune, sometimes titled differently) share a group.

**Ids**: ``<collection>__<file stem>__<number>``, safe file stems.

**Subset** ``folk300``: ``SUBSET_SIZE`` tunes drawn by tune type in proportion to the full
manifest (largest remainders), seeded.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import re
import sys
from collections import Counter
from pathlib import Path

COLLECTIONS = ("oneills1850", "ryansMammoth")
MIN_TUNES = 90
SUBSET_SIZE = 300
SEED = 1850
COLUMNS = ("id", "source", "number", "tune_type", "collection", "title", "group")
NAMES = {"folk": "folk.csv", "folk300": "folk300.csv"}

#: words that name a tune type at the end of a title ("Trumpet Hornpipe"), longest first
_TYPE_WORDS = ("highland fling", "double jig", "single jig", "slip jig", "set dance", "slipjig", "hornpipe",
               "strathspey", "fling", "reel", "jig", "clog", "air", "march", "waltz", "slide", "polka")
#: spellings unified in titles (British -> American, as Ryan's edition mostly spells, and variants)
_SPELLINGS = {"humours": "humors", "humour": "humor", "favourite": "favorite", "favourites": "favorites",
              "colours": "colors", "colour": "color", "harbour": "harbor", "honour": "honor",
              "honours": "honors", "neighbours": "neighbors", "neighbour": "neighbor", "labour": "labor",
              "travelling": "traveling", "traveller": "traveler", "travellers": "travelers",
              "edinburgh": "edinburg", "o": "of"}
#: words left out of a tune's identity ("Cock and the Hen" = "Cock and Hen")
_SMALL_WORDS = {"the", "a", "an", "and"}
_FIELD = re.compile(r"^([A-Za-z]):(.*)$")


# --------------------------------------------------------------------------- scanning

def read_abc(path: Path) -> str:
    """The ABC text (UTF-8 as music21 reads it; a stray Latin-1 byte is replaced)."""
    return path.read_bytes().decode("utf-8", errors="replace")


def scan_abc(text: str) -> list[dict]:
    """One dict per ``X:`` entry: number, title (first T:), rhythm (first R: of the header)."""
    tunes: list[dict] = []
    tune = None
    for line in text.splitlines():
        m = _FIELD.match(line.strip())
        if m and m.group(1) == "X":
            number = re.match(r"\s*(\d+)", m.group(2))
            tune = {"number": int(number.group(1)), "title": "", "rhythm": "", "header": True} if number else None
            if tune is not None:  # an entry without a number cannot be picked out of its file: left out
                tunes.append(tune)
        elif tune is not None and m and tune["header"]:
            key, value = m.group(1), m.group(2).strip()
            if key == "T" and not tune["title"]:
                tune["title"] = value
            elif key == "R" and not tune["rhythm"]:
                tune["rhythm"] = value
            elif key == "K":
                tune["header"] = False
    for t in tunes:
        del t["header"]
    return tunes


def tune_type(rhythm: str) -> str:
    """The normalised type of an ABC ``R:`` field ('' for none)."""
    r = " ".join(rhythm.lower().replace("-", " ").split())
    r = {"double jig": "jig", "single jig": "jig", "slipjig": "slip jig", "fling": "highland fling"}.get(r, r)
    return r.replace(" ", "_")


def tune_identity(title: str) -> str:
    """The normalised title that names a tune across both books (the manifest's ``group``)."""
    t = title.lower().replace("\u2019", "'").replace("`", "'")
    t = re.sub(r"\([^)]*\)", " ", t)  # "(Lancashire)", "(Can be used as a Clog.)"
    t = t.split(" -- ")[0]  # Ryan: "Trumpet -- Hornpipe"
    t = re.sub(r"[.\s]*,\s*(the|an|a)\.?\s*$", "", t)  # O'Neill: "Bashful Lover., The"
    t = re.sub(r"[^a-z0-9' ]+", " ", t.replace("&", " and ")).replace("'", "")
    words = t.split()
    changed = True
    while changed and words:
        changed = False
        for tw in _TYPE_WORDS:
            n = len(tw.split())
            if len(words) > n and words[-n:] == tw.split():
                words, changed = words[:-n], True
                break
    words = [_SPELLINGS.get(w, w) for w in words if w not in _SMALL_WORDS] or words
    return "_".join(_singular(w) for w in words) or "untitled"


def _singular(word: str) -> str:
    """Drop a plural or possessive s ("Bonnie Kate's" = "Bonnie Kate"), not in "miss" or "is"."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def corpus_dir() -> Path:
    from musicexp.data.corpus.convert import _corpus_dir

    folder = _corpus_dir()
    if folder is None:
        raise RuntimeError("music21 is not installed")
    return folder


def all_tunes(root: Path | None = None) -> list[dict]:
    """Every tune of both books, in file and X: order, with its source, type and identity."""
    root = root or corpus_dir()
    out = []
    for collection in COLLECTIONS:
        for path in sorted((root / collection).glob("*.abc")):
            for t in scan_abc(read_abc(path)):
                source = f"{collection}/{path.name}"
                out.append({"id": f"{collection}__{path.stem}__{t['number']}", "source": source,
                            "number": str(t["number"]), "tune_type": tune_type(t["rhythm"]),
                            "collection": collection, "title": t["title"], "rhythm": t["rhythm"],
                            "group": tune_identity(t["title"])})
    _merge_book_numbers(out)
    return out


def _merge_book_numbers(tunes: list[dict]) -> None:
    """O'Neill's X: number is the tune's number in the printed book, and some of the corpus's
    files overlap (two transcriptions of tunes 732-758, 1116-1135, 1556-1624, ...), sometimes
    under other titles ("Chief O'Neill's Hornpipe." / "Chief O'Neill's Favorite", both No. 1556):
    tunes with one number share one group (the alphabetically first of their identities)."""
    parent: dict[str, str] = {}

    def find(g: str) -> str:
        while parent.get(g, g) != g:
            g = parent[g]
        return g

    first: dict[str, str] = {}
    for t in tunes:
        if t["collection"] != "oneills1850":
            continue
        other = first.setdefault(t["number"], t["group"])
        a, b = sorted((find(other), find(t["group"])))
        if a != b:
            parent[b] = a
    for t in tunes:
        t["group"] = find(t["group"])


def kept_types(tunes: list[dict], min_tunes: int = MIN_TUNES) -> list[str]:
    """Types in every collection with at least `min_tunes` tunes in all, most frequent first."""
    counts = Counter(t["tune_type"] for t in tunes if t["tune_type"])
    by_coll = {c: {t["tune_type"] for t in tunes if t["collection"] == c} for c in COLLECTIONS}
    kept = [k for k, n in counts.items() if n >= min_tunes and all(k in s for s in by_coll.values())]
    return sorted(kept, key=lambda k: (-counts[k], k))


def manifest_rows(tunes: list[dict]) -> list[dict]:
    types = set(kept_types(tunes))
    rows = [{c: t[c] for c in COLUMNS} for t in tunes if t["tune_type"] in types]
    ids = Counter(r["id"] for r in rows)
    dup = [i for i, n in ids.items() if n > 1]
    if dup:
        raise RuntimeError(f"two tunes share an X: number in one file: {dup[:5]}")
    return rows


def stratified_subset(rows: list[dict], size: int = SUBSET_SIZE, seed: int = SEED) -> list[dict]:
    """`size` rows drawn per tune_type in proportion (largest remainders), seeded; manifest order."""
    counts = Counter(r["tune_type"] for r in rows)
    exact = {k: size * n / len(rows) for k, n in counts.items()}
    quota = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: (-(exact[k] - quota[k]), k))[: size - sum(quota.values())]:
        quota[k] += 1
    rng = random.Random(seed)
    chosen = set()
    for k in sorted(quota):
        ids = [r["id"] for r in rows if r["tune_type"] == k]
        chosen.update(rng.sample(ids, quota[k]))
    return [r for r in rows if r["id"] in chosen]


def to_csv(rows: list[dict], columns: tuple = COLUMNS) -> str:
    """The manifest's CSV text (its ``columns``, one header, ``\n`` line ends)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def manifests(root: Path | None = None) -> dict[str, str]:
    """{'folk': csv text, 'folk300': csv text} made from the installed corpus."""
    rows = manifest_rows(all_tunes(root))
    return {"folk": to_csv(rows), "folk300": to_csv(stratified_subset(rows))}


def manifest_args(doc: str, argv: list[str] | None) -> argparse.Namespace:
    """The command line of a manifest script: ``--check`` (compare, write nothing), ``--out``."""
    from musicexp.data.corpus.build import MANIFEST_DIR

    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the shipped manifests, write nothing")
    ap.add_argument("--out", type=Path, default=MANIFEST_DIR, help="folder to write to (default: the package's)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = manifest_args(__doc__, argv)
    texts = manifests()
    differ = []
    for name, text in texts.items():
        path = args.out / NAMES[name]
        rows = list(csv.DictReader(io.StringIO(text)))
        print(f"{path}: {len(rows)} tunes, {len({r['group'] for r in rows})} groups, "
              + ", ".join(f"{k} {n}" for k, n in Counter(r["tune_type"] for r in rows).most_common()))
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                differ.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
    if differ:
        print("differ from the installed corpus: " + ", ".join(differ), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
