"""The `eval.attribution` block: which attribution methods `dm eval` scores by LDS, and with which settings
(dm.analyze.experiments.attribution). Part of the `eval` group's schema (dm.config.eval)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dm.errors import ConfigError

METHODS = ("datamodels", "influence", "nearest", "tracin", "random", "trak", "if")
LAKE_METHODS = ("datamodels", "influence")  # estimated from the lake's models: one row per model count
SETTINGS = {  # the settings each method's run may carry (dm.analyze.baselines.factory)
    "datamodels": (), "influence": ("output",), "nearest": ("models", "same_label"),
    "tracin": ("models", "last_layer"), "random": ("same_class",),
    "trak": ("models", "proj_dim", "lambda_reg", "last_layer"), "if": ("models", "method_if", "damping", "max_iter"),
}

DEFAULT_RUNS: tuple[dict[str, Any], ...] = (  # conf/eval/default.yaml repeats these
    {"method": "datamodels"},
    {"method": "influence"},
    {"method": "trak", "models": 1},
    {"method": "trak", "models": 10},
    {"method": "trak", "models": 30},
    {"method": "if", "method_if": "cg", "models": 1},
    {"method": "if", "method_if": "cg", "models": 3},
    {"method": "if", "method_if": "ekfac", "models": 1},
    {"method": "tracin", "models": 1},
    {"method": "nearest", "models": 1},
    {"method": "random"},
    {"method": "random", "same_class": False},
)


@dataclass
class AttributionConfig:
    """enabled: score methods by LDS in `dm eval`; targets: test targets scored (0 = every test target with a
    datamodel, else a class-balanced sample); model_counts: fitting models per point of the datamodels and
    empirical-influence curves (0 = all fitting models); runs: one dict per method run, `method` plus that
    ranker's settings (dm.analyze.baselines.factory), with `method_if` for the influence-function method."""

    enabled: bool = True
    targets: int = 0
    model_counts: list[int] = field(default_factory=lambda: [100, 300, 1000, 2000, 5000, 0])
    runs: list[dict[str, Any]] = field(default_factory=lambda: [dict(r) for r in DEFAULT_RUNS])

    def __post_init__(self) -> None:
        if self.targets < 0:
            raise ConfigError("eval.attribution: targets must be >= 0 (0 = all)")
        if not self.model_counts or any(int(n) < 0 for n in self.model_counts):
            raise ConfigError("eval.attribution: model_counts must be a non-empty list of counts >= 0 (0 = all)")
        for run in self.runs:
            if run.get("method") not in METHODS:
                raise ConfigError(f"eval.attribution: every run needs a method within {METHODS}, got {run}")
            bad = sorted(set(run) - {"method", *SETTINGS[run["method"]]})
            if bad:
                raise ConfigError(f"eval.attribution: {run['method']} runs take {list(SETTINGS[run['method']])}, "
                                  f"not {bad}")


def ranker_options(run: dict[str, Any]) -> dict[str, Any]:
    """The ranker settings of a run (its dict without `method`; `method_if` becomes the ranker's `method`)."""
    opts = {k: v for k, v in run.items() if k not in ("method", "method_if")}
    if "method_if" in run:
        opts["method"] = run["method_if"]
    return opts
