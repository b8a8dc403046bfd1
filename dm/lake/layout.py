"""Where each file of an experiment lives under `lake/<experiment>/`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """Paths of one experiment directory. Parts are sets of models committed together; blocks are ranges of
    targets stored together."""

    root: Path

    @property
    def meta(self) -> Path:
        return self.root / "meta.json"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def beton(self, split: str) -> Path:
        return self.data_dir / f"{split}.beton"

    @property
    def examples(self) -> Path:
        return self.root / "examples" / "examples.parquet"

    @property
    def staging(self) -> Path:
        return self.root / ".staging"

    @property
    def database(self) -> Path:
        return self.root / "dm.duckdb"

    @property
    def quarantine(self) -> Path:
        """Where `dm lake repair` moves bad files (never deleted): `quarantine/<time>/<original path>`."""
        return self.root / "quarantine"

    # A *part* is the set of models committed together, keyed by its first and last model id.
    def models(self, part: str) -> Path:
        return self.root / "models" / f"part-{part}.parquet"

    def masks(self, part: str) -> Path:
        return self.root / "masks" / f"part-{part}.parquet"

    def margins(self, split: str, part: str) -> Path:
        """A part's margins on one split, one row group per target block (`dm.lake.margins`)."""
        return self.root / "margins" / f"split={split}" / f"part-{part}.parquet"

    # `dm fit` outputs: one file per target block of each output (datamodels, datamodel_fits, fit_path).
    @property
    def fit_json(self) -> Path:
        """Solver settings and the train/val/test split of model ids, written by `dm fit`."""
        return self.root / "fit.json"

    def fit_dir(self, output: str, split: str) -> Path:
        return self.root / output / f"split={split}"

    def fit_block(self, output: str, split: str, block: int) -> Path:
        return self.fit_dir(output, split) / f"block={block:04d}.parquet"

    # `dm eval` outputs
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


def experiment_root(cfg) -> Path:
    """`lake.root / lake.experiment` of a composed config (light: no torch import).

    The experiment must be one plain directory name inside `lake.root` (LakeError otherwise)."""
    from dm.lake.errors import LakeError

    name = str(cfg.lake.experiment)
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith((".", "_")) or "\0" in name:
        raise LakeError(f"lake.experiment={name!r} must be a plain directory name inside lake.root "
                        "(no '/', not starting with '.' or '_')")
    root = Path(cfg.lake.root)
    if root.exists() and not root.is_dir():
        raise LakeError(f"lake.root={root} is a file, not a directory")
    return root / name
