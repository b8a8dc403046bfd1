"""Compose the Hydra config from `conf/` plus command-line overrides, and validate it."""

from __future__ import annotations

import os
import re
from dataclasses import fields, is_dataclass
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from dm.config.schema import OPTION_SCHEMAS, DMConfig
from dm.errors import ConfigError

_store = ConfigStore.instance()
_store.store(name="dm_schema", node=DMConfig)
for _group, _options in OPTION_SCHEMAS.items():
    for _name, _schema in _options.items():
        _store.store(group=_group, name=f"{_name}_schema", node=_schema)


def config_dir() -> Path:
    """`conf/` next to the `dm` package (or $DM_CONFIG_DIR)."""
    env = os.environ.get("DM_CONFIG_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "conf"


def load_config(overrides: list[str] | tuple[str, ...] = (), config_name: str = "config") -> DictConfig:
    """Compose `conf/<config_name>.yaml` with `overrides` and check every value.

    Raises ConfigError with a one-line explanation for unknown keys, bad types and out-of-range values.
    """
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=list(overrides))
        OmegaConf.to_object(cfg)  # instantiates the dataclasses: runs every __post_init__ check
    except ConfigError:
        raise
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(_one_line(err)) from err
    OmegaConf.set_readonly(cfg, True)
    return cfg


def _one_line(err: Exception) -> str:
    """Hydra's / OmegaConf's error as one line that names the key and, for unknown keys, the known ones."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [repr(err)]
    cause = err if getattr(err, "full_key", None) else err.__cause__
    if isinstance(cause, MissingMandatoryValue):
        return f"{cause.full_key} is required: give {cause.full_key}=..."
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        known = cause.object_type if is_dataclass(cause.object_type) else None
        what = str(cause).splitlines()[0]
        if known is not None and "not in" in what:
            group = cause.full_key.rpartition(".")[0] or "the root"
            return f"unknown key {cause.full_key}; {group} takes: {', '.join(f.name for f in fields(known))}"
        return f"{cause.full_key}: {what}"
    if any(line.startswith("Available options") for line in lines):
        start = next(i for i, line in enumerate(lines) if line.startswith("Available options"))
        options = [o for o in lines[start + 1:] if not o.startswith(("Config search path", "provider="))]
        available = ", ".join(o for o in options if not o.endswith("_schema"))
        missing = re.search(r"Could not find '(.+)/([^/']+)'", lines[0])
        what = f"{missing[1]}={missing[2]} is not an option" if missing else lines[0]
        return f"{what}; available: {available}"
    return lines[0]
