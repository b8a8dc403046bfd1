"""Inter-process locks on an experiment, so that several launchers can share one lake.

* `experiment_lock(root)`: held briefly around prepare, recovery and each part's commit; a second launcher
  waits for it (up to `timeout` seconds, then a one-line LakeError). Commits are therefore serialised, and
  recovery never sees another process's staging half-written.
* `fit_lock(root, shard)`: held for a whole `dm fit` (one per job-array task: tasks of one fit write disjoint
  target blocks); a second `dm fit` of the same shard is refused at once, and `solve.overwrite` is refused while
  any other fit holds its lock (`other_fits_running`), so two configurations are never mixed.
* `chunk_claim(root, chunk)`: held by `dm train` for as long as it trains one chunk of model ids; a second
  launcher that finds a chunk claimed skips it instead of training it twice.

All are `filelock` locks (flock on a file in the experiment), released by the OS when a process dies.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from dm.lake.errors import LakeError

LOCK_FILE = ".lock"
FIT_LOCK_FILE = ".fit.lock"
CLAIMS_DIR = ".claims"
DEFAULT_TIMEOUT_S = 1800.0


def writable_root(root: Path) -> Path:
    """Create `root` if needed and check that it is a writable directory (LakeError in one line otherwise)."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise LakeError(f"{root} is a file, not an experiment directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LakeError(f"cannot create experiment directory {root}: {err.strerror}") from err
    if not os.access(root, os.W_OK | os.X_OK):
        raise LakeError(f"experiment {root} is read-only: cannot write models, fits or locks there")
    return root


def _lock(path: Path) -> FileLock:
    return FileLock(path, is_singleton=True, thread_local=False)


@contextmanager
def experiment_lock(root: Path, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[None]:
    """Hold the experiment's writer lock (re-entrant within a process); waits for another process's commit
    (timeout=0: does not wait, and says nothing before the LakeError)."""
    lock = _lock(writable_root(root) / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if timeout > 0:
            print(f"waiting for another dm process to finish writing {root} ...", file=sys.stderr, flush=True)
        try:
            lock.acquire(timeout=timeout)
        except Timeout as err:
            raise LakeError(f"another dm process has held the lock on {root} for {timeout:.0f}s; "
                            f"is it stuck? ({root / LOCK_FILE})") from err
    try:
        yield
    finally:
        lock.release()


@contextmanager
def fit_lock(root: Path, shard: str = "") -> Iterator[None]:
    """Hold the fit lock of `shard` ("" = the whole fit) for a whole `dm fit`; refuses at once if it is held."""
    name = FIT_LOCK_FILE if not shard else f".fit.{shard}.lock"
    lock = _lock(writable_root(root) / name)
    try:
        lock.acquire(timeout=0)
    except Timeout as err:
        what = f" ({shard})" if shard else ""
        raise LakeError(f"another `dm fit`{what} is writing {root}; wait for it to finish (one fit per experiment "
                        "and job-array task at a time)") from err
    try:
        yield
    finally:
        lock.release()


def other_fits_running(root: Path) -> bool:
    """Whether a fit lock of `root` other than the ones this process holds is held by another process."""
    for path in sorted(Path(root).glob(".fit*.lock")):
        lock = _lock(path)
        if lock.is_locked:  # held by this process (a singleton lock object per path)
            continue
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
    return False


def claim_path(root: Path, chunk: int) -> Path:
    """The claim file of chunk `chunk` (model ids chunk*chunk_size ...) of experiment `root`."""
    return Path(root) / CLAIMS_DIR / f"chunk-{chunk:09d}.lock"


@contextmanager
def chunk_claim(root: Path, chunk: int) -> Iterator[bool]:
    """Claim chunk `chunk` for as long as the block runs; yields False (at once, holding nothing) if another
    process holds it. Taken under the experiment lock, so a claim granted after another launcher's commit sees
    that commit; released by the OS if the process dies, so a crashed launcher's chunks become free again.
    Not re-entrant: a second claim of the same chunk in this process is refused as well."""
    path = claim_path(writable_root(root), chunk)
    lock = FileLock(path, thread_local=False)  # not the singleton: every claim is its own flock
    with experiment_lock(root):
        path.parent.mkdir(exist_ok=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            held = False
        else:
            held = True
    if not held:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
