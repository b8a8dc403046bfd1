"""The one way dm writes a file: into a hidden sibling, flushed to disk, then renamed over the target.

A reader (or a crash) never sees a half-written file: the target is either the old version, the new one, or
absent. Every file dm writes goes through `atomic_path` (Parquet, JSON, text, FFCV betons, HTML).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path` to write; on success it is fsynced and renamed onto `path`.

    On an exception the temporary file is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(table: pa.Table, path: Path, **options) -> Path:
    """Write `table` as zstd Parquet at `path` atomically; returns `path`.
    options: further `pyarrow.parquet.write_table` arguments (row_group_size, encodings)."""
    import pyarrow.parquet as pq  # here, not at the top: `dm sql` reads JSON through this module without pyarrow

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", **options)
    return Path(path)


def write_text_atomic(text: str, path: Path) -> Path:
    """Write UTF-8 `text` at `path` atomically; returns `path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(payload: Any, path: Path) -> Path:
    """Write `payload` as indented, key-sorted JSON at `path` atomically; returns `path`."""
    return write_text_atomic(json.dumps(payload, indent=2, sort_keys=True, default=str), path)


def read_json(path: Path, what: str = "") -> Any:
    """Parse the JSON file `path`; a missing or unreadable file raises LakeError naming it."""
    from dm.lake.errors import LakeError

    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as err:
        raise LakeError(f"{path} is missing{f' ({what})' if what else ''}") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LakeError(f"{path} is unreadable or truncated ({type(err).__name__}: {err}); "
                        "see `dm lake verify`") from err
