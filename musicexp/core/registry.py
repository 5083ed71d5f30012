"""The step registry: what a step declares, and the one way to say how a parameter is hashed.

A step is a :class:`Step`: a name, a version, its dependencies, the dataclass of its options
(``steps.<name>`` in the config) and a ``run`` function, plus optional hooks. The engine knows
steps only through this registry: the order comes from ``deps``, the hash from the declared
parameters, ``on_error`` from the problems a step lists.

Every option is a dataclass field, declared once with :func:`param`: its type, default, one-line
doc, range check, and how it is hashed:

* ``hash=True`` (default): the step's output depends on it; in the step's hash, and passed to
  ``run`` as ``params.<name>``.
* ``hash=False``: changes no output (threads, verbosity); in no hash, passed as
  ``ctx.settings.<name>``.
* ``hash="downstream"``: read by the step that consumes this step's artifact (train reads
  ``steps.sgt.top_vocab`` when it builds the SGT matrices per fold); in the consumer's hash
  and its ``params.<this step>.<name>``, not in this step's hash (so a sweep over it reuses
  this step's artifact).

``run(inputs, params, ctx)`` receives exactly the hashed parameters: what is hashed equals what
is read, by construction (``params`` has nothing else).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from typing import Any, Callable, Iterable, Iterator

HASHED, UNHASHED, DOWNSTREAM = True, False, "downstream"


# --------------------------------------------------------------------------- declaring options

def param(default: Any = MISSING, *, doc: str = "", check: Callable[[Any], str | None] | None = None,
          hash: bool | str = HASHED, factory: Callable[[], Any] | None = None, legacy: Any = MISSING) -> Any:
    """A schema field: default (or ``factory`` for lists), one-line ``doc``, ``check`` (a callable
    returning None when the value is allowed, else what is allowed) and how it is ``hash``ed.

    ``legacy``: for an option added to a step that already had cached artifacts, the value that
    computes exactly what the step computed before the option existed. While the option holds
    that value it is left out of the step's hash (:func:`identity_params`), so the artifacts and
    hashes of every earlier setting stay valid; any other value enters the hash as usual."""
    if hash not in (HASHED, UNHASHED, DOWNSTREAM):
        raise ValueError(f"hash={hash!r}: True, False or 'downstream'")
    if legacy is not MISSING and hash is UNHASHED:
        raise ValueError("legacy= only makes sense for a hashed option")
    md = {"doc": doc, "check": check, "hash": hash}
    if legacy is not MISSING:
        md["legacy"] = legacy
    if factory is not None:
        return field(default_factory=factory, metadata=md)
    return field(default=default, metadata=md)


def _rule(test: Callable[[Any], bool], allowed: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        try:
            ok = test(value)
        except TypeError:
            ok = False
        return None if ok else allowed

    check.allowed = allowed  # type: ignore[attr-defined]
    return check


def gt(x: float) -> Callable[[Any], str | None]:
    return _rule(lambda v: math.isfinite(v) and v > x, f"must be > {x}")


def ge(x: float) -> Callable[[Any], str | None]:
    return _rule(lambda v: v >= x, f"must be >= {x}")


def within(lo: float, hi: float, closed: str = "left") -> Callable[[Any], str | None]:
    """lo <= v < hi (closed="left"), lo < v < hi ("neither"), lo <= v <= hi ("both")."""
    left = closed in ("left", "both")
    right = closed == "both"
    text = f"must be in {'[' if left else '('}{lo}, {hi}{']' if right else ')'}"
    return _rule(lambda v: (lo <= v if left else lo < v) and (v <= hi if right else v < hi), text)


nonempty = _rule(lambda v: len(v) > 0, "must not be empty")


def fields_by_hash(schema: type) -> dict[str, Any]:
    """field name -> its hash kind (True, False or 'downstream')."""
    return {f.name: f.metadata.get("hash", HASHED) for f in dataclasses.fields(schema)}


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def identity_params(schema: type | None, values: Mapping) -> dict:
    """``values`` (a step's options, plain) without the options that hold their ``legacy`` value
    (see :func:`param`): what enters the hash."""
    if schema is None:
        return dict(values)
    legacy = {f.name: _plain(f.metadata["legacy"]) for f in dataclasses.fields(schema) if "legacy" in f.metadata}
    return {k: v for k, v in values.items() if not (k in legacy and _plain(v) == legacy[k])}


# --------------------------------------------------------------------------- what run() receives

class Params(Mapping):
    """A read-only view of plain values with attribute access (``params.alpha``).

    Reading a name the step did not declare as hashed fails loudly, so a step cannot depend on
    a value its hash does not cover.
    """

    __slots__ = ("_d", "_what")

    def __init__(self, data: Mapping, what: str = "params"):
        object.__setattr__(self, "_d", {k: Params(v, f"{what}.{k}") if isinstance(v, Mapping) else v
                                        for k, v in data.items()})
        object.__setattr__(self, "_what", what)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._d[name]
        except KeyError:
            raise AttributeError(f"{self._what} has no {name!r} (it has {sorted(self._d)})") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self._what} is read-only")

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return f"Params({self._d!r})"

    def plain(self) -> dict:
        return {k: v.plain() if isinstance(v, Params) else v for k, v in self._d.items()}


@dataclass(frozen=True)
class Context:
    """What a step's ``run`` gets besides its inputs and hashed parameters."""

    dataset: Any  # the Dataset (files, root, identity); steps read files only through it
    settings: Params  # the step's unhashed options (threads, verbosity)
    progress: bool  # show progress bars


# --------------------------------------------------------------------------- steps

@dataclass(frozen=True)
class Step:
    """A pipeline step, as the engine sees it.

    run(inputs, params, ctx) -> (outputs, summary): ``inputs`` maps each dep to its artifact
    (``inputs["notes"]["pieces"]`` loads that output), ``params`` the hashed options (plus, per
    dep, that dep's ``downstream`` options), ``ctx`` a :class:`Context`. ``outputs`` maps names
    to numpy arrays, dicts of arrays, or JSON values; ``summary`` is a small dict for the run
    table.

    Optional hooks:
      deps(params) -> step names, when what a step reads depends on its options;
      identity(dataset) -> dict: the data the output depends on (enters the hash);
      preflight(dataset, params) -> problems: checks that need no upstream artifact, run before
        any step computes; raise a UserError for what stops every run, return the
        ``{"file", "reason"}`` problems that ``dataset.on_error`` decides on;
      problems(artifact) -> the ``{"file", "reason"}`` problems an artifact lists (bad files,
        unlabeled pieces): shown in the run summary under ``problem_kind``, and
        ``dataset.on_error=raise`` stops at the first, for computed and reused artifacts alike;
      report(artifact, records, verbose) -> console lines after the step table (the records step's);
      files(artifact, records) -> {file name: text} written into the run's folder (reports);
      figures(artifact, records) -> {file name: bytes} (PNG images) written there too, but only
        when the step ran (or was forced): a reused artifact draws nothing, so a cached run
        imports no plotting library.
    ``records=True``: the run's target; its ``records`` output are the results records (the one
    flagged ``is_objective``, else the first, gives the run's score, returned to a sweeper).
    """

    name: str
    version: str
    run: Callable[..., tuple[dict, dict]]
    schema: type | None = None
    deps: tuple[str, ...] | Callable[[Params], Iterable[str]] = ()
    identity: Callable[[Any], dict] | None = None
    preflight: Callable[[Any, Params], list[dict]] | None = None
    problems: Callable[[Any], list[dict]] | None = None
    problem_kind: str = "problem(s)"
    report: Callable[[Any, list[dict], int], list[str]] | None = None
    files: Callable[[Any, list[dict]], dict[str, str]] | None = None
    figures: Callable[[Any, list[dict]], dict[str, bytes]] | None = None
    records: bool = False

    def deps_for(self, params: Params) -> tuple[str, ...]:
        return tuple(self.deps(params) if callable(self.deps) else self.deps)


_STEPS: dict[str, Step] = {}


def register_step(step: Step) -> Step:
    """Add (or replace, for the same name) a step. Its schema must be a dataclass whose every
    field has a default."""
    if not step.name.isidentifier():
        raise ValueError(f"step name {step.name!r} must be an identifier (it is a config key)")
    if step.schema is not None:
        if not dataclasses.is_dataclass(step.schema):
            raise TypeError(f"step {step.name!r}: schema must be a dataclass")
        step.schema()  # every field has a default
    _STEPS[step.name] = step
    return step


def unregister_step(name: str) -> None:
    _STEPS.pop(name, None)


def steps() -> dict[str, Step]:
    """Every registered step, in registration order."""
    return dict(_STEPS)


def get(name: str) -> Step:
    try:
        return _STEPS[name]
    except KeyError:
        raise KeyError(f"no step {name!r}; registered: {', '.join(_STEPS)}") from None
