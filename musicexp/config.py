"""The typed schema of every config key, and the checks Hydra's types cannot express.

The dataclasses are registered in Hydra's ConfigStore as ``musicexp_schema`` and sit first in
``conf/config.yaml``'s defaults list, so an unknown key or a wrong type fails while Hydra
composes the config (naming the key), before any work. Choice keys are Enums, so a bad value
is reported with the allowed ones. :func:`validate` adds the range checks (``alpha > 0``...).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, List, Optional

from omegaconf import MISSING, DictConfig

from musicexp.errors import UserError


class ConfigError(UserError):
    """A config value is impossible; the message names the key and what is allowed."""


# functional form: OmegaConf matches member *names*, and "raise" / "global" are keywords
OnError = Enum("OnError", {"skip": "skip", "raise": "raise"}, type=str)


class Fingerprint(str, Enum):
    stat = "stat"  # names, sizes and mtimes (fast; touching a file re-runs `notes`)
    content = "content"  # sha256 of every file (survives copies that change mtimes)


class LabelSource(str, Enum):
    csv = "csv"
    folder = "folder"
    regex = "regex"


class TokenMode(str, Enum):
    pitch_class = "pitch_class"  # pitch % 12
    prog_pitch = "prog_pitch"  # (program // 8, pitch % 12)
    pitch = "pitch"  # raw MIDI pitch
    interval = "interval"  # the older pipeline's name for the raw MIDI pitch (kept for legacy)


class TimeAxis(str, Enum):
    beats = "beats"  # onset in quarter notes
    index = "index"  # event position (the published SGT)


class TieBreak(str, Enum):
    pitch = "pitch"  # simultaneous notes ordered by (pitch, program): independent of track order
    file = "file"  # the older pipeline: file order (results depend on track order)


# fold: top tokens counted on the training part of each fold (no leakage);
# global: the older pipeline, counted over the whole dataset (leaks test folds)
VocabScope = Enum("VocabScope", {"fold": "fold", "global": "global"}, type=str)


class Normalize(str, Enum):
    max = "max"  # S / max(S), the older pipeline
    sgt = "sgt"  # (W / pair count) ** (1 / alpha), Ranjan et al.
    none = "none"


class Model(str, Enum):
    mlp = "mlp"  # the older pipeline's Keras multi-head MLP
    logreg = "logreg"  # fast scikit-learn baseline


class Mode(str, Enum):
    sgt_only = "sgt_only"  # SGT features alone
    emb_only = "emb_only"  # MIDI2vec piece embeddings alone
    early_fusion = "early_fusion"  # the two prepared blocks concatenated, one model
    late_fusion = "late_fusion"  # one model per block; per head w*p_emb + (1-w)*p_sgt


#: which feature steps each mode reads
MODE_NEEDS = {"sgt_only": ("sgt",), "emb_only": ("embed",), "early_fusion": ("sgt", "embed"),
              "late_fusion": ("sgt", "embed")}


class WalkRoots(str, Enum):
    all = "all"  # walks from every node (MIDI2vec)
    pieces = "pieces"  # walks from piece nodes only (large collections)


class Reduce(str, Enum):
    pca = "pca"
    svd = "svd"
    none = "none"


@dataclass
class PathsConf:
    artifacts_root: str = "artifacts"
    results_jsonl: str = "results/results.jsonl"
    results_csv: str = "results/results.csv"


@dataclass
class LabelsConf:
    source: LabelSource = LabelSource.csv
    csv: str = "labels.csv"  # relative to data_root (or absolute)
    file_column: str = "file"  # path of the MIDI file relative to data_root
    columns: List[str] = field(default_factory=list)  # label columns; empty = all but file/group
    group_column: Optional[str] = None  # pieces of one group never straddle a CV split
    pattern: Optional[str] = None  # source=regex: named groups over the file name
    folder_column: str = "label"  # source=folder: name of the column the sub-folder fills


@dataclass
class DatasetConf:
    id: str = MISSING
    data_root: str = MISSING
    build: Optional[str] = None  # packaged manifest ('default', 'subset100') built on first use
    program: Optional[int] = None  # program written for every part when building
    extensions: List[str] = field(default_factory=lambda: [".mid", ".midi"])
    on_error: OnError = OnError["skip"]
    fingerprint: Fingerprint = Fingerprint.stat
    labels: LabelsConf = field(default_factory=LabelsConf)


@dataclass
class NotesConf:
    n_jobs: int = 2  # not hashed: parallelism changes no output


@dataclass
class LabelsStepConf:
    pass


@dataclass
class GraphConf:
    max_groups: int = 600  # note groups linked per piece (MIDI2vec)
    group_window_s: float = 0.01  # onsets within this of a group's first note join it
    duration_step_s: float = 0.1  # duration class = round(longest duration / step)
    velocity_bins: int = 10  # velocity class = round(bins * mean velocity / 127)
    tempo_step_bpm: float = 10.0  # tempo class = round(bpm / step)


@dataclass
class EmbedConf:
    dim: int = 100
    window: int = 5
    epochs: int = 5
    negative: int = 5
    num_walks: int = 40  # walks per root node
    walk_length: int = 10
    p: float = 1.0  # node2vec return parameter
    q: float = 1.0  # node2vec in-out parameter
    walk_roots: WalkRoots = WalkRoots.all
    workers: int = 2  # gensim threads; not hashed (but only workers=1 is bit-reproducible)


@dataclass
class SgtConf:
    alpha: float = 0.8
    max_dt_beats: Optional[float] = 8.0  # window on the time axis; null = all pairs
    token_mode: TokenMode = TokenMode.prog_pitch
    top_vocab: int = 64
    time_axis: TimeAxis = TimeAxis.beats
    tie_break: TieBreak = TieBreak.pitch
    include_drums: bool = False
    vocab: VocabScope = VocabScope["fold"]
    normalize: Normalize = Normalize.max


@dataclass
class TrainConf:
    task: str = "both"  # a label column, or 'both' / 'all' for every label column
    n_splits: int = 5
    min_class_count: Optional[int] = None  # rarer classes are dropped with a warning; null = n_splits
    modes: List[Mode] = field(default_factory=lambda: list(Mode))
    model: Model = Model.mlp
    grouped: bool = True  # use the dataset's group column for the folds when it has one
    log1p: bool = True
    reduce: Reduce = Reduce.pca
    n_components: int = 64
    val_size: float = 0.1
    hidden: List[int] = field(default_factory=lambda: [256, 128])
    dropout: float = 0.3
    head_units: int = 64
    head_dropout: float = 0.2
    lr: float = 1e-3
    batch_size: int = 32
    epochs: int = 50
    patience: int = 5
    logreg_c: float = 1.0
    verbose: int = 0  # not hashed


@dataclass
class StepsConf:
    notes: NotesConf = field(default_factory=NotesConf)
    labels: LabelsStepConf = field(default_factory=LabelsStepConf)
    graph: GraphConf = field(default_factory=GraphConf)
    embed: EmbedConf = field(default_factory=EmbedConf)
    sgt: SgtConf = field(default_factory=SgtConf)
    train: TrainConf = field(default_factory=TrainConf)


@dataclass
class ExperimentConf:
    name: str = "default"


@dataclass
class Config:
    seed: int = 42
    deterministic_tf: bool = True
    paths: PathsConf = field(default_factory=PathsConf)
    dataset: DatasetConf = field(default_factory=DatasetConf)
    steps: StepsConf = field(default_factory=StepsConf)
    experiment: ExperimentConf = field(default_factory=ExperimentConf)
    resume: bool = True  # reuse finished artifacts (false: recompute every step)
    skip: List[str] = field(default_factory=list)  # steps not run; their cache is used if any
    force: List[str] = field(default_factory=list)  # steps recomputed, with all downstream
    progress: bool = True  # not hashed


STEP_NAMES = ("notes", "labels", "graph", "embed", "sgt", "train")


def register_configs() -> None:
    """Put the schema in Hydra's ConfigStore (called once, before @hydra.main composes)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="musicexp_schema", node=Config)


def _unknown_keys(node: Any, ref: Any, prefix: str = "") -> list[str]:
    """Keys of ``node`` the schema ``ref`` (a dataclass instance) does not declare.

    Hydra rejects an unknown key in an override, but ``+key=value`` forces it in: caught here.
    """
    import dataclasses

    out = []
    for key in node:
        if not hasattr(ref, str(key)):
            allowed = ", ".join(f.name for f in dataclasses.fields(ref))
            out.append(f"{prefix}{key} (allowed under {prefix.rstrip('.') or 'the top level'}: {allowed})")
        elif dataclasses.is_dataclass(getattr(ref, str(key))) and isinstance(node[key], DictConfig):
            out += _unknown_keys(node[key], getattr(ref, str(key)), f"{prefix}{key}.")
    return out


def _fail(key: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")


def validate(cfg: DictConfig) -> None:
    """Range and consistency checks that types cannot express; raise ConfigError."""
    from omegaconf import OmegaConf

    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        hint = {"dataset.data_root": "the folder of your MIDI files", "dataset.id": "a name for its artifacts"}
        raise ConfigError(
            "missing value(s) for " + ", ".join(f"{k} ({hint[k]})" if k in hint else k for k in missing)
            + "; set them on the command line (e.g. dataset.data_root=/data/midi) or in the dataset file"
        )
    unknown = _unknown_keys(cfg, Config())
    if unknown:
        raise ConfigError("unknown config key(s): " + "; ".join(unknown))
    s, t, d = cfg.steps.sgt, cfg.steps.train, cfg.dataset
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*", d.id):
        _fail("dataset.id", d.id, "letters, digits and _ . + - (it names the folder artifacts/<id>/)")
    if not (s.alpha > 0 and math.isfinite(s.alpha)):
        _fail("steps.sgt.alpha", s.alpha, "must be > 0")
    if s.max_dt_beats is not None and s.max_dt_beats < 0:
        _fail("steps.sgt.max_dt_beats", s.max_dt_beats, "must be >= 0, or null for no window")
    if s.top_vocab < 1:
        _fail("steps.sgt.top_vocab", s.top_vocab, "must be >= 1")
    if t.n_splits < 2:
        _fail("steps.train.n_splits", t.n_splits, "must be >= 2")
    if t.min_class_count is not None and t.min_class_count < 1:
        _fail("steps.train.min_class_count", t.min_class_count, "must be >= 1, or null for n_splits")
    if not 0 < t.val_size < 0.5:
        _fail("steps.train.val_size", t.val_size, "must be in (0, 0.5)")
    if t.n_components < 1:
        _fail("steps.train.n_components", t.n_components, "must be >= 1")
    for key in ("epochs", "batch_size", "head_units"):
        if t[key] < 1:
            _fail(f"steps.train.{key}", t[key], "must be >= 1")
    if t.patience < 0:
        _fail("steps.train.patience", t.patience, "must be >= 0")
    for key in ("dropout", "head_dropout"):
        if not 0 <= t[key] < 1:
            _fail(f"steps.train.{key}", t[key], "must be in [0, 1)")
    if not (t.lr > 0 and math.isfinite(t.lr)):
        _fail("steps.train.lr", t.lr, "must be > 0")
    if not t.modes:
        _fail("steps.train.modes", list(t.modes), "must name at least one mode")
    if not t.task:
        _fail("steps.train.task", t.task, "a label column, or 'both'")
    g, e = cfg.steps.graph, cfg.steps.embed
    if g.max_groups < 1:
        _fail("steps.graph.max_groups", g.max_groups, "must be >= 1")
    for key in ("group_window_s", "duration_step_s", "tempo_step_bpm"):
        if not g[key] > 0:
            _fail(f"steps.graph.{key}", g[key], "must be > 0")
    if g.velocity_bins < 1:
        _fail("steps.graph.velocity_bins", g.velocity_bins, "must be >= 1")
    for key in ("dim", "window", "epochs", "num_walks", "workers"):
        if e[key] < 1:
            _fail(f"steps.embed.{key}", e[key], "must be >= 1")
    if e.walk_length < 2:
        _fail("steps.embed.walk_length", e.walk_length, "must be >= 2")
    if e.negative < 0:
        _fail("steps.embed.negative", e.negative, "must be >= 0")
    for key in ("p", "q"):
        if not e[key] > 0:
            _fail(f"steps.embed.{key}", e[key], "must be > 0")
    if cfg.steps.notes.n_jobs < 1:
        _fail("steps.notes.n_jobs", cfg.steps.notes.n_jobs, "must be >= 1")
    if d.program is not None and not 0 <= d.program <= 127:
        _fail("dataset.program", d.program, "a MIDI program 0..127, or null")
    if not d.extensions:
        _fail("dataset.extensions", list(d.extensions), "at least one file extension")
    lab = d.labels
    if lab.source == LabelSource.regex:
        if not lab.pattern:
            _fail("dataset.labels.pattern", lab.pattern, "labels.source=regex needs a pattern")
        try:
            rx = re.compile(lab.pattern)
        except re.error as exc:
            _fail("dataset.labels.pattern", lab.pattern, f"not a valid regex ({exc})")
        if not rx.groupindex:
            _fail(
                "dataset.labels.pattern",
                lab.pattern,
                "needs named groups, e.g. XMIDI_(?P<emotion>[^_]+)_(?P<genre>[^_]+)_",
            )
    for name, key in (("skip", cfg.skip), ("force", cfg.force)):
        for step in key:
            if step not in STEP_NAMES:
                _fail(name, list(key), f"step names are {', '.join(STEP_NAMES)}")
