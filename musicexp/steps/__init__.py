"""The built-in steps, one small adapter module each: it declares the step (name, version, deps,
its options' dataclass, hooks) and, for a feature step, its block, and calls into
musicexp.data / features / evaluation for the work. Importing this package registers every
module in it (so a new step is a new module here, nothing else to edit); step modules import
numpy and their libraries inside ``run``, so registering them is cheap.
"""

import importlib
import pkgutil

for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")
