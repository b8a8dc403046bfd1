"""Schemas of the config groups whose options differ in kind (`dataset`, `model`): one dataclass per option, so
each data set and model has only its own fields.

Each option's yaml names its schema first in its defaults list (conf/model/mlp.yaml: `- mlp_schema`); the
schemas are stored in Hydra's ConfigStore as `<group>/<name>_schema` by dm.config.compose.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from omegaconf import MISSING

from dm.errors import ConfigError


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass
class _Option:
    """An option of a group: its `name` must be one its schema describes (class attributes, not config keys)."""

    name: str = MISSING
    group: ClassVar[str] = ""
    names: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        _require(self.name in self.names,
                 f"{self.group}.name={self.name!r} does not match its schema: choose with {self.group}=<name>, "
                 f"one of {tuple(OPTION_SCHEMAS[self.group])}")


# ------------------------------------------------------------------ dataset
@dataclass
class DatasetConfig(_Option):
    group = "dataset"


@dataclass
class DigitsConfig(DatasetConfig):
    """scikit-learn's embedded 8x8 digits with a fixed stratified train/test split."""

    test_fraction: float = 0.25
    split_seed: int = 0
    names = ("digits",)

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(0.0 < self.test_fraction < 1.0, f"dataset.test_fraction={self.test_fraction} not in (0, 1)")


@dataclass
class FileDatasetConfig(DatasetConfig):
    """Data read from a path: cifar10 (the cifar-10-batches-py folder) or npz (one .npz file)."""

    path: str = MISSING
    names = ("cifar10", "npz")

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(bool(self.path), f"dataset={self.name} needs dataset.path")


@dataclass
class LinearSimConfig(DatasetConfig):
    """The paper's appendix-B simulation: d binary features, y = Xw + noise."""

    n_features: int = 150  # d binary features
    n_train: int = 125  # training points (the data set datamodels are fitted over)
    n_test: int = 125  # held-out points
    noise: float = 0.1  # label noise std
    split_seed: int = 0
    names = ("linear_sim",)

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.n_features >= 1 and self.n_train >= 2 and self.n_test >= 1,
                 "dataset: linear_sim needs n_features >= 1, n_train >= 2, n_test >= 1")


# ------------------------------------------------------------------ model
@dataclass
class ModelConfig(_Option):
    group = "model"


@dataclass
class SoftmaxConfig(ModelConfig):
    """Multinomial logistic regression (one linear layer)."""

    names = ("softmax",)


@dataclass
class MLPConfig(ModelConfig):
    hidden: int = 32  # hidden units
    names = ("mlp",)

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.hidden >= 1, f"model.hidden={self.hidden} must be >= 1")


@dataclass
class ResNetConfig(ModelConfig):
    width: int = 64  # base channels
    names = ("resnet9", "resnet18")

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.width >= 1, f"model.width={self.width} must be >= 1")


@dataclass
class LinRegConfig(ModelConfig):
    """Appendix-B min-norm least squares (closed form)."""

    ridge: float = 0.0  # 0 = exact min-norm least squares
    names = ("linreg",)

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.ridge >= 0, f"model.ridge={self.ridge} must be >= 0")


# group -> option name -> its schema
OPTION_SCHEMAS: dict[str, dict[str, type[_Option]]] = {
    base.group: {name: schema for schema in base.__subclasses__() for name in schema.names}
    for base in (DatasetConfig, ModelConfig)
}

# Before the model group had one schema per model, every model's config held these fields; lakes and retraining
# caches record the model config (dm.train.plan), so the record keeps this form and existing lakes still resume.
_LEGACY_MODEL_FIELDS = {"hidden": 32, "width": 64, "ridge": 0.0}


def model_identity(model: Mapping[str, Any]) -> dict[str, Any]:
    """The model config as lakes and retraining caches record it: {name, hidden, width, ridge}."""
    values = dict(model)
    return {"name": values.pop("name"), **_LEGACY_MODEL_FIELDS, **values}
