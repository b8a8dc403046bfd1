"""The code version recorded with every result: the git commit that produced it."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

import dm


@lru_cache(maxsize=1)
def code_version() -> str:
    """`<git sha>[-dirty]` of the checkout `dm` runs from, or the package version outside git."""
    root = Path(dm.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "dm"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"dm-{dm.__version__}"
    return f"{sha}-dirty" if dirty else sha
