"""Fig. 9: sampled test examples with the training examples of largest positive and negative datamodel weight."""

from __future__ import annotations

from dm.report.context import ReportContext
from dm.report.page import caption
from dm.report.source import SectionUnavailable

ID = "gallery"
TITLE = "Top positive and negative training examples of sampled targets"
FIGURE = "Fig. 9"

TOP_SQL = """
SELECT example_id, train_id, weight FROM (
  SELECT example_id, train_id, weight,
         row_number() OVER (PARTITION BY example_id, weight > 0 ORDER BY abs(weight) DESC, train_id) AS r
  FROM datamodels WHERE split = ? AND list_contains(?, example_id) AND weight <> 0)
WHERE r <= ? ORDER BY example_id, weight DESC
"""


def candidate_targets(ctx: ReportContext, split: str) -> list[int]:
    """Targets with at least one non-zero weight (from the small `datamodel_fits` view when it is there)."""
    if ctx.views.has("datamodel_fits"):
        sql = "SELECT example_id FROM datamodel_fits WHERE split = ? AND nnz > 0 ORDER BY example_id"
    else:
        sql = "SELECT DISTINCT example_id FROM datamodels WHERE split = ? ORDER BY example_id"
    return [int(t) for (t,) in ctx.views.rows(sql, [split])]


def body(ctx: ReportContext) -> str:
    views, s, tiles = ctx.views, ctx.settings, ctx.tiles
    views.require("datamodels", "dm fit")
    split = ctx.preferred_split("datamodel_fits" if views.has("datamodel_fits") else "datamodels")
    targets = candidate_targets(ctx, split) if split else []
    if not targets:
        raise SectionUnavailable("no datamodel has a non-zero weight yet: run `dm fit`")
    chosen = sorted(int(t) for t in ctx.rng("gallery").choice(targets, min(s.gallery_targets, len(targets)), False))
    bias = {}
    if views.has("datamodel_fits"):
        bias = dict(
            views.rows(
                "SELECT example_id, bias FROM datamodel_fits WHERE split = ? AND list_contains(?, example_id)",
                [split, chosen],
            )
        )
    weights: dict[int, list[tuple[int, float]]] = {t: [] for t in chosen}
    for target, train_id, weight in views.rows(TOP_SQL, [split, chosen, s.top_k]):
        weights[int(target)].append((int(train_id), float(weight)))
    strips = []
    for t in chosen:
        pos = [(i, w) for i, w in weights[t] if w > 0]
        neg = sorted(((i, w) for i, w in weights[t] if w < 0), key=lambda iw: iw[1])
        note = f"bias {bias[t]:+.3f}" if bias.get(t) is not None else "target"
        row = [tiles.tile(split, t, note, "target")]
        row += [tiles.tile("train", i, f"w = {w:+.4f}", "pos") for i, w in pos]
        row += [tiles.tile("train", i, f"w = {w:+.4f}", "neg") for i, w in neg]
        strips.append(tiles.row(row, f"{split} #{t}"))
    return caption(
        f"{len(chosen)} random {split} targets (blue), each followed by its {s.top_k} training examples of "
        f"largest positive weight (green) and its {s.top_k} of most negative weight (red). Weights are in raw "
        "0/1 mask space: including that training example moves the predicted margin by w."
    ) + "".join(strips)
