"""Screen MLP / logreg settings on the development protocol of docs/training.md ("Why the MLP
has weight decay"): steps.train.holdout=0.2 repeats=1, every setting scored by the pooled
macro-F1 of its CV part (the held-out part printed beside it, to be looked at once), in one
process on the cached features of a default run (run `musicexp dataset=<name>` first).

    .venv/bin/python benchmarks/mlp_screen.py DATASET OUT.jsonl 'name:key=value;key=value' ...

values are JSON (`hidden=[512,256]`, `model="logreg"`), keys are steps.train options; every
setting starts from the defaults of the checkout it runs in, plus
`holdout=0.2;repeats=1` given in each setting (the screen of 2026-12-06 started from the older
defaults: weight_decay=0, epochs=50, patience=5). One JSON line per setting: per mode the CV
score, `ho_<mode>` the held-out score, `<mode>.<task>` per task, `ep_<mode>` mean epochs run."""
import json, sys, time
from pathlib import Path
import numpy as np
from hydra import compose, initialize_config_module
from musicexp.app import setup
from musicexp.engine import plan
from musicexp.engine.cache import ArtifactStore
from musicexp.engine.domain import domain
from musicexp.core.registry import Params
from musicexp.evaluation.cv import cross_validate
from musicexp.evaluation.records import headline
from musicexp.evaluation import metrics

ds_name, out, *variants = sys.argv[1:]
base_over = [f"dataset={ds_name}", "steps.train.metadata_control=false"]
setup()
with initialize_config_module(config_module="musicexp.conf", version_base="1.3"):
    cfg = compose(config_name="config", overrides=base_over)
ds = domain().open_dataset(cfg.dataset, Path.cwd(), False)
nodes = plan.plan(cfg, ds)
store = ArtifactStore("artifacts")
tn = nodes["train"]
inputs = {d: store.get(ds.id, d, nodes[d].hash) for d in tn.deps}
assert all(v is not None for v in inputs.values()), {d: v is None for d, v in inputs.items()}
for spec in variants:
    name, _, kv = spec.partition(":")
    over = {k: json.loads(v) for k, v in (x.split("=", 1) for x in kv.split(";") if x)}
    p = Params({**tn.params.plain(), **over}, "steps.train")
    t = time.perf_counter()
    st = cross_validate(inputs, p)
    sec = time.perf_counter() - t
    rec = {"dataset": ds_name, "variant": name, "over": over, "seconds": round(sec, 1)}
    for m in st.modes:
        rec[m.name] = round(headline(st.y, [pr[m.name] for pr in st.proba], {k: len(v) for k, v in st.classes.items()}, st.tasks), 4)
        if st.holdout:
            y, pr = st.holdout["y"], st.holdout["proba"][m.name]
            rec["ho_" + m.name] = round(float(np.mean([metrics.pooled_scores(y[k], pr[k].argmax(1), len(st.classes[k]), np.unique(y[k]))["f1"] for k in st.tasks])), 4)
        if len(st.tasks) > 1:
            for k in st.tasks:
                rec[f"{m.name}.{k}"] = round(float(np.mean([metrics.pooled_scores(st.y[k], pr[m.name][k].argmax(1), len(st.classes[k]))["f1"] for pr in st.proba])), 4)
        ep = [fi.get(f"{x}_epochs") for fi in st.fold_info[m.name] for x in m.models() if f"{x}_epochs" in fi]
        if ep:
            rec["ep_" + m.name] = round(float(np.mean(ep)), 1)
    print(json.dumps(rec), flush=True)
    with open(out, "a") as fh:
        fh.write(json.dumps(rec) + "\n")
