"""Matplotlib figures (Agg, no pyplot state) encoded as inline PNG data URIs."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)


def new_figure(width: float, height: float) -> Figure:
    """A free-standing figure of `width` x `height` inches with a constrained layout."""
    return Figure(figsize=(width, height), layout="constrained")


def png_data_uri(data: bytes) -> str:
    """`data:` URI of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure_data_uri(fig: Figure, dpi: int) -> str:
    """The figure as an inline PNG (metadata stripped so the bytes depend only on the picture)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return png_data_uri(buf.getvalue())
