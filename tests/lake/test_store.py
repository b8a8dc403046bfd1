"""The lake's contracts: schema, identity check on reopen, atomic parts, no duplicate model ids."""

import numpy as np
import pytest

from dm.lake.bits import pack_masks, unpack_masks
from dm.lake.store import Lake, LakeError, PartResult

D, N_TEST = 21, 13
IDENTITY = {"dataset_fingerprint": "abc", "alpha": 0.5, "seed": 0}
SHAPE = {"d": D, "n_test": N_TEST, "num_classes": 3, "task": "classification", "target_block": 5}


def part(ids, rng):
    m = len(ids)
    return PartResult(np.asarray(ids, np.int64), np.asarray(ids, np.int64) * 11, rng.random((m, D)) < 0.5,
                      {"test": rng.normal(size=(m, N_TEST)).astype(np.float32),
                       "train": rng.normal(size=(m, D)).astype(np.float32)},
                      rng.random(m), np.ones(m), "test-version")


def test_bits_roundtrip():
    masks = np.random.default_rng(0).random((7, 19)) < 0.5
    packed = pack_masks(masks)
    assert packed.shape == (7, 3) and packed.dtype == np.uint8
    np.testing.assert_array_equal(unpack_masks(packed, 19), masks)
    assert pack_masks(np.eye(1, 9, 1, dtype=bool))[0, 0] == 2  # train id 1 -> bit 1 of byte 0


def test_parts_roundtrip_through_blocks(tmp_path):
    rng = np.random.default_rng(0)
    lake = Lake.create_or_open(tmp_path / "e", IDENTITY, SHAPE)
    a, b = part([4, 2, 3], rng), part([0, 1], rng)
    lake.write_part(a)
    lake.write_part(b)
    ids, packed = lake.read_masks()
    assert ids.tolist() == [0, 1, 2, 3, 4]
    order = np.argsort(np.r_[a.model_ids, b.model_ids])
    np.testing.assert_array_equal(unpack_masks(packed, D), np.r_[a.masks, b.masks][order])
    for split, n in (("test", N_TEST), ("train", D)):
        blocks = lake.target_blocks((split,))
        assert sum(bl.length for bl in blocks) == n and all(bl.length <= 5 for bl in blocks)
        full = np.concatenate([lake.read_margins(split, bl.block)[1] for bl in blocks], axis=1)
        np.testing.assert_array_equal(full, np.r_[a.margins[split], b.margins[split]][order])
    models = lake.read_models()
    assert models.column("n_included").to_pylist() == np.r_[a.masks, b.masks][order].sum(1).tolist()


def test_ids_already_in_the_lake_are_skipped_never_duplicated(tmp_path):
    rng = np.random.default_rng(1)
    lake = Lake.create_or_open(tmp_path / "e", IDENTITY, SHAPE)
    first = part([0, 1], rng)
    assert lake.write_part(first) == 2
    second = part([1, 2], rng)  # id 1 committed meanwhile by another launcher: only id 2 is added
    assert lake.write_part(second) == 1
    assert lake.write_part(part([0, 2], rng)) == 0
    ids, packed = lake.read_masks()
    assert ids.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(unpack_masks(packed, D), np.r_[first.masks, second.masks[1:]])
    assert lake.read_margins("test", 0)[1][1].tolist() == first.margins["test"][1, :5].tolist()


def test_reopen_with_another_identity_is_refused_and_changes_nothing(tmp_path):
    Lake.create_or_open(tmp_path / "e", IDENTITY, SHAPE).write_part(part([0], np.random.default_rng(2)))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(LakeError, match="alpha: lake has 0.5, this run has 0.3"):
        Lake.create_or_open(tmp_path / "e", {**IDENTITY, "alpha": 0.3}, SHAPE)
    with pytest.raises(LakeError, match="target_block"):
        Lake.create_or_open(tmp_path / "e", IDENTITY, {**SHAPE, "target_block": 6})
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def _crash_commit_at_rename(lake: Lake, result: PartResult, k: int, monkeypatch) -> None:
    """Commit `result`, raising KeyboardInterrupt (a crash) at the k-th os.replace of the commit."""
    import os

    real_replace, calls = os.replace, []

    def crash_at_k(src, dst):
        calls.append(dst)
        if len(calls) == k:
            raise KeyboardInterrupt("simulated crash")
        real_replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(os, "replace", crash_at_k)
        with pytest.raises(KeyboardInterrupt):
            lake.write_part(result)


def test_a_crash_between_renames_leaves_no_model_half_in(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    lake = Lake.create_or_open(tmp_path / "e", IDENTITY, SHAPE)
    lake.write_part(part([0, 1], rng))
    _crash_commit_at_rename(lake, part([2, 3], rng), 3, monkeypatch)
    assert lake.committed_ids().tolist() == [0, 1]  # the models file is renamed last
    assert lake.read_masks()[0].tolist() == [0, 1]
    reopened = Lake.create_or_open(tmp_path / "e", IDENTITY, SHAPE)  # recovery removes the orphans
    assert not list((tmp_path / "e").rglob("part-000000002-000000003.parquet"))
    reopened.write_part(part([2, 3], rng))
    assert reopened.committed_ids().tolist() == [0, 1, 2, 3]


def test_atomic_path_leaves_the_old_file_on_a_failed_write(tmp_path):
    from dm.lake.atomic import atomic_path, write_json_atomic

    target = write_json_atomic({"v": 1}, tmp_path / "x.json")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"v": 2')  # half written, then the writer fails
            raise RuntimeError("disk full")
    assert target.read_text().replace(" ", "").replace("\n", "") == '{"v":1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_reads_name_a_file_that_differs_from_its_record(tmp_path):
    lake = Lake.create_or_open(tmp_path / "e", IDENTITY, SHAPE)
    lake.write_part(part([0, 1], np.random.default_rng(4)))
    path = lake.layout.margins("test", lake.committed_parts()[0])
    data = bytearray(path.read_bytes())
    data[-20] ^= 1  # same size, other bytes
    path.write_bytes(bytes(data))
    with pytest.raises(LakeError, match=f"{path}: checksum differs"):
        lake.read_margins("test", 1)
    lake.read_margins("train", 0)  # the other split is still readable


@pytest.mark.parametrize("name", ["..", ".", "a/b", "../x", ".hidden", "_records", ""])
def test_experiment_names_stay_inside_the_lake_root(tmp_path, name):
    from omegaconf import OmegaConf

    from dm.lake.layout import experiment_root

    with pytest.raises(LakeError, match="plain directory name"):
        experiment_root(OmegaConf.create({"lake": {"root": str(tmp_path), "experiment": name}}))


def test_verify_tells_crash_leftovers_from_foreign_files(tmp_path, monkeypatch):
    from dm.lake.verify import find_problems

    rng = np.random.default_rng(5)
    lake = Lake.create_or_open(tmp_path / "e", IDENTITY, SHAPE)
    lake.write_part(part([0, 1], rng))
    _crash_commit_at_rename(lake, part([2, 3], rng), 4, monkeypatch)  # journal, masks, one margins file in place
    foreign = lake.layout.masks("000000007-000000008")
    foreign.write_bytes(lake.layout.masks(lake.committed_parts()[0]).read_bytes())
    whys = {p.path.name + " " + p.why.split(" (")[0].split(";")[0] for p in find_problems(lake)}
    assert whys == {"part-000000002-000000003.parquet left by a crashed commit",  # masks and one margins file
                    "part-000000007-000000008.parquet not in any commit record of this experiment"}
    assert len([p for p in find_problems(lake) if "crashed" in p.why]) == 2
    lake.recover()
    assert [p.path for p in find_problems(lake)] == [foreign]


def test_verify_reads_the_ids_of_every_file_against_the_record(tmp_path):
    """A record whose files match their checksums but not its ids (a hand-edited or misplaced record): every
    file of the part is reported, margins files included (one row per model and example there)."""
    from dataclasses import replace

    from dm.lake.records import write_record
    from dm.lake.verify import find_problems

    lake = Lake.create_or_open(tmp_path / "e", IDENTITY, SHAPE)
    lake.write_part(part([3, 4, 5], np.random.default_rng(5)))
    assert find_problems(lake) == []
    key, record = next(iter(lake.part_records().items()))
    write_record(lake.layout.root, replace(record, ids=[3, 6, 3]))  # same count, another last id
    problems = find_problems(lake)
    assert {p.path.relative_to(lake.layout.root).parts[0] for p in problems} == {"models", "masks", "margins"}
    assert len(problems) == 4 and all("model ids differ from the record (3..6, 3)" in p.why for p in problems)
