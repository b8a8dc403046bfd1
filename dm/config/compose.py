"""Compose the Hydra config from `conf/` plus command-line overrides, and validate it."""

from __future__ import annotations

import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dm.config.schema import ConfigError, DMConfig

ConfigStore.instance().store(name="dm_schema", node=DMConfig)


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
        raise ConfigError(str(err).splitlines()[0] if str(err) else repr(err)) from err
    OmegaConf.set_readonly(cfg, True)
    return cfg
