"""Brittleness CDF (paper Fig. 7 / F.3): the fraction of targets whose prediction is flipped by removing (or
mislabelling) at most k training examples, per ranker, from the estimated supports.

Table `eval/brittleness/cdf.parquet`: ranker, variant, k, fraction (support_size ≤ k; 'misclassified' targets
count as 0, 'not_found' as never), n_targets.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def brittleness_cdf(estimates: list[pa.Table], grid: list[int]) -> pa.Table:
    """The step CDF of every (ranker, variant), evaluated at `grid` and at every estimated support size."""
    rows: dict[str, list] = {"ranker": [], "variant": [], "k": [], "fraction": [], "n_targets": []}
    for table in estimates:
        if table.num_rows == 0:
            continue
        rankers = np.asarray(table.column("ranker").to_pylist())
        variants = np.asarray(table.column("variant").to_pylist())
        size = np.array([np.inf if s is None else s for s in table.column("support_size").to_pylist()], np.float64)
        for r, v in sorted({(a, b) for a, b in zip(rankers, variants, strict=True)}):
            sel = (rankers == r) & (variants == v)
            ks = sorted(set(grid) | {int(s) for s in size[sel] if np.isfinite(s)})
            for k in ks:
                rows["ranker"].append(r)
                rows["variant"].append(v)
                rows["k"].append(k)
                rows["fraction"].append(float((size[sel] <= k).mean()))
                rows["n_targets"].append(int(sel.sum()))
    return pa.table({"ranker": pa.array(rows["ranker"], pa.string()), "variant": pa.array(rows["variant"], pa.string()),
                     "k": pa.array(rows["k"], pa.int32()), "fraction": pa.array(rows["fraction"], pa.float64()),
                     "n_targets": pa.array(rows["n_targets"], pa.int32())})
