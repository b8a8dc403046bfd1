"""Write data sets as FFCV `.beton` files and read them back whole (for data resident on the device)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dm.lake.atomic import atomic_path

_THREADS = torch.get_num_threads()
import ffcv  # noqa: E402  (importing ffcv sets torch to one thread; restore it below)
from ffcv.fields import FloatField, IntField, NDArrayField  # noqa: E402
from ffcv.fields.decoders import FloatDecoder, IntDecoder, NDArrayDecoder  # noqa: E402
from ffcv.loader import Loader, OrderOption  # noqa: E402
from ffcv.transforms import ToTensor  # noqa: E402
from ffcv.writer import DatasetWriter  # noqa: E402

torch.set_num_threads(_THREADS)
del ffcv

# FFCV compiles one numba pipeline per Loader; letting a Loader be collected while another compiles makes
# numba's dispatcher finaliser raise a (harmless, but loud) KeyError. Loaders are few: keep them alive.
_LOADERS: list[Loader] = []


class _Rows:
    """Indexed view over (x, y) arrays in the form FFCV's DatasetWriter reads."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int | float]:
        return self.x[i], self.y[i].item()


def write_beton(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Write examples x [N, ...] (float32 or uint8) with labels y [N] (int64 classes or float64 targets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    label_field = IntField() if np.issubdtype(y.dtype, np.integer) else FloatField()
    fields = {"x": NDArrayField(dtype=x.dtype, shape=tuple(x.shape[1:])), "y": label_field}
    with atomic_path(path) as tmp:
        DatasetWriter(str(tmp), fields, num_workers=1).from_indexed_dataset(_Rows(x, y))


def read_beton(path: Path, regression: bool, batch_size: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """All examples of a `.beton`, in order, through `ffcv.loader.Loader`: (x [N, ...], y [N])."""
    threads = torch.get_num_threads()
    loader = Loader(
        str(path),
        batch_size=batch_size,
        num_workers=1,
        order=OrderOption.SEQUENTIAL,
        drop_last=False,
        pipelines={
            "x": [NDArrayDecoder(), ToTensor()],
            "y": [FloatDecoder() if regression else IntDecoder(), ToTensor()],
        },
    )
    _LOADERS.append(loader)
    xs, ys = [], []
    for x, y in loader:
        xs.append(x.clone())
        ys.append(y.reshape(-1).clone())
    torch.set_num_threads(threads)
    return torch.cat(xs), torch.cat(ys)
