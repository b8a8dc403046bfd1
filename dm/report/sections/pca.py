"""Fig. 14: principal components of the datamodel embeddings, with their most positive and negative examples."""

from __future__ import annotations

from dm.report.context import ReportContext
from dm.report.page import caption
from dm.report.sections.embedding_data import load_embedding
from dm.report.source import SectionUnavailable

ID = "pca"
TITLE = "Principal components of the datamodel embeddings"
FIGURE = "Fig. 14"


def components(k: int, leading: int, rng_choice: int | None) -> list[int]:
    """The first `leading` components plus one later one (0-based), as the paper shows."""
    shown = list(range(min(leading, k)))
    if rng_choice is not None and k > leading:
        shown.append(rng_choice)
    return shown


def body(ctx: ReportContext) -> str:
    s, tiles = ctx.settings, ctx.tiles
    emb = load_embedding(ctx)
    k = emb.pcs.shape[1]
    if k == 0:
        raise SectionUnavailable("the `embedding` view has no components")
    later = int(ctx.rng("pca").integers(s.pca_components, k)) if k > s.pca_components else None
    n = min(s.pca_examples, len(emb.example_ids))
    strips = []
    for c in components(k, s.pca_components, later):
        order = emb.pcs[:, c].argsort(kind="stable")
        high = order[::-1][:n]
        low = order[:n]
        row = [tiles.tile(emb.split, emb.example_ids[i], f"{emb.pcs[i, c]:+.3f}", "pos") for i in high]
        row += [tiles.tile(emb.split, emb.example_ids[i], f"{emb.pcs[i, c]:+.3f}", "neg") for i in low]
        label = f"PC {c + 1}" + (" (random later component)" if c == later else "")
        strips.append(tiles.row(row, f"{label}: most positive (green) … most negative (red)"))
    return caption(
        f"{emb.split} examples whose normalized datamodel embeddings project most positively (left) and most "
        f"negatively (right) onto each principal component; {k} components in the view, {len(emb.example_ids):,} "
        "examples."
    ) + "".join(strips)
