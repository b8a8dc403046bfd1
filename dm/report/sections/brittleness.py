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


def body(ctx: ReportContext) -> str:
    views = ctx.views
    heuristic = _heuristic_cdf(ctx)
    measured = None
    missing = ""
    if views.has(VIEW):
        measured = views.table(f"SELECT ranker, k, fraction_flipped FROM {VIEW} ORDER BY ranker, k")
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
        rankers = measured.column("ranker").to_numpy(zero_copy_only=False).astype(str)
        ks = measured.column("k").to_numpy(zero_copy_only=False).astype(float)
        flipped = measured.column("fraction_flipped").to_numpy(zero_copy_only=False).astype(float)
        for ranker in sorted(set(rankers), key=lambda r: ("datamodel" not in r, r)):
            keep = rankers == ranker
            ax.step(
                ks[keep],
                flipped[keep],
                where="post",
                marker="o",
                markersize=3,
                linewidth=2.2 if "datamodel" in ranker else 1.4,
                label=f"{ranker} (retrained)",
            )
        all_k = sorted(set(ks.astype(int).tolist()))
        by = {(r, int(k)): f for r, k, f in zip(rankers, ks, flipped, strict=True)}
        names = sorted(set(rankers))
        html += table(["k", *names], [[k, *[by.get((r, k)) for r in names]] for k in all_k])
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
