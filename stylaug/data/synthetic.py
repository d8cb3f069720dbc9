"""The embedded synthetic dataset: procedural scenes of the four Places365 classes.

Used offline, in tests and in the demo. Each class is defined by *structure and texture*, never by
one global colour: every palette below can appear in every class (with a class-typical bias), so a
classifier has to look at shapes.

* desert_sand - layered dunes with sharp lit/shaded crests and fine wind ripples, under a sky
* hot_spring  - rough rocky or mineral ground, elliptical pools with concentric terraces, steam
* ocean       - a straight horizon, horizontal wave streaks that shrink toward it, sun glint
* skyscraper  - vertical towers with window grids and hard edges against a sky

Within-class variation: palette, horizon height, feature scale and count, lighting direction and
strength, blur and sensor noise, mirroring. Images are a pure function of
(dataset seed, class, split, number), so the same seed writes byte-identical PNGs.

These are smoke-test data: results on them say the code runs, not that style augmentation helps.
"""

from __future__ import annotations

import zlib

import numpy as np
from PIL import Image, ImageFilter

from stylaug.data.index import CLASSES

SPLIT_CODES = {"train": 0, "test": 1}

# Shared colour pools (RGB in 0..1). Every class draws from every pool part of the time.
SKIES = [
    ((0.30, 0.50, 0.85), (0.75, 0.85, 0.97)),  # clear day
    ((0.85, 0.45, 0.30), (0.98, 0.80, 0.55)),  # dusk
    ((0.52, 0.55, 0.60), (0.80, 0.81, 0.83)),  # overcast
    ((0.08, 0.10, 0.25), (0.30, 0.28, 0.45)),  # night
    ((0.55, 0.35, 0.60), (0.95, 0.70, 0.70)),  # violet haze
]
MATERIALS = {
    "sand": (0.86, 0.70, 0.45),
    "red_sand": (0.75, 0.42, 0.25),
    "rock": (0.45, 0.42, 0.38),
    "travertine": (0.90, 0.87, 0.78),
    "teal_water": (0.20, 0.62, 0.66),
    "sea_blue": (0.10, 0.28, 0.50),
    "green_water": (0.25, 0.50, 0.35),
    "concrete": (0.60, 0.60, 0.62),
    "glass": (0.30, 0.45, 0.58),
    "brick": (0.55, 0.30, 0.22),
}
TYPICAL = {
    "desert_sand": ["sand", "red_sand", "travertine"],
    "hot_spring": ["travertine", "rock", "teal_water", "green_water", "red_sand"],
    "ocean": ["sea_blue", "teal_water", "green_water", "glass"],
    "skyscraper": ["concrete", "glass", "brick", "rock"],
}
TYPICAL_PROB = 0.6  # otherwise a material is drawn from the whole pool


def image_rng(seed: int, cls: str, split: str, number: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(cls.encode()), SPLIT_CODES[split], number])


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    t = (np.arange(size, dtype=np.float32) + 0.5) / size
    return np.meshgrid(t, t)  # x to the right, y downward, both in (0, 1)


def _smooth_noise(rng, size: int, cells_x: int, cells_y: int | None = None) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid upsampled bicubically."""
    coarse = rng.random((cells_y or cells_x, cells_x), dtype=np.float32)
    img = Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC)
    return np.clip(np.asarray(img), 0.0, 1.0)


def _fractal_noise(rng, size: int, base_cells: int, octaves: int = 4) -> np.ndarray:
    total, weight, norm = np.zeros((size, size), np.float32), 1.0, 0.0
    for o in range(octaves):
        cells = min(size, base_cells * 2**o)
        total += weight * _smooth_noise(rng, size, cells)
        norm += weight
        weight *= 0.5
    return total / norm


def _material(rng, cls: str) -> np.ndarray:
    names = TYPICAL[cls] if rng.random() < TYPICAL_PROB else list(MATERIALS)
    base = np.array(MATERIALS[names[rng.integers(len(names))]], np.float32)
    return np.clip(base * rng.uniform(0.8, 1.2) + rng.normal(0, 0.04, 3), 0, 1).astype(np.float32)


def _sky(rng, x, y, horizon: float) -> np.ndarray:
    top, bottom = (np.array(c, np.float32) for c in SKIES[rng.integers(len(SKIES))])
    t = np.clip(y / max(horizon, 1e-3), 0, 1)[..., None]
    sky = top * (1 - t) + bottom * t
    clouds = _smooth_noise(rng, x.shape[0], 6, 3)[..., None]
    return sky + rng.uniform(0.0, 0.25) * (clouds - 0.5)


def _paint(img: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    img[mask] = colour[mask] if colour.ndim == 3 else colour


def desert_sand(rng, size: int) -> np.ndarray:
    x, y = _grid(size)
    horizon = rng.uniform(0.2, 0.55)
    img = _sky(rng, x, y, horizon)
    sand = _material(rng, "desert_sand")
    light = rng.choice([-1.0, 1.0])
    n = int(rng.integers(2, 5))
    for k in range(n):  # back to front, each dune lower and larger
        base = horizon + (1 - horizon) * (k / n) * rng.uniform(0.6, 0.9)
        amp = rng.uniform(0.04, 0.12) * (1 + k * 0.3)
        freq = rng.uniform(0.4, 1.6)
        phase = rng.uniform(0, 2 * np.pi)
        arg = 2 * np.pi * freq * x + phase
        crest = base - amp * (0.5 + 0.5 * np.sin(arg + 0.35 * np.sin(arg)))  # skewed ridge line
        slope = np.gradient(crest, axis=1) * size / (2 * np.pi * freq * amp + 1e-6)
        below = np.clip(y - crest, 0, None)
        fade = np.exp(-below / rng.uniform(0.05, 0.2))  # slip faces fade into the dune body
        shade = (0.85 + 0.45 * np.tanh(4 * light * slope) * fade)[..., None]
        ripple_freq = rng.uniform(35, 70) * (0.6 + 0.4 * k / n)
        ripples = 0.06 * np.sin(2 * np.pi * ripple_freq * (below + 0.08 * x * light))
        colour = sand * shade + (ripples * (1 - 0.5 * fade))[..., None]
        _paint(img, y > crest, colour)
    return img


def hot_spring(rng, size: int) -> np.ndarray:
    x, y = _grid(size)
    horizon = rng.uniform(0.08, 0.35)
    img = _sky(rng, x, y, horizon)
    ground = _material(rng, "hot_spring")
    rough = _fractal_noise(rng, size, int(rng.integers(4, 9)))[..., None]
    _paint(img, y > horizon, ground * (0.65 + 0.6 * rough))
    steam_mask = np.zeros_like(x)
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(0.15, 0.85), rng.uniform(horizon + 0.2, 0.9)
        rx = rng.uniform(0.12, 0.32)
        ry = rx * rng.uniform(0.3, 0.6) * (0.5 + cy)  # flatter far away
        d = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
        water = _material(rng, "hot_spring")
        rings = 0.12 * np.sin(2 * np.pi * rng.uniform(3, 7) * d)[..., None]
        pool = water * (0.75 + 0.35 * (1 - d))[..., None] + rings
        rim = np.clip(ground * 1.35, 0, 1) * np.ones_like(pool)
        _paint(img, (d > 1) & (d < rng.uniform(1.12, 1.3)), rim)
        _paint(img, d <= 1, pool)
        column = np.exp(-(((x - cx) / (rx * 0.8)) ** 2)) * np.clip((cy - y) / 0.6 + 0.3, 0, 1)
        steam_mask = np.maximum(steam_mask, column * (y < cy + ry))
    plume = _smooth_noise(rng, size, 5, 12) * _smooth_noise(rng, size, 10, 20)
    alpha = np.clip(steam_mask * plume * rng.uniform(1.0, 2.2), 0, 0.85)[..., None]
    return img * (1 - alpha) + 0.95 * alpha


def ocean(rng, size: int) -> np.ndarray:
    x, y = _grid(size)
    horizon = rng.uniform(0.3, 0.62)
    img = _sky(rng, x, y, horizon)
    sea = _material(rng, "ocean")
    dist = np.clip(y - horizon, 1e-3, None)  # distance below the horizon
    phase = rng.uniform(0, 2 * np.pi)
    # wave crests: horizontal streaks whose spacing grows toward the viewer (perspective)
    spacing = rng.uniform(0.008, 0.02)
    swell = np.sin(
        np.log(dist) / spacing * 0.05 * 2 * np.pi + phase + 0.6 * np.sin(9 * x * 2 * np.pi * dist)
    )
    chop = _smooth_noise(rng, size, 6, 60) - 0.5
    waves = (0.12 * swell + 0.25 * chop)[..., None]
    depth = (0.7 + 0.5 * np.clip(dist / (1 - horizon), 0, 1))[..., None]
    water = sea * (1.25 - 0.5 * depth + 0.5) + waves * 0.8
    sun_x = rng.uniform(0.15, 0.85)
    glint = np.exp(-(((x - sun_x) / rng.uniform(0.04, 0.12)) ** 2)) * np.clip(swell, 0, 1)
    water = water + rng.uniform(0.2, 0.6) * glint[..., None]
    if rng.random() < 0.35:  # a strip of foam and beach at the bottom
        shore = rng.uniform(0.85, 0.95) + 0.02 * np.sin(2 * np.pi * rng.uniform(1, 3) * x)
        water = np.where((y > shore)[..., None], _material(rng, "desert_sand"), water)
        water = np.where((np.abs(y - shore) < 0.012)[..., None], 0.95, water)
    _paint(img, y > horizon, water)
    return img


def skyscraper(rng, size: int) -> np.ndarray:
    x, y = _grid(size)
    ground = rng.uniform(0.78, 0.97)
    img = _sky(rng, x, y, ground)
    n = int(rng.integers(3, 9))
    lit_side = rng.choice([-1.0, 1.0])
    for _ in range(n):
        w = rng.uniform(0.07, 0.22)
        x0 = rng.uniform(-0.05, 1.0 - w * 0.5)
        top = rng.uniform(0.05, 0.6)
        body = (x >= x0) & (x < x0 + w) & (y >= top) & (y < ground)
        facade = _material(rng, "skyscraper")
        u = (x - x0) / w  # position across the facade, 0..1
        side = np.where((u - 0.5) * lit_side > 0, 1.1, 0.75)[..., None]
        px = rng.uniform(0.018, 0.04)  # window pitch
        py = px * rng.uniform(0.8, 1.6)
        win = (
            ((np.mod(x - x0, px) / px) < rng.uniform(0.45, 0.7))
            & ((np.mod(y - top, py) / py) < rng.uniform(0.45, 0.7))
            & (u > 0.06)
            & (u < 0.94)
        )
        lit = _smooth_noise(rng, size, 16) > rng.uniform(0.4, 0.9)
        window_colour = np.where(
            lit[..., None], np.array([0.95, 0.85, 0.5], np.float32), facade * 0.35
        )
        colour = np.where(win[..., None], window_colour, facade * side)
        _paint(img, body, colour)
    street = _material(rng, "skyscraper") * 0.5
    _paint(img, y >= ground, np.broadcast_to(street, img.shape).copy())
    return img


GENERATORS = {
    "desert_sand": desert_sand,
    "hot_spring": hot_spring,
    "ocean": ocean,
    "skyscraper": skyscraper,
}
assert tuple(GENERATORS) == CLASSES


def render(seed: int, cls: str, split: str, number: int, size: int) -> Image.Image:
    """One synthetic scene of class ``cls`` as an RGB PIL image."""
    rng = image_rng(seed, cls, split, number)
    img = GENERATORS[cls](rng, size).astype(np.float32)
    x, y = _grid(size)
    angle = rng.uniform(0, 2 * np.pi)  # global lighting: brightness ramp in a random direction
    ramp = 1 + rng.uniform(0, 0.35) * ((x - 0.5) * np.cos(angle) + (y - 0.5) * np.sin(angle))
    img = img * ramp[..., None] * rng.uniform(0.75, 1.2)
    img = img + rng.normal(0, rng.uniform(0.0, 0.05), img.shape).astype(np.float32)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    out = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), mode="RGB")
    blur = rng.uniform(0, 1.0) * size / 128
    return out.filter(ImageFilter.GaussianBlur(blur)) if blur > 0.3 else out
