import logging

import numpy as np
import pytest
from PIL import Image

from stylaug.data.images import BadImageError, load_rgb, read_image


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "LA", "1"])
def test_other_modes_become_rgb(tmp_path, mode):
    base = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 24, 3), dtype=np.uint8))
    img = base.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    path = _save(img, tmp_path / f"x.{fmt.lower()}", format=fmt)
    out = load_rgb(path)
    assert out.mode == "RGB" and out.size == (24, 20)


def test_grayscale_values_are_kept(tmp_path):
    arr = np.arange(0, 250, 10, dtype=np.uint8).reshape(5, 5)
    out = np.asarray(load_rgb(_save(Image.fromarray(arr, "L"), tmp_path / "g.png")))
    assert np.array_equal(out[..., 0], arr) and np.array_equal(out[..., 1], arr)


def test_transparent_pixels_composite_on_white(tmp_path):
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[..., 0] = 200
    arr[:2, :, 3] = 255  # top half opaque red-ish, bottom half fully transparent
    out = np.asarray(load_rgb(_save(Image.fromarray(arr, "RGBA"), tmp_path / "a.png")))
    assert tuple(out[0, 0]) == (200, 0, 0)
    assert tuple(out[3, 3]) == (255, 255, 255)


def test_sixteen_bit_grayscale_uses_the_full_range(tmp_path):
    arr = np.array([[0, 16384, 32768, 65535]], dtype=np.uint16)
    path = _save(Image.fromarray(arr), tmp_path / "deep.png")
    out = np.asarray(load_rgb(path))[0, :, 0]
    assert list(out) == [0, 64, 128, 255]  # PIL's plain convert would saturate all but 0 at 255


def _truncated(tmp_path):
    full = tmp_path / "full.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        full
    )
    data = full.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    return tmp_path / "cut.jpg"


@pytest.mark.parametrize("kind", ["truncated", "empty", "not_an_image", "missing"])
def test_bad_files_raise_or_are_skipped_with_a_warning(tmp_path, kind, caplog):
    if kind == "truncated":
        path = _truncated(tmp_path)
    else:
        path = tmp_path / f"{kind}.png"
        if kind != "missing":
            path.write_bytes(b"" if kind == "empty" else b"hello, not a PNG")
    with pytest.raises(BadImageError, match="on_bad_image=skip"):
        read_image(path, "error")
    with caplog.at_level(logging.WARNING):
        assert read_image(path, "skip") is None
    assert str(path) in caplog.text


def test_unknown_policy_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="skip, error"):
        read_image(tmp_path / "x.png", "ignore")
