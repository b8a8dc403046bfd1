"""The files and commit records of `dm fit`'s target blocks (the lake's side of a fit; the solver is dm.solve).

A block's outputs are written in `OUTPUTS` order, one Parquet file each under `<output>/split=<s>/block=<b>`;
its commit record (`dm.lake.records`, owner = the fit hash of fit.json) is written last and is its commit
marker. `dm fit` writes blocks, `dm lake migrate` records the blocks of format-1 lakes, and tests and benches
write hand-made blocks, all through `commit_block`.
"""

from __future__ import annotations

from pathlib import Path

from dm.lake.layout import Layout
from dm.lake.records import check_file, make_record, read_records, write_record
from dm.lake.rollups import ROLLUPS
from dm.lake.store import TargetBlock

OUTPUTS = ("datamodels", *ROLLUPS, "fit_path", "datamodel_fits")  # written in this order; datamodel_fits commits


def block_key(block: TargetBlock) -> str:
    """The record key of a block: `<split>-<block>`."""
    return f"{block.split}-{block.block:04d}"


def block_path(root: Path, output: str, block: TargetBlock) -> Path:
    return Layout(root).fit_block(output, block.split, block.block)


def commit_block(root: Path, block: TargetBlock, fit_hash: str) -> None:
    """Write the commit record of a block whose output files are all in place (its commit marker)."""
    files = [block_path(root, output, block) for output in OUTPUTS]
    ids = [block.first, block.first + block.length - 1, block.length]
    write_record(root, make_record(root, "fit", block_key(block), fit_hash, ids, files))


def done_blocks(root: Path, fit_hash: str) -> set[str]:
    """Keys of the blocks committed for the fit `fit_hash`: their record matches and their files its sizes
    (a truncated or foreign block is fitted again)."""
    records, _ = read_records(root, "fit")
    return {key for key, rec in records.items() if rec.owner == fit_hash
            and not any(check_file(root, rel, exp, full=False) for rel, exp in rec.files.items())}
