"""Fig. 11: train-test leakage candidates (the top-weight training examples of each test target) and their scores."""

from __future__ import annotations

import numpy as np

from dm.report.context import ReportContext
from dm.report.figures import figure_data_uri, new_figure
from dm.report.page import caption, plot
from dm.report.source import SectionUnavailable

ID = "leakage"
TITLE = "Train-test leakage candidates"
FIGURE = "Fig. 11"


def test_id_column(ctx: ReportContext) -> str:
    """The view's name for the test example id (`example_id` per DESIGN.md; `test_id` accepted)."""
    columns = ctx.views.columns("leakage")
    return "example_id" if "example_id" in columns else "test_id"


def body(ctx: ReportContext) -> str:
    views, s, tiles = ctx.views, ctx.settings, ctx.tiles
    views.require("leakage", "dm fit")
    test_id = test_id_column(ctx)
    per_test = views.table(f"SELECT {test_id} AS test_id, max(score) AS score FROM leakage GROUP BY ALL")
    if per_test.num_rows == 0:
        raise SectionUnavailable("the `leakage` view has no rows yet: run `dm fit`")
    top = views.rows(
        f"SELECT {test_id}, train_id, rank, weight, score FROM leakage ORDER BY score DESC, {test_id}, rank LIMIT ?",
        [s.leakage_pairs],
    )
    scores = per_test.column("score").to_numpy(zero_copy_only=False).astype(float)
    scores = scores[np.isfinite(scores)]
    fig = new_figure(6.2, 3.4)
    ax = fig.subplots()
    ax.hist(scores, bins=40, color="#8250df")
    ax.set_xlabel("leakage score (best candidate of the test example)")
    ax.set_ylabel("test examples")
    pairs = []
    for tid, train_id, rank, weight, score in top:
        pairs.append(
            tiles.row(
                [
                    tiles.tile("test", tid, f"score {score:.4f}", "target"),
                    tiles.tile("train", train_id, f"rank {rank}, w = {weight:+.4f}", "pos"),
                ]
            )
        )
    return (
        plot(figure_data_uri(fig, s.dpi), "histogram of leakage scores")
        + caption(
            f"Above: the leakage score of each of the {per_test.num_rows:,} test examples (the maximum over its "
            f"candidates). Below: the {len(top)} highest-scoring (test, train) candidate pairs."
        )
        + f'<div class="pairs">{"".join(pairs)}</div>'
    )
