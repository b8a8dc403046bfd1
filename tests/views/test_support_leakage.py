"""support (paper F.3.2 heuristic) and leakage candidates against numpy."""

from __future__ import annotations

import numpy as np

from tests.views.conftest import SPLITS, Truth


def _support(theta: np.ndarray, bias: float) -> tuple[float, int | None, list[int] | None]:
    margin = bias + theta.sum()
    if margin <= 0:
        return margin, 0, []
    pos = np.flatnonzero(theta > 0)
    pos = pos[np.lexsort((pos, -theta[pos]))]  # largest first, ties by train id
    reached = np.flatnonzero(np.cumsum(theta[pos]) >= margin)
    if len(reached) == 0:
        return margin, None, None
    k = int(reached[0]) + 1
    return margin, k, pos[:k].tolist()


def test_support(truth: Truth, con) -> None:
    rows = con.execute(
        "SELECT split, example_id, predicted_margin, support_size, support_ids FROM support ORDER BY split, example_id"
    ).fetchall()
    want = [
        (split, j, *_support(truth.weights[split][j], truth.bias[split][j]))
        for split in sorted(SPLITS)
        for j in range(len(truth.bias[split]))
    ]
    assert [r[:2] for r in rows] == [w[:2] for w in want]
    np.testing.assert_allclose([r[2] for r in rows], [w[2] for w in want], rtol=1e-12)
    assert [r[3:] for r in rows] == [w[3:] for w in want]
    sizes = {r[3] for r in rows}
    assert 0 in sizes and None in sizes and len(sizes) > 3  # the fixture covers every case


def test_leakage(truth: Truth, con) -> None:
    rows = con.execute(
        "SELECT example_id, rank, train_id, weight, score, same_label FROM leakage ORDER BY example_id, rank"
    ).fetchall()
    want = []
    for j, theta in enumerate(truth.weights["test"]):
        pos = np.flatnonzero(theta > 0)
        pos = pos[np.lexsort((pos, -theta[pos]))][:10]
        total = theta[theta > 0].sum()
        for r, i in enumerate(pos, start=1):
            same = bool(truth.labels["test"][j] == truth.labels["train"][i])
            want.append((j, r, int(i), theta[i], theta[i] / total, same))
    assert [(r[0], r[1], r[2], r[5]) for r in rows] == [(w[0], w[1], w[2], w[5]) for w in want]
    np.testing.assert_allclose([r[3:5] for r in rows], [w[3:5] for w in want], rtol=1e-6)
