"""Test-only fault injection: kill this process at a named step boundary of a run.

`crashpoint(name)` does nothing unless the environment variable LITWATCH_TEST_CRASH_AT equals
`name`; then the process SIGKILLs itself on the spot (no cleanup, no atexit, no flushing), as a
power cut or the OOM killer would.  tests/test_crash.py uses it to prove that a run killed at any
boundary loses nothing and repeats nothing but an in-doubt delivery (with the same Message-ID).

Never set this variable outside the test suite.  Cost when unset: one dictionary lookup.

Points (jobs/pipeline.py): "after_search", "after_fetch", "after_store", "before_data",
"after_accept", "after_sent".
"""

from __future__ import annotations

import os
import signal

ENV = "LITWATCH_TEST_CRASH_AT"


def crashpoint(name: str) -> None:
    """SIGKILL this process when LITWATCH_TEST_CRASH_AT == name (test-only)."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
