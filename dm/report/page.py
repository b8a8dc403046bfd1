"""The page itself: sections, tables, notices, and the one HTML document with its inline stylesheet."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1180px;
 padding:0 1.2rem 3rem;color:#1d232b;line-height:1.45}
header{border-bottom:2px solid #d0d7de;margin-bottom:1rem}
h1{font-size:1.6rem;margin:1.2rem 0 .3rem} h2{font-size:1.25rem;margin:0 0 .4rem}
nav ol{columns:2;padding-left:1.2rem;margin:.4rem 0 1rem}
section{border:1px solid #d0d7de;border-radius:6px;padding:.9rem 1.1rem;margin:1rem 0;background:#fff}
.fig-ref{color:#57606a;font-weight:normal;font-size:.9rem}
.caption{color:#424a53;font-size:.92rem;margin:.3rem 0 .6rem}
.notice{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:.5rem .8rem}
.notice code,p code{background:#eef1f4;padding:0 .25rem;border-radius:3px}
img.plot{max-width:100%;height:auto;display:block;margin:.3rem 0}
table{border-collapse:collapse;font-size:.88rem;margin:.4rem 0}
th,td{border:1px solid #d0d7de;padding:.15rem .5rem;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.metrics{display:flex;gap:1.5rem;flex-wrap:wrap;margin:.3rem 0 .6rem}
.metric{font-size:1.05rem}.metric b{font-size:1.25rem}
.strip{display:flex;flex-wrap:wrap;align-items:stretch;gap:.25rem;margin:.35rem 0}
.pairs{display:flex;flex-wrap:wrap;gap:.2rem 1.2rem}.pairs .strip{flex-wrap:nowrap}
.strip-head{width:100%;font-weight:600;font-size:.9rem;margin-top:.3rem}
figure.tile{margin:0;width:84px;font-size:.72rem;text-align:center;border:1px solid #eaeef2;padding:2px}
figure.tile img{image-rendering:pixelated;display:block;margin:0 auto}
figure.tile.text-only{min-height:2.6rem}
figure.tile.target{border:2px solid #1f6feb} figure.tile.pos{border-color:#2da44e} figure.tile.neg{border-color:#cf222e}
figure.tile .note{display:block;color:#57606a}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;font-size:.8rem;max-height:26rem}
details summary{cursor:pointer;font-weight:600;margin:.3rem 0}
"""


@dataclass
class Section:
    """One part of the page: `<section id=…>` with a heading; `status` is ok, missing or empty."""

    id: str
    title: str
    figure: str  # the paper's figure it reproduces ("Fig. 5"), or ""
    body: str  # inner HTML
    status: str = "ok"

    def html(self) -> str:
        ref = f' <span class="fig-ref">({escape(self.figure)})</span>' if self.figure else ""
        return (
            f'<section id="{escape(self.id)}" data-status="{escape(self.status)}">'
            f"<h2>{escape(self.title)}{ref}</h2>{self.body}</section>"
        )


def notice(message: str) -> str:
    """A highlighted sentence; text between backticks is shown as code."""
    parts = escape(message).split("`")
    text = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    return f'<p class="notice">{text}</p>'


def caption(text: str) -> str:
    return f'<p class="caption">{escape(text)}</p>'


def plot(uri: str, alt: str) -> str:
    return f'<img class="plot" src="{uri}" alt="{escape(alt)}">'


def number(value: Any, digits: int = 4) -> str:
    """A value as the page prints it: floats with `digits` decimals, ints with separators, None as em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.{digits}f}" if abs(value) >= 10**-digits or value == 0 else f"{value:.3e}"
    return str(value)


def metric(name: str, label: str, value: Any) -> str:
    """A headline number; `data-metric`/`data-value` keep the exact value for scripts and tests."""
    raw = "" if value is None else repr(float(value))
    return (
        f'<span class="metric" data-metric="{escape(name)}" data-value="{raw}">{escape(label)} = '
        f"<b>{escape(number(value, 3))}</b></span>"
    )


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], cell_attrs: Sequence[str] | None = None) -> str:
    """An HTML table; numbers right-aligned. `cell_attrs[i]` (HTML attributes) is added to row i's cells."""
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        attrs = f" {cell_attrs[i]}" if cell_attrs else ""
        cells = "".join(
            f'<td class="num"{attrs}>{escape(number(v))}</td>'
            if isinstance(v, int | float) and not isinstance(v, bool)
            else f"<td{attrs}>{escape(number(v))}</td>"
            for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def document(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole self-contained page: inline CSS, inline images, no scripts, no external references."""
    toc = "".join(f'<li><a href="#{escape(s.id)}">{escape(s.title)}</a></li>' for s in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<header><h1>{escape(title)}</h1><p class="caption">{escape(subtitle)}</p>'
        f"<nav><ol>{toc}</ol></nav></header>" + "".join(s.html() for s in sections) + "</body></html>\n"
    )
