"""The step plan of one run: which registered steps it needs, in which order, with which hash.

Every hash is computed before anything runs: it is a pure function of the step's declared
parameters, its data identity and its upstream hashes, so a skipped step can still be found in
the cache, and a fully cached run reads nothing but small files.
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass
from typing import Any

from musicexp.core import registry
from musicexp.core.hashing import canonical, digest
from musicexp.core.registry import DOWNSTREAM, HASHED, UNHASHED, Params, Step
from musicexp.core.errors import UserError


@dataclass(frozen=True)
class Node:
    """One step of this run: what it reads and what its hash is the digest of."""

    step: Step
    params: Params  # hashed options (+ per dep, that dep's downstream options): all run() gets
    settings: Params  # unhashed options
    deps: tuple[str, ...]
    ident: dict
    hash: str

    @property
    def name(self) -> str:
        return self.step.name


def options(cfg: Any, step: Step) -> dict[Any, dict]:
    """The step's options from ``cfg.steps.<name>``, split by how they are hashed."""
    from omegaconf import OmegaConf

    out: dict[Any, dict] = {HASHED: {}, UNHASHED: {}, DOWNSTREAM: {}}
    if step.schema is None:
        return out
    values = OmegaConf.to_container(cfg.steps[step.name], resolve=True, enum_to_str=True)
    for name, kind in registry.fields_by_hash(step.schema).items():
        out[kind][name] = values[name]
    return out


def step_params(cfg: Any, name: str) -> tuple[Params, Params]:
    """(params, settings) of one step under ``cfg``: exactly what :func:`plan` gives its ``run``."""
    steps = registry.steps()
    opts = options(cfg, steps[name])
    hashed = dict(opts[HASHED])
    for d in steps[name].deps_for(Params(opts[HASHED], f"steps.{name}")):
        down = options(cfg, steps[d])[DOWNSTREAM]
        if down:
            hashed[d] = down
    return Params(hashed, f"steps.{name}"), Params(opts[UNHASHED], f"steps.{name} (unhashed)")


def target(steps: dict[str, Step]) -> Step:
    """The step whose ``records`` are the run's results (exactly one must say so)."""
    found = [s for s in steps.values() if s.records]
    if len(found) != 1:
        raise RuntimeError(f"exactly one registered step must produce records, found {[s.name for s in found]}")
    return found[0]


def plan(cfg: Any, dataset: Any) -> dict[str, Node]:
    """Every step the target needs, in a topological order (ties: registration order)."""
    steps = registry.steps()
    deps: dict[str, tuple[str, ...]] = {}
    todo = [target(steps).name]
    while todo:  # the target and everything it reads (deps may depend on a step's options)
        name = todo.pop()
        if name in deps:
            continue
        deps[name] = steps[name].deps_for(Params(options(cfg, steps[name])[HASHED], f"steps.{name}"))
        for d in deps[name]:
            if d not in steps:
                raise UserError(f"step {name!r} reads step {d!r}, which is not registered "
                                f"(registered: {', '.join(steps)})")
            todo.append(d)
    nodes: dict[str, Node] = {}
    for name in _order(deps, list(steps)):
        step = steps[name]
        params, settings = step_params(cfg, name)
        plain = params.plain()
        plain = {k: registry.identity_params(steps[k].schema, v) if k in deps[name] and isinstance(v, dict)
                 else v for k, v in registry.identity_params(step.schema, plain).items()}
        ident = {"step": name, "version": step.version, "params": canonical(plain),
                 "upstream": {d: nodes[d].hash for d in deps[name]}}
        if step.identity is not None:
            ident["data"] = canonical(step.identity(dataset))
        nodes[name] = Node(step, params, settings, deps[name], ident, digest(ident))
    return nodes


def _order(deps: dict[str, tuple[str, ...]], rank: list[str]) -> list[str]:
    """A topological order of ``deps``; among the steps ready at a moment, the first registered."""
    sorter = graphlib.TopologicalSorter(deps)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        raise UserError(f"the steps {sorted(set(exc.args[1]))} depend on each other in a cycle") from None
    order: list[str] = []
    ready: set[str] = set()
    while sorter.is_active():
        ready.update(sorter.get_ready())
        first = min(ready, key=rank.index)
        ready.discard(first)
        order.append(first)
        sorter.done(first)
    return order


def downstream(names, deps: dict[str, tuple[str, ...]]) -> set[str]:
    """``names`` and every step that reads one of them, directly or not."""
    out = set(names)
    changed = True
    while changed:
        changed = False
        for step, ds in deps.items():
            if step not in out and out.intersection(ds):
                out.add(step)
                changed = True
    return out


def settings_columns(nodes: dict[str, Node], dataset: Any = None) -> dict[str, Any]:
    """Every hashed option of the run as ``steps.<step>.<key>`` (a record's settings columns),
    and with ``dataset`` (the ``cfg.dataset`` node) every hashed dataset option as
    ``dataset.<key>`` (``dataset.neutralize``, ``dataset.labels.pattern`` ...)."""
    cols: dict[str, Any] = dataset_columns(dataset) if dataset is not None else {}
    for name, node in nodes.items():
        for k, v in node.params.plain().items():
            if k in node.deps and isinstance(v, dict):  # a dep's downstream options
                cols.update({f"steps.{k}.{kk}": vv for kk, vv in v.items()})
            else:
                cols[f"steps.{name}.{k}"] = v
    return dict(sorted(cols.items()))


def dataset_columns(node: Any) -> dict[str, Any]:
    """Every option of the dataset schema not declared ``hash=UNHASHED``, as ``dataset.<key>``
    (nested nodes dotted: ``dataset.labels.pattern``), with its value in ``node``."""
    from omegaconf import OmegaConf

    from musicexp.engine.domain import domain
    from musicexp.engine.schema import nested

    def walk(schema: type, values: dict, prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        inner = nested(schema)
        for name, kind in registry.fields_by_hash(schema).items():
            if name in inner:
                out.update(walk(inner[name], values[name], f"{prefix}{name}."))
            elif kind is not UNHASHED:
                out[f"{prefix}{name}"] = values[name]
        return out

    values = OmegaConf.to_container(node, resolve=True, enum_to_str=True)
    return walk(domain().dataset_schema, values, "dataset.")
