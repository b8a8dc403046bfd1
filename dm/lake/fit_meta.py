"""`fit.json`: the record of an experiment's fit, owned by the lake (written by `dm fit`, read by eval/report).

Keys: `solve` (solver settings), `train_model_ids` / `val_model_ids` / `test_model_ids` (the model split),
`fit_hash` (identity hash of those, carried by every fit block's commit record), `status`, `fit_seconds`,
`code_version`.
"""

from __future__ import annotations

from typing import Any

from dm.lake.atomic import read_json, write_json_atomic
from dm.lake.errors import LakeError
from dm.lake.layout import Layout


def read_fit_meta(layout: Layout) -> dict[str, Any] | None:
    """The experiment's fit.json, or None before the first `dm fit`; LakeError naming the file if unreadable."""
    if not layout.fit_json.exists():
        return None
    meta = read_json(layout.fit_json)
    if not isinstance(meta, dict):
        raise LakeError(f"{layout.fit_json} is not a fit record (a JSON object)")
    return meta


def write_fit_meta(layout: Layout, meta: dict[str, Any]) -> None:
    """Replace fit.json atomically (hold the fit lock: `dm.lake.lock.fit_lock`)."""
    write_json_atomic(meta, layout.fit_json)
