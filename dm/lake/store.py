"""The experiment store: a declared schema, metadata checked on reopen, atomic per-part commits.

Models are committed in *parts* (a set of model ids trained together, keyed `<first id>-<last id>`). A part's
files (models, masks, one margins file per target block) are written to a staging directory and renamed
into place with the models file last, so a model is in the lake exactly when its part's models file exists.
Orphans of a crash are removed on reopen; a model id is never committed twice.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dm.errors import DMError
from dm.lake import schema
from dm.lake.bits import pack_masks, packed_width
from dm.lake.layout import Layout


class LakeError(DMError, RuntimeError):
    """A lake that cannot be used as asked (missing, of another config, corrupt)."""


@dataclass(frozen=True)
class TargetBlock:
    """Targets `[first, first + length)` of `split`, stored together so a solver can read only them."""

    split: str
    block: int
    first: int
    length: int


@dataclass
class PartResult:
    """Everything a set of trained models contributes to the lake. M models, d train, n test examples."""

    model_ids: np.ndarray  # int64 [M]
    seeds: np.ndarray  # int64 [M]
    masks: np.ndarray  # bool [M, d]
    margins: dict[str, np.ndarray]  # split -> float32 [M, n_split]
    test_accuracy: np.ndarray  # float64 [M] (NaN for regression)
    train_seconds: np.ndarray  # float64 [M]
    code_version: str


def _atomic_write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _describe_mismatch(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    lines = [f"  {k}: lake has {old.get(k)!r}, this run has {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return "\n".join(lines)


class Lake:
    """One experiment directory `lake/<experiment>/`. Use `create_or_open` to write, `open` to read."""

    def __init__(self, root: Path, meta: dict[str, Any]):
        self.layout = Layout(Path(root))
        self.meta = meta

    # ---------------------------------------------------------------- opening
    @classmethod
    def create_or_open(cls, root: Path, identity: dict[str, Any], shape: dict[str, Any]) -> Lake:
        """Open `root` for writing, creating it if new.

        identity: everything that determines the trained models (dataset fingerprint, alpha, seed, model and
            trainer settings). A lake made with a different identity is refused.
        shape: d (train size), n_test, num_classes, task, target_block.
        """
        root = Path(root)
        layout = Layout(root)
        identity = json.loads(json.dumps(identity))  # normalise tuples/numpy scalars as they will be stored
        if layout.meta.exists():
            lake = cls.open(root)
            if lake.meta["identity"] != identity:
                raise LakeError(
                    f"experiment {root} was made with a different configuration; refusing to mix models.\n"
                    f"{_describe_mismatch(lake.meta['identity'], identity)}\n"
                    "Use another lake.experiment name, or delete the directory to start over."
                )
            for key, value in shape.items():
                if lake.meta["shape"].get(key) != value:
                    raise LakeError(
                        f"experiment {root}: {key} is {lake.meta['shape'].get(key)!r} in the lake "
                        f"but {value!r} in this run"
                    )
            lake.recover()
            return lake
        root.mkdir(parents=True, exist_ok=True)
        from dm.lake.version import code_version

        meta = {"lake_format": schema.LAKE_FORMAT, "identity": identity, "shape": shape,
                "created_by": code_version()}
        _atomic_write_json(layout.meta, meta)
        return cls(root, meta)

    @classmethod
    def open(cls, root: Path) -> Lake:
        """Open an existing experiment (read access); raises LakeError with a hint if it is missing."""
        layout = Layout(Path(root))
        if not layout.meta.exists():
            raise LakeError(f"no experiment at {root} (no meta.json). Run `dm train` first.")
        meta = json.loads(layout.meta.read_text())
        if meta.get("lake_format") != schema.LAKE_FORMAT:
            raise LakeError(f"{root} has lake format {meta.get('lake_format')}, this dm writes {schema.LAKE_FORMAT}")
        return cls(Path(root), meta)

    # ---------------------------------------------------------------- shape
    @property
    def d(self) -> int:
        return int(self.meta["shape"]["d"])

    def split_size(self, split: str) -> int:
        return self.d if split == "train" else int(self.meta["shape"]["n_test"])

    def target_blocks(self, splits: tuple[str, ...] = ("test", "train")) -> list[TargetBlock]:
        """All target blocks, test first then train, each of at most `target_block` targets."""
        size = int(self.meta["shape"]["target_block"])
        blocks = []
        for split in splits:
            n = self.split_size(split)
            for b, first in enumerate(range(0, n, size)):
                blocks.append(TargetBlock(split, b, first, min(size, n - first)))
        return blocks

    # ---------------------------------------------------------------- writing
    def committed_parts(self) -> list[str]:
        """Keys of parts whose models file exists, i.e. fully in the lake, in id order."""
        return sorted(p.stem.removeprefix("part-") for p in self.layout.root.glob("models/part-*.parquet"))

    def committed_ids(self) -> np.ndarray:
        """Sorted int64 model ids in the lake."""
        return self.read_models().column("model_id").to_numpy()

    def recover(self) -> list[Path]:
        """Remove what a crash left behind: the staging area and part files without a models file."""
        shutil.rmtree(self.layout.staging, ignore_errors=True)
        committed = set(self.committed_parts())
        removed = []
        for pattern in ("masks/part-*.parquet", "margins/*/*/part-*.parquet"):
            for path in self.layout.root.glob(pattern):
                if path.stem.removeprefix("part-") not in committed:
                    path.unlink()
                    removed.append(path)
        return removed

    def write_part(self, result: PartResult) -> None:
        """Atomically add a set of models. Refuses model ids that are already in the lake."""
        self._check_part(result)
        part = f"{result.model_ids.min():09d}-{result.model_ids.max():09d}"
        again = np.intersect1d(self.committed_ids(), result.model_ids)
        if len(again):
            raise LakeError(f"model ids {again[:10].tolist()} are already in the lake; a model is never added twice")
        stage = Layout(self.layout.staging / uuid.uuid4().hex)
        files: list[tuple[Path, Path]] = []  # (staged, final), models last

        m = len(result.model_ids)
        order = np.argsort(result.model_ids)
        ids = result.model_ids[order].astype(np.int64)
        masks_table = pa.table(
            {"model_id": ids,
             "mask": pa.FixedSizeBinaryArray.from_buffers(
                 pa.binary(packed_width(self.d)), m, [None, pa.py_buffer(pack_masks(result.masks[order]).tobytes())])},
            schema=schema.masks_schema(self.d),
        )
        files.append(self._stage(masks_table, stage.masks(part), self.layout.masks(part)))
        for block in self.target_blocks():
            values = np.ascontiguousarray(
                result.margins[block.split][order, block.first : block.first + block.length], dtype=np.float32
            )
            margin = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), block.length)
            table = pa.table({"model_id": ids, "margin": margin}, schema=schema.margins_schema(block.length))
            files.append(self._stage(table, stage.margins(block.split, block.block, part),
                                     self.layout.margins(block.split, block.block, part)))
        models_table = pa.table(
            {
                "model_id": ids,
                "alpha": np.full(m, float(self.meta["identity"]["alpha"])),
                "seed": result.seeds[order].astype(np.int64),
                "n_included": result.masks[order].sum(axis=1).astype(np.int32),
                "test_accuracy": pa.array(result.test_accuracy[order], from_pandas=True),
                "train_seconds": result.train_seconds[order].astype(np.float64),
                "code_version": [result.code_version] * m,
            },
            schema=schema.MODELS,
        )
        files.append(self._stage(models_table, stage.models(part), self.layout.models(part)))
        for staged, final in files:  # models file last: it is the commit marker
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)
        shutil.rmtree(stage.root, ignore_errors=True)

    @staticmethod
    def _stage(table: pa.Table, staged: Path, final: Path) -> tuple[Path, Path]:
        staged.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, staged, compression="zstd")
        return staged, final

    def _check_part(self, result: PartResult) -> None:
        m = len(result.model_ids)
        if m == 0 or len(np.unique(result.model_ids)) != m or result.model_ids.min() < 0:
            raise LakeError("a part needs distinct, non-negative model ids")
        if result.masks.shape != (m, self.d):
            raise LakeError(f"masks have shape {result.masks.shape}, expected {(m, self.d)}")
        for split in ("test", "train"):
            expected = (m, self.split_size(split))
            if result.margins[split].shape != expected:
                raise LakeError(f"{split} margins have shape {result.margins[split].shape}, expected {expected}")

    # ---------------------------------------------------------------- reading
    def _read_dir(self, pattern: str) -> pa.Table | None:
        paths = sorted(self.layout.root.glob(pattern))
        if not paths:
            return None
        return pa.concat_tables([pq.read_table(p) for p in paths])

    def read_models(self) -> pa.Table:
        """The `models` table, sorted by model_id (empty table if nothing is trained yet)."""
        table = self._read_dir("models/part-*.parquet")
        if table is None:
            return schema.MODELS.empty_table()
        return table.sort_by("model_id")

    def read_masks(self) -> tuple[np.ndarray, np.ndarray]:
        """(model_ids int64 [m], packed uint8 [m, ceil(d/8)]) sorted by model_id; committed parts only."""
        paths = [self.layout.masks(p) for p in self.committed_parts()]
        if not paths:
            return np.zeros(0, np.int64), np.zeros((0, packed_width(self.d)), np.uint8)
        table = pa.concat_tables([pq.read_table(p) for p in paths])
        ids = table.column("model_id").to_numpy()
        width = packed_width(self.d)
        packed = np.concatenate(
            [np.frombuffer(c.buffers()[1], np.uint8)[c.offset * width : (c.offset + len(c)) * width]
             for c in table.column("mask").chunks]
        ).reshape(len(ids), width)
        order = np.argsort(ids, kind="stable")
        return ids[order], packed[order]

    def read_margins(self, split: str, block: int) -> tuple[np.ndarray, np.ndarray]:
        """(model_ids int64 [m], float32 [m, block_len]) of one target block, sorted by model_id."""
        tables = [pq.read_table(self.layout.margins(split, block, p)) for p in self.committed_parts()]
        if not tables:
            length = next(b.length for b in self.target_blocks((split,)) if b.block == block)
            return np.zeros(0, np.int64), np.zeros((0, length), np.float32)
        table = pa.concat_tables(tables)
        ids = table.column("model_id").to_numpy()
        col = table.column("margin").combine_chunks()
        values = col.flatten().to_numpy(zero_copy_only=False).reshape(len(ids), col.type.list_size)
        order = np.argsort(ids, kind="stable")
        return ids[order], values[order]

    def read_examples(self) -> pa.Table:
        """The `examples` table written by `dm prepare`."""
        if not self.layout.examples.exists():
            raise LakeError(f"{self.layout.examples} is missing: run `dm prepare` first")
        return pq.read_table(self.layout.examples)
