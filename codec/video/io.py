"""Video input and output through PyAV (FFmpeg): RGB uint8 frames, streamed.

Input frames are decoded one at a time and kept as uint8 (never a float copy of the whole
video). Output goes to a PNG directory (exact RGB), ``.y4m`` (4:4:4, BT.601 limited range) or
``.mp4`` (H.264 for viewing), always through a temp path that is renamed at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from codec.atomic import _umask, atomic_write
from codec.errors import InputError

MIN_SIDE = 16
MAX_SIDE = 8192
MAX_FRAMES_BYTES = 8 << 30  # uint8 frames held for training (8 GiB)
PNG_RATE = Fraction(25)  # PNG folders carry no frame rate


@dataclass(frozen=True)
class Geometry:
    """Optional centre crop (applied first) and resize of every input frame."""

    crop: tuple[int, int] | None = None  # (width, height)
    resize: tuple[int, int] | None = None  # (width, height)


@dataclass
class Clip:
    """Decoded frames and their rate. frames: (T, H, W, 3) uint8."""

    frames: np.ndarray
    fps: Fraction

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return int(self.frames.shape[2]), int(self.frames.shape[1])


def parse_size(text: str, what: str = "size") -> tuple[int, int]:
    """``"320x136"`` -> (320, 136), with a clear error for anything else."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(
            f"{what} must look like WIDTHxHEIGHT (e.g. 320x136), got {text!r}"
        ) from None
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise InputError(f"{what} {w}x{h} is outside {MIN_SIDE}..{MAX_SIDE} pixels per side")
    return w, h


def read_video(
    path: str | os.PathLike,
    *,
    start: int = 0,
    max_frames: int | None = None,
    geometry: Geometry = Geometry(),
) -> Clip:
    """Decode frames ``start .. start+max_frames`` of any FFmpeg-readable file as RGB uint8."""
    fps, it = _open_frames(path, start, max_frames, geometry)
    frames: list[np.ndarray] = []
    total = 0
    for frame in it:
        if frames and frame.shape != frames[0].shape:
            raise InputError(f"{path}: frame {len(frames)} is {frame.shape[1]}x{frame.shape[0]}, "
                             f"unlike the {frames[0].shape[1]}x{frames[0].shape[0]} frames "
                             "before it (use --resize)")
        total += frame.nbytes
        if total > MAX_FRAMES_BYTES:
            raise InputError(
                f"{path}: the decoded frames exceed {MAX_FRAMES_BYTES >> 30} GiB; "
                "use --max-frames or --resize"
            )
        frames.append(frame)
    if not frames:
        raise InputError(f"{path}: no frames to encode (video is empty or --start is too large)")
    return Clip(np.stack(frames), fps)


def png_files(path: str | os.PathLike) -> list[Path]:
    """The PNG frames of a directory, sorted by name; InputError when there are none."""
    files = sorted(f for f in Path(path).iterdir() if f.suffix.lower() == ".png")
    if not files:
        raise InputError(f"{path}: is a directory with no PNG frames in it")
    return files


def read_png(path: Path) -> np.ndarray:
    """One PNG as RGB uint8: grayscale is repeated, alpha dropped, 16-bit rounded to 8-bit."""
    import imageio.v3 as iio

    try:
        img = iio.imread(path)
    except Exception as exc:  # imageio raises many types for bad files
        raise InputError(f"{path}: not a readable PNG ({_short(exc)})") from None
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"{path}: not an image of 1 to 4 channels (shape {img.shape})")
    img = img[..., :3] if img.shape[2] >= 3 else np.repeat(img[..., :1], 3, axis=2)
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise InputError(f"{path}: PNG samples must be 8 or 16 bits, got {img.dtype}")
    return img


def probe(path: str | os.PathLike, start: int = 0, max_frames: int | None = None,
          geometry: Geometry = Geometry()) -> tuple[int, int, int]:
    """(frames, width, height) an input will deliver after ``start``/``max_frames`` and the
    crop/resize, read from headers (no frame is decoded). Frames are counted by demuxing when
    the container does not say."""
    check_range(start, max_frames)
    if os.path.isdir(path):
        import imageio.v3 as iio

        files = png_files(path)
        try:
            h, w = iio.improps(files[0]).shape[:2]
        except Exception as exc:
            raise InputError(f"{files[0]}: not a readable PNG ({_short(exc)})") from None
        total = len(files)
    else:
        container, stream, _ = _open(path)
        try:
            w, h = stream.codec_context.width, stream.codec_context.height
            total = stream.frames or _demux_count(container, stream, path)
        finally:
            container.close()
    count = max(0, total - start)
    count = count if max_frames is None else min(count, max_frames)
    if geometry.crop:
        w, h = min(w, geometry.crop[0]), min(h, geometry.crop[1])
    if geometry.resize:
        w, h = geometry.resize
    return count, w, h


def iter_video(path, *, start=0, max_frames=None, geometry=Geometry()) -> Iterator[np.ndarray]:
    """Stream RGB uint8 frames (H, W, 3) one by one."""
    return _open_frames(path, start, max_frames, geometry)[1]


def count_frames(path: str | os.PathLike) -> int:
    """Frames in a video file's first video stream, by demuxing (no decoding), or the PNGs
    of a directory."""
    if os.path.isdir(path):
        return len(png_files(path))
    container, stream, _ = _open(path)
    try:
        return _demux_count(container, stream, path)
    finally:
        container.close()


def _demux_count(container, stream, path) -> int:
    import av

    try:
        return sum(1 for packet in container.demux(stream) if packet.size)
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: not a readable video ({_short(exc)})") from None


def check_range(start: int, max_frames: int | None) -> None:
    if start < 0 or (max_frames is not None and max_frames < 1):
        raise InputError("--start must be >= 0 and --max-frames >= 1")


def video_rate(path: str | os.PathLike) -> Fraction:
    if os.path.isdir(path):
        return PNG_RATE
    container, _, rate = _open(path)
    container.close()
    return rate


def _open(path):
    """(container, first video stream, frame rate) after checking the file is a video."""
    import av

    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a video file")
    if not os.path.isfile(path):
        raise InputError(f"{path}: not a regular file")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: empty file")
    try:
        container = av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable video ({_short(exc)})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: contains no video stream")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    if stream.codec_context.name in ("png", "mjpeg", "bmp", "tiff", "webp") and stream.frames <= 1:
        container.close()
        raise InputError(f"{path}: is a still image, not a video")
    return container, stream, Fraction(rate)


def _open_frames(path, start, max_frames, geometry) -> tuple[Fraction, Iterator[np.ndarray]]:
    import av

    check_range(start, max_frames)
    if os.path.isdir(path):
        files = png_files(path)[start:]
        files = files if max_frames is None else files[:max_frames]
        return PNG_RATE, (_shape(read_png(f), geometry) for f in files)
    container, stream, rate = _open(path)
    stream.thread_type = "AUTO"

    def frames() -> Iterator[np.ndarray]:
        index = 0
        taken = 0
        try:
            for frame in container.decode(stream):
                if index >= start:
                    yield _shape(frame.to_ndarray(format="rgb24"), geometry)
                    taken += 1
                    if max_frames is not None and taken >= max_frames:
                        return
                index += 1
        except av.error.FFmpegError as exc:
            raise InputError(f"{path}: decoding failed ({_short(exc)})") from None
        finally:
            container.close()

    return rate, frames()


def _shape(rgb: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Check a decoded RGB frame's size, then crop and resize it."""
    h, w = rgb.shape[:2]
    if w < MIN_SIDE or h < MIN_SIDE:
        raise InputError(f"frames of {w}x{h} are too small (at least {MIN_SIDE} px a side)")
    if geometry.crop:
        cw, ch = geometry.crop
        if cw > w or ch > h:
            raise InputError(f"--crop {cw}x{ch} is larger than the {w}x{h} frames")
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        rgb = rgb[y0 : y0 + ch, x0 : x0 + cw]
    if geometry.resize and geometry.resize != (rgb.shape[1], rgb.shape[0]):
        import av

        rw, rh = geometry.resize
        img = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        rgb = img.reformat(width=rw, height=rh, format="rgb24", interpolation="AREA").to_ndarray()
    return np.ascontiguousarray(rgb)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


# -- output ------------------------------------------------------------------------------------


def write_frames(
    path: str | os.PathLike, frames: Iterable[np.ndarray], fps: Fraction, size: tuple[int, int]
) -> str:
    """Write RGB uint8 frames to ``path``: a directory (``out/`` or no extension) -> PNGs,
    ``.y4m``, ``.mp4``/``.mkv``/``.mov``. Returns the kind written."""
    p = Path(path)
    suffix = p.suffix.lower()
    if str(path).endswith(os.sep) or p.is_dir() or suffix == "":
        _write_png_dir(p, frames)
        return "png"
    if suffix == ".y4m":
        with atomic_write(p) as fh:
            _write_y4m(fh, frames, fps, size)
        return "y4m"
    if suffix in (".mp4", ".mkv", ".mov"):
        _write_h264(p, frames, fps, size)
        return suffix[1:]
    raise InputError(f"{path}: unknown output type (use a directory, .y4m or .mp4)")


def _write_png_dir(folder: Path, frames: Iterable[np.ndarray]) -> None:
    import imageio.v3 as iio

    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a directory")
    parent = folder.resolve().parent
    if not parent.is_dir():
        raise InputError(f"output directory {str(parent)!r} does not exist")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=parent))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; outputs are not
    except OSError as exc:
        raise InputError(f"cannot write to {str(parent)!r}: {exc.strerror}") from None
    try:
        for i, frame in enumerate(frames):
            iio.imwrite(tmp / f"frame_{i:05d}.png", frame)
        if folder.exists():  # replace our own earlier output only
            for old in folder.glob("frame_*.png"):
                old.unlink()
            for new in sorted(tmp.iterdir()):
                os.replace(new, folder / new.name)
            tmp.rmdir()
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited range, (H, W, 3) uint8 -> (3, H, W) float64 Y, Cb, Cr (unrounded)."""
    x = rgb.astype(np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return np.stack([y, u, v])


def rgb_to_yuv444(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited range, (H, W, 3) uint8 -> (3, H, W) uint8 planes."""
    return np.clip(np.rint(rgb_to_ycbcr(rgb)), 0, 255).astype(np.uint8)


def _write_y4m(fh, frames: Iterable[np.ndarray], fps: Fraction, size: tuple[int, int]) -> None:
    w, h = size
    fh.write(f"YUV4MPEG2 W{w} H{h} F{fps.numerator}:{fps.denominator} Ip A1:1 C444\n".encode())
    for frame in frames:
        fh.write(b"FRAME\n")
        fh.write(rgb_to_yuv444(frame).tobytes())


def _write_h264(path: Path, frames: Iterable[np.ndarray], fps: Fraction, size: tuple[int, int]):
    import av

    w, h = size
    # yuv420p needs even sizes; odd sizes keep full chroma (High 4:4:4) instead of cropping
    pix_fmt = "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p"
    if not path.parent.resolve().is_dir():
        raise InputError(f"output directory {str(path.parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        with av.open(tmp, "w") as out:
            stream = out.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
            stream.options = {"crf": "12", "preset": "medium"}
            for frame in frames:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                out.mux(stream.encode(vf))
            out.mux(stream.encode(None))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
