"""The ``video`` object of a container header (see FORMAT.md, "Header keys")."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from codec.errors import ContainerError

MAX_FRAMES = 1 << 24


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    frames: int
    fps: Fraction
    pad: tuple[int, int] = (0, 0)  # (right, bottom) pixels added for the network, cropped back

    def pixels(self) -> int:
        return self.frames * self.width * self.height

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "fps": [self.fps.numerator, self.fps.denominator],
            "pix_fmt": "rgb24",
            "pad": list(self.pad),
        }

    @classmethod
    def from_dict(cls, d: Any) -> VideoInfo:
        try:
            w, h, t = int(d["width"]), int(d["height"]), int(d["frames"])
            num, den = (int(v) for v in d["fps"])
            pad = tuple(int(v) for v in d.get("pad", (0, 0)))
            pix = d.get("pix_fmt", "rgb24")
        except (KeyError, TypeError, ValueError):
            raise ContainerError("header 'video' is malformed") from None
        if not (1 <= w <= 16384 and 1 <= h <= 16384 and 1 <= t <= MAX_FRAMES):
            raise ContainerError(f"header 'video' has absurd size {w}x{h}x{t}")
        if num <= 0 or den <= 0 or len(pad) != 2 or min(pad) < 0 or pix != "rgb24":
            raise ContainerError("header 'video' has a bad fps, pad or pixel format")
        return cls(w, h, t, Fraction(num, den), (pad[0], pad[1]))
