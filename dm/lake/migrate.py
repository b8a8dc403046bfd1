"""`dm lake migrate`: adopt an experiment written by an older dm (lake formats 1 and 2) without retraining.

Format 1 had no commit records: a part was committed when its models file existed (masks and margins renamed
in first), a fit block when its `datamodel_fits` file existed (written last), and betons carried no checksum.
Format 2 had records but kept margins in one file per (split, target block, part), a list column per model;
format 3 keeps them long form in one file per (split, part) (`dm.lake.margins`).

Under both locks, migration checks each committed part's files (readable Parquet with the declared schema, the
same model ids in models/masks/every margins block, the part key matching them, no id in two parts; format 2:
the files match the part's commit record), rewrites its margins in the current layout, writes its commit record
with `dm.lake.records` exactly as a fresh commit does, and only then removes the old margins files. From format
1 it then records the fit blocks (records carrying the fit hash, which is added to fit.json) and the betons'
checksums (after reading them back). Last come the views' signature and, atomically, `lake_format` in
meta.json. A crash midway leaves an old-format lake that the next `dm lake migrate` resumes (a part already
rewritten and recorded is recognised by its record; every other record is simply written again). Files that fail
a check, and crash leftovers (part files without a models file or, in format 2, without a record; fit files
without their block's marker), are moved to `quarantine/<time>/` like `dm lake repair` does; the next
`dm train` / `dm fit` refills them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dm.lake import schema
from dm.lake.atomic import atomic_path, read_json, write_json_atomic
from dm.lake.errors import LakeError
from dm.lake.fit_blocks import OUTPUTS, block_key, block_path, commit_block
from dm.lake.fit_meta import read_fit_meta, write_fit_meta
from dm.lake.info import read_meta
from dm.lake.layout import Layout
from dm.lake.lock import experiment_lock, fit_lock
from dm.lake.margins import write_split
from dm.lake.records import Record, check_file, file_digest, identity_hash, make_record, record_path, write_record
from dm.lake.rollups import ROLLUPS, rollups_from_stored
from dm.lake.store import Lake, TargetBlock
from dm.lake.verify import FIT_GLOBS, Problem, repair

FIT_KEYS = ("solve", "train_model_ids", "val_model_ids", "test_model_ids")  # what a fit hash covers


@dataclass
class Migration:
    """What `migrate` did: None for `from_format` when the lake was already current."""

    root: Path
    from_format: int | None
    parts: int = 0  # parts recorded
    blocks: int = 0  # fit blocks recorded
    problems: list[Problem] = field(default_factory=list)  # files that failed a check, and why
    quarantined: list[tuple[Path, Path]] = field(default_factory=list)  # (from, to)
    notes: list[str] = field(default_factory=list)


def _existing(paths: list[Path]) -> list[Path]:
    return [p for p in paths if p.exists()]


def _legacy_margins(layout: Layout, split: str, block: int, key: str) -> Path:
    """Where lake formats 1 and 2 kept a part's margins: one file per target block, a list column per model."""
    return layout.root / "margins" / f"split={split}" / f"block={block:04d}" / f"part-{key}.parquet"


def _legacy_schema(length: int) -> pa.Schema:
    return pa.schema([("model_id", pa.int64()), ("margin", pa.list_(pa.float32(), length))])


def _read_ids(path: Path, expected: pa.Schema) -> list[int]:
    """The model ids of a part file, after checking it reads as Parquet with the declared schema."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as err:
        raise LakeError(f"unreadable Parquet ({str(err).splitlines()[0][:100]})") from err
    if not table.schema.equals(expected):
        shown = table.schema.to_string(show_schema_metadata=False).replace("\n", ", ")
        raise LakeError(f"schema differs from the declared one ({shown})")
    return table.column("model_id").to_pylist()


def _legacy_files(lake: Lake, key: str) -> list[Path]:
    """The files of an old-layout part in the order a commit wrote them: masks, margins of every block, models."""
    layout = lake.layout
    return ([layout.masks(key)] + [_legacy_margins(layout, b.split, b.block, key) for b in lake.target_blocks()]
            + [layout.models(key)])


def _files(lake: Lake, key: str) -> list[Path]:
    """The files of a part in the current layout, as `Lake.write_part` records them."""
    layout = lake.layout
    return [layout.masks(key), layout.margins("test", key), layout.margins("train", key), layout.models(key)]


def _check_legacy_part(lake: Lake, key: str, seen: set[int]) -> list[int]:
    """Sorted model ids of an old-layout part whose files all agree; LakeError naming the first bad file."""
    expected = {lake.layout.masks(key): schema.masks_schema(lake.d), lake.layout.models(key): schema.MODELS}
    for block in lake.target_blocks():
        expected[_legacy_margins(lake.layout, block.split, block.block, key)] = _legacy_schema(block.length)
    ids: list[int] | None = None
    for path in _legacy_files(lake, key):
        if not path.exists():
            raise LakeError(f"{path}: missing (the part's models file exists)")
        try:
            got = _read_ids(path, expected[path])
        except LakeError as err:
            raise LakeError(f"{path}: {err}") from err
        if ids is None:
            ids = got
        elif got != ids:
            raise LakeError(f"{path}: model ids differ from {lake.layout.masks(key).name} of the same part")
    assert ids is not None
    if not ids or len(set(ids)) != len(ids) or ids != sorted(ids) or f"{ids[0]:09d}-{ids[-1]:09d}" != key:
        raise LakeError(f"{lake.layout.models(key)}: model ids are not the distinct sorted ids {key} names")
    if again := seen.intersection(ids):
        raise LakeError(f"{lake.layout.models(key)}: model ids {sorted(again)[:5]} are committed in another part")
    return ids


def _rewrite_margins(lake: Lake, key: str, ids: list[int]) -> None:
    """Write the part's margins in the current layout (one file per split) from its checked per-block files."""
    for split in ("test", "train"):
        blocks = lake.target_blocks((split,))
        values = np.empty((len(ids), lake.split_size(split)), np.float32)
        for b in blocks:
            column = pq.read_table(_legacy_margins(lake.layout, split, b.block, key)).column("margin")
            values[:, b.first : b.first + b.length] = (
                column.combine_chunks().flatten().to_numpy().reshape(len(ids), b.length))
        with atomic_path(lake.layout.margins(split, key)) as tmp:
            write_split(tmp, np.asarray(ids, np.int64), values, [(b.first, b.length) for b in blocks])


def _converted(lake: Lake, key: str, record: Record | None) -> list[int] | None:
    """The ids of a part that an interrupted migration already rewrote and recorded (its record names the
    current files and they check against it), else None."""
    root = lake.layout.root
    if record is None or set(record.files) != {str(f.relative_to(root)) for f in _files(lake, key)}:
        return None
    if any(check_file(root, rel, expected) for rel, expected in record.files.items()):
        return None
    return pq.read_table(lake.layout.models(key), columns=["model_id"]).column("model_id").to_pylist()


def _check_record(lake: Lake, key: str, record: Record | None, version: int) -> None:
    """A format-2 part must have its commit record, and its files must still match it (LakeError naming one)."""
    if version < 2:
        return
    if record is None:
        raise LakeError(f"{lake.layout.models(key)}: no commit record names it (a crashed commit)")
    for rel, expected in record.files.items():
        if why := check_file(lake.layout.root, rel, expected):
            raise LakeError(f"{lake.layout.root / rel}: {why}")


def _migrate_parts(lake: Lake, bad: list[Problem], version: int) -> int:
    """Check each part of the old layout (format 2: against its commit record too), rewrite its margins,
    record it, then remove its old margins files. A part found rewritten and recorded by an interrupted run
    only loses its leftover old files."""
    root, seen, done = lake.layout.root, set(), 0
    keys = sorted(p.stem.removeprefix("part-") for p in root.glob("models/part-*.parquet"))
    records = lake.part_records()
    for key in keys:
        legacy = [_legacy_margins(lake.layout, b.split, b.block, key) for b in lake.target_blocks()]
        ids = _converted(lake, key, records.get(key))
        if ids is None:
            try:
                _check_record(lake, key, records.get(key), version)
                ids = _check_legacy_part(lake, key, seen)
            except LakeError as err:
                path, _, why = str(err).partition(": ")
                group = [*_legacy_files(lake, key), *_files(lake, key), record_path(root, "part", key)]
                bad.append(Problem(Path(path), why, _existing(list(dict.fromkeys(group)))))
                continue
            _rewrite_margins(lake, key, ids)
            write_record(root, make_record(root, "part", key, lake.experiment_id, [ids[0], ids[-1], len(ids)],
                                           _files(lake, key)))
        seen.update(ids)
        for path in _existing(legacy):  # after the record: a crash here leaves a recorded, converted part
            path.unlink()
        done += 1
    for pattern in ("masks/part-*.parquet", "margins/*/part-*.parquet", "margins/*/*/part-*.parquet"):
        for path in sorted(root.glob(pattern)):
            if path.stem.removeprefix("part-") not in keys:
                bad.append(Problem(path, "left by a crashed commit of an older dm (its part has no models file)",
                                   [path]))
    for directory in sorted(root.glob("margins/*/block=*"), reverse=True):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    return done


def _fit_files(lake: Lake, block: TargetBlock) -> list[Path]:
    return [block_path(lake.layout.root, output, block) for output in OUTPUTS]


def _check_block(files: list[Path], block: TargetBlock) -> None:
    """LakeError naming the first of a block's output files that is missing, unreadable or off the block."""
    for path in files:
        try:
            ids = pq.read_table(path, columns=["example_id"]).column("example_id").to_numpy()
        except (OSError, pa.ArrowException, KeyError) as err:
            raise LakeError(f"{path}: unreadable, or no example_id column ({str(err).splitlines()[0][:100]})") from err
        if len(ids) and (ids.min() < block.first or ids.max() >= block.first + block.length):
            raise LakeError(f"{path}: example ids outside block {block.first}..{block.first + block.length - 1}")


def _migrate_fit(lake: Lake, bad: list[Problem]) -> int:

    root = lake.layout.root
    meta = read_fit_meta(lake.layout)
    if meta is None:
        bad += [Problem(f, "a fit file without fit.json (not from a dm fit of this lake)", [f])
                for pattern in FIT_GLOBS for f in sorted(root.glob(pattern))]
        return 0
    missing = [k for k in FIT_KEYS if k not in meta]
    if missing:
        raise LakeError(f"{lake.layout.fit_json} lacks {missing}: not a fit record of dm")
    fit_hash = identity_hash(lake.experiment_id, {k: meta[k] for k in FIT_KEYS})  # as `dm fit` computes it
    done = 0
    for block in lake.target_blocks():
        files = _fit_files(lake, block)
        stored = [f for f in files if f.parent.parent.name not in ROLLUPS]  # what a format-1 fit wrote
        marker = lake.layout.fit_block("datamodel_fits", block.split, block.block)  # a format-1 commit marker
        if not marker.exists():
            bad += [Problem(f, "left by a crashed format-1 fit (its block has no datamodel_fits)", [f])
                    for f in files if f.exists()]
            continue
        try:
            _check_block(stored, block)
        except LakeError as err:
            path, _, why = str(err).partition(": ")
            bad.append(Problem(Path(path), why, _existing([*files, record_path(root, "fit", block_key(block))])))
            continue
        rollups_from_stored(lake, block)  # format 1 had no per-block rollups (counterfactual_topk, support)
        commit_block(root, block, fit_hash)
        done += 1
    write_fit_meta(lake.layout, {**meta, "fit_hash": fit_hash})
    return done


def _migrate_betons(lake: Lake, bad: list[Problem]) -> None:
    """Record the checksum of each beton that reads back with the recorded number of rows (as `dm prepare`
    would after writing it); a beton that does not is quarantined and `dm train` writes it again."""
    from dm.data.ffcv_io import read_beton

    layout = lake.layout
    info_path = layout.data_dir / "info.json"
    if not info_path.exists():
        return
    info = read_json(info_path)
    betons = {}
    for split, rows in (("train", info.get("d")), ("test", info.get("n_test"))):
        path = layout.beton(split)
        if not path.exists():
            continue
        try:
            n = len(read_beton(path, info.get("task") == "regression")[1])
        except Exception as err:  # noqa: BLE001 - ffcv raises many kinds on a damaged file; each means unreadable
            n, why = None, f"unreadable beton ({type(err).__name__})"
        else:
            why = f"{n} rows, data/info.json says {rows}"
        if n is None or n != rows:
            bad.append(Problem(path, why, [path]))
        else:
            betons[split] = file_digest(path)
    write_json_atomic({**info, "betons": betons}, info_path)


def _migrate_views(lake: Lake, result: Migration) -> None:
    """Rebuild dm.duckdb's views and record their signature; an unreadable database is quarantined."""
    from dm.lake.views import DatabaseBusy, rebuild_views

    if not lake.layout.database.exists():
        return
    try:
        rebuild_views(lake)
    except DatabaseBusy:
        result.notes.append(f"{lake.layout.database} is open elsewhere; its views are rebuilt on next use")
    except LakeError as err:
        result.quarantined += repair(lake, [Problem(lake.layout.database, str(err), [lake.layout.database])])


def migrate(root: Path) -> Migration:
    """Bring the experiment at `root` to the current lake format (see the module docstring)."""
    layout, meta = read_meta(root, "; nothing to migrate")
    version = meta.get("lake_format")
    if version == schema.LAKE_FORMAT:
        return Migration(layout.root, None)
    if version not in (1, 2):
        raise LakeError(f"{root} has lake format {version!r}; this dm migrates formats 1 and 2 to "
                        f"{schema.LAKE_FORMAT}")
    from dm.lake.version import code_version

    result = Migration(layout.root, version)
    with fit_lock(layout.root), experiment_lock(layout.root):
        lake = Lake(layout.root, {**meta, "lake_format": schema.LAKE_FORMAT})  # in memory only until the end
        lake.recover()  # dead writers' staging: never committed
        bad: list[Problem] = []
        result.parts = _migrate_parts(lake, bad, version)
        if version == 1:  # format 2 already recorded its fit blocks and betons
            result.blocks = _migrate_fit(lake, bad)
            _migrate_betons(lake, bad)
        result.problems = bad
        result.quarantined += repair(lake, bad)
        _migrate_views(lake, result)
        migrated = {"from": version, "by": code_version()}
        write_json_atomic({**lake.meta, "migrated": migrated}, layout.meta)  # last: the lake is now current
    return result
