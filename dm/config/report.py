"""Settings of the report (the `report` config group, conf/report/default.yaml); also the group's Hydra schema
(dm.config.schema), so a bad key or value fails when the config is composed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from dm.errors import ConfigError


@dataclass
class ReportSettings:
    """How much of each view the page shows. Defaults keep the digits default (10,000 models) under ~2 MB."""

    max_scatter_points: int = 20_000  # points drawn in the predicted-vs-actual scatter plots (a uniform sample)
    traced_targets: int = 3  # targets drawn one colour each (Fig. 5, bottom right)
    gallery_targets: int = 6  # sampled test examples with their top training images (Fig. 9)
    top_k: int = 5  # top positive and top negative training examples shown per target
    leakage_pairs: int = 12  # highest-scoring (test, train) candidate pairs shown (Fig. 11)
    pca_components: int = 3  # leading principal components shown (plus one random later one, as Fig. 14)
    pca_examples: int = 5  # most positive / most negative examples per component
    clusters: int = 6  # clusters shown (Fig. 13), tightest first
    cluster_examples: int = 6  # examples per cluster, nearest to its centre
    thumbnail_px: int = 64  # on-screen size of an example image
    dpi: int = 80  # resolution of the plots
    seed: int = 0  # sampling of targets, scatter points and the random component

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"report.{f.name}={value!r} must be an integer")
            if f.name != "seed" and value < (20 if f.name == "dpi" else 1):
                raise ConfigError(f"report.{f.name}={value} is too small")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> ReportSettings:
        """Settings from the `report` config group; unknown keys are refused with the list of known ones."""
        values = dict(section or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown report settings {unknown}; known: {sorted(known)}")
        return cls(**values)
