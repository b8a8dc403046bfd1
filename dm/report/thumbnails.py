"""Example images of a data set as small inline PNGs, or nothing for feature data sets."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.image import imsave

from dm.report.figures import png_data_uri

# Data sets whose rows are flattened images although the arrays are [N, F]: name -> image shape.
FLAT_IMAGES: dict[str, tuple[int, ...]] = {"digits": (8, 8)}


def as_images(name: str, x: np.ndarray) -> np.ndarray | None:
    """x as displayable images [N, H, W] or [N, H, W, 3], or None when the rows are plain features."""
    if x.ndim == 2 and name in FLAT_IMAGES and int(np.prod(FLAT_IMAGES[name])) == x.shape[1]:
        return x.reshape(len(x), *FLAT_IMAGES[name])
    if x.ndim == 4 and x.shape[-1] == 1:
        return x[..., 0]
    if x.ndim == 4 and x.shape[-1] == 3:
        return x
    if x.ndim == 3:
        return x
    return None


class ExampleImages:
    """Train and test images of one data set, encoded on demand and cached by (split, example_id)."""

    def __init__(self, name: str, train: np.ndarray, test: np.ndarray):
        self.name = name
        self.arrays = {"train": train, "test": test}
        self._cache: dict[tuple[str, int], str] = {}
        grey = train.ndim == 3
        self._cmap = "gray_r" if name in FLAT_IMAGES else ("gray" if grey else None)
        # a fixed intensity range keeps flattened images (digits: 0..16) comparable with each other
        self._range = (
            (float(min(train.min(), test.min())), float(max(train.max(), test.max()))) if name in FLAT_IMAGES else None
        )

    @classmethod
    def from_arrays(cls, name: str, x_train: np.ndarray, x_test: np.ndarray) -> ExampleImages | None:
        """Images for a data set's arrays, or None when they are features (then pages show ids and labels)."""
        train, test = as_images(name, x_train), as_images(name, x_test)
        if train is None or test is None:
            return None
        return cls(name, train, test)

    def size(self, split: str) -> int:
        return len(self.arrays[split])

    def data_uri(self, split: str, example_id: int) -> str | None:
        """PNG data URI of one example at its native resolution (the page scales it), None if out of range."""
        key = (split, int(example_id))
        if key in self._cache:
            return self._cache[key]
        array = self.arrays.get(split)
        if array is None or not 0 <= example_id < len(array):
            return None
        img = np.asarray(array[example_id])
        buf = io.BytesIO()
        if img.ndim == 3 and img.dtype == np.uint8:
            imsave(buf, img, format="png")
        else:
            img = img.astype(np.float64)
            lo, hi = self._range or (float(img.min()), float(img.max()))
            scaled = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
            imsave(buf, scaled, format="png", cmap=self._cmap, vmin=0.0, vmax=1.0)
        self._cache[key] = png_data_uri(buf.getvalue())
        return self._cache[key]
