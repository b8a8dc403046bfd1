"""`dm prepare`: write the configured data set as FFCV files plus the `examples` table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from omegaconf import DictConfig

from dm.data.arrays import ArrayDataset
from dm.data.sources import load_dataset
from dm.lake import schema
from dm.lake.atomic import read_json, write_atomic, write_json_atomic
from dm.lake.layout import Layout
from dm.lake.lock import experiment_lock
from dm.lake.records import check_file, file_digest
from dm.lake.store import LakeError


@dataclass(frozen=True)
class DataInfo:
    """What the rest of the pipeline needs to know about a prepared data set."""

    name: str
    fingerprint: str
    task: str
    num_classes: int
    d: int  # training examples
    n_test: int
    example_shape: tuple[int, ...]
    is_image: bool

    def to_json(self) -> dict:
        return {**self.__dict__, "example_shape": list(self.example_shape)}


def _info(ds: ArrayDataset) -> DataInfo:
    return DataInfo(ds.name, ds.fingerprint(), ds.task, ds.num_classes, len(ds.x_train), len(ds.x_test),
                    tuple(ds.x_train.shape[1:]), ds.is_image)


def examples_table(ds: ArrayDataset) -> pa.Table:
    """split, example_id, label, target for every example."""
    parts = []
    for split, y in (("train", ds.y_train), ("test", ds.y_test)):
        regression = ds.task == "regression"
        parts.append(pa.table({
            "split": [split] * len(y),
            "example_id": np.arange(len(y), dtype=np.int32),
            "label": np.full(len(y), -1, np.int32) if regression else y.astype(np.int32),
            "target": pa.array(y.astype(np.float64) if regression else [None] * len(y), type=pa.float64()),
        }, schema=schema.EXAMPLES))
    return pa.concat_tables(parts)


def prepare(cfg: DictConfig, root: Path) -> DataInfo:
    """Load and validate the configured data set, then write it under `root` (idempotent).

    Nothing is written when the data is invalid (DataError) or when `root` is an experiment made from
    other data (LakeError): the lake stays as it was. Runs under the experiment lock, so two launchers never
    write the same `.beton`; betons that are missing or do not match their recorded checksum are rewritten.
    """
    ds = load_dataset(cfg.dataset)
    info = _info(ds)
    layout = Layout(root)
    with experiment_lock(root):
        if layout.meta.exists():
            made_from = read_json(layout.meta).get("identity", {}).get("dataset_fingerprint")
            if made_from != info.fingerprint:
                raise LakeError(
                    f"experiment {root} was made from other data (fingerprint {str(made_from)[:12]}, this data set "
                    f"{info.fingerprint[:12]}); use another lake.experiment"
                )
        write_prepared(ds, info, root)
    return info


def prepared_problems(root: Path) -> list[tuple[Path, str]]:
    """[(file, why)] for each prepared file (info.json, betons, examples) that is missing or unlike its record."""
    layout = Layout(root)
    info_path = layout.data_dir / "info.json"
    try:
        recorded = read_json(info_path).get("betons", {})
    except LakeError as err:
        return [(info_path, str(err).splitlines()[0])]
    problems = [] if layout.examples.exists() else [(layout.examples, "missing")]
    for split in ("train", "test"):
        path = layout.beton(split)
        if split not in recorded:
            problems.append((path, "no checksum recorded in data/info.json"))
        elif why := check_file(root, str(path.relative_to(root)), recorded[split]):
            problems.append((path, why))
    return problems


def write_prepared(ds: ArrayDataset, info: DataInfo, root: Path) -> None:
    """Write `root/data/{train,test}.beton`, `root/data/info.json` and the examples table, unless present."""
    layout = Layout(root)
    info_path = layout.data_dir / "info.json"
    try:
        done = read_json(info_path).get("fingerprint") == info.fingerprint and not prepared_problems(root)
    except LakeError:
        done = False  # missing or truncated info.json: prepare again
    if done:
        return
    from dm.data.ffcv_io import write_beton

    write_beton(layout.beton("train"), ds.x_train, ds.y_train)
    write_beton(layout.beton("test"), ds.x_test, ds.y_test)
    write_atomic(examples_table(ds), layout.examples)
    betons = {s: file_digest(layout.beton(s)) for s in ("train", "test")}
    write_json_atomic({**info.to_json(), "betons": betons}, info_path)  # last: marks the data as prepared


def read_info(root: Path) -> DataInfo:
    """The DataInfo that `prepare` recorded under `root`."""
    raw = read_json(Layout(root).data_dir / "info.json", "run `dm prepare`")
    raw.pop("betons", None)
    try:
        return DataInfo(**{**raw, "example_shape": tuple(raw["example_shape"])})
    except (KeyError, TypeError) as err:
        raise LakeError(f"{Layout(root).data_dir / 'info.json'} is not a prepared data set's info ({err})") from err


@dataclass
class ResidentData:
    """Both splits on one device, normalised for the network. x: float32 [N, F] or [N, C, H, W]."""

    x_train: torch.Tensor
    y_train: torch.Tensor  # int64 [d] or float32 [d] (regression)
    x_test: torch.Tensor
    y_test: torch.Tensor
    info: DataInfo

    def rows(self, split: str, ids) -> tuple[torch.Tensor, torch.Tensor]:
        """(x [n, ...], y [n]) of examples `ids` of `split` ('train' or 'test'), on the data's device."""
        idx = torch.as_tensor(np.asarray(ids, np.int64), device=self.x_train.device)
        x, y = (self.x_test, self.y_test) if split == "test" else (self.x_train, self.y_train)
        return x[idx], y[idx]


def load_resident(root: Path, device: torch.device | str = "cpu") -> ResidentData:
    """Read both `.beton` files through FFCV and keep them on `device`, normalised with train statistics."""
    from dm.data.ffcv_io import read_beton

    root = Path(root)
    info = read_info(root)
    layout = Layout(root)
    bad = [f"{path}: {why}" for path, why in prepared_problems(root) if path.suffix == ".beton"]
    if bad:
        raise LakeError(f"{bad[0]}; `dm prepare` (or `dm train`) writes it again")
    regression = info.task == "regression"
    x_tr, y_tr = read_beton(layout.beton("train"), regression)
    x_te, y_te = read_beton(layout.beton("test"), regression)
    x_tr, x_te = normalise(x_tr, x_te, info)
    dtype = torch.float32 if regression else torch.int64
    return ResidentData(x_tr.to(device), y_tr.to(device, dtype), x_te.to(device), y_te.to(device, dtype), info)


def normalise(x_train: torch.Tensor, x_test: torch.Tensor, info: DataInfo) -> tuple[torch.Tensor, torch.Tensor]:
    """Images: HWC -> CHW, per-channel standardisation. Features: per-feature standardisation with the
    scale floored at 10% of the mean scale (near-constant pixels would otherwise blow up). Binary
    regression features (linear_sim) are left as they are: the min-norm model is defined on raw x."""
    if info.task == "regression":
        return x_train.float(), x_test.float()
    if info.is_image:
        x_train = x_train.permute(0, 3, 1, 2).float()
        x_test = x_test.permute(0, 3, 1, 2).float()
        mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
        std = x_train.std(dim=(0, 2, 3), keepdim=True)
        return ((x_train - mean) / std).contiguous(), ((x_test - mean) / std).contiguous()
    x_train, x_test = x_train.float(), x_test.float()
    mean, std = x_train.mean(0), x_train.std(0)
    scale = std + 0.1 * std.mean()
    return (x_train - mean) / scale, (x_test - mean) / scale
