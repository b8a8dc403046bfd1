"""Where the evaluation outputs and the solver's model split live under `lake/<experiment>/`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EvalLayout:
    """Paths of one experiment's evaluation files (see lake/README.md and queries/*.sql that read them)."""

    root: Path

    @property
    def fit_json(self) -> Path:
        """Solver settings and the train/val/test split of model ids, written by `dm fit`."""
        return self.root / "fit.json"

    def datamodels_dir(self, split: str) -> Path:
        return self.root / "datamodels" / f"split={split}"

    def fits_dir(self, split: str) -> Path:
        return self.root / "datamodel_fits" / f"split={split}"

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"

    def predictions(self, split: str) -> Path:
        return self.eval_dir / "predictions" / f"{split}.parquet"

    def metrics(self, name: str) -> Path:
        """`eval/metrics/<name>.parquet`: rows of (metric, value, n[, split]) stacked by the `evaluation` view."""
        return self.eval_dir / "metrics" / f"{name}.parquet"

    @property
    def embedding(self) -> Path:
        return self.eval_dir / "embedding" / "embedding.parquet"
