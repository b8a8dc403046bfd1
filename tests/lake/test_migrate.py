"""`dm lake migrate`: lakes of the previous formats (1 and 2) are refused with a hint, then adopted without
retraining.

The old lakes are made by training and fitting a small lake with the current code and undoing what later formats
changed. Format 2 (`git show ef987c8:dm/lake/store.py`) kept margins in one file per (split, target block,
part), a fixed-size list per model, written with the Parquet options below, and recorded those files.
Format 1 (`git show cf88bb1^:dm/lake/store.py` and `dm/solve/lake_fit.py`) had the same files without
`_records/` (part and fit commit records, views signature), the beton checksums in data/info.json, the fit hash
in fit.json, the lock files and the per-block rollups. This gives the strongest check: the records migration
writes must equal, byte for byte, the ones a fresh commit wrote (so must the rewritten margins files they hash).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dm.lake import schema
from dm.lake.records import make_record, write_record
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


LEGACY_MARGINS_PARQUET = {"compression": "zstd", "use_dictionary": False, "row_group_size": 64,
                          "column_encoding": {"margin.list.element": "BYTE_STREAM_SPLIT", "model_id": "PLAIN"}}


def legacy_margins(root: Path, split: str, block: int, key: str) -> Path:
    return root / "margins" / f"split={split}" / f"block={block:04d}" / f"part-{key}.parquet"


def to_format_2(root: Path) -> None:
    """Rewrite the margins of every part as format 2 wrote them, and its commit record as format 2 recorded it."""
    lake = Lake.open(root)
    margins = {block: lake.read_margins(block.split, block.block) for block in lake.target_blocks()}
    for key, record in lake.part_records().items():
        files = [lake.layout.masks(key)]
        for block, (ids, values) in margins.items():
            keep = (ids >= record.ids[0]) & (ids <= record.ids[1])
            margin = pa.FixedSizeListArray.from_arrays(pa.array(values[keep].reshape(-1)), block.length)
            path = legacy_margins(root, block.split, block.block, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table({"model_id": ids[keep], "margin": margin}), path, **LEGACY_MARGINS_PARQUET)
            files.append(path)
        write_record(root, make_record(root, "part", key, record.owner, record.ids, [*files, lake.layout.models(key)]))
    for key in lake.part_records():
        for split in ("test", "train"):
            lake.layout.margins(split, key).unlink()
    meta = json.loads((root / "meta.json").read_text())
    (root / "meta.json").write_text(json.dumps({**meta, "lake_format": 2}))


def strip_to_format_1(root: Path) -> None:
    """Format 2's files without what format 2 added (see the module docstring)."""
    to_format_2(root)
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
def old_2(fresh: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """A format-2 copy of `fresh`, and the CLI arguments that address it."""
    shutil.copytree(fresh, tmp_path / "exp")
    to_format_2(tmp_path / "exp")
    return tmp_path / "exp", [*SIM, f"lake.root={tmp_path}", "lake.experiment=exp"]


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
    assert json.loads((root / "meta.json").read_text())["lake_format"] == schema.LAKE_FORMAT
    assert not list(root.glob("margins/*/block=*"))  # the old margins files are gone
    # exactly the records, checksums and fit hash a fresh commit wrote
    assert contents(root, "_records/*/*.json") == contents(fresh, "_records/*/*.json")
    for rel, key in (("data/info.json", "betons"), ("fit.json", "fit_hash")):
        assert json.loads((root / rel).read_text())[key] == json.loads((fresh / rel).read_text())[key]
    views = [json.loads((r / "_records/views.json").read_text()) for r in (root, fresh)]
    assert all(v.pop("database") for v in views)  # each file's own stamp (inode, times): equal only by chance
    assert views[0] == views[1]  # views rebuilt, their signature recorded
    assert run_cli(capsys, "lake", "verify", *args)[0] == 0
    assert same_models(Lake.open(root), Lake.open(fresh))

    code, out, _ = run_cli(capsys, "lake", "migrate", *args)
    assert code == 0 and f"already lake format {schema.LAKE_FORMAT}; nothing to migrate" in out

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


def test_a_format_2_lake_is_refused_then_its_margins_are_rewritten(fresh, old_2, capsys) -> None:
    root, args = old_2
    code, _, err = run_cli(capsys, "sql", "SELECT count(*) FROM models", *args)
    assert code == 2 and "lake format 2" in err and "dm lake migrate" in err, err

    code, out, err = run_cli(capsys, "lake", "migrate", *args)
    assert code == 0, err
    assert "from lake format 2" in out and "4 part(s) and 0 fit block(s) recorded, 0 file(s) quarantined" in out, out
    assert not list(root.glob("margins/*/block=*"))
    # the same margins files, byte for byte, and the same records as the fresh commits wrote
    assert contents(root, "margins/*/*.parquet") == contents(fresh, "margins/*/*.parquet")
    assert contents(root, "_records/*/*.json") == contents(fresh, "_records/*/*.json")
    assert run_cli(capsys, "lake", "verify", *args)[0] == 0
    blocks = len(Lake.open(fresh).target_blocks())
    code, out, err = run_cli(capsys, "fit", *args)
    assert code == 0 and f"({blocks} blocks already done)" in out, out + err
    code, out, err = run_cli(capsys, "sql", "SELECT count(*) AS n FROM margins", "--format", "csv", *args)
    assert code == 0 and out.split() == ['"n"', str(40 * (Lake.open(root).d + Lake.open(root).split_size("test")))]


def test_a_format_2_migration_resumes_after_a_crash_and_quarantines_a_changed_file(fresh, old_2, capsys,
                                                                                  monkeypatch) -> None:
    import dm.lake.migrate as migration

    root, args = old_2
    keys = sorted(p.stem.removeprefix("part-") for p in root.glob("models/part-*.parquet"))
    changed = legacy_margins(root, "test", 0, keys[3])  # same size, other bytes: only its checksum tells
    table = pq.read_table(changed)
    pq.write_table(table.set_column(0, "model_id", pa.array(table.column("model_id").to_numpy()[::-1].copy())),
                   changed, **LEGACY_MARGINS_PARQUET)
    rewrite, calls = migration._rewrite_margins, []

    def crash_on_the_third(*a):
        calls.append(a)
        if len(calls) == 3:
            raise KeyboardInterrupt  # two parts rewritten, recorded and cleaned; the third half-way
        rewrite(*a)

    monkeypatch.setattr(migration, "_rewrite_margins", crash_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        run_cli(capsys, "lake", "migrate", *args)
    assert json.loads((root / "meta.json").read_text())["lake_format"] == 2
    monkeypatch.undo()

    code, out, err = run_cli(capsys, "lake", "migrate", *args)
    assert code == 0, err
    assert f"{changed}: " in out and "3 part(s)" in out and f"quarantined {changed} -> " in out, out
    assert run_cli(capsys, "lake", "verify", *args)[0] == 0
    code, out, err = run_cli(capsys, "train", *args)
    assert code == 0 and "trained 10 models" in out, out + err
    assert same_models(Lake.open(root), Lake.open(fresh))
    assert contents(root, "margins/*/*.parquet") == contents(fresh, "margins/*/*.parquet")
