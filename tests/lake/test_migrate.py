"""`dm lake migrate`: a lake of the previous format (1) is refused with a hint, then adopted without retraining.

The format-1 lake is made by training and fitting a small lake with the current code and stripping what format
2 added: `_records/` (part and fit commit records, views signature), the beton checksums in data/info.json, the
fit hash in fit.json, the lock files, and `lake_format` set to 1. This is faithful to the format-1 writer
(`git show cf88bb1^:dm/lake/store.py` and `dm/solve/lake_fit.py`): the declared schemas, file paths, part keys,
fit block files and meta.json keys are unchanged since then; format 2 only added those records. It also gives the
strongest check: the records migration writes must equal, byte for byte, the ones a fresh commit wrote.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dm.lake.store import Lake

SIM = ["dataset=linear_sim", "model=linreg", "subsets.num_models=40", "lake.chunk_size=20",
       "trainer.models_per_process=10", "lake.target_block=50", "solve.k_lambdas=4", "solve.max_epochs=10"]


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    from dm.cli import main

    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 linear_sim models in 4 parts, fitted, views built: a format-2 lake written by the current code."""
    from dm.cli import main

    root = tmp_path_factory.mktemp("fresh")
    args = [*SIM, f"lake.root={root}", "lake.experiment=exp"]
    assert main(["train", *args]) == 0 and main(["fit", *args]) == 0
    return root / "exp"


def strip_to_format_1(root: Path) -> None:
    """Remove what format 2 added (see the module docstring)."""
    shutil.rmtree(root / "_records")
    for rollup in ("counterfactual_topk", "support"):  # per-block rollups came with format 2 too
        shutil.rmtree(root / rollup, ignore_errors=True)
    for name in (".lock", ".fit.lock"):
        (root / name).unlink(missing_ok=True)
    for rel, key in (("data/info.json", "betons"), ("fit.json", "fit_hash")):
        raw = json.loads((root / rel).read_text())
        del raw[key]
        (root / rel).write_text(json.dumps(raw))
    meta = json.loads((root / "meta.json").read_text())
    (root / "meta.json").write_text(json.dumps({**meta, "lake_format": 1}))


@pytest.fixture()
def old(fresh: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A format-1 copy of `fresh`, and the CLI arguments that address it."""
    shutil.copytree(fresh, tmp_path / "exp")
    strip_to_format_1(tmp_path / "exp")
    return tmp_path / "exp", [*SIM, f"lake.root={tmp_path}", "lake.experiment=exp"]


def contents(root: Path, pattern: str) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob(pattern)) if p.is_file()}


def same_models(a: Lake, b: Lake, ids: np.ndarray | None = None) -> bool:
    """Masks and every margins block of the models `ids` (all of `b`'s by default) bit-identical in a and b."""
    (ids_a, packed_a), (ids_b, packed_b) = a.read_masks(), b.read_masks()
    ids = ids_b if ids is None else ids
    ok = np.array_equal(packed_a[np.isin(ids_a, ids)], packed_b[np.isin(ids_b, ids)])
    for block in b.target_blocks():
        (ma, va), (mb, vb) = a.read_margins(block.split, block.block), b.read_margins(block.split, block.block)
        ok &= np.array_equal(ma[np.isin(ma, ids)], mb[np.isin(mb, ids)])
        ok &= np.array_equal(va[np.isin(ma, ids)], vb[np.isin(mb, ids)])  # bitwise
    return bool(ok)


def same_fit(a: Path, b: Path, rel: str) -> bool:
    """The fit block `rel` of a and b: same rows and integer/status columns, floats to float32 rounding
    (|diff| <= 1e-6 + 1e-5 |value|; measured: 2.4e-7 at most)."""
    ta, tb = pq.read_table(a / rel), pq.read_table(b / rel)
    if ta.schema != tb.schema or ta.num_rows != tb.num_rows:
        return False
    for name in ta.column_names:
        x, y = ta.column(name).to_numpy(zero_copy_only=False), tb.column(name).to_numpy(zero_copy_only=False)
        same = np.allclose(x, y, rtol=1e-5, atol=1e-6, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y)
        if not same:
            return False
    return True


def test_a_format_1_lake_is_refused_migrated_and_resumed(fresh, old, capsys) -> None:
    root, args = old
    for command in (("train",), ("fit",), ("lake", "verify")):
        code, _, err = run_cli(capsys, *command, *args)
        assert code == 2 and "lake format 1" in err and "dm lake migrate" in err, err

    code, out, err = run_cli(capsys, "lake", "migrate", *args)
    assert code == 0, err
    blocks = len(Lake.open(fresh).target_blocks())
    assert f"4 part(s) and {blocks} fit block(s) recorded, 0 file(s) quarantined" in out, out
    assert json.loads((root / "meta.json").read_text())["lake_format"] == 2
    # exactly the records, checksums and fit hash a fresh commit wrote
    assert contents(root, "_records/*/*.json") == contents(fresh, "_records/*/*.json")
    for rel, key in (("data/info.json", "betons"), ("fit.json", "fit_hash")):
        assert json.loads((root / rel).read_text())[key] == json.loads((fresh / rel).read_text())[key]
    views = [json.loads((r / "_records/views.json").read_text()) for r in (root, fresh)]
    assert views[0] == views[1]  # views rebuilt, their signature recorded
    assert run_cli(capsys, "lake", "verify", *args)[0] == 0
    assert same_models(Lake.open(root), Lake.open(fresh))

    code, out, _ = run_cli(capsys, "lake", "migrate", *args)
    assert code == 0 and "already lake format 2; nothing to migrate" in out

    fit_files = contents(root, "data*/split=*/*.parquet") | contents(root, "fit_path/*/*.parquet")
    code, out, err = run_cli(capsys, "fit", *args)
    assert code == 0 and f"({blocks} blocks already done)" in out, out + err
    assert contents(root, "data*/split=*/*.parquet") | contents(root, "fit_path/*/*.parquet") == fit_files

    models_before = Lake.open(root).read_models()
    code, out, err = run_cli(capsys, "train", *args, "subsets.num_models=50")
    assert code == 0 and "trained 10 models" in out, out + err
    lake = Lake.open(root)
    assert lake.committed_ids().tolist() == list(range(50))
    assert lake.read_models().slice(0, 40).equals(models_before)  # the 40 old models were not trained again
    assert same_models(lake, Lake.open(fresh))
    assert run_cli(capsys, "lake", "verify", *args)[0] == 0


def test_bad_files_of_a_format_1_lake_are_quarantined_then_refilled(fresh, old, capsys) -> None:
    root, args = old
    truncated = sorted(root.glob("margins/split=train/block=0000/part-*.parquet"))[2]
    truncated.write_bytes(truncated.read_bytes()[:300])
    part = truncated.stem.removeprefix("part-")
    orphan = root / "masks" / "part-000000090-000000099.parquet"  # a format-1 crash before the models file
    shutil.copy(root / "masks" / f"part-{part}.parquet", orphan)
    unfinished = root / "datamodels" / "split=train" / "block=0001.parquet"  # a fit block without its marker
    (root / "datamodel_fits" / "split=train" / "block=0001.parquet").unlink()

    code, out, err = run_cli(capsys, "lake", "migrate", *args)
    assert code == 0, err
    for path in (truncated, orphan, unfinished):
        assert f"{path}: " in out and f"quarantined {path} -> " in out, out
    blocks = len(Lake.open(fresh).target_blocks())
    assert f"3 part(s) and {blocks - 1} fit block(s) recorded" in out, out
    part_files = [p for p in root.rglob(f"part-{part}.parquet") if p.relative_to(root).parts[0] != "quarantine"]
    assert not part_files and len(list(root.glob(f"quarantine/*/**/part-{part}.parquet"))) == 2 + blocks
    assert run_cli(capsys, "lake", "verify", *args)[0] == 0

    code, out, err = run_cli(capsys, "train", *args)
    assert code == 0 and "trained 10 models" in out, out + err
    assert same_models(Lake.open(root), Lake.open(fresh))  # refilled to the same values
    code, out, err = run_cli(capsys, "fit", *args)
    assert code == 0 and f"({blocks - 1} blocks already done)" in out, out + err
    for output in ("datamodels", "datamodel_fits", "fit_path"):  # the refitted block: fitted alone now, so
        assert same_fit(root, fresh, f"{output}/split=train/block=0001.parquet")  # float sums may round apart
        assert contents(root, f"{output}/split=test/*") == contents(fresh, f"{output}/split=test/*")  # untouched
    assert run_cli(capsys, "lake", "verify", *args)[0] == 0


def test_a_crashed_migration_is_resumed_and_a_part_committed_twice_is_quarantined(fresh, old, capsys,
                                                                                   monkeypatch) -> None:
    import dm.lake.migrate as migration

    root, args = old
    first, second = sorted(p.stem.removeprefix("part-") for p in root.glob("models/part-*.parquet"))[:2]
    merged = f"{first[:9]}-{second[10:]}"  # models of both parts again, under one key
    for path in root.glob(f"**/part-{first}.parquet"):
        twin = path.with_name(f"part-{second}.parquet")
        pq.write_table(pa.concat_tables([pq.read_table(path), pq.read_table(twin)]),
                       path.with_name(f"part-{merged}.parquet"), compression="zstd")

    def crash(*_):
        raise KeyboardInterrupt  # after the parts' and blocks' records, before the betons and meta.json

    monkeypatch.setattr(migration, "_migrate_betons", crash)
    with pytest.raises(KeyboardInterrupt):
        run_cli(capsys, "lake", "migrate", *args)
    code, _, err = run_cli(capsys, "train", *args)
    assert code == 2 and "dm lake migrate" in err  # still format 1
    monkeypatch.undo()

    code, out, err = run_cli(capsys, "lake", "migrate", *args)
    assert code == 0, err
    assert f"models/part-{merged}.parquet: model ids [" in out and "committed in another part" in out, out
    assert "4 part(s)" in out and "quarantined" in out
    assert contents(root, "_records/*/*.json") == contents(fresh, "_records/*/*.json")
    assert run_cli(capsys, "lake", "verify", *args)[0] == 0
    assert same_models(Lake.open(root), Lake.open(fresh))
