"""A synthetic experiment for the report tests: a lake with models, hand-written solver and evaluation outputs in
the layout of lake/README.md, and its views. Views whose SQL is not in queries/ yet are stood in for by tables of
the same name and columns, so the report is always drawn from a database, as in `dm report`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from omegaconf import DictConfig
from scipy.stats import spearmanr

from dm.analyze.experiments.attribution import SCHEMA as ATTRIBUTION_SCHEMA
from dm.lake import schema
from dm.lake.store import Lake, PartResult
from dm.lake.views import build_views, open_database
from dm.report.thumbnails import ExampleImages

BLOCK = 256
RANKERS = ("datamodel", "influence (baseline)", "representation nearest neighbours (baseline)", "random (baseline)")

# name -> SQL over the lake (`{lake}`) that stands in for a view the project does not define yet (or whose
# inputs this fixture does not write in the layout the view reads).
STAND_INS = {
    "datamodels": "SELECT split, example_id, train_id, weight FROM read_parquet('{lake}/datamodels/*/*.parquet', "
    "hive_partitioning = true, hive_types = {{'split': VARCHAR}})",
    "datamodel_fits": 'SELECT split, example_id, bias, "lambda", val_mse, nnz, n_models_used FROM read_parquet('
    "'{lake}/datamodel_fits/*/*.parquet', hive_partitioning = true, hive_types = {{'split': VARCHAR}})",
    "fit_path": 'SELECT split, example_id, lambda_index, "lambda", train_mse, val_mse, nnz FROM read_parquet('
    "'{lake}/fit_path/*/*.parquet', hive_partitioning = true, hive_types = {{'split': VARCHAR}})",
    "predictions": "SELECT * FROM read_parquet('{lake}/eval/predictions/*.parquet')",
    "evaluation": "SELECT * FROM read_parquet('{lake}/eval/metrics/*.parquet', union_by_name = true)",
    "embedding": "SELECT * FROM read_parquet('{lake}/eval/embedding/*.parquet')",
    "counterfactual_results": "SELECT * FROM read_parquet('{lake}/eval/counterfactual/*.parquet')",
    "brittleness": "SELECT * FROM read_parquet('{lake}/eval/brittleness/*.parquet')",
    "leakage": "SELECT example_id, rank, train_id, weight, weight / total AS score FROM (SELECT example_id, "
    "train_id, weight, row_number() OVER (PARTITION BY example_id ORDER BY weight DESC, train_id) AS rank, "
    "sum(weight) OVER (PARTITION BY example_id) AS total FROM datamodels WHERE split = 'test' AND weight > 0) "
    "WHERE rank <= 10",
}


@dataclass
class FixtureLake:
    """A synthetic experiment: its lake, its database and the images of its examples."""

    lake: Lake
    images: ExampleImages
    stand_ins: list[str]  # views replaced by tables

    @property
    def database(self) -> Path:
        return self.lake.layout.database

    def connect(self) -> duckdb.DuckDBPyConnection:
        return open_database(self.lake, read_only=True)


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _blocks(n: int) -> list[tuple[int, int, int]]:
    return [(b, first, min(BLOCK, n - first)) for b, first in enumerate(range(0, n, BLOCK))]


def _solver_outputs(root: Path, rng: np.random.Generator, d: int, sizes: dict[str, int], n_lambdas: int) -> dict:
    """datamodels, datamodel_fits and fit_path Parquet as `dm fit` lays them out; returns the weights."""
    weights: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for split, n in sizes.items():
        weights[split] = []
        for b, first, length in _blocks(n):
            ex, tr, w, fits, path = [], [], [], [], []
            for j in range(first, first + length):
                nnz = int(rng.integers(4, 40))
                ids = np.sort(rng.choice(d, nnz, replace=False))
                theta = rng.normal(0, 0.05, nnz) + 0.02
                weights[split].append((ids, theta))
                ex += [j] * nnz
                tr += ids.tolist()
                w += theta.tolist()
                lam_max = float(rng.uniform(0.01, 0.1))
                lambdas = lam_max * np.logspace(0, -2, n_lambdas)
                t = np.linspace(0, 1, n_lambdas)
                train_mse = 1.0 - 0.7 * t + rng.normal(0, 0.01, n_lambdas)
                val_mse = 1.0 - 0.6 * t + 0.5 * t**3 + rng.normal(0, 0.01, n_lambdas)
                best = int(val_mse.argmin())
                fits.append((j, float(rng.normal(1.0, 0.3)), float(lambdas[best]), float(val_mse[best]), nnz, 40))
                for i in range(n_lambdas):
                    path.append((j, i, float(lambdas[i]), float(train_mse[i]), float(val_mse[i]), int(nnz * t[i])))
            name = f"split={split}/block={b:04d}.parquet"
            _write(
                pa.table(
                    {
                        "example_id": pa.array(ex, pa.int32()),
                        "train_id": pa.array(tr, pa.int32()),
                        "weight": pa.array(w, pa.float32()),
                    }
                ),
                root / "datamodels" / name,
            )
            cols = list(zip(*fits, strict=True))
            _write(
                pa.table(
                    {
                        "example_id": pa.array(cols[0], pa.int32()),
                        "bias": cols[1],
                        "lambda": cols[2],
                        "val_mse": cols[3],
                        "nnz": pa.array(cols[4], pa.int32()),
                        "n_models_used": pa.array(cols[5], pa.int32()),
                    }
                ),
                root / "datamodel_fits" / name,
            )
            cols = list(zip(*path, strict=True))
            _write(
                pa.table(
                    {
                        "example_id": pa.array(cols[0], pa.int32()),
                        "lambda_index": pa.array(cols[1], pa.int32()),
                        "lambda": cols[2],
                        "train_mse": cols[3],
                        "val_mse": cols[4],
                        "nnz": pa.array(cols[5], pa.int32()),
                    }
                ),
                root / "fit_path" / name,
            )
    return weights


def _eval_outputs(root: Path, rng: np.random.Generator, sizes: dict[str, int], n_heldout: int, k_pcs: int) -> None:
    """Held-out predictions and metrics, embeddings, counterfactual and brittleness results under eval/."""
    n_test = sizes["test"]
    predicted = rng.normal(1.0, 1.0, (n_heldout, n_test))
    actual = predicted + rng.normal(0, 0.5, predicted.shape)
    models = np.repeat(np.arange(10_000, 10_000 + n_heldout), n_test)
    _write(
        pa.table(
            {
                "model_id": models,
                "split": ["test"] * models.size,
                "example_id": np.tile(np.arange(n_test, dtype=np.int32), n_heldout),
                "predicted": predicted.ravel(),
                "actual": actual.ravel(),
            }
        ),
        root / "eval" / "predictions" / "heldout.parquet",
    )
    lds = float(np.mean([spearmanr(predicted[:, j], actual[:, j]).statistic for j in range(n_test)]))
    pearson = float(np.corrcoef(predicted.ravel(), actual.ravel())[0, 1])
    mse = float(np.mean((predicted - actual) ** 2))
    _write(
        pa.table(
            {
                "metric": ["lds", "pearson", "mse", "lds"],
                "value": [lds, pearson, mse, lds / 2],
                "n": [n_test, predicted.size, predicted.size, 10],
                "split": ["test", "test", "test", "train"],
            }
        ),
        root / "eval" / "metrics" / "heldout.parquet",
    )
    rows = []
    for split, n in sizes.items():
        for j in range(n):
            rows.append((split, j, rng.normal(0, 1, k_pcs).tolist(), int(rng.integers(0, 8))))
    cols = list(zip(*rows, strict=True))
    _write(
        pa.table(
            {
                "split": cols[0],
                "example_id": pa.array(cols[1], pa.int32()),
                "pc": pa.array(cols[2], pa.list_(pa.float64())),
                "cluster": pa.array(cols[3], pa.int32()),
            }
        ),
        root / "eval" / "embedding" / "embedding.parquet",
    )
    cf = []
    for j in rng.choice(n_test, min(20, n_test), replace=False):
        for k in (10, 20, 40):
            for removed, sign in (("top", -1.0), ("bottom", 1.0), ("random", 0.0)):
                p = sign * k * 0.02 + rng.normal(0, 0.05)
                cf.append(("test", int(j), k, removed, p, p * 0.9 + rng.normal(0, 0.05)))
    cols = list(zip(*cf, strict=True))
    _write(
        pa.table(
            {
                "split": cols[0],
                "example_id": pa.array(cols[1], pa.int32()),
                "k": pa.array(cols[2], pa.int32()),
                "removed": cols[3],
                "predicted_delta": cols[4],
                "actual_delta": cols[5],
                # the rest of dm.analyze.experiments.counterfactual's columns (the view's contract needs them)
                "label": pa.array(np.zeros(len(cf)), pa.int32()),
                "n_models": pa.array(np.full(len(cf), 4), pa.int32()),
                "control_margin": np.ones(len(cf)),
                "mean_margin": 1.0 + np.array(cols[5]),
                "std_margin": np.full(len(cf), 0.1),
            }
        ),
        root / "eval" / "counterfactual" / "results.parquet",
    )
    attribution = [
        {"method": m, "settings": f'{{"models": {n}}}', "split": "test", "lds": lds_m, "pearson": 0.9, "spearman": 0.9,
         "mse": 0.05, "n_targets": n_test, "n_heldout_models": n_heldout,
         "n_models_used": n if m == "datamodels" else 0,
         "models_trained": n, "checkpoints": n, "calibration": "native" if m == "datamodels" else "affine",
         "calibration_models": 0, "train_seconds": 0.1 * n, "attribution_seconds": 1.0, "seconds": 0.1 * n + 1.0,
         "device": "cpu", "key": f"{m}{n}"}
        for m, n, lds_m in (("datamodels", 100, 0.3), ("datamodels", 1000, 0.7), ("trak", 1, 0.3), ("trak", 10, 0.45))
    ]
    _write(pa.Table.from_pylist(attribution, schema=ATTRIBUTION_SCHEMA),
           root / "eval" / "attribution" / "scores.parquet")
    ks = [10, 20, 40, 80, 160, 320]
    br = [(r, k, min(1.0, k / (80.0 * (i + 1)) + 0.01 * i)) for i, r in enumerate(RANKERS) for k in ks]
    cols = list(zip(*br, strict=True))
    _write(
        pa.table({"ranker": cols[0], "k": pa.array(cols[1], pa.int32()), "fraction_flipped": cols[2]}),
        root / "eval" / "brittleness" / "brittleness.parquet",
    )


def make_lake(
    root: Path,
    *,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    fingerprint: str,
    n_models: int = 24,
    n_heldout: int = 30,
    n_lambdas: int = 12,
    k_pcs: int = 6,
    with_fit: bool = True,
    with_eval: bool = True,
    seed: int = 0,
) -> FixtureLake:
    """A digits-like experiment (8x8 images as 64 features) with every output the report reads."""
    rng = np.random.default_rng(seed)
    d, n_test = len(y_train), len(y_test)
    identity = {"dataset_fingerprint": fingerprint, "alpha": 0.5, "seed": 0, "model": {"name": "mlp"}}
    shape = {"d": d, "n_test": n_test, "num_classes": 10, "task": "classification", "target_block": BLOCK}
    lake = Lake.create_or_open(root, identity, shape)
    examples = pa.concat_tables(
        [
            pa.table(
                {
                    "split": [split] * len(y),
                    "example_id": np.arange(len(y), dtype=np.int32),
                    "label": y.astype(np.int32),
                    "target": pa.nulls(len(y), pa.float64()),
                },
                schema=schema.EXAMPLES,
            )
            for split, y in (("train", y_train), ("test", y_test))
        ]
    )
    _write(examples, lake.layout.examples)
    masks = np.zeros((n_models, d), bool)
    for m in range(n_models):
        masks[m, rng.choice(d, d // 2, replace=False)] = True
    lake.write_part(
        PartResult(
            model_ids=np.arange(n_models, dtype=np.int64),
            seeds=np.arange(n_models, dtype=np.int64),
            masks=masks,
            margins={
                "train": rng.normal(size=(n_models, d)).astype(np.float32),
                "test": rng.normal(size=(n_models, n_test)).astype(np.float32),
            },
            test_accuracy=rng.uniform(0.8, 0.95, n_models),
            train_seconds=np.full(n_models, 0.25),
            code_version="fixture",
        )
    )
    sizes = {"test": n_test, "train": d}
    if with_fit:
        _solver_outputs(lake.layout.root, rng, d, sizes, n_lambdas)
        (lake.layout.root / "fit.json").write_text(
            json.dumps({"seconds": 12.5, "solver": {"batch_size": 256}, "test_model_ids": list(range(100))})
        )
    if with_eval:
        _eval_outputs(lake.layout.root, rng, sizes, n_heldout, k_pcs)
    built = build_views(lake)
    stand_ins = []
    con = open_database(lake, read_only=False, sandbox=False)
    try:
        for name, sql in STAND_INS.items():
            if name in built.created:
                continue
            try:
                con.execute(f"CREATE TABLE {name} AS {sql.format(lake=lake.layout.root)}")
            except duckdb.Error:
                continue  # its inputs were not written (with_fit / with_eval off): the view stays missing
            stand_ins.append(name)
    finally:
        con.close()
    images = ExampleImages.from_arrays("digits", x_train, x_test)
    assert images is not None
    return FixtureLake(lake, images, stand_ins)


def random_digits(rng: np.random.Generator, d: int, n_test: int) -> tuple[np.ndarray, ...]:
    """Random 8x8 'digits' (64 features in 0..16) with labels."""
    return (
        rng.integers(0, 17, (d, 64)).astype(np.float32),
        rng.integers(0, 10, d),
        rng.integers(0, 17, (n_test, 64)).astype(np.float32),
        rng.integers(0, 10, n_test),
    )


@pytest.fixture(scope="session")
def small_report_lake(tmp_path_factory: pytest.TempPathFactory) -> FixtureLake:
    """A small complete experiment: 60 train and 20 test 'digits', every view the report reads."""
    x_tr, y_tr, x_te, y_te = random_digits(np.random.default_rng(1), 60, 20)
    return make_lake(
        tmp_path_factory.mktemp("report") / "small",
        x_train=x_tr,
        y_train=y_tr,
        x_test=x_te,
        y_test=y_te,
        fingerprint="f" * 64,
    )


@pytest.fixture(scope="session")
def small_report_html(small_report_lake: FixtureLake) -> str:
    from dm.report import render_report

    con = small_report_lake.connect()
    try:
        return render_report(con, images=small_report_lake.images, dataset="digits")
    finally:
        con.close()


class PageParser(HTMLParser):
    """What the tests look for in the page: sections, images, metric values, tiles, links and scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, str]] = {}  # id -> {status, heading, text}
        self.images: list[dict[str, str]] = []
        self.metrics: dict[str, tuple[str, str]] = {}  # data-metric -> (data-value, shown text)
        self.tiles: list[dict[str, str]] = []  # data-split, data-example-id, section, text
        self.scripts = 0
        self.links = 0
        self._section: str | None = None
        self._in_h2 = False
        self._metric: str | None = None
        self._tile: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "section":
            self._section = a.get("id", "")
            self.sections[self._section] = {"status": a.get("data-status", ""), "heading": "", "text": ""}
        elif tag == "h2":
            self._in_h2 = True
        elif tag == "img":
            self.images.append({**a, "section": self._section or ""})
            if self._tile is not None:
                self._tile["img"] = a.get("src", "")
        elif tag == "span" and "data-metric" in a:
            self._metric = a["data-metric"]
            self.metrics[self._metric] = (a.get("data-value", ""), "")
        elif tag == "figure" and "data-example-id" in a:
            self._tile = {
                "split": a["data-split"],
                "id": a["data-example-id"],
                "section": self._section or "",
                "class": a.get("class", ""),
                "text": "",
            }
        elif tag == "script":
            self.scripts += 1
        elif tag == "link":
            self.links += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._section = None
        elif tag == "h2":
            self._in_h2 = False
        elif tag == "span" and self._metric is not None:
            self._metric = None
        elif tag == "figure" and self._tile is not None:
            self.tiles.append(self._tile)
            self._tile = None

    def handle_data(self, data: str) -> None:
        if self._section is not None:
            self.sections[self._section]["text"] += data
            if self._in_h2:
                self.sections[self._section]["heading"] += data
        if self._metric is not None:
            value, text = self.metrics[self._metric]
            self.metrics[self._metric] = (value, text + data)
        if self._tile is not None:
            self._tile["text"] += data + " "


def parse_page(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


@pytest.fixture(scope="session")
def digits_sized(tmp_path_factory: pytest.TempPathFactory) -> tuple[DictConfig, FixtureLake]:
    """The digits default's shape: the real 1,347 train / 450 test digits, 100-point λ paths for all 1,797
    targets, 300 held-out models; configured as `dm report` would be."""
    from dm.config.compose import load_config
    from dm.data.sources import load_digits_dataset

    ds = load_digits_dataset()
    root = tmp_path_factory.mktemp("digits_sized")
    cfg = load_config([f"lake.root={root}", "lake.experiment=digits_sized", "dataset=digits"])
    lake = make_lake(
        root / "digits_sized",
        x_train=ds.x_train,
        y_train=ds.y_train,
        x_test=ds.x_test,
        y_test=ds.y_test,
        fingerprint=ds.fingerprint(),
        n_models=64,
        n_heldout=300,
        n_lambdas=100,
        k_pcs=20,
    )
    return cfg, lake
