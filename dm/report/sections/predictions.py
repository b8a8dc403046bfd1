"""Fig. 5: datamodel-predicted vs actual margins on held-out models, with the `evaluation` metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from dm.report.context import ReportContext
from dm.report.figures import figure_data_uri, new_figure
from dm.report.page import caption, metric, notice, plot, table
from dm.report.source import SectionUnavailable

ID = "predictions"
TITLE = "Predicted vs actual margins on held-out models"
FIGURE = "Fig. 5"
PEARSON = ("pearson", "pooled_pearson", "pearson_r", "pooled_r")


def find_metric(rows: list[dict[str, Any]], *names: str) -> dict[str, Any] | None:
    """The `evaluation` row for one of `names`: exact names first, then names that start with one of them.

    Rows of the test split (or without a split) come before other splits, so `lds` is the test-set LDS.
    """

    def closeness(row: dict[str, Any]) -> int | None:
        metric = str(row["metric"]).lower()
        if metric in names:
            return 0
        if metric.startswith(names):
            return 1
        return None

    hits = [(closeness(r), r.get("split") not in (None, "test"), str(r["metric"]), i) for i, r in enumerate(rows)]
    ranked = sorted(h for h in hits if h[0] is not None)
    return rows[ranked[0][3]] if ranked else None


def evaluation_rows(ctx: ReportContext) -> list[dict[str, Any]]:
    return ctx.views.table("SELECT * FROM evaluation").to_pylist()


def _evaluation_html(ctx: ReportContext) -> tuple[str, list[dict[str, Any]]]:
    if not ctx.views.has("evaluation"):
        return notice("not run yet: run `dm eval` (view `evaluation` is not in the database)"), []
    rows = evaluation_rows(ctx)
    if not rows:
        return notice("the `evaluation` view has no rows yet: run `dm eval`"), []
    columns = list(rows[0])
    attrs = [f'data-metric-row="{str(r["metric"]).replace(chr(34), "")}"' for r in rows]
    chips = []
    for name, label, names in (("lds", "LDS", ("lds",)), ("pearson", "pooled r", PEARSON)):
        row = find_metric(rows, *names)
        if row is not None:
            chips.append(metric(name, label, row["value"]))
    return (
        f'<div class="metrics">{"".join(chips)}</div>' + table(columns, [[r[c] for c in columns] for r in rows], attrs)
    ), rows


def _scatter_html(ctx: ReportContext, headline: str) -> str:
    views, s = ctx.views, ctx.settings
    views.require("predictions", "dm eval")
    split = ctx.preferred_split("predictions")
    if split is None:
        raise SectionUnavailable("the `predictions` view has no rows yet: run `dm eval`")
    ((n, n_models, n_targets),) = views.rows(
        "SELECT count(*), count(DISTINCT model_id), count(DISTINCT example_id) FROM predictions WHERE split = ?",
        [split],
    )
    sample = views.table(
        "SELECT predicted, actual FROM (SELECT predicted, actual FROM predictions WHERE split = ?) "
        f"USING SAMPLE reservoir({int(s.max_scatter_points)} ROWS) REPEATABLE ({int(s.seed)})",
        [split],
    )
    targets = [
        t
        for (t,) in views.rows(
            "SELECT DISTINCT example_id FROM predictions WHERE split = ? ORDER BY example_id", [split]
        )
    ]
    traced = sorted(ctx.rng("traced").choice(targets, size=min(s.traced_targets, len(targets)), replace=False))
    traced_rows = views.table(
        "SELECT example_id, predicted, actual FROM predictions WHERE split = ? AND list_contains(?, example_id) "
        "ORDER BY example_id, model_id",
        [split, [int(t) for t in traced]],
    )

    fig = new_figure(10, 4.4)
    left, right = fig.subplots(1, 2)
    x = sample.column("predicted").to_numpy(zero_copy_only=False).astype(float)
    y = sample.column("actual").to_numpy(zero_copy_only=False).astype(float)
    left.scatter(x, y, s=3, alpha=0.25, color="#1f6feb", linewidths=0, rasterized=True)
    ids = traced_rows.column("example_id").to_numpy()
    tx = traced_rows.column("predicted").to_numpy(zero_copy_only=False).astype(float)
    ty = traced_rows.column("actual").to_numpy(zero_copy_only=False).astype(float)
    for t in traced:
        keep = ids == t
        right.scatter(tx[keep], ty[keep], s=8, alpha=0.6, linewidths=0, label=f"{split} #{t}")
    for ax, lo_hi in ((left, np.concatenate([x, y])), (right, np.concatenate([tx, ty]))):
        if lo_hi.size:
            lo, hi = float(np.nanmin(lo_hi)), float(np.nanmax(lo_hi))
            ax.plot([lo, hi], [lo, hi], color="#57606a", linewidth=1, linestyle="--", label="y = x")
        ax.set_xlabel("datamodel-predicted margin")
        ax.set_ylabel("actual margin (held-out model)")
    left.set_title(f"all {split} targets{headline}")
    right.set_title("three targets, one colour each" if len(traced) == 3 else f"{len(traced)} targets")
    right.legend(fontsize=8, loc="best")
    shown = len(x)
    return plot(figure_data_uri(fig, s.dpi), "predicted vs actual margins") + caption(
        f"Each point is one (held-out model, {split} target) pair: x = θᵀ1_S + b, y = the margin the model "
        f"actually had. {n:,} pairs over {n_models:,} held-out models and {n_targets:,} targets; "
        f"{shown:,} drawn (uniform sample). Right: every held-out model for a few random targets."
    )


def body(ctx: ReportContext) -> str:
    """The scatter (or why it is missing), then the `evaluation` metrics, which can exist without it."""
    metrics_html, rows = _evaluation_html(ctx)
    headline = ""
    lds, r = find_metric(rows, "lds"), find_metric(rows, *PEARSON)
    if lds is not None:
        headline += f"\nLDS = {lds['value']:.3f}"
    if r is not None:
        headline += f"{',' if lds is not None else chr(10)} pooled r = {r['value']:.3f}"
    try:
        scatter = _scatter_html(ctx, headline)
    except SectionUnavailable as err:
        if not rows:
            raise
        scatter = notice(str(err))
    return scatter + metrics_html
