"""Structured schemas of the Hydra config, one per group. A typo'd key or a mistyped value fails when the config
is composed; an out-of-range value fails in `__post_init__` when `dm.config.compose.load_config` validates it.
Both happen when a command starts, before any work.

The `dataset` and `model` groups have one schema per option (dm.config.options), so each data set and model has
only its own fields. `solve`, `eval` and `report` are typed by the dataclasses their packages use
(dm.config.solve, dm.config.eval, dm.config.report). Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING

from dm.config.eval import EvalConfig
from dm.config.options import OPTION_SCHEMAS, DatasetConfig, ModelConfig, model_identity
from dm.config.report import ReportSettings
from dm.config.solve import SolveSettings
from dm.errors import ConfigError

__all__ = ["OPTION_SCHEMAS", "ConfigError", "DMConfig", "model_identity"]

ENGINES = ("vmap", "plain")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


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
    models_per_process: int = 1000  # models per group: vmapped together (engine=vmap), or in turn (plain)
    engine: str = "vmap"  # vmap: stacked parameters + torch.func.vmap; plain: one ordinary module at a time
    channels_last: bool = True  # plain engine, images on CUDA: channels_last memory format
    compile: str = "none"  # plain engine: torch.compile mode (none, default, reduce-overhead, max-autotune)
    processes_per_device: int = 1  # training processes per device (each rank's chunks split between them)
    deterministic: bool = False  # torch.use_deterministic_algorithms for bitwise-reproducible runs

    def __post_init__(self) -> None:
        _require(self.epochs >= 1, f"trainer.epochs={self.epochs} must be >= 1")
        _require(self.batch_size >= 1, f"trainer.batch_size={self.batch_size} must be >= 1")
        _require(self.lr > 0, f"trainer.lr={self.lr} must be > 0")
        _require(0 <= self.peak_epoch <= self.epochs, f"trainer.peak_epoch={self.peak_epoch} not in [0, epochs]")
        _require(self.models_per_process >= 1, "trainer.models_per_process must be >= 1")
        _require(self.processes_per_device >= 1, "trainer.processes_per_device must be >= 1")
        _require(self.engine in ENGINES, f"trainer.engine={self.engine!r}: expected one of {ENGINES}")
        _require(self.compile in COMPILE_MODES, f"trainer.compile={self.compile!r}: expected one of {COMPILE_MODES}")
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
class SlurmConfig:
    """What `dm slurm COMMAND` writes into the sbatch script (see dm/cluster/slurm.py)."""

    nodes: int = 1
    gpus_per_node: int = 8  # one task (Fabric process) per GPU; with fabric.accelerator=cpu, fabric.devices tasks
    cpus_per_task: int = 8
    time: str = "24:00:00"
    array: int = 1  # job-array tasks, each owning 1/array of the model ids (or target blocks)
    max_parallel: int | None = None  # at most this many array tasks at once (`--array=0-N%max`)
    partition: str | None = None
    account: str | None = None
    mem: str | None = None  # e.g. 200G; default: the partition's
    requeue: bool = True  # a pre-empted task is requeued and trains only what it is missing
    setup: list[str] = field(default_factory=list)  # shell lines before srun (module load ..., source .venv/...)
    sbatch: list[str] = field(default_factory=list)  # extra `#SBATCH` options, e.g. ["--qos=high"]

    def __post_init__(self) -> None:
        _require(self.nodes >= 1 and self.gpus_per_node >= 1 and self.cpus_per_task >= 1,
                 "launch.slurm.nodes, gpus_per_node and cpus_per_task must be >= 1")
        _require(self.array >= 1, f"launch.slurm.array={self.array} must be >= 1")
        _require(self.max_parallel is None or self.max_parallel >= 1, "launch.slurm.max_parallel must be >= 1")


@dataclass
class LaunchConfig:
    """How a scheduled job shares the work: task `shard_index` of `num_shards` (e.g. a SLURM array task) owns
    every num_shards-th chunk of model ids and target block (dm.cluster.shard). Unset: the whole job."""

    shard_index: int | None = None
    num_shards: int | None = None
    slurm: SlurmConfig = field(default_factory=SlurmConfig)

    def __post_init__(self) -> None:
        count = 1 if self.num_shards is None else self.num_shards
        index = 0 if self.shard_index is None else self.shard_index
        _require(count >= 1 and 0 <= index < count,
                 f"launch.shard_index={self.shard_index} / launch.num_shards={self.num_shards}: "
                 "need 0 <= shard_index < num_shards")


@dataclass
class DMConfig:
    dataset: DatasetConfig = MISSING  # one of OPTION_SCHEMAS["dataset"], named by the dataset group's yaml
    model: ModelConfig = MISSING  # one of OPTION_SCHEMAS["model"], named by the model group's yaml
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    subsets: SubsetsConfig = field(default_factory=SubsetsConfig)
    lake: LakeConfig = field(default_factory=LakeConfig)
    fabric: FabricConfig = field(default_factory=FabricConfig)
    launch: LaunchConfig = field(default_factory=LaunchConfig)
    solve: SolveSettings = field(default_factory=SolveSettings)
    eval: EvalConfig = field(default_factory=EvalConfig)
    report: ReportSettings = field(default_factory=ReportSettings)
