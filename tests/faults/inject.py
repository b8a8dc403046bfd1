"""Run `dm` with a fault injected, for the fault suite's subprocess tests:

    python -m tests.faults.inject kill-commit:K:N   dm-args...   # SIGKILL at rename K of the (N+1)-th part commit
    python -m tests.faults.inject delay-commit:S    dm-args...   # sleep S seconds before each rename of a commit
    python -m tests.faults.inject kill-fit:K        dm-args...   # SIGKILL at the K-th rename of `dm fit`
"""

from __future__ import annotations

import os
import signal
import sys
import time


def main() -> int:
    spec, argv = sys.argv[1], sys.argv[2:]
    kind, *values = spec.split(":")
    real_replace = os.replace
    state = {"renames": 0, "commits": 0, "active": kind == "kill-fit"}

    def replace(src, dst):
        if state["active"]:
            state["renames"] += 1
            if kind == "delay-commit":
                time.sleep(float(values[0]))
            elif state["renames"] == int(values[0]):
                os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst)

    os.replace = replace
    if kind in ("kill-commit", "delay-commit"):
        from dm.lake.store import Lake

        commit = Lake._commit

        def wrapped(self, result):
            state["commits"] += 1
            state["active"] = kind == "delay-commit" or state["commits"] == int(values[1]) + 1
            try:
                return commit(self, result)
            finally:
                state["active"] = False

        Lake._commit = wrapped
    from dm.cli import main as dm_main

    return dm_main(argv)


if __name__ == "__main__":
    sys.exit(main())
