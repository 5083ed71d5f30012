"""Named fault points: where the crash and race tests kill or slow down a real process.

``point("cache.commit.after_meta", step)`` does nothing unless an environment variable names
it, so production runs pay one dict lookup per point:

* ``MUSICEXP_KILL_AT=<name>`` or ``<name>:<tag>`` - the process SIGKILLs itself there (no
  cleanup, no ``finally``: what the OOM killer, a scheduler's time limit or a power cut does).
  ``<name>`` alone fires at the first point of that name, ``<name>:<tag>`` only where the tag
  matches (the step name, or a file name for ``notes.worker``).
* ``MUSICEXP_SLEEP_AT=<name>[:<tag>]=<seconds>[,...]`` - sleep there (to widen a race window).

The points (and what a kill there leaves behind) are listed in the README section
"Crash safety"; tests/test_crash_harness.py kills a real run at each of them.
"""

from __future__ import annotations

import os
import signal
import time

KILL_ENV = "MUSICEXP_KILL_AT"
SLEEP_ENV = "MUSICEXP_SLEEP_AT"


def _names(name: str, tag: str | None) -> tuple[str, ...]:
    return (name,) if tag is None else (name, f"{name}:{tag}")


def armed(name: str, tag: str | None = None) -> bool:
    """True if ``MUSICEXP_KILL_AT`` names this point (for points that do partial work first)."""
    spec = os.environ.get(KILL_ENV)
    return bool(spec) and spec in _names(name, tag)


def kill() -> None:
    """Die now, as SIGKILL does: no handlers, no cleanup, open files left as they are."""
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)  # pragma: no cover - the signal is delivered before this returns


def point(name: str, tag: str | None = None) -> None:
    """A named moment where a test may kill (or delay) this process."""
    if SLEEP_ENV in os.environ:
        for item in os.environ[SLEEP_ENV].split(","):
            where, _, seconds = item.rpartition("=")
            if where in _names(name, tag):
                try:
                    time.sleep(float(seconds))
                except ValueError:
                    pass
    if armed(name, tag):
        kill()
