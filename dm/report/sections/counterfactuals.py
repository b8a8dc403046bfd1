"""Fig. 8: datamodel-predicted vs actual change of margin when training examples are removed and models retrained.

Reads the view `counterfactual_results` (split, example_id, k, removed, predicted_delta, actual_delta) that the
retraining experiments of `dm eval` provide.
"""

from __future__ import annotations

import numpy as np

from dm.report.context import ReportContext
from dm.report.figures import figure_data_uri, new_figure
from dm.report.page import caption, metric, plot, table
from dm.report.source import SectionUnavailable

ID = "counterfactuals"
TITLE = "Data counterfactuals: predicted vs actual change"
FIGURE = "Fig. 8"
VIEW = "counterfactual_results"

# Spearman ρ as the Pearson correlation of average ranks (ties share the mean of their ranks).
STATS_SQL = f"""
WITH r AS (
  SELECT removed, predicted_delta AS p, actual_delta AS a,
         rank() OVER (ORDER BY predicted_delta) + (count(*) OVER (PARTITION BY predicted_delta) - 1) / 2.0 AS rp,
         rank() OVER (ORDER BY actual_delta) + (count(*) OVER (PARTITION BY actual_delta) - 1) / 2.0 AS ra
  FROM {VIEW} WHERE predicted_delta IS NOT NULL AND actual_delta IS NOT NULL)
SELECT count(*) AS n, corr(p, a) AS pearson, corr(rp, ra) AS spearman FROM r
"""

BY_REMOVED_SQL = f"""
SELECT removed, count(*) AS points, count(DISTINCT example_id) AS targets, min(k) AS min_k, max(k) AS max_k,
       corr(predicted_delta, actual_delta) AS pearson, avg(predicted_delta) AS mean_predicted,
       avg(actual_delta) AS mean_actual
FROM {VIEW} GROUP BY removed ORDER BY removed
"""

COLORS = {"top": "#cf222e", "bottom": "#1a7f37", "random": "#8c959f"}


def body(ctx: ReportContext) -> str:
    views, s = ctx.views, ctx.settings
    views.require(VIEW, "dm eval")
    ((n, pearson, spearman),) = views.rows(STATS_SQL)
    if not n:
        raise SectionUnavailable(f"the `{VIEW}` view has no rows yet: run `dm eval`")
    points = views.table(
        f"SELECT removed, predicted_delta, actual_delta FROM {VIEW} "
        f"USING SAMPLE reservoir({int(s.max_scatter_points)} ROWS) REPEATABLE ({int(s.seed)})"
    )
    removed = points.column("removed").to_numpy(zero_copy_only=False).astype(str)
    x = points.column("predicted_delta").to_numpy(zero_copy_only=False).astype(float)
    y = points.column("actual_delta").to_numpy(zero_copy_only=False).astype(float)
    fig = new_figure(6.2, 4.8)
    ax = fig.subplots()
    for kind in sorted(set(removed), key=lambda k: (k not in COLORS, k)):
        keep = removed == kind
        ax.scatter(x[keep], y[keep], s=9, alpha=0.5, linewidths=0, color=COLORS.get(kind), label=f"remove {kind}-k")
    finite = np.concatenate([x, y])
    finite = finite[np.isfinite(finite)]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        ax.plot([lo, hi], [lo, hi], color="#57606a", linewidth=1, linestyle="--", label="y = x")
    ax.axhline(0, color="#d0d7de", linewidth=0.8)
    ax.axvline(0, color="#d0d7de", linewidth=0.8)
    ax.set_xlabel("datamodel-predicted change of margin")
    ax.set_ylabel("actual change of margin (retrained)")
    ax.set_title(f"r = {pearson:.3f}, Spearman ρ = {spearman:.3f}" if pearson is not None else "")
    ax.legend(fontsize=8)
    by_removed = views.table(BY_REMOVED_SQL)
    return (
        f'<div class="metrics">{metric("counterfactual_pearson", "Pearson r", pearson)}'
        f"{metric('counterfactual_spearman', 'Spearman ρ', spearman)}</div>"
        + plot(figure_data_uri(fig, s.dpi), "predicted vs actual counterfactual change")
        + caption(
            f"Each point is one target and one removed set R (its top-k, bottom-k or random k training examples "
            f"by datamodel weight): x = −Σ_(i∈R) θ_i, y = mean margin after retraining without R minus the "
            f"full-data control. {n:,} points, {len(x):,} drawn."
        )
        + table(by_removed.column_names, [list(r.values()) for r in by_removed.to_pylist()])
    )
