"""Where the retraining experiments write: `lake/<exp>/eval/<experiment>/` and `lake/<exp>/eval/metrics/`.

Each experiment directory holds its tables (`<table>.parquet`) and `config.json` = {"key": sha256, "config": the
inputs that determined them}. A rerun whose key matches reuses the tables instead of recomputing them. Files are
written to a staging name and renamed; config.json goes last, so a crash never leaves tables that look current.
Metric files `eval/metrics/<name>.parquet` have columns metric (string), value (double), n (int64): the
`evaluation` view unions them.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dm.lake.atomic import write_atomic, write_json_atomic

METRICS_SCHEMA = pa.schema([("metric", pa.string()), ("value", pa.float64()), ("n", pa.int64())])


def config_key(config: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of `config`."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


class ResultStore:
    """The `eval/` directory of one lake experiment."""

    def __init__(self, lake_root: Path | str):
        self.root = Path(lake_root) / "eval"

    def load(self, experiment: str, config: dict[str, Any], tables: tuple[str, ...]) -> dict[str, pa.Table] | None:
        """The stored tables of `experiment` if they were computed from exactly `config`, else None."""
        folder = self.root / experiment
        meta = folder / "config.json"
        if not meta.exists() or json.loads(meta.read_text()).get("key") != config_key(config):
            return None
        if not all((folder / f"{t}.parquet").exists() for t in tables):
            return None
        return {t: pq.read_table(folder / f"{t}.parquet") for t in tables}

    def save(self, experiment: str, config: dict[str, Any], tables: dict[str, pa.Table]) -> Path:
        """Write the tables, then config.json (the marker that they are current)."""
        folder = self.root / experiment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").unlink(missing_ok=True)
        for name, table in tables.items():
            write_atomic(table, folder / f"{name}.parquet")
        write_json_atomic({"key": config_key(config), "config": config}, folder / "config.json")
        return folder

    def write_metrics(self, name: str, rows: list[tuple[str, float, int]]) -> Path:
        """eval/metrics/<name>.parquet with one row per (metric, value, n)."""
        path = self.root / "metrics" / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.table({"metric": [r[0] for r in rows],
                          "value": [float(r[1]) if r[1] is not None else math.nan for r in rows],
                          "n": [int(r[2]) for r in rows]}, schema=METRICS_SCHEMA)
        write_atomic(table, path)
        return path

