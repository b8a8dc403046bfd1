"""Provenance: config, dataset fingerprint, code versions and timings of the run behind the page."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from dm.report.context import ReportContext
from dm.report.page import notice, table

ID = "run"
TITLE = "Run: configuration, data, code, timings"
FIGURE = ""

MODELS_SQL = """
SELECT code_version, count(*) AS models, sum(train_seconds) AS train_seconds,
       count(*) / nullif(sum(train_seconds), 0) AS models_per_second, avg(test_accuracy) AS mean_test_accuracy,
       min(alpha) AS alpha
FROM models GROUP BY code_version ORDER BY min(model_id)
"""


def shortened(value: Any, limit: int = 20) -> Any:
    """JSON with long lists (e.g. the model ids of each split) replaced by their length."""
    if isinstance(value, dict):
        return {k: shortened(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return f"[{len(value)} values]" if len(value) > limit else [shortened(v, limit) for v in value]
    return value


def timings(fit: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Every number in fit.json whose key speaks of time (seconds, time, duration)."""
    found = []
    for key, value in fit.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found += timings(value, name + ".")
        elif (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and any(word in key.lower() for word in ("second", "time", "duration"))
        ):
            found.append((name, value))
    return found


def _details(title: str, text: str) -> str:
    return f"<details><summary>{escape(title)}</summary><pre>{escape(text)}</pre></details>"


def body(ctx: ReportContext) -> str:
    run, views = ctx.run, ctx.views
    facts: list[list[Any]] = []
    if run.experiment:
        facts.append(["experiment", run.experiment])
    if run.lake_root:
        facts.append(["lake", run.lake_root])
    identity = (run.meta or {}).get("identity", {})
    for key in ("dataset_fingerprint", "alpha", "seed"):
        if key in identity:
            facts.append([key.replace("_", " "), identity[key]])
    for key, value in (run.meta or {}).get("shape", {}).items():
        facts.append([f"shape: {key}", value])
    if run.meta and "created_by" in run.meta:
        facts.append(["lake created by code version", run.meta["created_by"]])
    if run.report_code_version:
        facts.append(["report drawn by code version", run.report_code_version])
    for name, value in timings(run.fit or {}):
        facts.append([f"fit: {name}", value])
    html = table(["", "value"], facts) if facts else ""
    if views.has("models"):
        models = views.table(MODELS_SQL)
        html += "<p>Trained models per code version (models/s = models / Σ train_seconds, per process):</p>"
        html += table(models.column_names, [list(r.values()) for r in models.to_pylist()])
    else:
        html += notice("not run yet: run `dm train` (view `models` is not in the database)")
    if run.fit is None:
        html += notice("no fit.json yet: run `dm fit` to record the solver settings and its timings")
    if run.image_note:
        html += notice(run.image_note)
    if run.config_yaml:
        html += _details("configuration (composed Hydra config)", run.config_yaml)
    if run.meta:
        html += _details("lake meta.json", json.dumps(run.meta, indent=2, sort_keys=True))
    if run.fit:
        html += _details("fit.json (long id lists shortened)", json.dumps(shortened(run.fit), indent=2, sort_keys=True))
    return html
