"""Fig. 7: how many training examples must go before a prediction flips, per ranking of the training set.

Reads the view `brittleness` (ranker, k, fraction_flipped) that `dm eval` provides: for each ranker (datamodel
weights and the baselines), the fraction of evaluated targets misclassified after retraining without their
top-k examples. The `support` view adds the datamodel heuristic (App. F.3.2), which needs no retraining.
"""

from __future__ import annotations

import numpy as np

from dm.report.context import ReportContext
from dm.report.figures import figure_data_uri, new_figure
from dm.report.page import caption, notice, plot, table
from dm.report.source import SectionUnavailable

ID = "brittleness"
TITLE = "Brittleness: fraction of predictions flipped by removing k examples"
FIGURE = "Fig. 7"
VIEW = "brittleness"

HEURISTIC_SQL = """
SELECT support_size, count(*) AS targets FROM support WHERE split = ? GROUP BY support_size ORDER BY support_size
"""


def _heuristic_cdf(ctx: ReportContext) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(sizes, cumulative fraction, targets) of the datamodel-estimated support sizes, if the view is there."""
    if not ctx.views.has("support"):
        return None
    split = ctx.preferred_split("support")
    if split is None:
        return None
    rows = ctx.views.rows(HEURISTIC_SQL, [split])
    total = sum(n for _, n in rows)
    known = [(size, n) for size, n in rows if size is not None]
    if not known:
        return None
    sizes = np.array([size for size, _ in known], dtype=float)
    return sizes, np.cumsum([n for _, n in known]) / total, total


def _measured_sql(columns: list[str]) -> str:
    """The view's curves as (curve, k, fraction_flipped); a `variant` column (remove / mislabel) splits curves and
    `fraction` is accepted for `fraction_flipped`."""
    fraction = "fraction_flipped" if "fraction_flipped" in columns else "fraction"
    curve = "ranker || ', ' || variant" if "variant" in columns else "ranker"
    return f"SELECT {curve} AS curve, k, {fraction} AS fraction_flipped FROM {VIEW} ORDER BY curve, k"


def table_ks(curves: np.ndarray, ks: np.ndarray, limit: int = 16) -> list[int]:
    """The k of the table: those every curve was evaluated at (its grid), at most `limit` spread over the range."""
    per_curve = [set(ks[curves == c].astype(int).tolist()) for c in set(curves)]
    shared = sorted(set.intersection(*per_curve)) if per_curve else []
    grid = shared or sorted(set.union(*per_curve))
    if len(grid) > limit:
        grid = [grid[i] for i in np.unique(np.linspace(0, len(grid) - 1, limit).round().astype(int))]
    return grid


def body(ctx: ReportContext) -> str:
    views = ctx.views
    heuristic = _heuristic_cdf(ctx)
    measured = None
    missing = ""
    if views.has(VIEW):
        measured = views.table(_measured_sql(views.columns(VIEW)))
        if measured.num_rows == 0:
            measured, missing = None, f"the `{VIEW}` view has no rows yet: run `dm eval`"
    else:
        missing = f"not run yet: run `dm eval` (view `{VIEW}` is not in the database)"
    if measured is None and heuristic is None:
        raise SectionUnavailable(missing)
    fig = new_figure(6.8, 4.2)
    ax = fig.subplots()
    html = ""
    if measured is not None:
        curves = measured.column("curve").to_numpy(zero_copy_only=False).astype(str)
        ks = measured.column("k").to_numpy(zero_copy_only=False).astype(float)
        flipped = measured.column("fraction_flipped").to_numpy(zero_copy_only=False).astype(float)
        names = sorted(set(curves), key=lambda r: ("datamodel" not in r, r))
        for curve in names:
            keep = curves == curve
            ax.step(
                ks[keep],
                flipped[keep],
                where="post",
                linewidth=2.2 if "datamodel" in curve else 1.4,
                linestyle=":" if "mislabel" in curve else "-",
                label=f"{curve} (retrained)",
            )
        by = {(r, int(k)): f for r, k, f in zip(curves, ks, flipped, strict=True)}
        html += table(["k", *names], [[k, *[by.get((r, k)) for r in names]] for k in table_ks(curves, ks)])
    else:
        html += notice(missing)
    if heuristic is not None:
        sizes, cdf, total = heuristic
        ax.step(
            sizes,
            cdf,
            where="post",
            color="#57606a",
            linestyle="--",
            label=f"datamodel heuristic, no retraining ({total:,} targets)",
        )
    ax.set_xscale("symlog", linthresh=1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("training examples removed (k)")
    ax.set_ylabel("fraction of targets flipped")
    ax.legend(fontsize=8, loc="lower right")
    return (
        plot(figure_data_uri(fig, ctx.settings.dpi), "brittleness CDF")
        + caption(
            "For each ranking of the training set, the fraction of evaluated targets that are misclassified "
            "after retraining without their top-k examples (a CDF of estimated data-support sizes). "
            "Lower-left curves mean the ranking finds smaller supports."
        )
        + html
    )
