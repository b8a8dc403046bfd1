"""Commit records: what each committed part (or fit block) consists of, and whose it is.

`_records/<kind>/<key>.json` is written last, atomically, when a part's (kind "part") or a fit block's (kind
"fit") files are in place; it is the commit marker. It names:

    owner:  the hash of the experiment identity (parts) or of the fit configuration (fit blocks), so a file
            copied in from another experiment or another fit is recognised as foreign;
    ids:    the model ids of a part (or the example ids of a block), as [first, last, count];
    files:  relative path -> {"bytes": size, "blake2b": digest} of every file of the part/block.

Reads check the files they read against their record (`verified`), `dm lake verify` checks everything.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dm.lake.atomic import read_json, write_json_atomic
from dm.lake.errors import LakeError

RECORDS_DIR = "_records"
_VERIFIED: set[tuple[str, int, int, str]] = set()  # (path, size, mtime_ns, digest) already checked by this process


def identity_hash(*payloads: Any) -> str:
    """A short stable hash of JSON-able payloads (key order does not matter)."""
    text = json.dumps(payloads, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def file_digest(path: Path) -> dict[str, Any]:
    """{"bytes": size, "blake2b": hex digest} of a file."""
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "blake2b").hexdigest()
    return {"bytes": Path(path).stat().st_size, "blake2b": digest}


@dataclass
class Record:
    kind: str  # "part" | "fit"
    key: str  # part key "<first>-<last>" or fit block "<split>-<block>"
    owner: str  # identity_hash of the experiment (parts) or of the fit configuration (fit blocks)
    ids: list[int]  # [first, last, count] of the model ids (parts) or example ids (fit blocks)
    files: dict[str, dict[str, Any]]  # path relative to the experiment -> file_digest

    def path(self, root: Path) -> Path:
        return record_path(root, self.kind, self.key)


def record_path(root: Path, kind: str, key: str) -> Path:
    return Path(root) / RECORDS_DIR / kind / f"{key}.json"


def make_record(root: Path, kind: str, key: str, owner: str, ids: list[int], files: list[Path]) -> Record:
    root = Path(root)
    return Record(kind, key, owner, [int(i) for i in ids],
                  {str(Path(f).relative_to(root)): file_digest(f) for f in files})


def write_record(root: Path, record: Record) -> Path:
    return write_json_atomic(asdict(record), record.path(root))


def read_records(root: Path, kind: str) -> tuple[dict[str, Record], list[tuple[Path, str]]]:
    """(key -> Record, [(unreadable record file, why)]) of one kind."""
    records, bad = {}, []
    for path in sorted((Path(root) / RECORDS_DIR / kind).glob("*.json")):
        try:
            raw = read_json(path)
            records[path.stem] = Record(**raw)
        except (LakeError, TypeError) as err:
            bad.append((path, f"unreadable commit record ({str(err).splitlines()[0][:120]})"))
    return records, bad


def check_file(root: Path, rel: str, expected: dict[str, Any], full: bool = True) -> str | None:
    """Why the file `rel` does not match its record (None when it does). full=False checks only the size
    (one stat on a plain string path: `dm sql` checks every file the views read on every connect)."""
    path = os.path.join(root, rel)
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return "missing (recorded in the commit record)"
    if stat.st_size != expected["bytes"]:
        return f"size {stat.st_size} bytes, recorded {expected['bytes']} (truncated or replaced)"
    if not full:
        return None
    key = (path, stat.st_size, stat.st_mtime_ns, expected["blake2b"])
    if key in _VERIFIED:
        return None
    if file_digest(path)["blake2b"] != expected["blake2b"]:
        return "checksum differs from the commit record (corrupt or replaced)"
    _VERIFIED.add(key)
    return None


def verified(root: Path, record: Record, rel: str) -> Path:
    """The path of `rel` after checking it against `record`; LakeError naming the file otherwise."""
    expected = record.files.get(rel)
    if expected is None:
        raise LakeError(f"{Path(root) / rel} is not in the commit record of {record.kind} {record.key}; "
                        "run `dm lake verify`")
    why = check_file(root, rel, expected)
    if why:
        raise LakeError(f"{Path(root) / rel}: {why}; run `dm lake verify`, then `dm lake repair`")
    return Path(root) / rel
