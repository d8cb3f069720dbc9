import logging
import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from stylaug.data.images import MAX_SIDE, BadImageError, load_rgb, read_image, square_crop
from tests.places_fixture import fixture_script, repo_env


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


# --- odd modes, EXIF orientation, bounded decoding ------------------------------------------------


def _halves(left, right, mode, size=(40, 24)):
    """A ``size`` image in ``mode`` whose left half is ``left`` and right half ``right``."""
    w, h = size
    img = Image.new(mode, size, left)
    img.paste(Image.new(mode, (w - w // 2, h), right), (w // 2, 0))
    return img


def _odd_file(tmp_path, kind):
    """(path, expected RGB of the left half, of the right half, tolerance) for an odd file."""
    if kind == "cmyk_jpeg":
        img = _halves((0, 0, 0, 0), (0, 255, 255, 0), "CMYK")  # white | red
        return _save(img, tmp_path / "c.jpg", quality=95), (255, 255, 255), (255, 0, 0), 12
    if kind == "gray16_png":
        arr = np.asarray(_halves(65535, 16384, "I")).astype(np.uint16)
        path = tmp_path / "g16.png"
        path.write_bytes(fixture_script.png16_bytes(arr))
        return path, (255, 255, 255), (64, 64, 64), 0
    if kind == "rgb16_png":
        arr = np.zeros((24, 40, 3), np.uint16)
        arr[:, :20] = (65535, 0, 32768)
        arr[:, 20:] = (0, 16384, 65535)
        path = tmp_path / "c16.png"
        path.write_bytes(fixture_script.png16_bytes(arr))
        return path, (255, 0, 128), (0, 64, 255), 0
    if kind == "palette_alpha_png":
        img = _halves(0, 1, "P")
        img.putpalette([0, 0, 0, 200, 30, 10] + [0] * 762)
        return _save(img, tmp_path / "p.png", transparency=0), (255,) * 3, (200, 30, 10), 0
    if kind == "la_png":
        img = _halves((50, 0), (50, 255), "LA")  # transparent | opaque dark grey
        return _save(img, tmp_path / "la.png"), (255,) * 3, (50, 50, 50), 0
    if kind == "one_bit_png":
        return _save(_halves(0, 1, "1"), tmp_path / "b.png"), (0,) * 3, (255,) * 3, 0
    raise AssertionError(kind)


ODD_KINDS = ["cmyk_jpeg", "gray16_png", "rgb16_png", "palette_alpha_png", "la_png", "one_bit_png"]


@pytest.mark.parametrize("kind", ODD_KINDS)
@pytest.mark.parametrize("max_side", [None, 8])
def test_odd_modes_decode_to_the_right_colours_also_when_reduced(tmp_path, kind, max_side):
    """8 forces the reduce path, which has no palette, 1-bit or 16-bit variant of its own."""
    path, left, right, tol = _odd_file(tmp_path, kind)
    out = load_rgb(path, max_side=max_side)
    assert out.mode == "RGB"
    if max_side is None:
        assert out.size == (40, 24)
    else:  # PNG: reduced by 5 to 8x5; JPEG: decoded at 1/4 scale (10x6), then halved to 5x3
        assert out.size == ((5, 3) if kind.endswith("jpeg") else (8, 5))
    arr = np.asarray(out).astype(int)
    h, w = arr.shape[:2]
    assert np.abs(arr[h // 2, 0] - left).max() <= tol
    assert np.abs(arr[h // 2, w - 1] - right).max() <= tol


def _exif_rotated(tmp_path, fmt):
    """Stored 40x20 (black left, white right) with orientation 6: upright it is 20x40, black on
    top - the camera was turned, the scene was not."""
    exif = Image.Exif()
    exif[0x0112] = 6
    img = _halves(0, 255, "L", size=(40, 20)).convert("RGB")
    return _save(img, tmp_path / f"r.{fmt}", exif=exif.tobytes(), quality=95)


@pytest.mark.parametrize("fmt,max_side", [("jpg", None), ("jpg", 10), ("png", None), ("png", 10)])
def test_exif_orientation_is_applied(tmp_path, fmt, max_side):
    out = load_rgb(_exif_rotated(tmp_path, fmt), max_side=max_side)
    w, h = (20, 40) if max_side is None else (5, 10)
    assert out.size == (w, h)
    arr = np.asarray(out.convert("L")).astype(int)
    assert arr[2, w // 2] < 40 and arr[h - 3, w // 2] > 215  # black top, white bottom


def test_big_images_are_reduced_to_the_cap_and_callers_can_ask_for_less(tmp_path):
    path = _save(Image.new("RGB", (MAX_SIDE * 2 + 100, 300), (10, 200, 30)), tmp_path / "w.png")
    assert load_rgb(path).size == (math.ceil((MAX_SIDE * 2 + 100) / 3), 100)
    assert max(load_rgb(path, max_side=256).size) <= 256
    small = _save(Image.new("RGB", (256, 256)), tmp_path / "s.jpg")
    assert load_rgb(small).size == (256, 256)  # Places365's size is never touched
    with pytest.raises(ValueError, match="max_side"):
        load_rgb(small, max_side=0)


@pytest.mark.parametrize(
    "kind,keep",
    [("baseline", 0.5), ("baseline", -2), ("progressive", 0.5), ("progressive", -2), ("mpo", 0.25)],
)
def test_reduced_jpeg_decoding_still_reads_the_whole_stream(tmp_path, kind, keep):
    """Draft mode decodes at 1/8 scale but must still see a truncated end. MPO is how Pillow opens
    camera JPEGs that carry a second picture: it takes the reduced path too, and a cut in its
    first picture (the one used) is caught."""
    arr = np.random.default_rng(2).integers(0, 255, (400, 480, 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    if kind == "mpo":
        full = _save(img, tmp_path / "full.jpg", format="MPO", save_all=True, append_images=[img])
        assert Image.open(full).format == "MPO"
    else:
        full = _save(img, tmp_path / "full.jpg", progressive=kind == "progressive")
    assert load_rgb(full, max_side=60).size == (60, 50)  # 480 / 8
    data = full.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: int(len(data) * keep) if keep > 0 else keep])
    with pytest.raises(BadImageError, match="truncated"):
        load_rgb(tmp_path / "cut.jpg", max_side=60)


def test_extreme_aspect_ratio_is_readable(tmp_path):
    path = _save(Image.new("RGB", (1, 4000), (0, 90, 200)), tmp_path / "strip.png")
    out = read_image(path, "error")
    assert out.size == (1, 2000) and out.getpixel((0, 1000)) == (0, 90, 200)


def test_more_pixels_than_pil_allows_is_a_bad_image(tmp_path, monkeypatch):
    path = _save(Image.new("L", (100, 100)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10000 px > 2 x limit: PIL refuses
    with pytest.raises(BadImageError, match="too many pixels"):
        load_rgb(path)


def test_square_crop_takes_the_centre():
    arr = np.zeros((200, 300, 3), np.uint8)
    arr[:, 50:250] = 255  # the centre 200 columns are white
    sq = square_crop(Image.fromarray(arr))
    assert sq.size == (200, 200) and np.asarray(sq).min() == 255
    strip = Image.fromarray(np.arange(4000, dtype=np.uint16).reshape(4000, 1).astype(np.uint8))
    assert square_crop(strip).size == (1, 1)
    assert square_crop(strip).getpixel((0, 0)) == 1999 % 256  # rows 0..3999: the middle one is 1999
    same = Image.new("RGB", (5, 5))
    assert square_crop(same) is same


def test_a_12000px_jpeg_decodes_small_in_bounded_memory(places_fixture):
    """A full decode would hold 432 MB of RGB; draft mode decodes 1/4 scale, then halves it."""
    path = places_fixture / "places365_standard/train/ocean/odd_12000x12000.jpg"
    code = (
        "import sys; from pathlib import Path\n"
        "from stylaug.data.images import load_rgb\n"
        "img = load_rgb(sys.argv[1])\n"
        "hwm = [l for l in Path('/proc/self/status').read_text().splitlines() if 'VmHWM' in l]\n"
        "print(img.size[0], img.size[1], int(hwm[0].split()[1]) // 1024)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    w, h, peak_mb = map(int, done.stdout.split())
    assert (w, h) == (1500, 1500)
    assert peak_mb < 150, f"peak resident memory {peak_mb} MB"
