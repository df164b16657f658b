import numpy as np
import pytest

from codec.errors import InputError
from codec.video.io import Geometry, parse_size, read_video, rgb_to_yuv444, write_frames
from tests.conftest import make_clip


def test_read_options(tiny_clip):
    clip = read_video(tiny_clip)
    assert clip.frames.shape == (8, 32, 48, 3) and clip.frames.dtype == np.uint8
    assert clip.fps == 25
    part = read_video(tiny_clip, start=2, max_frames=3)
    np.testing.assert_array_equal(part.frames, clip.frames[2:5])
    cropped = read_video(tiny_clip, geometry=Geometry(crop=(40, 20), resize=(20, 16)))
    assert cropped.frames.shape == (8, 16, 20, 3)


def test_writers_roundtrip(tmp_path, tiny_clip):
    clip = read_video(tiny_clip)
    write_frames(tmp_path / "png", clip.frames, clip.fps, clip.size)
    import imageio.v3 as iio

    np.testing.assert_array_equal(iio.imread(tmp_path / "png" / "frame_00003.png"), clip.frames[3])
    with pytest.raises(InputError, match="still image"):
        read_video(tmp_path / "png" / "frame_00003.png")
    write_frames(tmp_path / "o.y4m", clip.frames, clip.fps, clip.size)
    y4m = read_video(tmp_path / "o.y4m")
    assert y4m.frames.shape == clip.frames.shape
    assert np.abs(y4m.frames.astype(int) - clip.frames).mean() < 2
    odd = make_clip(tmp_path / "odd.mp4", 37, 21, 3)
    assert read_video(odd).frames.shape == (3, 21, 37, 3)


def test_yuv_conversion_range():
    planes = rgb_to_yuv444(np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8))
    assert planes[0].tolist() == [[16, 235]]


@pytest.mark.parametrize("text", ["320", "axb", "8x8", "99999x10"])
def test_parse_size_errors(text):
    with pytest.raises(InputError):
        parse_size(text)


def test_read_errors(tmp_path, tiny_clip):
    with pytest.raises(InputError, match="no such file"):
        read_video(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_video(tmp_path / "empty.mp4")
    (tmp_path / "junk.mp4").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InputError):
        read_video(tmp_path / "junk.mp4")
    with pytest.raises(InputError, match="no frames"):
        read_video(tiny_clip, start=100)
    with pytest.raises(InputError, match="larger"):
        read_video(tiny_clip, geometry=Geometry(crop=(64, 64)))
    with pytest.raises(InputError, match="too small"):
        read_video(make_clip(tmp_path / "small.mp4", 12, 10, 2))
