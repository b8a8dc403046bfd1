"""LDS against cost for every attribution method (the TRAK paper's headline comparison, on dm's held-out models).

Reads the view `attribution_scores` that `dm eval` fills: datamodels and empirical influence as curves over the
number of lake models they were estimated from, TRAK / influence functions / TracIn / nearest neighbours as
points at the number of full-set reference models they needed, random at zero models.
"""

from __future__ import annotations

import json

import numpy as np

from dm.report.context import ReportContext
from dm.report.figures import figure_data_uri, new_figure
from dm.report.page import caption, plot, table
from dm.report.source import SectionUnavailable

ID = "attribution"
TITLE = "Attribution methods: LDS against cost"
FIGURE = ""
VIEW = "attribution_scores"
CURVES = ("datamodels", "influence")

SQL = f"""
SELECT method, settings, lds, pearson, mse, n_targets, n_heldout_models, n_models_used, models_trained,
       checkpoints, calibration, seconds, device
FROM {VIEW} ORDER BY method, models_trained, settings
"""


def label(method: str, settings: str) -> str:
    """A short legend label: the method and its settings except the model count (on the x axis)."""
    opts = {k: v for k, v in json.loads(settings or "{}").items() if k != "models"}
    extra = ", ".join(f"{k}={v}" for k, v in sorted(opts.items()))
    return f"{method} ({extra})" if extra else method


def body(ctx: ReportContext) -> str:
    views = ctx.views
    views.require(VIEW, "dm eval")
    rows = views.rows(SQL)
    if not rows:
        raise SectionUnavailable(f"the `{VIEW}` view has no rows yet: run `dm eval`")
    fig = new_figure(11.5, 4.2)
    by_models, by_seconds = fig.subplots(1, 2, sharey=True)
    groups: dict[str, list[tuple]] = {}
    for row in rows:
        groups.setdefault(label(row[0], row[1]), []).append(row)
    for name, members in sorted(groups.items(), key=lambda kv: (kv[0].split(" ")[0] not in CURVES, kv[0])):
        members.sort(key=lambda r: r[8])
        trained = np.array([r[8] for r in members], float)
        seconds = np.array([r[11] for r in members], float)
        lds = np.array([r[2] for r in members], float)
        curve = members[0][0] in CURVES
        style = {"marker": "o" if curve else "s", "linestyle": "-" if len(members) > 1 else "none",
                 "linewidth": 2.2 if members[0][0] == "datamodels" else 1.2}
        by_models.plot(trained, lds, label=name, **style)
        by_seconds.plot(seconds, lds, label=name, **style)
    by_models.set_xscale("symlog", linthresh=1)
    by_models.set_xlabel("models trained (lake subset models, or full-set reference models)")
    by_models.set_ylabel("LDS on held-out models")
    by_seconds.set_xscale("symlog", linthresh=1)
    by_seconds.set_xlabel("seconds (training + attribution)")
    fig.legend(*by_models.get_legend_handles_labels(), loc="outside right upper", fontsize=7)
    first = rows[0]
    cols = ["method", "settings", "LDS", "pooled Pearson", "MSE", "models trained", "checkpoints", "calibration",
            "seconds", "device"]
    body_rows = [[r[0], r[1], r[2], r[3], r[4], r[8], r[9], r[10], r[11], r[12]] for r in rows]
    return (
        plot(figure_data_uri(fig, ctx.settings.dpi), "LDS against cost for every attribution method")
        + caption(
            f"Each method's scores s_j predict a held-out model's margin on target j as mask @ s_j; LDS is the mean "
            f"over {first[5]:,} test targets of the Spearman correlation of that prediction with the actual margin "
            f"across {first[6]:,} held-out models that no method saw. Datamodels and empirical influence are "
            "curves over the number of lake models they were estimated from; the other methods need full-set "
            "reference models (TRAK and influence functions: one checkpoint per model; TracIn: one per epoch). "
            "Pearson and MSE are of the prediction after the per-target calibration listed (fitted on "
            "validation models). Seconds: reference models are trained one at a time, lake models in vmapped "
            "groups, so seconds per model differ between the two."
        )
        + table(cols, body_rows)
    )
