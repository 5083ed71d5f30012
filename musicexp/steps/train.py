"""train: stratified (grouped) k-fold CV of the configured modes (musicexp.evaluation); its
``records`` are the run's results. It reads the labels and the artifacts of the feature steps
its modes need, and each of those steps' train-time options (``hash="downstream"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import List, Optional

from omegaconf import II

from musicexp.core.registry import UNHASHED, Step, ge, gt, param, register_step, within
from musicexp.evaluation.modes import default_modes

VERSION = "6"  # 6: the objective, repeats=3 by default, minimum detectable differences, comparisons with the metadata control, derived tasks
# (5: the MLP trained by one compiled graph per architecture, trainer=compiled)
# (4: pooled headline with intervals, repeats, grouped class support, inner split by groups)
# (3: the blocks' train-time options enter the hash as params.<step>.<key>)


class Model(str, Enum):
    mlp = "mlp"  # the older pipeline's Keras multi-head MLP
    logreg = "logreg"  # fast scikit-learn baseline


class Trainer(str, Enum):
    compiled = "compiled"  # one TensorFlow graph per architecture runs each whole fit
    keras_fit = "keras_fit"  # keras.Model.fit with an EarlyStopping callback (the older pipeline's way)


class ClassWeight(str, Enum):
    none = "none"
    balanced = "balanced"  # each class weighs as much in the loss (scikit-learn's "balanced")


class Monitor(str, Enum):
    loss = "loss"  # the validation loss (Keras' EarlyStopping default)
    f1 = "f1"  # the validation macro-F1, mean over the heads (the score train reports)


class Reduce(str, Enum):
    pca = "pca"
    svd = "svd"
    none = "none"


@dataclass
class TrainConf:
    task: str = param("both", doc="a label column, or both / all = every label column (one head each)")
    n_splits: int = param(5, check=ge(2), doc="outer CV folds")
    repeats: int = param(3, check=ge(1), doc="repeated CV: repeat r uses the fold seed seed + r * 1000003 "
                                             "(3: a third smaller detectable differences than 1, at twice the train time)")
    min_class_count: Optional[int] = param(None, check=ge(1),
                                           doc="groups (pieces if not grouped) a class needs, else dropped loudly; null = n_splits")
    holdout: float = param(0.0, check=within(0, 0.5), doc="share of each class's groups kept out of every CV; 0 = none")
    holdout_seed: int = param(0, doc="seed of the held-out part (not the run's seed: a sweep keeps one part)")
    permutations: int = param(0, check=ge(0), doc="chance control: CV refits with shuffled labels; 0 = off")
    n_boot: int = param(1000, check=ge(100), doc="bootstrap resamples of each interval")
    trainer: Trainer = param(Trainer.compiled, doc="MLP training: compiled (fast, same protocol) | keras_fit")
    class_weight: ClassWeight = param(ClassWeight.none, doc="none | balanced (both models)")
    metadata_control: bool = param(True, doc="score a logistic regression on edition metadata alone, same folds")
    modes: List[str] = param(factory=default_modes, doc="<block>_only, early_fusion, late_fusion, early:a+b, late:a+b")
    objective: Optional[str] = param(None, doc="the mode whose CV score is the run's score (what a sweeper optimises, "
                                               "score= in the step table); null: the first of modes")
    reference: Optional[str] = param(None, legacy=None,
                                     doc="the mode every other is compared with (diff, paired CI, corrected t, Holm); "
                                         "null: stats_only when among the modes, else none")
    model: Model = param(Model.mlp, doc="mlp (Keras, as the older pipeline) | logreg (fast baseline)")
    grouped: bool = param(True, doc="keep the dataset's groups on one side of every split")
    log1p: bool = param(True, doc="log1p before scaling (blocks with prep=reduce, e.g. sgt)")
    reduce: Reduce = param(Reduce.pca, doc="pca | svd | none (blocks with prep=reduce)")
    n_components: int = param(64, check=ge(1), doc="components kept by reduce")
    val_size: float = param(0.1, check=within(0, 0.5, "neither"), doc="inner validation part (early stopping, fusion weights)")
    hidden: List[int] = param(factory=lambda: [256, 128], doc="MLP hidden layer sizes")
    dropout: float = param(0.3, check=within(0, 1), doc="dropout after each hidden layer")
    head_units: int = param(64, check=ge(1), doc="units of each task's head")
    head_dropout: float = param(0.2, check=within(0, 1), doc="dropout in each head")
    lr: float = param(1e-3, check=gt(0), doc="Adam learning rate")
    batch_size: int = param(32, check=ge(1), doc="MLP batch size")
    epochs: int = param(200, check=ge(1), doc="MLP epochs at most (early stopping on validation loss; "
                                              "the older pipeline: 50)")
    patience: int = param(20, check=ge(0), doc="early-stopping patience (the older pipeline: 5)")
    monitor: Monitor = param(Monitor.loss, legacy=Monitor.loss,
                             doc="what early stopping watches on the validation part: loss | f1 (macro-F1)")
    weight_decay: float = param(0.003, check=ge(0), legacy=0.0,
                                doc="L2 penalty on every MLP kernel (0: none, the older pipeline; docs/training.md)")
    logreg_c: float = param(1.0, check=gt(0), doc="inverse regularisation of logreg")
    verbose: int = param(0, hash=UNHASHED, doc="keras.Model.fit verbosity (trainer=keras_fit)")
    seed: int = param(II("seed"), doc="seed of folds and models (default: the run's seed)")
    deterministic_tf: bool = param(II("deterministic_tf"), doc="TensorFlow op determinism")

    @staticmethod
    def problems(node) -> list[str]:
        from musicexp.evaluation.modes import parse

        out = [] if node.task else [f"task={node.task!r} is not allowed: a label column, or 'both'"]
        if not node.modes:
            out.append("modes=[] is not allowed: must name at least one mode")
        for m in node.modes:
            try:
                parse(m)
            except ValueError as exc:
                out.append(f"modes: {exc}")
        if node.objective is not None and node.objective not in node.modes:
            out.append(f"objective={node.objective!r} is not allowed: it must be one of modes {list(node.modes)}")
        if node.reference is not None and node.reference not in node.modes:
            out.append(f"reference={node.reference!r} is not allowed: it must be one of modes {list(node.modes)} "
                       "(or null: stats_only when among them)")
        return out


def _modes(params):
    from musicexp.evaluation.modes import parse

    return [parse(m) for m in params.modes]


def deps(params) -> tuple[str, ...]:
    """labels, plus the feature steps the configured modes (and the metadata control) read."""
    from musicexp.evaluation.modes import control, steps_for

    modes = _modes(params) + ([control()] if params.metadata_control and control() else [])
    return ("labels",) + steps_for(modes)


def run(inputs, params, ctx):
    from musicexp.evaluation.cv import cross_validate
    from musicexp.evaluation.records import artifact, build

    study = cross_validate(inputs, params, ctx.settings.verbose, ctx.progress)
    records = build(study, params)
    goal = next(r for r in records if r["is_objective"])
    summary = {"objective": goal["mode"], "score": round(goal["score"], 4), "pieces": len(study.pieces),
               "folds": len(study.folds), "modes": [m.name for m in study.modes]}
    return artifact(study, records), summary


def preflight(ds, params) -> list[dict]:
    """Tasks, class sizes and groups against n_splits, on the labels of the discovered files."""
    from musicexp.data.labels import discovered, make_table
    from musicexp.evaluation.folds import plan

    got = discovered(ds)
    plan(make_table(got, ds.cfg.labels), got["columns"], params)
    return []


def _reports(artifact) -> list[str]:
    """Classification reports and row-normalised confusion matrices of the pooled predictions."""
    lines = []
    reports, confusion = artifact["reports"], artifact["confusion"]
    for key in reports:
        lines.append(f"\n== {key}: pooled test-fold predictions ==\n{reports[key]}")
        cm = confusion[key]
        w = max(len(c) for c in cm["classes"])
        lines.append("confusion (row-normalised; rows = true):")
        lines.append(" " * (w + 1) + " ".join(f"{c[:6]:>6}" for c in cm["classes"]))
        for c, row in zip(cm["classes"], cm["row_normalised"]):
            lines.append(f"{c:>{w}} " + " ".join(f"{v:6.2f}" for v in row))
    return lines


def report(artifact, records: list[dict], verbose: int = 0) -> list[str]:
    """The headline table (scores with intervals, baselines, the control, the comparison of the
    modes); with ``verbose`` >= 1 the classification reports and confusion matrices before it."""
    from musicexp.evaluation.headline import summary_lines

    return (_reports(artifact) + [""] if verbose >= 1 else []) + summary_lines(records)


def files(artifact, records: list[dict]) -> dict[str, str]:
    from musicexp.evaluation.headline import summary_lines

    return {"reports.txt": "\n".join(_reports(artifact)) + "\n", "summary.txt": "\n".join(summary_lines(records)) + "\n"}


def figures(artifact, records: list[dict]) -> dict[str, bytes]:
    """The modes per task with intervals, baseline and control; the confusion matrices (PNG)."""
    from musicexp.evaluation.figures import run_figures

    return run_figures(artifact, records)


register_step(Step(name="train", version=VERSION, run=run, schema=TrainConf, deps=deps, preflight=preflight,
                   report=report, files=files, figures=figures, records=True))
