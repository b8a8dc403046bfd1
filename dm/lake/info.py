"""An experiment opened for reading without the lake's writers: what `dm sql` / `dm query` need to know of it.

`LakeInfo.open(root)` checks `meta.json` as `dm.lake.store.Lake.open` does (same errors) and gives the layout,
the shape and the owner hash of the experiment's commit records, importing neither numpy nor pyarrow: those two
cost `dm sql` about 0.1 s of its 0.2 s start-up budget, and the store imports both at module level.

The store's `Lake` is built on this class (its `open`, `experiment_id`, `d` and `split_size` are these), and
`dm.lake.schema` takes LAKE_FORMAT from here; `tests/lake/test_info.py` pins that both open and refuse alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dm.lake.atomic import read_json
from dm.lake.errors import LakeError
from dm.lake.layout import Layout
from dm.lake.records import identity_hash

LAKE_FORMAT = 3  # 2: commit records (_records/); 3: long-form margins, one file per (split, part). Bump when the
# layout changes: older lakes are refused, and `dm lake migrate` (dm.lake.migrate) adopts them


def read_meta(root: Path, missing: str) -> tuple[Layout, dict[str, Any]]:
    """(layout, meta.json) of the experiment at `root`, whatever its lake format; LakeError `<why>` + `missing`
    (a hint) when there is no meta.json, or naming the file when it is not an experiment's metadata."""
    layout = Layout(Path(root))
    if not layout.meta.exists():
        raise LakeError(f"no experiment at {root} (no meta.json){missing}")
    meta = read_json(layout.meta)
    if not isinstance(meta, dict) or "identity" not in meta or "shape" not in meta:
        raise LakeError(f"{layout.meta} is not an experiment's metadata (no identity/shape)")
    return layout, meta


class LakeInfo:
    """One experiment directory, read-only: its layout and its `meta.json` (identity, shape, lake_format)."""

    def __init__(self, root: Path, meta: dict[str, Any]):
        self.layout = Layout(Path(root))
        self.meta = meta

    @classmethod
    def open(cls, root: Path) -> LakeInfo:
        """Read and check `root/meta.json`; LakeError with a hint if it is missing, foreign or of another format."""
        _, meta = read_meta(root, ". Run `dm train` first.")
        if meta.get("lake_format") in (1, 2):
            raise LakeError(f"{root} has lake format {meta['lake_format']} (an older dm); run `dm lake migrate "
                            f"lake.root={Path(root).parent} lake.experiment={Path(root).name}` to adopt it")
        if meta.get("lake_format") != LAKE_FORMAT:
            raise LakeError(f"{root} has lake format {meta.get('lake_format')}, this dm writes {LAKE_FORMAT}")
        return cls(Path(root), meta)

    @property
    def experiment_id(self) -> str:
        """Hash of the identity and shape: what every part record of this experiment carries as owner."""
        return identity_hash(self.meta["identity"], self.meta["shape"])

    @property
    def d(self) -> int:
        return int(self.meta["shape"]["d"])

    def split_size(self, split: str) -> int:
        return self.d if split == "train" else int(self.meta["shape"]["n_test"])

    def crash_leftovers(self) -> set[Path]:
        """`Lake.crash_leftovers` (imports the store: called only once a file is found that no record names)."""
        from dm.lake.store import Lake

        return Lake(self.layout.root, self.meta).crash_leftovers()
