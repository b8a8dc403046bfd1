"""The experiment store: a declared schema, metadata checked on reopen, atomic, recorded per-part commits.

Models are committed in *parts* (a set of model ids trained together, keyed `<first id>-<last id>`). Under the
experiment lock (`dm.lake.lock`), a part's files (models, masks, one margins file per split) are written
to a staging directory, a journal of their final paths is written, they are renamed into place, and the part's
commit record (`dm.lake.records`: experiment identity, ids, checksums) is written last: a model is in the lake
exactly when its part's record exists. Recovery (also under the lock) removes what a dead process's journal
names; files that no record and no journal name are never deleted, they are refused by reads and reported by
`dm lake verify`. A model id is never committed twice: ids another launcher committed meanwhile are skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dm.lake import schema
from dm.lake.atomic import write_json_atomic
from dm.lake.bits import pack_masks, packed_width
from dm.lake.errors import LakeError
from dm.lake.info import LakeInfo
from dm.lake.layout import Layout
from dm.lake.lock import experiment_lock
from dm.lake.margins import read_block, write_split
from dm.lake.records import Record, make_record, read_records, verified, write_record

__all__ = ["Lake", "LakeError", "PartResult", "TargetBlock"]
JOURNAL = "commit.json"  # in a staging directory: the final paths its commit is about to create


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

    def subset(self, keep: np.ndarray) -> PartResult:
        """The models at boolean positions `keep` [M]."""
        return PartResult(self.model_ids[keep], self.seeds[keep], self.masks[keep],
                          {k: v[keep] for k, v in self.margins.items()}, self.test_accuracy[keep],
                          self.train_seconds[keep], self.code_version)


def _owner_alive(stage: Path) -> bool:
    """Whether the process named by a staging directory `<host>-<pid>-<uuid>` still runs on this host."""
    host, _, rest = stage.name.rpartition("-")[0].rpartition("-")
    try:
        pid = int(rest)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True  # another machine's process: not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


def _describe_mismatch(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    lines = [f"  {k}: lake has {old.get(k)!r}, this run has {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
    return "\n".join(lines)


class Lake(LakeInfo):
    """One experiment directory `lake/<experiment>/`. Use `create_or_open` to write, `open` to read."""

    # ---------------------------------------------------------------- opening
    @classmethod
    def create_or_open(cls, root: Path, identity: dict[str, Any], shape: dict[str, Any]) -> Lake:
        """Open `root` for writing, creating it if new.

        identity: everything that determines the trained models (dataset fingerprint, alpha, seed, model and
            trainer settings). A lake made with a different identity is refused.
        shape: d (train size), n_test, num_classes, task, target_block.
        """
        root = Path(root)
        with experiment_lock(root):
            return cls._create_or_open(root, identity, shape)

    @classmethod
    def _create_or_open(cls, root: Path, identity: dict[str, Any], shape: dict[str, Any]) -> Lake:
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
            from dm.lake.verify import check_parts

            check_parts(lake)
            return lake
        root.mkdir(parents=True, exist_ok=True)
        from dm.lake.version import code_version

        meta = {"lake_format": schema.LAKE_FORMAT, "identity": identity, "shape": shape,
                "created_by": code_version()}
        write_json_atomic(meta, layout.meta)
        return cls(root, meta)

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
    def part_records(self) -> dict[str, Record]:
        """part key -> commit record, for the records of this experiment (foreign ones: see `dm lake verify`)."""
        records, _ = read_records(self.layout.root, "part")
        return {k: r for k, r in records.items() if r.owner == self.experiment_id}

    def committed_parts(self) -> list[str]:
        """Keys of parts whose commit record exists, i.e. fully in the lake, in id order."""
        return sorted(self.part_records())

    def committed_ids(self) -> np.ndarray:
        """Sorted int64 model ids in the lake."""
        return self.read_models().column("model_id").to_numpy()

    def recover(self) -> list[Path]:
        """Remove what a crashed commit left behind (under the lock): staging of dead processes, and the files
        their journals name whose part has no record. Returns the removed final paths."""
        removed = []
        with experiment_lock(self.layout.root):
            committed = set(self.committed_parts())
            for stage in sorted(self.layout.staging.glob("*")):
                if _owner_alive(stage):
                    continue  # a live process's commit (only possible without the lock, e.g. an old dm)
                for final in self._crash_leftovers(stage, committed):
                    final.unlink()
                    removed.append(final)
                shutil.rmtree(stage, ignore_errors=True)
        return removed

    def crash_leftovers(self) -> set[Path]:
        """Files that dead writers' journals name for parts that never got their record (`recover` removes them)."""
        committed = set(self.committed_parts())
        stages = [s for s in sorted(self.layout.staging.glob("*")) if not _owner_alive(s)]
        return {path for stage in stages for path in self._crash_leftovers(stage, committed)}

    def _crash_leftovers(self, stage: Path, committed: set[str]) -> list[Path]:
        try:
            entry = json.loads((stage / JOURNAL).read_text())
        except (OSError, json.JSONDecodeError):
            return []  # no journal, or a torn one: its renames never started
        if entry.get("part") in committed:
            return []
        return [self.layout.root / rel for rel in entry.get("files", []) if (self.layout.root / rel).exists()]

    def write_part(self, result: PartResult) -> int:
        """Atomically add a set of models; returns how many were added.

        Ids that are already in the lake (committed meanwhile by another launcher of the same experiment,
        which trains the same model for an id) are skipped, so no id is ever committed twice."""
        self._check_part(result)
        with experiment_lock(self.layout.root):
            fresh = ~np.isin(result.model_ids, self.committed_ids())
            if not fresh.any():
                return 0
            self._commit(result.subset(fresh) if not fresh.all() else result)
            return int(fresh.sum())

    def _commit(self, result: PartResult) -> None:
        part = f"{result.model_ids.min():09d}-{result.model_ids.max():09d}"
        stage = Layout(self.layout.staging / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}")
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
        for split in ("test", "train"):
            blocks = [(b.first, b.length) for b in self.target_blocks((split,))]
            write_split(stage.margins(split, part), ids, result.margins[split][order], blocks)
            files.append((stage.margins(split, part), self.layout.margins(split, part)))
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
        root = self.layout.root
        record = make_record(root, "part", part, self.experiment_id, [int(ids[0]), int(ids[-1]), m],
                             [staged for staged, _ in files])
        record.files = {str(final.relative_to(root)): record.files[str(staged.relative_to(root))]
                        for staged, final in files}
        write_json_atomic({"part": part, "files": [str(f.relative_to(root)) for _, f in files]}, stage.root / JOURNAL)
        for staged, final in files:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)
        write_record(root, record)  # the commit marker
        shutil.rmtree(stage.root, ignore_errors=True)

    @staticmethod
    def _stage(table: pa.Table, staged: Path, final: Path, options: dict | None = None) -> tuple[Path, Path]:
        staged.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, staged, compression="zstd", **(options or {}))
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
    def _part_files(self, rel_of) -> list[Path]:
        """The verified file `rel_of(part)` of every committed part, in part order."""
        root = self.layout.root
        records = sorted(self.part_records().items())
        return [verified(root, rec, str(rel_of(key).relative_to(root))) for key, rec in records]

    def read_models(self) -> pa.Table:
        """The `models` table, sorted by model_id (empty table if nothing is trained yet)."""
        paths = self._part_files(self.layout.models)
        if not paths:
            return schema.MODELS.empty_table()
        return pa.concat_tables([pq.read_table(p) for p in paths]).sort_by("model_id")

    def read_masks(self) -> tuple[np.ndarray, np.ndarray]:
        """(model_ids int64 [m], packed uint8 [m, ceil(d/8)]) sorted by model_id; committed parts only."""
        paths = self._part_files(self.layout.masks)
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
        target = next((b for b in self.target_blocks((split,)) if b.block == block), None)
        if target is None:
            raise LakeError(f"{split} has no target block {block}")
        parts = [read_block(p, block, target.first, target.length)
                 for p in self._part_files(lambda key: self.layout.margins(split, key))]
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, target.length), np.float32)
        ids = np.concatenate([i for i, _ in parts])
        values = np.concatenate([v for _, v in parts])
        order = np.argsort(ids, kind="stable")
        return ids[order], values[order]

    def read_examples(self) -> pa.Table:
        """The `examples` table written by `dm prepare`."""
        if not self.layout.examples.exists():
            raise LakeError(f"{self.layout.examples} is missing: run `dm prepare` first")
        return pq.read_table(self.layout.examples)
