"""Fig. E.1: the distribution of datamodel sparsity (`datamodel_fits.nnz`)."""

from __future__ import annotations

import numpy as np

from dm.report.context import ReportContext
from dm.report.figures import figure_data_uri, new_figure
from dm.report.page import caption, plot, table
from dm.report.source import SectionUnavailable

ID = "sparsity"
TITLE = "Sparsity of the datamodels"
FIGURE = "Fig. E.1"

SUMMARY_SQL = """
SELECT split, count(*) AS targets, avg(nnz) AS mean_nnz, median(nnz) AS median_nnz, max(nnz) AS max_nnz,
       avg("lambda") AS mean_lambda, avg(val_mse) AS mean_val_mse, min(n_models_used) AS min_models_used
FROM datamodel_fits GROUP BY split ORDER BY split
"""


def body(ctx: ReportContext) -> str:
    ctx.views.require("datamodel_fits", "dm fit")
    summary = ctx.views.table(SUMMARY_SQL)
    if summary.num_rows == 0:
        raise SectionUnavailable("the `datamodel_fits` view has no rows yet: run `dm fit`")
    nnz = ctx.views.table("SELECT split, nnz FROM datamodel_fits")
    splits = nnz.column("split").to_numpy(zero_copy_only=False)
    values = nnz.column("nnz").to_numpy(zero_copy_only=False).astype(float)
    fig = new_figure(6.5, 3.6)
    ax = fig.subplots()
    lo, hi = float(values.min()), float(values.max())
    step = max(1.0, np.ceil((hi - lo + 1) / 40))  # integer-wide bins, at most ~40 of them
    bins = np.arange(lo - 0.5, hi + step + 0.5, step)
    for split, color in zip(sorted(set(splits)), ("#1f6feb", "#bf3989", "#1a7f37"), strict=False):
        ax.hist(values[splits == split], bins=bins, alpha=0.55, color=color, label=f"{split} targets")
    ax.set_xlabel("non-zero weights in the datamodel (nnz)")
    ax.set_ylabel("targets")
    ax.legend(fontsize=8)
    return (
        plot(figure_data_uri(fig, ctx.settings.dpi), "histogram of datamodel sparsity")
        + caption("Number of training examples with a non-zero weight, per target, at the λ chosen for it.")
        + table(summary.column_names, [list(r.values()) for r in summary.to_pylist()])
    )
