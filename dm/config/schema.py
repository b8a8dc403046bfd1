"""Structured schemas of the Hydra config, one per group. A typo'd key or a mistyped value fails when the config
is composed; an out-of-range value fails in `__post_init__` when `dm.config.compose.load_config` validates it.
Both happen when a command starts, before any work.

The `model` group has one schema per model (its yaml names it in its defaults list: `conf/model/mlp.yaml` starts
with `- mlp_schema`), so each model has only its own fields. `solve`, `eval` and `report` are typed by the
dataclasses their packages use (dm.config.solve, dm.config.eval, dm.config.report). Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from dm.config.eval import EvalConfig
from dm.config.report import ReportSettings
from dm.config.solve import SolveSettings
from dm.errors import ConfigError

__all__ = ["ConfigError", "DMConfig", "MODEL_SCHEMAS", "model_identity"]

DATASETS = ("digits", "cifar10", "npz", "linear_sim")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass
class DatasetConfig:
    name: str = "digits"
    path: str | None = None  # cifar10: the cifar-10-batches-py folder; npz: the .npz file
    test_fraction: float = 0.25  # digits: stratified split
    split_seed: int = 0
    n_features: int = 150  # linear_sim (paper appendix B): d binary features
    n_train: int = 125  # linear_sim: n training points (the data set datamodels are fitted over)
    n_test: int = 125  # linear_sim: held-out points
    noise: float = 0.1  # linear_sim: label noise std

    def __post_init__(self) -> None:
        _require(self.name in DATASETS, f"dataset.name={self.name!r}: expected one of {DATASETS}")
        _require(0.0 < self.test_fraction < 1.0, f"dataset.test_fraction={self.test_fraction} not in (0,1)")
        if self.name in ("cifar10", "npz"):
            _require(bool(self.path), f"dataset.name={self.name} needs dataset.path")
        _require(self.n_features >= 1 and self.n_train >= 2 and self.n_test >= 1, "linear_sim sizes must be >= 1")


@dataclass
class ModelConfig:
    """Base of the per-model schemas: `name` must be one of the schema's `names`."""

    name: str = MISSING
    names = ()  # model names this schema describes (a class attribute, not a config key)

    def __post_init__(self) -> None:
        _require(self.name in self.names,
                 f"model.name={self.name!r} does not match its config group: choose the model with model=<name>, "
                 f"one of {tuple(MODEL_SCHEMAS)}")


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


# model name -> its schema, stored in Hydra's ConfigStore as group `model`, name `<name>_schema`
MODEL_SCHEMAS: dict[str, type[ModelConfig]] = {
    name: schema for schema in (SoftmaxConfig, MLPConfig, ResNetConfig, LinRegConfig) for name in schema.names}

# Before the model group had one schema per model, every model's config held these fields; lakes record the model
# config in their identity (dm.train.plan), so the identity keeps this form and existing lakes still resume.
_LEGACY_MODEL_FIELDS = {"hidden": 32, "width": 64, "ridge": 0.0}


def model_identity(model: Mapping[str, Any]) -> dict[str, Any]:
    """The model config as lakes and retraining caches record it: {name, hidden, width, ridge}."""
    values = dict(model)
    return {"name": values.pop("name"), **_LEGACY_MODEL_FIELDS, **values}


@dataclass
class TrainerConfig:
    epochs: int = 6
    batch_size: int = 64
    lr: float = 0.3  # peak learning rate of the triangular schedule
    peak_epoch: float = 1.5  # the schedule rises linearly to lr until here, then falls to 0 at the end
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    augment: bool = False  # random crop (4 px reflect), horizontal flip, 8x8 cutout; image data only
    flip_tta: bool = False  # average margins over the image and its horizontal flip
    precision: str = "32-true"  # Fabric precision: 32-true, bf16-mixed, 16-mixed
    models_per_process: int = 1000  # models trained at once (vmapped) by one process
    deterministic: bool = False  # torch.use_deterministic_algorithms for bitwise-reproducible runs

    def __post_init__(self) -> None:
        _require(self.epochs >= 1, f"trainer.epochs={self.epochs} must be >= 1")
        _require(self.batch_size >= 1, f"trainer.batch_size={self.batch_size} must be >= 1")
        _require(self.lr > 0, f"trainer.lr={self.lr} must be > 0")
        _require(0 <= self.peak_epoch <= self.epochs, f"trainer.peak_epoch={self.peak_epoch} not in [0, epochs]")
        _require(self.models_per_process >= 1, "trainer.models_per_process must be >= 1")
        _require(self.precision in ("32-true", "32", "bf16-mixed", "16-mixed", "64-true"),
                 f"trainer.precision={self.precision!r} is not a Fabric precision this trainer supports")


@dataclass
class SubsetsConfig:
    alpha: float = 0.5  # fraction of the training set in each model's subset
    num_models: int = 10000
    seed: int = 0

    def __post_init__(self) -> None:
        _require(0.0 < self.alpha < 1.0, f"subsets.alpha={self.alpha} must be in (0, 1)")
        _require(self.num_models >= 1, f"subsets.num_models={self.num_models} must be >= 1")


@dataclass
class LakeConfig:
    root: str = "lake"
    experiment: str = "digits"
    chunk_size: int = 1000  # models per committed chunk (unit of resume and of rank assignment)
    target_block: int = 256  # targets per margins / weights block (unit of solver sharding)

    def __post_init__(self) -> None:
        _require(bool(self.experiment) and "/" not in self.experiment, "lake.experiment must be a plain name")
        _require(self.chunk_size >= 1 and self.target_block >= 1, "lake.chunk_size and target_block must be >= 1")


@dataclass
class FabricConfig:
    accelerator: str = "cpu"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"

    def __post_init__(self) -> None:
        _require((self.devices >= 1 or self.devices == -1) and self.num_nodes >= 1,
                 "fabric.devices must be >= 1 (or -1 for all) and fabric.num_nodes >= 1")


@dataclass
class DMConfig:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = MISSING  # one of MODEL_SCHEMAS, chosen by the model group's yaml
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    subsets: SubsetsConfig = field(default_factory=SubsetsConfig)
    lake: LakeConfig = field(default_factory=LakeConfig)
    fabric: FabricConfig = field(default_factory=FabricConfig)
    solve: SolveSettings = field(default_factory=SolveSettings)
    eval: EvalConfig = field(default_factory=EvalConfig)
    report: ReportSettings = field(default_factory=ReportSettings)
