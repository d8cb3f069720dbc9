"""The embedded synthetic dataset: procedural scenes of the four Places365 classes.

Used offline, in tests and in the demo. The scenes are built so that a *pretrained* network finds
them about as hard as the real classes, not trivially separable:

* the classes share content. Every scene is composed from the same painters (sky, open water with
  perspective waves, rippled sand, dune ridges, rough rock, terraced pools, steam and mist, towers
  with window grids, haze), and each class has several layouts, some of which borrow most of the
  frame from another class: a beach (sand in front, sea behind) is *ocean*, a desert with a hazy
  mirage under a flat horizon is *desert_sand*, a hot spring by the sea or steam over a wide lake
  is *hot_spring*, a skyline across a bay or in the desert is *skyscraper*;
* the class is carried by structure and texture that a person can still find - dune crests and
  wind ripples, pools with terrace rims and rising steam, waves and foam on open water, towers
  with window grids - but its size, visibility and share of the frame vary, so some images are
  ambiguous by design, the way real scene photographs are;
* palette, horizon, scale, clutter, lighting, haze, blur, sensor noise and mirroring vary within
  every class, and every palette can appear in every class.

Images are a pure function of (dataset seed, class, split, number), so the same seed writes
byte-identical PNGs. ``LAYOUTS`` lists each class's layouts and their shares.

These are smoke-test data: results on them say the code runs, not that style augmentation helps.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from tqdm import tqdm

from stylaug.core.integrity import read_stamp
from stylaug.core.io import atomic_path, atomic_write_json
from stylaug.data.index import CLASSES, DatasetIndex
from stylaug.data.scenery import (
    FACADES,
    WATERS,
    Scene,
    draw_city,
    draw_coast,
    draw_dunes,
    draw_haze,
    draw_pool_and_towers,
    draw_pools,
    draw_rock,
    draw_rock_coast,
    draw_sand,
    draw_sandy_pools,
    draw_sea,
    draw_sky,
    draw_steam,
    draw_steamy_water,
    draw_terraces,
    draw_towers,
    pick_colour,
    value_noise,
)
from stylaug.data.visual import SYNTHETIC_NOTE

log = logging.getLogger(__name__)

SPLIT_CODES = {"train": 0, "test": 1}


def image_rng(seed: int, cls: str, split: str, number: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(cls.encode()), SPLIT_CODES[split], number])


def _desert_dunes(s):
    h = s.rng.uniform(0.15, 0.5)
    draw_sky(s, h)
    draw_sand(s, h)
    draw_dunes(s, h, int(s.rng.integers(2, 5)))
    draw_haze(s, s.rng.uniform(0, 0.4))


def _desert_ripples(s):  # close-up of a rippled slope, little or no sky
    h = s.rng.uniform(-0.2, 0.2)
    draw_sky(s, max(h, 0.02))
    draw_sand(s, h, ripples=s.rng.uniform(0.2, 0.45))
    if s.rng.random() < 0.6:
        draw_dunes(s, max(h, 0) + 0.2, 1, amp=1.5)


def _desert_mirage(s):  # flat horizon under haze; a mirage shimmers like water
    h = s.rng.uniform(0.3, 0.6)
    draw_sky(s, h)
    draw_sand(s, h, ripples=s.rng.uniform(0.03, 0.2))
    if s.rng.random() < 0.5:
        draw_dunes(s, h + 0.05, 1, amp=0.5)
    band = (s.y >= h) & (s.y < h + s.rng.uniform(0.02, 0.12))
    shimmer = 0.9 + 0.2 * value_noise(s.rng, s.size, 20, 3)
    s.paint(band, s.horizon_colour * shimmer[..., None])
    draw_haze(s, s.rng.uniform(0.3, 0.8))


def _desert_rocky(s):  # rock outcrops in the sand
    h = s.rng.uniform(0.2, 0.45)
    draw_sky(s, h)
    draw_sand(s, h)
    draw_rock(s, h, value_noise(s.rng, s.size, int(s.rng.integers(3, 7))) > s.rng.uniform(0.5, 0.7))
    draw_dunes(s, h + 0.25, int(s.rng.integers(1, 3)))


def _spring_terraces(s):
    h = s.rng.uniform(-0.1, 0.3)
    draw_sky(s, max(h, 0.02))
    draw_rock(s, max(h, 0))
    src = draw_terraces(s, max(h, 0))
    draw_steam(s, src[: int(s.rng.integers(0, 3))], s.rng.uniform(0.3, 1.2))


def _spring_rocky(s):
    h = s.rng.uniform(0.08, 0.4)
    draw_sky(s, h)
    draw_rock(s, h)
    src = draw_pools(s, int(s.rng.integers(1, 4)), h + 0.15, 0.9)
    draw_steam(s, src, s.rng.uniform(0.6, 1.8))


def _ocean_open(s):
    h = s.rng.uniform(0.2, 0.6)
    draw_sky(s, h)
    draw_sea(s, h)
    draw_haze(s, s.rng.uniform(0, 0.3))


def _ocean_surface(s):  # looking down into the waves: no sky
    draw_sky(s, 0.05)
    s.horizon_colour = s.horizon_colour * 0.7 + 0.3 * pick_colour(s.rng, WATERS)
    draw_sea(s, s.rng.uniform(-0.6, -0.1), rough=s.rng.uniform(0.6, 1.2))


def _sky_skyline(s):
    ground = s.rng.uniform(0.75, 0.97)
    draw_sky(s, ground)
    draw_towers(s, ground, int(s.rng.integers(3, 9)), (0.25, 0.9), (0.07, 0.22))
    s.paint(s.y >= ground, pick_colour(s.rng, FACADES) * 0.5)


def _sky_facade(s):  # close to one or two towers: window grids fill the frame
    draw_sky(s, 0.9)
    draw_towers(s, 1.02, int(s.rng.integers(1, 3)), (0.6, 1.0), (0.4, 0.9))


def _desert_coast(s):  # dunes running down to the sea: the sea takes little of the ground
    draw_coast(s, s.rng.uniform(0.02, 0.4), int(s.rng.integers(0, 3)))


def _desert_city(s):  # a low, far city on the desert horizon
    draw_city(s, "sand", (0.03, 0.26), 0.3)


def _desert_oasis(s):  # one quiet pool in the sand, at most a little shimmer over it
    draw_sandy_pools(s, 1, s.rng.uniform(0, 0.4))


def _spring_seaside(s):  # steaming rimmed pools on the rocks, the sea behind
    draw_rock_coast(s, int(s.rng.integers(1, 4)), s.rng.random() < 0.7, s.rng.uniform(0.3, 1.4))


def _spring_lake(s):  # a hot lake: mist and strong steam over wide water
    draw_steamy_water(s, s.rng.uniform(0.3, 1.0), s.rng.uniform(0.5, 1.4))


def _spring_sandy(s):  # steaming pools in sandy ground
    draw_sandy_pools(s, int(s.rng.integers(1, 4)), s.rng.uniform(0.2, 1.5))


def _spring_town(s):  # a hot-spring town: steaming pools before low buildings
    draw_pool_and_towers(s, (0.1, 0.4), True, s.rng.uniform(0.4, 1.5))


def _ocean_beach(s):  # sand in front, the sea taking much of the ground
    draw_coast(s, s.rng.uniform(0.25, 0.85), int(s.rng.random() < 0.2))


def _ocean_rocks(s):  # a rocky coast with tide pools (no rims) and spray
    draw_rock_coast(s, int(s.rng.integers(0, 3)), False, s.rng.uniform(0.1, 0.9))


def _ocean_mist(s):  # sea smoke: mist and weak plumes over the water
    draw_steamy_water(s, s.rng.uniform(0.3, 1.0), s.rng.uniform(0, 0.45))


def _ocean_skyline(s):  # a small city far across the water
    draw_city(s, "sea", (0.02, 0.3), 0.4)


def _sky_waterfront(s):
    draw_city(s, "sea", (0.08, 0.6), 0.1)


def _sky_desert(s):
    draw_city(s, "sand", (0.1, 0.6), 0.1)


def _sky_haze(s):  # a low, hazy skyline over water or sand
    draw_city(s, "sea" if s.rng.random() < 0.5 else "sand", (0.08, 0.35), 0.4)


def _sky_pool(s):  # seen from a rooftop pool
    draw_pool_and_towers(s, (0.25, 0.7), False, s.rng.uniform(0, 0.5))


# (layout, share out of LAYOUT_BLOCK, painter). Within every block of LAYOUT_BLOCK consecutive
# image numbers of a class and split, each layout appears exactly its share of times (in an order
# drawn from the seed), so a 100-image test set has the same mix of easy and ambiguous scenes for
# every seed.
LAYOUT_BLOCK = 20
LAYOUTS = {
    "desert_sand": [
        ("dunes", 6, _desert_dunes),
        ("ripples", 2, _desert_ripples),
        ("mirage", 3, _desert_mirage),
        ("rocky", 1, _desert_rocky),
        ("coast", 3, _desert_coast),
        ("city", 3, _desert_city),
        ("oasis", 2, _desert_oasis),
    ],
    "hot_spring": [
        ("terraces", 3, _spring_terraces),
        ("rocky", 3, _spring_rocky),
        ("seaside", 4, _spring_seaside),
        ("lake", 3, _spring_lake),
        ("sandy", 4, _spring_sandy),
        ("town", 3, _spring_town),
    ],
    "ocean": [
        ("open", 6, _ocean_open),
        ("surface", 2, _ocean_surface),
        ("beach", 3, _ocean_beach),
        ("rocks", 3, _ocean_rocks),
        ("mist", 3, _ocean_mist),
        ("skyline", 3, _ocean_skyline),
    ],
    "skyscraper": [
        ("skyline", 5, _sky_skyline),
        ("facade", 2, _sky_facade),
        ("waterfront", 4, _sky_waterfront),
        ("desert", 3, _sky_desert),
        ("haze", 3, _sky_haze),
        ("pool", 3, _sky_pool),
    ],
}
assert tuple(LAYOUTS) == CLASSES
assert all(sum(n for _, n, _ in v) == LAYOUT_BLOCK for v in LAYOUTS.values())


def layout_of(seed: int, cls: str, split: str, number: int) -> tuple[str, object]:
    """The layout of image ``number``: a seeded shuffle of each block of LAYOUT_BLOCK slots."""
    slots = [(name, painter) for name, n, painter in LAYOUTS[cls] for _ in range(n)]
    block, slot = divmod(int(number), LAYOUT_BLOCK)
    order = np.random.default_rng(
        [int(seed), zlib.crc32(cls.encode()), SPLIT_CODES[split], block, LAYOUT_BLOCK]
    ).permutation(LAYOUT_BLOCK)
    return slots[order[slot]]


def scene(seed: int, cls: str, split: str, number: int, size: int) -> tuple[str, Image.Image]:
    """(layout name, image) of one synthetic scene."""
    rng = image_rng(seed, cls, split, number)
    name, painter = layout_of(seed, cls, split, number)
    s = Scene(rng, size)
    painter(s)
    img = s.img
    angle = rng.uniform(0, 2 * np.pi)  # global lighting: brightness ramp in a random direction
    ramp = 1 + rng.uniform(0, 0.35) * ((s.x - 0.5) * np.cos(angle) + (s.y - 0.5) * np.sin(angle))
    img = img * ramp[..., None] * rng.uniform(0.75, 1.2)
    img = img + rng.normal(0, rng.uniform(0.0, 0.05), img.shape).astype(np.float32)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    out = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), mode="RGB")
    blur = rng.uniform(0, 1.0) * size / 128
    return name, out.filter(ImageFilter.GaussianBlur(blur)) if blur > 0.3 else out


def render(seed: int, cls: str, split: str, number: int, size: int) -> Image.Image:
    """One synthetic scene of class ``cls`` as an RGB PIL image."""
    return scene(seed, cls, split, number, size)[1]


# --- writing the dataset ---------------------------------------------------------------------------


def _render_file(job) -> None:
    out, seed, size, split, cls, number, rel = job
    with atomic_path(Path(out) / rel) as tmp:
        render(seed, cls, split, number, size).save(tmp, format="PNG")


def render_files(out: Path, jobs: list, seed: int, size: int, processes: int | None) -> None:
    """Render and write ``jobs`` [(split, class, number, relative path)], each file atomically."""
    processes = min(processes or os.cpu_count() or 1, max(1, len(jobs)))
    work = [(str(out), seed, size, split, cls, i, rel) for split, cls, i, rel in jobs]
    bar = tqdm(total=len(work), desc=f"rendering synthetic scenes ({size}px, {processes} processes)",
               unit="img", disable=not work)  # fmt: skip
    if processes == 1:
        for job in work:
            _render_file(job)
            bar.update()
    else:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            for _ in pool.imap_unordered(_render_file, work, chunksize=16):
                bar.update()
    bar.close()


def _check_classes(classes) -> list[str]:
    classes = list(classes)
    unknown = [c for c in classes if c not in CLASSES]
    if unknown or not classes:
        raise ValueError(f"dataset.classes has unknown classes {unknown}; known: {list(CLASSES)}")
    return classes


def write_synthetic(
    out_dir: str | Path,
    classes=CLASSES,
    image_size: int = 128,
    train_per_class: int = 600,
    test_per_class: int = 100,
    seed: int = 0,
    processes: int | None = None,
) -> DatasetIndex:
    """Render the synthetic dataset into ``out_dir`` and return its index, on ``processes`` worker
    processes (default: every core; images are independent).

    Resumable: ``.settings.json`` records what the files on disk were rendered with; a rerun with
    the same settings keeps every finished image and renders only the missing ones, a rerun with
    other settings re-renders everything. Each image is written atomically.
    """
    out = Path(out_dir)
    classes = _check_classes(classes)
    if image_size < 16 or train_per_class < 1 or test_per_class < 1:
        raise ValueError(
            f"synthetic dataset needs image_size >= 16 and at least one train and test image per "
            f"class; got image_size={image_size}, train_per_class={train_per_class}, "
            f"test_per_class={test_per_class}"
        )
    settings = {
        "generator": "stylaug.synthetic/2",
        "seed": int(seed),
        "image_size": int(image_size),
        "classes": classes,
        "counts": {"train": int(train_per_class), "test": int(test_per_class)},
    }
    stamp = out / ".settings.json"
    resume = read_stamp(stamp) == settings  # missing or damaged: every image is rendered again
    atomic_write_json(stamp, settings)

    files: dict[str, dict[str, list[str]]] = {split: {} for split in settings["counts"]}
    jobs = []
    for split, n in settings["counts"].items():
        for cls in classes:
            rels = [f"{split}/{cls}/{cls}_{i:05d}.png" for i in range(n)]
            files[split][cls] = rels
            jobs += [
                (split, cls, i, rel)
                for i, rel in enumerate(rels)
                if not (resume and (out / rel).exists())
            ]
            folder = out / split / cls  # drop images left over from a larger earlier run
            for stale in (
                set(folder.glob("*.png")) - {out / r for r in rels} if folder.exists() else ()
            ):
                stale.unlink()
    render_files(out, jobs, seed, image_size, processes)
    log.info(
        "rendered %d images, kept %d finished ones",
        len(jobs),
        sum(len(v) for s in files.values() for v in s.values()) - len(jobs),
    )
    return DatasetIndex(
        "synthetic",
        out.resolve(),
        classes,
        files,
        meta={"settings": settings, "note": SYNTHETIC_NOTE},
    )
