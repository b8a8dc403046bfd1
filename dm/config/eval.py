"""The `eval` config group, typed and checked (conf/eval/default.yaml documents every key).

These dataclasses are also the group's Hydra schema (dm.config.schema), so a bad key or value fails when the
config is composed, before any command runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, get_type_hints

from omegaconf import DictConfig, OmegaConf

from dm.config.attribution import AttributionConfig
from dm.errors import ConfigError

RANKERS = ("datamodels", "influence", "nearest", "tracin", "random", "trak", "if")
REMOVED = ("top", "bottom", "random")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(f"eval: {message}")


def _ks(ks: list[int], name: str) -> tuple[int, ...]:
    _require(len(ks) > 0 and all(int(k) >= 1 for k in ks), f"{name} must be a non-empty list of k >= 1")
    return tuple(sorted({int(k) for k in ks}))


@dataclass
class CounterfactualConfig:
    enabled: bool = True
    ks: tuple[int, ...] = (10, 40, 160)
    removed: tuple[str, ...] = REMOVED
    random_pool: str = "same_class"

    def __post_init__(self) -> None:
        self.ks = _ks(list(self.ks), "counterfactual.ks")
        _require(set(self.removed) <= set(REMOVED) and self.removed, f"counterfactual.removed must be within {REMOVED}")
        _require(self.random_pool in ("same_class", "all"), "counterfactual.random_pool must be same_class or all")


@dataclass
class SupportConfig:
    enabled: bool = True
    ks: tuple[int, ...] = (10, 20, 40, 80, 160, 320)
    rankers: tuple[str, ...] = RANKERS
    slack: float = 1.2
    verify: bool = True
    verify_round: int = 0  # 0: verify exactly ⌈slack·k̂⌉; n > 0: round it up to a grid of n sizes per octave

    def __post_init__(self) -> None:
        self.ks = _ks(list(self.ks), "support.ks")
        _require(self.verify_round >= 0, "verify_round must be >= 0")
        _require(set(self.rankers) <= set(RANKERS), f"rankers must be within {RANKERS}, got {list(self.rankers)}")
        _require(self.slack >= 1.0, f"slack={self.slack} must be >= 1")


@dataclass
class InfluenceOptions:
    output: str = "margin"  # margin | correct (the paper's eq. 15 uses correctness)

    def __post_init__(self) -> None:
        _require(self.output in ("margin", "correct"), f"rankers.influence.output={self.output!r}: margin or correct")


@dataclass
class NearestOptions:
    models: int = 1  # reference models trained on the full set (cosine similarities are averaged)
    same_label: bool = True  # other-label training examples ranked after all same-label ones

    def __post_init__(self) -> None:
        _require(self.models >= 1, "rankers.nearest.models must be >= 1")


@dataclass
class TracInOptions:
    models: int = 3  # reference models; one checkpoint per epoch, weighted by that epoch's mean lr
    last_layer: bool = False  # gradients of the last linear layer only (for large networks)

    def __post_init__(self) -> None:
        _require(self.models >= 1, "rankers.tracin.models must be >= 1")


@dataclass
class RandomOptions:
    same_class: bool = True  # the target's class first (paper F.3.1)


@dataclass
class TrakOptions:
    models: int = 1  # reference models, one TRAK checkpoint each (traker)
    proj_dim: int = 512  # random projection dimension (0: none)
    lambda_reg: float = 0.0  # ridge added to the projected gradients' Gram matrix
    last_layer: bool = False  # gradients of the last linear layer only

    def __post_init__(self) -> None:
        _require(self.models >= 1 and self.proj_dim >= 0, "rankers.trak: models >= 1 and proj_dim >= 0")


@dataclass
class RankerOptions:
    """Options of the rankers that have any (`datamodels` has none)."""

    influence: InfluenceOptions = field(default_factory=InfluenceOptions)
    nearest: NearestOptions = field(default_factory=NearestOptions)
    tracin: TracInOptions = field(default_factory=TracInOptions)
    random: RandomOptions = field(default_factory=RandomOptions)
    trak: TrakOptions = field(default_factory=TrakOptions)
    # influence functions ("if", a Python keyword) take their settings per run in `attribution.runs`; as a
    # support-experiment ranker they use dm.analyze.baselines.factory's defaults (CG, 1 model)


@dataclass
class EvalConfig:
    """Typed view of cfg.eval; `to_dict` gives the JSON that keys the results."""

    seed: int = 0
    weights: str = "lake"
    targets: int = 20
    replicates: int = 5
    control_replicates: int = 20
    seed_noise_models: int = 500  # held-out models trained again with another seed (OPT, seed reliability); 0: skip
    counterfactual: CounterfactualConfig = field(default_factory=CounterfactualConfig)
    support: SupportConfig = field(default_factory=SupportConfig)
    mislabel: SupportConfig = field(
        default_factory=lambda: SupportConfig(ks=(4, 8, 16, 32, 64), rankers=("datamodels",)))
    rankers: RankerOptions = field(default_factory=RankerOptions)
    attribution: AttributionConfig = field(default_factory=AttributionConfig)  # LDS of every method vs its cost

    def __post_init__(self) -> None:
        _require(self.weights in ("lake", "lasso"), f"weights={self.weights!r} must be lake or lasso")
        _require(self.targets >= 1, "targets must be >= 1")
        _require(self.replicates >= 1 and self.control_replicates >= 1, "replicates must be >= 1")
        _require(self.seed_noise_models >= 0, "seed_noise_models must be >= 0")

    def ranker_options(self) -> dict[str, dict[str, Any]]:
        """ranker name -> its options (what dm.analyze.baselines.RankerFactory takes)."""
        return asdict(self.rankers)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_cfg(cls, cfg: DictConfig | dict[str, Any]) -> EvalConfig:
        """Build from `cfg.eval` (a DictConfig or plain dict); unknown keys raise ConfigError."""
        raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        return _from_dict(cls, raw, "eval")


def _from_dict(cls: type, raw: dict[str, Any], where: str) -> Any:
    """`cls(**raw)` with nested dataclass sections built the same way and lists made tuples."""
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    _require(not unknown, f"unknown keys {unknown} in {where}; known: {sorted(known)}")
    kwargs = {}
    for key, value in raw.items():
        if is_dataclass(hints[key]):
            kwargs[key] = _from_dict(hints[key], dict(value), f"{where}.{key}")
        else:
            kwargs[key] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)
