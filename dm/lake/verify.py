"""`dm lake verify` / `dm lake repair`: check every file of an experiment against its records, and quarantine
what is bad so that the next `dm train` / `dm fit` / `dm prepare` refills exactly what is missing.

What is checked (each finding names the file and why):
  * parts: each commit record is readable and of this experiment (owner = experiment identity hash); each
    recorded file exists with its recorded size and blake2b checksum; its model ids are the recorded ones;
  * part files (models/, masks/, margins/) and fit files that no commit record names (copied in, foreign);
  * fit blocks: recorded for the fit configuration in fit.json, files matching their record;
  * prepared data: data/info.json readable, betons matching their recorded checksums, examples present;
  * dm.duckdb: opens as a DuckDB database.
A bad file takes its whole part (or fit block) with it: a part is only ever in the lake complete.
Repair moves files to `quarantine/<UTC time>/<original path>`; nothing is deleted.
"""

from __future__ import annotations

import glob
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dm.lake.errors import LakeError
from dm.lake.fit_meta import read_fit_meta
from dm.lake.records import RECORDS_DIR, Record, check_file, read_records

if TYPE_CHECKING:  # neither module is imported at run time: `dm sql` checks a lake without numpy and pyarrow
    from dm.lake.info import LakeInfo
    from dm.lake.store import Lake

PART_GLOBS = ("models/part-*.parquet", "masks/part-*.parquet", "margins/*/part-*.parquet",
              "margins/*/*/part-*.parquet")  # the last: lake format 2's margins layout, left by a copy
FIT_GLOBS = tuple(f"{o}/*/block=*.parquet" for o in ("datamodels", "datamodel_fits", "fit_path"))


@dataclass
class Problem:
    path: Path  # the bad file
    why: str
    group: list[Path] = field(default_factory=list)  # everything to quarantine with it (part/block + record)

    def __str__(self) -> str:
        return f"{self.path}: {self.why}"


def _group(lake: Lake | LakeInfo, record: Record) -> list[Path]:
    root = lake.layout.root
    return [record.path(root)] + [root / rel for rel in record.files if (root / rel).exists()]


def _record_problems(lake: Lake | LakeInfo, kind: str, owner: str | None, full: bool,
                     what: str) -> tuple[list[Problem], set[str]]:
    """Problems of the records of `kind` and their files; also the files they rightly name (relative paths)."""
    root = lake.layout.root
    records, unreadable = read_records(root, kind)
    problems = [Problem(path, why, [path]) for path, why in unreadable]
    named: set[str] = set()
    for record in records.values():
        if owner is not None and record.owner != owner:
            problems.append(Problem(record.path(root), f"commit record of another {what} (owner {record.owner})",
                                    _group(lake, record)))
            continue
        bad = [(root / rel, why) for rel, exp in record.files.items() if (why := check_file(root, rel, exp, full))]
        if not bad and full and kind == "part":
            bad = _id_problems(lake, record)
        if bad:
            problems += [Problem(path, why, _group(lake, record)) for path, why in bad]
        else:
            named |= set(record.files)
    return problems, named


def _id_problems(lake: Lake, record: Record) -> list[tuple[Path, str]]:
    import pyarrow.compute as pc  # here, not at the top: `dm sql` runs this module's size checks without pyarrow
    import pyarrow.parquet as pq

    first, last, count = record.ids
    bad = []
    for rel in record.files:
        ids = pq.read_table(lake.layout.root / rel, columns=["model_id"]).column("model_id")
        distinct = pc.unique(ids)  # hashing: 0.04 s for a paper-size margins file's 25M ids (np.unique sorts: 1.2 s)
        low, high = pc.min_max(distinct).values() if len(distinct) else (None, None)
        split = Path(rel).parent.name.removeprefix("split=") if rel.startswith("margins/") else None
        rows = count * (lake.split_size(split) if split else 1)  # margins: one row per (model, example)
        if len(ids) != rows or len(distinct) != count or low is None or (low.as_py(), high.as_py()) != (first, last):
            bad.append((lake.layout.root / rel, f"model ids differ from the record ({first}..{last}, {count})"))
    return bad


def _unrecorded(lake: Lake | LakeInfo, globs: tuple[str, ...], named: set[str],
                in_problems: set[Path]) -> list[Problem]:
    """Files matching `globs` that no good record names and no other problem holds. Globbed as relative strings
    (`glob.glob`, hidden names included as pathlib's glob does): `dm sql` runs this on every connect."""
    root = lake.layout.root
    found = [rel for pattern in globs  # pattern by pattern, each in pathlib's order (by path components)
             for rel in sorted(glob.glob(pattern, root_dir=root, include_hidden=True), key=lambda r: r.split("/"))]
    paths = [root / rel for rel in found if rel not in named and root / rel not in in_problems]
    crashed = lake.crash_leftovers() if paths else set()  # reads the staging journals: only when needed
    out = []
    for path in paths:
        if path in crashed:
            out.append(Problem(path, "left by a crashed commit (its journal names it); the next `dm train` "
                               "or `dm lake repair` removes it", []))
        else:
            out.append(Problem(path, "not in any commit record of this experiment (copied in, or foreign)",
                               [path]))
    return out


def part_problems(lake: Lake | LakeInfo, full: bool = True) -> list[Problem]:
    """Problems of the trained parts (records, files, unrecorded part files)."""
    problems, named = _record_problems(lake, "part", lake.experiment_id, full, "experiment")
    flagged = {p for pr in problems for p in pr.group}
    return problems + _unrecorded(lake, PART_GLOBS, named, flagged)


def fit_problems(lake: Lake | LakeInfo, full: bool = True) -> list[Problem]:
    """Problems of fit.json and the fit blocks."""
    try:
        meta = read_fit_meta(lake.layout)
    except LakeError as err:
        return [Problem(lake.layout.fit_json, str(err).split(": ", 1)[-1], [lake.layout.fit_json])]
    owner = meta.get("fit_hash") if meta else ""
    problems, named = _record_problems(lake, "fit", owner, full, "fit configuration (see fit.json)")
    flagged = {p for pr in problems for p in pr.group}
    return problems + _unrecorded(lake, FIT_GLOBS, named, flagged)


def data_problems(lake: Lake) -> list[Problem]:
    if not lake.layout.data_dir.exists():
        return []
    from dm.data.prepare import prepared_problems

    return [Problem(path, why, [path] if path.exists() else []) for path, why in prepared_problems(lake.layout.root)]


def database_problems(lake: Lake) -> list[Problem]:
    from dm.lake.views import DatabaseBusy, open_database

    path = lake.layout.database
    if not path.exists():
        return []
    try:
        open_database(lake, read_only=True).close()
    except DatabaseBusy:
        return []  # held by another process: not a problem of the file
    except LakeError as err:
        return [Problem(path, str(err).removeprefix(f"{path} "), [path])]
    return []


def find_problems(lake: Lake, full: bool = True) -> list[Problem]:
    """Every problem of the experiment (full=False: sizes only, no checksums or ids)."""
    return part_problems(lake, full) + fit_problems(lake, full) + data_problems(lake) + database_problems(lake)


def check_parts(lake: Lake, full: bool = False) -> None:
    """Refuse (LakeError naming the first bad file) a lake whose parts are foreign, unrecorded or truncated
    (full: or whose checksums or ids differ from their records)."""
    _refuse(part_problems(lake, full=full))


def check_files(lake: Lake | LakeInfo) -> None:
    """`check_parts`, and the same for the fit blocks (what the SQL views read)."""
    _refuse(part_problems(lake, full=False) + fit_problems(lake, full=False))


def _refuse(problems: list[Problem]) -> None:
    if problems:
        raise LakeError(f"{problems[0]} ({len(problems)} problem(s) in all: `dm lake verify` lists them, "
                        "`dm lake repair` quarantines them so the next run refills them)")


def repair(lake: Lake, problems: list[Problem]) -> list[tuple[Path, Path]]:
    """Move every file of every problem's group to the quarantine; returns [(from, to)]. Nothing is deleted."""
    root = lake.layout.root
    target = lake.layout.quarantine / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    moved = []
    for path in dict.fromkeys(p for pr in problems for p in (pr.group or [])):
        if not path.exists():
            continue
        dest = target / path.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, dest)
        moved.append((path, dest))
    return moved


__all__ = ["Problem", "find_problems", "check_parts", "repair", "RECORDS_DIR"]
