"""Shared fixtures: tiny synthetic data only; nothing outside the repo and tmp dirs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
SAMPLE = ROOT / "assets" / "sample.nirc"

# "default" is derandomized so a CI run is reproducible; "stress" (HYPOTHESIS_PROFILE=stress)
# draws many fresh random examples to hunt for new failures locally.
_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("default", max_examples=100, derandomize=True, **_common)
settings.register_profile("stress", max_examples=20000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def run_cli(*args: str, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m codec ARGS`` as a user would run ``nircodec ARGS`` (``env``: extra
    environment variables)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "codec", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def make_clip(path: Path, width: int = 48, height: int = 32, frames: int = 8) -> Path:
    """A tiny synthetic clip (moving gradient + square) written as H.264 mp4."""
    from fractions import Fraction

    from codec.video.io import write_frames

    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        img = np.stack([x / width, y / height, 0.5 + 0.4 * np.sin((x + 3 * t) / 6)], -1)
        x0 = 4 + 3 * t
        img[8:18, x0 : x0 + 10] = (1.0, 0.2, 0.1)
        out[t] = np.clip(img * 255, 0, 255).astype(np.uint8)
    write_frames(path, out, Fraction(25), (width, height))
    return path


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "tiny.mp4")
