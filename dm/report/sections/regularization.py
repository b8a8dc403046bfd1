"""Fig. E.2: in-sample vs held-out MSE along the λ path, averaged over targets (`fit_path`)."""

from __future__ import annotations

import numpy as np

from dm.report.context import ReportContext
from dm.report.figures import figure_data_uri, new_figure
from dm.report.page import caption, plot, table
from dm.report.source import SectionUnavailable

ID = "regularization"
TITLE = "The role of regularization: MSE along the λ path"
FIGURE = "Fig. E.2"

PATH_SQL = """
WITH p AS (
  SELECT split, example_id, lambda_index, train_mse, val_mse, nnz,
         "lambda" / nullif(max("lambda") OVER (PARTITION BY split, example_id), 0) AS rel_lambda
  FROM fit_path)
SELECT split, lambda_index, avg(rel_lambda) AS rel_lambda, avg(train_mse) AS train_mse,
       avg(val_mse) AS val_mse, avg(nnz) AS nnz, count(*) AS targets
FROM p GROUP BY split, lambda_index ORDER BY split, lambda_index
"""

CHOSEN_SQL = """
SELECT split, median(best) AS median_index, count(*) AS targets
FROM (SELECT split, example_id, arg_min(lambda_index, val_mse) AS best FROM fit_path GROUP BY split, example_id)
GROUP BY split ORDER BY split
"""


def body(ctx: ReportContext) -> str:
    ctx.views.require("fit_path", "dm fit")
    path = ctx.views.table(PATH_SQL)
    if path.num_rows == 0:
        raise SectionUnavailable("the `fit_path` view has no rows yet: run `dm fit`")
    chosen = {split: (median, n) for split, median, n in ctx.views.rows(CHOSEN_SQL)}
    cols = {name: path.column(name).to_numpy(zero_copy_only=False) for name in path.column_names}
    fig = new_figure(10, 4.0)
    mse_ax, nnz_ax = fig.subplots(1, 2)
    for split, color in zip(sorted(set(cols["split"])), ("#1f6feb", "#bf3989", "#1a7f37"), strict=False):
        keep = cols["split"] == split
        x = cols["rel_lambda"][keep].astype(float)
        mse_ax.plot(
            x,
            cols["train_mse"][keep].astype(float),
            color=color,
            linestyle="--",
            label=f"{split} targets: in-sample (train models)",
        )
        mse_ax.plot(
            x, cols["val_mse"][keep].astype(float), color=color, label=f"{split} targets: held-out (validation models)"
        )
        nnz_ax.plot(x, cols["nnz"][keep].astype(float), color=color, label=f"{split} targets")
        if split in chosen:
            index = cols["lambda_index"][keep]
            at = x[np.argmin(np.abs(index - chosen[split][0]))]
            for ax in (mse_ax, nnz_ax):
                ax.axvline(at, color=color, linewidth=0.8, linestyle=":")
    for ax in (mse_ax, nnz_ax):
        ax.set_xscale("log")
        ax.set_xlabel("λ / λ_max of the target (mean over targets)")
    mse_ax.set_ylabel("mean squared error (mean over targets)")
    nnz_ax.set_ylabel("non-zero weights (mean over targets)")
    mse_ax.legend(fontsize=7)
    nnz_ax.legend(fontsize=7)
    rows = [[split, int(n), float(median)] for split, (median, n) in sorted(chosen.items())]
    return (
        plot(figure_data_uri(fig, ctx.settings.dpi), "MSE along the regularization path")
        + caption(
            "In-sample MSE is measured on the models each path point was fitted on, held-out MSE on the "
            "validation models. Small λ overfits: in-sample error keeps falling while held-out error rises. "
            "Dotted lines: the median λ index chosen by held-out MSE."
        )
        + table(["split", "targets", "median chosen λ index"], rows)
    )
