"""What the console shows: quiet by default, everything with `verbose`.

``verbose`` (the top-level config key): 0 (default) keeps the console to the step table and
the headline table; 1 adds the classification reports and confusion matrices (always written
to the run folder) and the libraries' own warnings; 2 also lets TensorFlow's native log through.

Why each setting (all made before TensorFlow is first imported, which happens only in the
train step):

* ``TF_CPP_MIN_LOG_LEVEL=3``: TensorFlow 2.20+ logs harmless native "errors" such as ``E0000 ...
  node_def_util.cc ... NodeDef mentions attribute use_unbounded_threadpool`` and ``failed call
  to cuInit`` on a machine without a GPU; level 3 stops those it routes through its own logger.
* a filter on the process's stderr file descriptor: the lines absl prints before its logging is
  initialised (``WARNING: All log messages before absl::InitializeLog()``, ``I0000 ... oneDNN
  custom operations are on``, ``Could not find cuda drivers``) ignore that variable and are
  written by C++ straight to fd 2. The filter drops exactly those native log lines (absl's
  ``[IWE]MMDD time thread file.cc:line]`` format: info and warning lines, and the
  error lines of the known harmless sources above); everything else, Python tracebacks and our
  own log included, passes unchanged.
* the ``tensorflow`` Python logger at ERROR: its ``tf.function retracing`` warnings concern
  TensorFlow's tracing of Keras' fit, not the user's data.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading

NATIVE_NOISE = re.compile(
    rb"^(?:[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\]"
    rb"|E\d{4} [\d:.]+\s+\d+ (?:node_def_util|cuda_platform|cuda_executor|cuda_diagnostics|cuda_dnn)\.cc:\d+\]"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR)"
)
_installed = False


def quiet(verbose: int) -> None:
    """Make the console quiet for this process (idempotent); see the module docstring."""
    global _installed
    if verbose >= 2 or _installed:
        return
    _installed = True
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if verbose < 1:
        logging.getLogger("py.warnings").setLevel(logging.ERROR)
    _filter_native_stderr()


def _filter_native_stderr() -> None:
    """Route fd 2 through a thread that drops native log noise (restored and drained at exit)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read, write = os.pipe()
    except OSError:  # no fd 2 (a detached process): nothing to filter
        return
    os.dup2(write, 2)
    os.close(write)

    def pump() -> None:
        with os.fdopen(read, "rb", buffering=0) as src:
            pending, filtering = b"", True
            while chunk := src.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                try:
                    out = b"".join(line + b"\n" for line in lines if not (filtering and NATIVE_NOISE.match(line)))
                    os.write(saved, out)
                except Exception:  # never block the writers: from now on pass everything through
                    filtering = False
            if pending:
                os.write(saved, pending)

    thread = threading.Thread(target=pump, name="musicexp-stderr-filter", daemon=True)
    thread.start()

    def restore() -> None:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)  # this process's writer is gone: the pump drains and sees EOF
        thread.join(timeout=2)  # (child processes still holding the pipe do not delay the exit)

    atexit.register(restore)

