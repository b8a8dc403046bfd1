"""Fig. 13: spectral clusters of the datamodel embeddings, tightest first, with the examples nearest each centre."""

from __future__ import annotations

from collections import Counter

import numpy as np

from dm.report.context import ReportContext
from dm.report.figures import figure_data_uri, new_figure
from dm.report.page import caption, plot
from dm.report.sections.embedding_data import load_embedding
from dm.report.source import SectionUnavailable

ID = "clusters"
TITLE = "Spectral clusters of the datamodel embeddings"
FIGURE = "Fig. 13"


def body(ctx: ReportContext) -> str:
    s, tiles = ctx.settings, ctx.tiles
    emb = load_embedding(ctx)
    if emb.clusters is None or not (emb.clusters >= 0).any():
        raise SectionUnavailable("the `embedding` view has no clusters yet: run `dm fit`")
    spread = []
    for c in np.unique(emb.clusters[emb.clusters >= 0]):
        members = np.flatnonzero(emb.clusters == c)
        dist = np.linalg.norm(emb.pcs[members] - emb.pcs[members].mean(axis=0), axis=1)
        spread.append((float(dist.mean()), int(c), members[dist.argsort(kind="stable")]))
    spread.sort(key=lambda t: (t[0], t[1]))
    strips = []
    for mean_dist, c, members in spread[: s.clusters]:
        labels = Counter(tiles.label(emb.split, emb.example_ids[i]) for i in members)
        common = ", ".join(f"{name or '?'} ×{count}" for name, count in labels.most_common(3))
        row = [tiles.tile(emb.split, emb.example_ids[i]) for i in members[: s.cluster_examples]]
        strips.append(
            tiles.row(
                row,
                f"cluster {c}: {len(members):,} examples, mean distance to centre "
                f"{mean_dist:.3f}; most common: {common}",
            )
        )
    html = ""
    if emb.pcs.shape[1] >= 2:
        fig = new_figure(5.6, 4.4)
        ax = fig.subplots()
        ax.scatter(emb.pcs[:, 0], emb.pcs[:, 1], c=emb.clusters, cmap="tab20", s=10, linewidths=0, rasterized=True)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.set_title(f"{emb.split} embeddings coloured by cluster")
        html = plot(figure_data_uri(fig, s.dpi), "embeddings coloured by spectral cluster")
    return (
        html
        + caption(
            f"{len(spread)} clusters of {emb.split} examples; the {min(s.clusters, len(spread))} tightest (lowest mean "
            f"distance to their centre in component space) are shown with their {s.cluster_examples} most central "
            "members."
        )
        + "".join(strips)
    )
