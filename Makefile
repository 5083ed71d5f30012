# musicexp — `make help` lists the targets. Everything runs from the project's own venv.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BUILD  := pyproject.toml setup.py musicexp/features/sgt/_kernel.pyx musicexp/features/midi2vec/_sgns.pyx
STAMP  := $(VENV)/.installed-$(shell cat $(BUILD) | cksum | cut -d' ' -f1)
ARGS   ?=

.DEFAULT_GOAL := help
.PHONY: help setup run run-small run-folk run-folk-small run-essen test test-slow test-all bench clean results-table

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): $(BUILD)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	$(PY) -m compileall -q musicexp  # as `pip install .` does (an editable install doesn't)
	rm -f $(VENV)/.installed-*; touch $@

setup: $(STAMP) ## create .venv, install musicexp + dev extras, build the compiled kernels (redone when pyproject.toml, setup.py or a .pyx change)

run: setup ## install, then run the default pipeline on the embedded dataset `data` (ARGS="..." adds overrides)
	$(VENV)/bin/musicexp $(ARGS)

run-small: setup ## the same on the 100-piece subset `data_100`
	$(VENV)/bin/musicexp dataset=data_100 $(ARGS)

run-folk: setup ## the default pipeline on the `folk` benchmark (tune types of 1,788 folk tunes)
	$(VENV)/bin/musicexp dataset=folk $(ARGS)

run-folk-small: setup ## the same on its 300-tune subset `folk_300`
	$(VENV)/bin/musicexp dataset=folk_300 $(ARGS)

run-essen: setup ## the default pipeline on the held-back `essen` collection (origin and meter of 600 Essen folk songs; run once, to report)
	$(VENV)/bin/musicexp dataset=essen $(ARGS)

test: setup ## the quick test suite (no slow end-to-end runs)
	$(PY) -m pytest -m "not slow" -q

test-slow: setup ## only the slow end-to-end tests (real runs on the embedded dataset)
	$(PY) -m pytest -m slow -q

test-all: setup ## every test
	$(PY) -m pytest -q

# The README's results tables: the default run of each embedded benchmark (reused from the cache
# when already computed), its records collected afresh in results/tables/, one table per dataset.
# The held-back `essen` collection is not in the default list: TABLES="data folk essen" adds it.
TABLES ?= data folk
results-table: setup ## the README's results tables: default run of each embedded dataset (TABLES="data folk"; add essen for the held-back one), one table each
	rm -f results/tables/results.jsonl results/tables/results.csv
	for d in $(TABLES); do $(VENV)/bin/musicexp dataset=$$d paths.results_jsonl=results/tables/results.jsonl \
		paths.results_csv=results/tables/results.csv $(ARGS) || exit 1; done
	$(VENV)/bin/musicexp-report --results results/tables/results.jsonl --table $(foreach d,$(TABLES),--dataset $(d))

bench: setup ## benchmarks: prints a table, writes benchmarks/results.json
	$(PY) -m compileall -q musicexp
	$(PY) benchmarks/bench.py $(ARGS)

clean: ## remove run outputs, artifacts and results (keeps .venv and the built datasets under MUSICEXP_DATA, default ~/.local/share/musicexp)
	rm -rf outputs multirun artifacts results

# ---- sweeps (README: "Sweeps"). SWEEP is the 3 x 3 grid alpha x top_vocab on data_100. The
# train modes are limited to sgt_only (steps.train.modes=[sgt_only]): alpha and top_vocab
# change only the SGT features, and the default four modes would also build graph + embed
# (much slower, identical in every job). Jobs share notes/labels/sgt through the cache's
# per-hash locks; the sweep folder gets summary.csv + a heatmap over the swept keys (musicexp/tools/report/). A fifth of
# each class's works is held out of every job's CV: the report re-scores the chosen job there.
SWEEP    ?= dataset=data_100 steps.sgt.alpha=0.5,0.8,1.2 steps.sgt.top_vocab=32,64,128 'steps.train.modes=[sgt_only]' steps.train.holdout=0.2
N_JOBS   ?=
.PHONY: sweep sweep-basic sweep-optuna report

sweep: setup ## 3x3 SGT sweep (alpha x top_vocab) on data_100, joblib launcher, n_jobs from conf (N_JOBS=1 ARGS=...)
	$(VENV)/bin/musicexp -m hydra/launcher=parallel $(if $(N_JOBS),hydra.launcher.n_jobs=$(N_JOBS)) $(SWEEP) $(ARGS)

sweep-basic: setup ## the same sweep with Hydra's basic launcher (one job after another)
	$(VENV)/bin/musicexp -m $(SWEEP) $(ARGS)

sweep-optuna: setup ## Optuna search over alpha, max_dt_beats, top_vocab (conf/experiment/optuna_sgt.yaml; ARGS=...)
	$(VENV)/bin/musicexp -m experiment=optuna_sgt dataset=data_100 $(ARGS)

report: setup ## summary.csv + heatmap + modes chart of results/results.jsonl (ARGS="--dataset data_100 ...")
	$(VENV)/bin/musicexp-report $(ARGS)
