"""`dm lake migrate`: adopt an experiment written by an older dm (lake format 1) without retraining.

Format 1 had no commit records: a part was committed when its models file existed (masks and margins renamed
in first), a fit block when its `datamodel_fits` file existed (written last), and betons carried no checksum.
Under both locks, migration checks each committed part's files (readable Parquet with the declared schema, the
same model ids in models/masks/every margins block, the part key matching them, no id in two parts) and writes
its commit record with `dm.lake.records` exactly as a fresh commit does; then the same for fit blocks (records
carrying the fit hash, which is added to fit.json), the betons' checksums (after reading them back), the views'
signature; and last, atomically, `lake_format` in meta.json. A crash midway leaves a format-1 lake that the
next `dm lake migrate` resumes (every record is simply written again). Files that fail a check, and format-1
crash leftovers (part files without a models file, fit files without their block's marker), are moved to
`quarantine/<time>/` like `dm lake repair` does; the next `dm train` / `dm fit` refills them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dm.lake import schema
from dm.lake.atomic import read_json, write_json_atomic
from dm.lake.errors import LakeError
from dm.lake.fit_meta import read_fit_meta, write_fit_meta
from dm.lake.layout import Layout
from dm.lake.lock import experiment_lock, fit_lock
from dm.lake.records import identity_hash, make_record, record_path, write_record
from dm.lake.rollups import ROLLUPS, rollups_from_stored
from dm.lake.store import Lake, TargetBlock
from dm.lake.verify import Problem, repair

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


def _part_files(lake: Lake, key: str) -> list[Path]:
    """The files of part `key` in the order a commit writes them: masks, margins of every block, models."""
    layout = lake.layout
    return ([layout.masks(key)] + [layout.margins(b.split, b.block, key) for b in lake.target_blocks()]
            + [layout.models(key)])


def _check_part(lake: Lake, key: str, seen: set[int]) -> list[int]:
    """Sorted model ids of a format-1 part whose files all agree; LakeError naming the first bad file."""
    expected = {lake.layout.masks(key): schema.masks_schema(lake.d), lake.layout.models(key): schema.MODELS}
    for block in lake.target_blocks():
        expected[lake.layout.margins(block.split, block.block, key)] = schema.margins_schema(block.length)
    ids: list[int] | None = None
    for path in _part_files(lake, key):
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


def _migrate_parts(lake: Lake, bad: list[Problem]) -> int:
    root, seen, done = lake.layout.root, set(), 0
    keys = sorted(p.stem.removeprefix("part-") for p in root.glob("models/part-*.parquet"))
    for key in keys:
        try:
            ids = _check_part(lake, key, seen)
        except LakeError as err:
            path, _, why = str(err).partition(": ")
            bad.append(Problem(Path(path), why, _existing([*_part_files(lake, key), record_path(root, "part", key)])))
            continue
        seen.update(ids)
        write_record(root, make_record(root, "part", key, lake.experiment_id, [ids[0], ids[-1], len(ids)],
                                       _part_files(lake, key)))
        done += 1
    for pattern in ("masks/part-*.parquet", "margins/*/*/part-*.parquet"):
        for path in sorted(root.glob(pattern)):
            if path.stem.removeprefix("part-") not in keys:
                bad.append(Problem(path, "left by a crashed format-1 commit (its part has no models file)", [path]))
    return done


def _fit_files(lake: Lake, block: TargetBlock) -> list[Path]:
    from dm.solve.lake_fit import OUTPUTS, block_path

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
    from dm.lake.verify import FIT_GLOBS
    from dm.solve.lake_fit import _block_key, commit_block

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
            bad.append(Problem(Path(path), why, _existing([*files, record_path(root, "fit", _block_key(block))])))
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
    from dm.lake.records import file_digest

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
    layout = Layout(Path(root))
    if not layout.meta.exists():
        raise LakeError(f"no experiment at {root} (no meta.json); nothing to migrate")
    meta = read_json(layout.meta)
    if not isinstance(meta, dict) or "identity" not in meta or "shape" not in meta:
        raise LakeError(f"{layout.meta} is not an experiment's metadata (no identity/shape)")
    version = meta.get("lake_format")
    if version == schema.LAKE_FORMAT:
        return Migration(layout.root, None)
    if version != 1:
        raise LakeError(f"{root} has lake format {version!r}; this dm migrates format 1 to {schema.LAKE_FORMAT}")
    from dm.lake.version import code_version

    result = Migration(layout.root, 1)
    with fit_lock(layout.root), experiment_lock(layout.root):
        lake = Lake(layout.root, {**meta, "lake_format": schema.LAKE_FORMAT})  # in memory only until the end
        lake.recover()  # format-1 staging: never renamed into place
        bad: list[Problem] = []
        result.parts = _migrate_parts(lake, bad)
        result.blocks = _migrate_fit(lake, bad)
        _migrate_betons(lake, bad)
        result.problems = bad
        result.quarantined += repair(lake, bad)
        _migrate_views(lake, result)
        migrated = {"from": 1, "by": code_version()}
        write_json_atomic({**lake.meta, "migrated": migrated}, layout.meta)  # last: the lake is now format 2
    return result
