"""The config of `dm sql` / `dm query` without Hydra, when the command line names the experiment directory.

Those two commands read one thing of the config: `lake.root` / `lake.experiment`. Importing hydra and omegaconf
and composing `conf/` costs ~0.25 s, more than their whole start-up budget (0.2 s). So when the overrides are
exactly `lake.root=R lake.experiment=E` (either order, each once) with plain values, which Hydra's override
grammar reads as these very strings and `LakeConfig` accepts, the config is known without composing. Anything
else (another key, a typo such as `lake.rooot=x`, a value Hydra would read as a number, bool or null, quotes,
interpolations, a '/' in the experiment, DM_CONFIG_DIR set) composes as every command does, so it fails or
succeeds exactly as before. tests/config/test_lake_only.py checks both ways against the composed config.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

KEYS = ("lake.root", "lake.experiment")
PLAIN = re.compile(r"[A-Za-z0-9_./-]+")  # unquoted characters Hydra keeps as they are in a string value
NOT_STRINGS = {"true", "false", "null", "yes", "no", "on", "off"}  # (any case) other types, or risky to assume


@dataclass(frozen=True)
class LakeSelection:
    root: str
    experiment: str


@dataclass(frozen=True)
class LakeOnlyConfig:
    """What `dm sql` / `dm query` read of the composed config: `cfg.lake.root` and `cfg.lake.experiment`."""

    lake: LakeSelection


def _plain(value: str) -> bool:
    """Whether Hydra reads the unquoted override value `value` as exactly this string."""
    if not PLAIN.fullmatch(value) or value.lower() in NOT_STRINGS:
        return False
    try:
        float(value)  # ints, floats, inf, nan, 1_000, 1e3: Hydra reads them as numbers
    except ValueError:
        return True
    return False


def lake_only(overrides: Sequence[str]) -> LakeOnlyConfig | None:
    """The lake keys of `overrides` when they are all there is and plain (see the module); None: compose."""
    if os.environ.get("DM_CONFIG_DIR"):
        return None
    values: dict[str, str] = {}
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or key not in KEYS or key in values or not _plain(value):
            return None
        values[key] = value
    if len(values) != len(KEYS) or "/" in values["lake.experiment"]:
        return None
    return LakeOnlyConfig(LakeSelection(root=values["lake.root"], experiment=values["lake.experiment"]))
