"""The named queries of `dm query`: fixed SQL over the views with declared, always-bound parameters.

The SQL of query NAME is `queries/named/NAME.sql`; this module declares its help text and typed parameters.

User input never becomes SQL text: it only picks a registry entry and supplies values, which are converted to the
declared type here and bound as DuckDB prepared-statement parameters (`$name`). Optional parameters are bound as
NULL when absent, and each SQL tests `$p IS NULL OR column = $p`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dm.errors import UsageError
from dm.lake.views import NAMED_DIR, QUERIES_DIR

KINDS = ("int", "float", "str", "ids")


@dataclass(frozen=True)
class Param:
    """A bound parameter: `kind` is int, float, str or ids (comma-separated ints, bound as INTEGER[])."""

    name: str
    kind: str
    help: str
    required: bool = False
    default: object = None


@dataclass(frozen=True)
class NamedQuery:
    name: str
    help: str
    sql: str
    params: tuple[Param, ...] = ()

    def bind(self, raw: Mapping[str, str]) -> dict[str, object]:
        """Typed values for every declared parameter from the user's strings; ValueError on anything else."""
        declared = {p.name: p for p in self.params}
        unknown = sorted(set(raw) - set(declared))
        if unknown:
            accepted = ", ".join(declared) or "none"
            raise UsageError(f"query {self.name!r} has no parameter {', '.join(unknown)} (accepted: {accepted})")
        values = {}
        for p in self.params:
            if p.name in raw:
                values[p.name] = convert(p, raw[p.name])
            elif p.required:
                raise UsageError(f"query {self.name!r} needs --param {p.name}=... ({p.help})")
            else:
                values[p.name] = p.default
        return values


def convert(param: Param, text: str) -> object:
    """`text` as the parameter's kind; ValueError with the parameter's name if it does not parse."""
    try:
        if param.kind == "int":
            return int(text.strip())
        if param.kind == "float":
            return float(text.strip())
        if param.kind == "ids":
            items = [t.strip() for t in text.split(",") if t.strip()]
            ids = [int(t) for t in items]
            if any(i < 0 or i >= 2**31 for i in ids):
                raise UsageError("ids must be non-negative 32-bit integers")
            return ids
        return text
    except ValueError as err:
        raise UsageError(f"parameter {param.name} must be {param.kind} ({param.help}); got {text!r}") from err


def _sql(name: str) -> str:
    return (QUERIES_DIR / NAMED_DIR / f"{name}.sql").read_text()


SPLIT = Param("split", "str", "'train' or 'test' (default: both)")
EXAMPLE = Param("example_id", "int", "target id within its split (default: all)")

_QUERIES = [
    NamedQuery(
        "counterfactual",
        "predicted margin change of every target when the train ids R are removed (-Σ_{i∈R} θ)",
        _sql("counterfactual"),
        (Param("ids", "ids", "comma-separated train ids to remove, e.g. 3,17,42", required=True), SPLIT, EXAMPLE),
    ),
    NamedQuery(
        "counterfactual_topk",
        "predicted margin change when removing the top/bottom/random k train examples",
        _sql("counterfactual_topk"),
        (
            SPLIT,
            EXAMPLE,
            Param("k", "int", "removed set size (default: all)"),
            Param("removed", "str", "'top', 'bottom' or 'random' (default: all)"),
        ),
    ),
    NamedQuery(
        "datamodel",
        "the largest-magnitude datamodel weights of one target, with the train examples' labels",
        _sql("datamodel"),
        (
            Param("split", "str", "'train' or 'test'", default="test"),
            Param("example_id", "int", "target id within its split", required=True),
            Param("top", "int", "weights to show", default=20),
        ),
    ),
    NamedQuery("support", "data support heuristic (paper F.3.2) per target", _sql("support"), (SPLIT, EXAMPLE)),
    NamedQuery(
        "leakage",
        "train-test leakage candidates, highest score first",
        _sql("leakage"),
        (
            EXAMPLE,
            Param("top", "int", "candidates per test example (at most 10)", default=10),
            Param("min_score", "float", "smallest score shown", default=0.0),
        ),
    ),
    NamedQuery(
        "embedding",
        "datamodel embeddings (principal components) and spectral clusters",
        _sql("embedding"),
        (SPLIT, EXAMPLE, Param("cluster", "int", "cluster id (default: all)")),
    ),
    NamedQuery(
        "predictions",
        "held-out models' predicted vs actual margins",
        _sql("predictions"),
        (SPLIT, EXAMPLE, Param("model_id", "int", "held-out model id (default: all)")),
    ),
    NamedQuery("evaluation", "held-out and experiment metrics", _sql("evaluation")),
]

NAMED_QUERIES: dict[str, NamedQuery] = {q.name: q for q in _QUERIES}


def plain_view_query(view: str) -> NamedQuery:
    """`SELECT * FROM <view>` for a view without an entry above; `view` must come from the catalog or
    queries/ file names (never from user input), and is checked to be a plain identifier anyway."""
    if not view.isidentifier():
        raise UsageError(f"not a view name: {view!r}")
    return NamedQuery(view, f"all rows of the {view} view", f'SELECT * FROM "{view}"')
