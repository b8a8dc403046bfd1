"""Which chunks of model ids (or target blocks) one job of several owns.

A job array of N tasks splits the work statically: task s owns chunk c (models c*chunk_size ...) when
c % N == s, and target block at position b of `Lake.target_blocks()` when b % N == s. The split depends only on
(s, N) and the ids, never on what is already committed, so tasks that start at different times, are pre-empted
and requeued, or run twice never train the same model id twice (a second launch of one task finds its ids
committed). Within a task, Fabric ranks split the task's own missing chunks round-robin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Task `index` of `count` (a SLURM array task, or one of several independent launches)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"launch shard {self.index} of {self.count}: need 0 <= shard_index < num_shards")

    @classmethod
    def from_cfg(cls, launch) -> Shard:
        """From the `launch` config group (shard_index / num_shards; both unset means the whole job)."""
        return cls(int(launch.shard_index or 0), int(launch.num_shards or 1))

    def owns_chunk(self, chunk_index: np.ndarray | int) -> np.ndarray | bool:
        return np.asarray(chunk_index) % self.count == self.index

    def chunks(self, chunks: list[np.ndarray], chunk_size: int) -> list[np.ndarray]:
        """The chunks of model ids (each within one `chunk_size` range) that this shard owns."""
        return [c for c in chunks if self.owns_chunk(int(c[0]) // chunk_size)]

    def blocks(self, blocks: Sequence[T]) -> list[T]:
        """The target blocks (in `Lake.target_blocks()` order) that this shard owns."""
        return [b for i, b in enumerate(blocks) if self.owns_chunk(i)]

    @property
    def tag(self) -> str:
        """A file-name-safe name of the shard ("" for the whole job), e.g. for its fit lock."""
        return f"shard-{self.index}-of-{self.count}" if self.count > 1 else ""

    def __str__(self) -> str:
        return f"shard {self.index + 1}/{self.count}" if self.count > 1 else "whole job"
