"""What the app tells the engine about its domain before any run (``musicexp.app`` registers it).

The engine imports no domain package. It learns from :func:`register_domain` the dataclass of
the ``dataset`` config node, how to open a dataset from that node, and which libraries'
versions every artifact records. Its contract with a dataset: the schema has ``id`` (it names
``artifacts/<id>/``) and ``on_error`` (an Enum; the value ``"raise"`` stops a run at the first
problem a step lists); an opened dataset has ``.id``, ``.root`` and ``.path(file)``, and is
handed to the steps as ``ctx.dataset`` and to their ``identity`` / ``preflight`` hooks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class Domain:
    dataset_schema: type  #: the dataclass of ``cfg.dataset``
    open_dataset: Callable[[Any, Path, bool], Any]  #: (cfg.dataset, launch folder, progress bars) -> dataset
    packages: tuple[str, ...] = ()  #: distributions whose versions each artifact's meta.json records


_DOMAIN: list[Domain] = []


def register_domain(domain: Domain) -> None:
    """Set the domain (replacing an earlier one); its dataset schema must have ``id`` and ``on_error``."""
    names = {f.name for f in dataclasses.fields(domain.dataset_schema)}
    lacking = {"id", "on_error"} - names
    if lacking:
        raise TypeError(f"dataset schema {domain.dataset_schema.__name__} lacks {sorted(lacking)}")
    _DOMAIN[:] = [domain]


def domain() -> Domain:
    if not _DOMAIN:
        raise RuntimeError("no domain registered: musicexp.app.setup() registers the dataset schema and opener")
    return _DOMAIN[0]
