"""Where a streamed encode reads frames from, a few at a time: a video file (re-opened by every
worker process) or an array already in memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from codec.video.io import Geometry


@dataclass(frozen=True)
class FileSource:
    """Frames ``start ..`` of a video file."""

    path: str
    start: int = 0
    max_frames: int | None = None
    geometry: Geometry = field(default_factory=Geometry)

    def count(self) -> int:
        from codec.video.io import count_frames

        n = max(0, count_frames(self.path) - self.start)
        return n if self.max_frames is None else min(n, self.max_frames)

    def frames(self, offset: int = 0, count: int | None = None) -> Iterator[np.ndarray]:
        from codec.video.io import iter_video

        if self.max_frames is not None:
            count = min(count or self.max_frames, self.max_frames - offset)
        return iter_video(self.path, start=self.start + offset, max_frames=count,
                          geometry=self.geometry)

    def fps(self):
        from codec.video.io import video_rate

        return video_rate(self.path)


@dataclass(frozen=True)
class ArraySource:
    """Frames already in memory: (T, H, W, 3) uint8 at ``rate`` frames per second."""

    array: np.ndarray
    rate: object = None  # fractions.Fraction

    def count(self) -> int:
        return len(self.array)

    def frames(self, offset: int = 0, count: int | None = None) -> Iterator[np.ndarray]:
        end = len(self.array) if count is None else offset + count
        yield from self.array[offset:end]

    def fps(self):
        return self.rate
