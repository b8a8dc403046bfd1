"""counterfactual(ids) and counterfactual_topk against numpy, `dm query` against the plain DuckDB API, and
parameters that try to inject SQL."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import numpy as np
import pytest

from tests.views.conftest import SPLITS, D, Truth, run_cli


def _expected_counterfactual(truth: Truth, ids: list[int]) -> list[tuple[str, int, float]]:
    unique = sorted(set(ids))
    return [
        (split, j, -float(truth.weights[split][j, unique].sum()))
        for split in sorted(SPLITS)
        for j in range(truth.weights[split].shape[0])
    ]


def _assert_rows_close(got: list[tuple], want: list[tuple]) -> None:
    assert [r[:-1] for r in got] == [r[:-1] for r in want]
    np.testing.assert_allclose([r[-1] for r in got], [r[-1] for r in want], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("ids", [[3, 17, 42], [3, 3, 17], [], list(range(D))])
def test_counterfactual_macro(truth: Truth, con, ids: list[int]) -> None:
    got = con.execute("SELECT split, example_id, predicted_delta FROM counterfactual(?)", [ids]).fetchall()
    _assert_rows_close(got, _expected_counterfactual(truth, ids))


def test_dm_query_counterfactual_agrees_with_plain_duckdb(truth: Truth, con, capsys) -> None:
    code, out, err = run_cli(truth, capsys, "query", "counterfactual", "--ids", "3,17,42", "--format", "json")
    assert code == 0, err
    cli_rows = [(r["split"], r["example_id"], r["predicted_delta"]) for r in json.loads(out)]
    plain = con.execute("SELECT * FROM counterfactual([3, 17, 42])").fetchall()  # what `duckdb dm.duckdb` runs
    assert cli_rows == plain
    _assert_rows_close(cli_rows, _expected_counterfactual(truth, [3, 17, 42]))

    code, out, err = run_cli(truth, capsys, "query", "counterfactual", "--ids", "3,17,42", "--format", "csv")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].replace('"', "") == "split,example_id,predicted_delta" and len(lines) == len(plain) + 1


@pytest.mark.skipif(shutil.which("duckdb") is None, reason="no duckdb CLI binary on PATH")
def test_duckdb_cli_binary_runs_the_macro(truth: Truth) -> None:
    out = subprocess.run(
        [
            "duckdb",
            "-readonly",
            "-csv",
            str(truth.lake.layout.database),
            "-c",
            "SELECT count(*) FROM counterfactual([3, 17, 42])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip().splitlines()[-1] == str(sum(w.shape[0] for w in truth.weights.values()))


def _random_order(d: int) -> np.ndarray:
    return np.array(sorted(range(d), key=lambda i: (hashlib.md5(f"random-k/{i}".encode()).hexdigest(), i)))


def test_counterfactual_topk(truth: Truth, con) -> None:
    ks = [10, 20, 40]  # 10 * 2^i <= d = 60
    order = _random_order(D)
    want = []
    for split in SPLITS:
        for j, theta in enumerate(truth.weights[split]):
            desc = np.sort(theta)[::-1]
            for k in ks:
                want += [
                    (split, j, k, "bottom", -desc[::-1][:k].sum()),
                    (split, j, k, "random", -theta[order[:k]].sum()),
                    (split, j, k, "top", -desc[:k].sum()),
                ]
    got = con.execute(
        "SELECT split, example_id, k, removed, predicted_delta FROM counterfactual_topk "
        "ORDER BY split, example_id, k, removed"
    ).fetchall()
    _assert_rows_close(got, sorted(want, key=lambda r: r[:4]))


def test_injection_through_ids_fails_cleanly(truth: Truth, capsys) -> None:
    code, out, err = run_cli(truth, capsys, "query", "counterfactual", "--ids", "1); DROP VIEW models; --")
    assert code == 2 and "parameter ids must be ids" in err and out == ""
    code, _, err = run_cli(truth, capsys, "query", "datamodel", "--param", "example_id=1; DROP VIEW models")
    assert code == 2 and "example_id must be int" in err
    code, _, err = run_cli(truth, capsys, "query", "models; DROP VIEW models")
    assert code == 2 and "no query or view named" in err


def test_injection_through_strings_is_data(truth: Truth, capsys, con) -> None:
    code, out, err = run_cli(
        truth, capsys, "query", "counterfactual", "--ids", "3", "--param", "split=test' OR '1'='1", "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out) == []  # no split has that name
    code, out, _ = run_cli(truth, capsys, "query", "support", "--param", "split=x'); DROP VIEW models; --")
    assert code == 0
    assert con.execute("SELECT count(*) FROM models").fetchone()[0] == len(truth.masks)


def test_query_list_and_named_queries(truth: Truth, capsys, tmp_path) -> None:
    code, out, _ = run_cli(truth, capsys, "query", "--list")
    assert code == 0 and "counterfactual" in out and "ids" in out and "models" in out
    code, out, err = run_cli(
        truth, capsys, "query", "datamodel", "--param", "example_id=3", "--param", "top=5", "--format", "json"
    )
    assert code == 0, err
    theta = truth.weights["test"][3]
    want = sorted(np.flatnonzero(theta), key=lambda i: (-abs(theta[i]), i))[:5]
    assert [r["train_id"] for r in json.loads(out)] == want
    path = tmp_path / "cf.parquet"
    code, out, err = run_cli(
        truth, capsys, "query", "counterfactual_topk", "--param", "k=10", "--format", "parquet", "--output", str(path)
    )
    assert code == 0 and path.exists(), err
    code, _, err = run_cli(truth, capsys, "query", "support", "--param", "nope=1")
    assert code == 2 and "no parameter nope" in err
