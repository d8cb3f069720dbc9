"""The painters of the synthetic scenes: a canvas and the elements every class shares.

Sky, open water with perspective waves, rippled sand, dune ridges, rough rock, terraced pools,
steam and mist, towers with window grids, haze - and a few composites of them (a coast, steamy
water, a rocky shore, a city, sandy pools, a pool before towers). ``stylaug.data.synthetic``
composes each class's layouts from them, so the classes share content the way real scenes do.
Every painter draws only from the scene's random generator: a scene is a pure function of it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SKIES = [
    ((0.30, 0.50, 0.85), (0.75, 0.85, 0.97)),  # clear day
    ((0.85, 0.45, 0.30), (0.98, 0.80, 0.55)),  # dusk
    ((0.52, 0.55, 0.60), (0.80, 0.81, 0.83)),  # overcast
    ((0.08, 0.10, 0.25), (0.30, 0.28, 0.45)),  # night
    ((0.55, 0.35, 0.60), (0.95, 0.70, 0.70)),  # violet haze
    ((0.62, 0.55, 0.45), (0.88, 0.80, 0.66)),  # dust haze
]
SANDS = [(0.86, 0.70, 0.45), (0.75, 0.42, 0.25), (0.90, 0.80, 0.62), (0.70, 0.60, 0.48)]
ROCKS = [(0.45, 0.42, 0.38), (0.90, 0.87, 0.78), (0.55, 0.35, 0.25), (0.30, 0.30, 0.32)]
WATERS = [(0.10, 0.28, 0.50), (0.20, 0.62, 0.66), (0.25, 0.50, 0.35), (0.45, 0.70, 0.78)]
FACADES = [(0.60, 0.60, 0.62), (0.30, 0.45, 0.58), (0.55, 0.30, 0.22), (0.80, 0.76, 0.66)]
WINDOW_LIGHT = np.array([0.95, 0.85, 0.5], np.float32)
WHITE = np.array([0.95, 0.95, 0.95], np.float32)


def grid_xy(size: int) -> tuple[np.ndarray, np.ndarray]:
    t = (np.arange(size, dtype=np.float32) + 0.5) / size
    return np.meshgrid(t, t)  # x to the right, y downward, both in (0, 1)


def value_noise(rng, size: int, cells_x: int, cells_y: int | None = None) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid upsampled bicubically."""
    coarse = rng.random((cells_y or cells_x, cells_x), dtype=np.float32)
    img = Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC)
    return np.clip(np.asarray(img), 0.0, 1.0)


def fractal_noise(rng, size: int, base_cells: int, octaves: int = 3) -> np.ndarray:
    total, weight, norm = np.zeros((size, size), np.float32), 1.0, 0.0
    for o in range(octaves):
        total += weight * value_noise(rng, size, min(size, base_cells * 2**o))
        norm += weight
        weight *= 0.5
    return total / norm


def pick_colour(rng, pool, jitter: float = 0.15) -> np.ndarray:
    base = np.array(pool[rng.integers(len(pool))], np.float32)
    scale = rng.uniform(1 - jitter, 1 + jitter)
    return np.clip(base * scale + rng.normal(0, 0.04, 3), 0, 1).astype(np.float32)


class Scene:
    """A canvas plus what later painters need to know about the scene (horizon, sun, light)."""

    def __init__(self, rng, size: int):
        self.rng, self.size = rng, size
        self.x, self.y = grid_xy(size)
        self.img = np.zeros((size, size, 3), np.float32)
        self.horizon = 0.0
        self.horizon_colour = np.array(SKIES[0][1], np.float32)
        self.sun_x = rng.uniform(0.1, 0.9)
        self.light = rng.choice([-1.0, 1.0])

    def paint(self, mask, colour, alpha=None) -> None:
        if alpha is None:
            self.img[mask] = colour[mask] if colour.ndim == 3 else colour
        else:
            a = np.where(mask, alpha, 0.0)[..., None]
            self.img = self.img * (1 - a) + a * colour

    def depth(self, top: float) -> tuple[np.ndarray, np.ndarray]:
        """Ground-plane coordinates below a horizon at ``top``: (X across, Z into the scene)."""
        dist = np.clip(self.y - top, 0, None) + 0.004
        z = 1 / dist
        return (self.x - 0.5) * z, z


# --- painters: each is shared by several classes ------------------------------------------------


def draw_sky(s: Scene, horizon: float) -> None:
    rng = s.rng
    top, bottom = (np.array(c, np.float32) for c in SKIES[rng.integers(len(SKIES))])
    bottom = np.clip(bottom + rng.normal(0, 0.04, 3), 0, 1).astype(np.float32)
    t = np.clip(s.y / max(horizon, 0.05), 0, 1)[..., None]
    sky = top * (1 - t) + bottom * t
    cloud = value_noise(
        rng, s.size, int(rng.integers(2, 5)), int(rng.integers(4, 10))
    )  # wide banks
    cover = np.clip((cloud - rng.uniform(0.3, 0.8)) * 3, 0, 1) * rng.uniform(0, 0.8)
    shade = rng.uniform(0.7, 1.1)
    s.img[:] = sky * (1 - cover[..., None]) + cover[..., None] * (bottom * 0.4 + 0.55) * shade
    s.horizon, s.horizon_colour = horizon, bottom


def draw_sea(s: Scene, top: float, bottom: float = 1.0, rough: float | None = None) -> np.ndarray:
    """Open water from a straight horizon at ``top``: waves whose spacing grows toward the viewer,
    foam on their crests, sun glint; returns the wave field (for later painters)."""
    rng = s.rng
    rough = rng.uniform(0.3, 1.0) if rough is None else rough
    gx, gz = s.depth(top)
    freq = rng.uniform(10, 28)
    waves = np.zeros_like(s.x)
    norm = 0.0
    for k in range(4):
        ang = rng.normal(0, 0.3)
        amp = 1 / (k + 1)
        f = freq * rng.uniform(0.7, 1.4) * (1 + 0.6 * k)
        waves += amp * np.sin(f * (np.cos(ang) * gz + np.sin(ang) * gx) + rng.uniform(0, 6.3))
        norm += amp
    d = np.clip((s.y - top) / max(1 - top, 0.05), 0, 1)
    chop = value_noise(rng, s.size, 8, 40) - 0.5
    waves = waves / norm + 0.8 * chop * (0.4 + d)
    waves *= np.clip((s.y - top) * 12, 0, 1)  # fades into the horizon line
    water = pick_colour(rng, WATERS)
    fresnel = (0.25 + 0.65 * d**0.7)[..., None]
    col = s.horizon_colour * (1 - fresnel) + water * fresnel
    col = col * (1 + rough * 0.35 * waves * (0.3 + 0.7 * d))[..., None]
    caps = np.clip((waves - 0.75 + 0.35 * rough) * 3, 0, 1) * rough
    col = col * (1 - caps[..., None]) + caps[..., None] * WHITE
    glint = np.exp(-(((s.x - s.sun_x) / rng.uniform(0.03, 0.12)) ** 2)) * np.clip(waves, 0, 1)
    col = col + (rng.uniform(0, 0.6) * glint * (1.2 - d))[..., None]
    s.paint((s.y >= top) & (s.y < bottom), col)
    return waves


def draw_sand(s: Scene, top: float, ripples: float | None = None, mask=None) -> None:
    """A sand plain below a horizon at ``top`` (painted where ``mask``, default everywhere below
    it): broad undulation and wind ripples in perspective."""
    rng = s.rng
    gx, gz = s.depth(top)
    ripples = rng.uniform(0.05, 0.25) if ripples is None else ripples
    ang = rng.normal(0, 0.6)
    warp = value_noise(rng, s.size, 4) * rng.uniform(2, 8)
    phase = rng.uniform(5, 25) * (np.cos(ang) * gz + np.sin(ang) * gx) + warp
    fade = np.clip((s.y - top) * 6, 0, 1)
    wave = np.sin(phase)
    ripple = np.sign(wave) * np.abs(wave) ** 0.5  # sharp-crested ripples
    swell = fractal_noise(rng, s.size, 3, 2)
    sand = pick_colour(rng, SANDS)
    col = sand * (0.8 + 0.35 * swell)[..., None] * (1 + ripples * ripple * fade)[..., None]
    s.paint(s.y >= top if mask is None else mask, col)


def draw_dunes(s: Scene, top: float, layers: int, amp: float = 1.0) -> None:
    """Dune ridges from ``top`` to the bottom, back to front: skewed crests with lit and shaded
    slip faces and fine ripples."""
    rng = s.rng
    x, y, size = s.x, s.y, s.size
    sand = pick_colour(rng, SANDS)
    for k in range(layers):
        base = top + (1 - top) * (k / layers) * rng.uniform(0.5, 0.9)
        a = amp * rng.uniform(0.03, 0.11) * (1 + k * 0.4)
        freq = rng.uniform(0.4, 1.8)
        arg = 2 * np.pi * freq * x + rng.uniform(0, 2 * np.pi)
        crest = base - a * (0.5 + 0.5 * np.sin(arg + 0.4 * np.sin(arg)))
        slope = np.gradient(crest, axis=1) * size / (2 * np.pi * freq * a + 1e-6)
        below = np.clip(y - crest, 0, None)
        fade = np.exp(-below / rng.uniform(0.04, 0.2))
        shade = (0.85 + 0.45 * np.tanh(4 * s.light * slope) * fade)[..., None]
        freq_r = rng.uniform(30, 70) * (0.6 + 0.4 * k / layers)
        ripples = 0.06 * np.sin(2 * np.pi * freq_r * (below + 0.08 * x * s.light))
        tone = sand * rng.uniform(0.92, 1.08)
        s.paint(y > crest, tone * shade + (ripples * (1 - 0.5 * fade))[..., None])


def draw_rock(s: Scene, top: float, mask=None) -> None:
    rng = s.rng
    n = fractal_noise(rng, s.size, int(rng.integers(3, 9)))
    crack = np.abs(value_noise(rng, s.size, int(rng.integers(4, 10))) - 0.5) < 0.025
    col = pick_colour(rng, ROCKS) * (0.55 + 0.8 * n)[..., None]
    col[crack] *= 0.55
    region = s.y >= top
    s.paint(region if mask is None else region & mask, col)


def draw_pools(
    s: Scene, n: int, y0: float, y1: float, scale: float = 1.0, rims: bool = True
) -> list:
    """Elliptical pools, with concentric terrace rings and a pale mineral rim if ``rims``; returns
    steam sources (x, y, width)."""
    rng = s.rng
    x, y = s.x, s.y
    rim_colour = np.clip(pick_colour(rng, ROCKS[1:2] + SANDS[2:3]) * 1.2, 0, 1)
    sources = []
    for _ in range(n):
        cx, cy = rng.uniform(0.1, 0.9), rng.uniform(min(y0, y1), y1)
        rx = scale * rng.uniform(0.08, 0.25) * (0.5 + cy)
        ry = rx * rng.uniform(0.25, 0.5)
        d = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
        water = pick_colour(rng, WATERS + [(0.80, 0.85, 0.80)])
        rings = 0.12 * rims * np.sin(2 * np.pi * rng.uniform(2, 6) * d)[..., None]
        pool = water * (0.8 + 0.3 * (1 - d))[..., None] + rings
        if rims:
            s.paint((d > 1) & (d < rng.uniform(1.1, 1.35)), rim_colour)
        s.paint(d <= 1, pool)
        sources.append((cx, cy, rx))
    return sources


def draw_terraces(s: Scene, top: float) -> list:
    """Close-up travertine terraces: rows of scalloped pools, each spilling over a pale wall with
    drip streaks; rows grow toward the viewer. Returns steam sources."""
    rng = s.rng
    x, y = s.x, s.y
    wall = np.clip(pick_colour(rng, ROCKS[1:2] + SANDS[2:3], 0.1) * 1.1, 0, 1)
    water = pick_colour(rng, WATERS)
    streaks = value_noise(rng, s.size, int(rng.integers(12, 30)), 2)
    rows = int(rng.integers(3, 7))
    edges = np.cumsum(rng.uniform(0.6, 1.4, rows) * np.linspace(0.6, 1.6, rows))
    edges = top + (1 - top) * edges / edges[-1] * rng.uniform(0.85, 1.0)
    prev = np.full_like(x, top)
    sources = []
    for k, e in enumerate(edges):
        lobes = rng.uniform(1.5, 5) * (1.5 - k / rows)
        scallop = np.abs(np.sin(np.pi * lobes * x + rng.uniform(0, 3)))
        edge = e - (e - top) * 0.12 * scallop**0.5
        h = (edge - prev) * rng.uniform(0.3, 0.55)  # height of the wall below the pool
        pool = (y >= prev) & (y < edge - h)
        wall_mask = (y >= edge - h) & (y < edge)
        tint = water * rng.uniform(0.85, 1.1) + 0.1 * (s.horizon_colour - 0.5)
        s.paint(pool, tint)
        s.paint(wall_mask, wall * (0.75 + 0.4 * streaks)[..., None])
        prev = np.maximum(prev, edge)
        sources.append((rng.uniform(0.2, 0.8), float(e) - 0.05, 0.2))
    return sources


def draw_steam(s: Scene, sources: list, strength: float) -> None:
    """Plumes of steam (or sea spray) rising and widening from each source."""
    rng = s.rng
    x, y = s.x, s.y
    mask = np.zeros_like(x)
    for cx, cy, w in sources:
        rise = np.clip((cy - y) / rng.uniform(0.3, 0.8), 0, 1)
        width = w * (0.6 + 1.5 * rise)
        lean = rng.normal(0, 0.3) * (cy - y)
        column = np.exp(-(((x - cx - lean) / width) ** 2)) * (y < cy + 0.02) * (1 - 0.7 * rise)
        mask = np.maximum(mask, column)
    puffs = value_noise(rng, s.size, 5, 10) * value_noise(rng, s.size, 10, 20)
    alpha = np.clip(mask * (0.3 + puffs) * strength, 0, 0.9)
    s.paint(alpha > 0, WHITE * rng.uniform(0.8, 1.0), alpha)


def draw_mist(s: Scene, level: float, thickness: float, strength: float) -> None:
    """A low bank of mist lying around ``level``."""
    rng = s.rng
    band = np.exp(-(((s.y - level) / thickness) ** 2))
    wisps = value_noise(rng, s.size, int(rng.integers(4, 10)), int(rng.integers(3, 8)))
    alpha = np.clip(band * (0.4 + wisps) * strength, 0, 0.85)
    s.paint(alpha > 0, WHITE * 0.9, alpha)


def draw_towers(
    s: Scene, base: float, n: int, height: tuple, width: tuple, haze: float = 0.0
) -> None:
    """Towers standing on ``base``: flat facades, a lit and a shaded side, window grids."""
    rng = s.rng
    x, y = s.x, s.y
    for _ in range(n):
        w = rng.uniform(*width)
        x0 = rng.uniform(-0.05, 1.0 - w * 0.5)
        top = base - rng.uniform(*height)
        body = (x >= x0) & (x < x0 + w) & (y >= top) & (y < base)
        facade = pick_colour(rng, FACADES)
        u = (x - x0) / w
        side = np.where((u - 0.5) * s.light > 0, 1.1, 0.75)[..., None]
        px = w / rng.uniform(3, 9)  # window pitch: a few columns per tower
        py = px * rng.uniform(0.6, 1.4)
        win = (
            ((np.mod(x - x0, px) / px) < rng.uniform(0.4, 0.7))
            & ((np.mod(y - top, py) / py) < rng.uniform(0.4, 0.7))
            & (u > 0.06)
            & (u < 0.94)
        )
        lit = value_noise(rng, s.size, 16) > rng.uniform(0.4, 1.0)
        window = np.where(lit[..., None], WINDOW_LIGHT, facade * 0.35)
        col = np.where(win[..., None], window, facade * side)
        col = col * (1 - haze) + haze * s.horizon_colour
        s.paint(body, col)


def draw_haze(s: Scene, amount: float) -> None:
    """Aerial haze: everything fades toward the horizon colour, most near the horizon line."""
    near = np.exp(-np.abs(s.y - s.horizon) / max(s.rng.uniform(0.08, 0.35), 1e-3))
    a = np.clip(amount * near, 0, 0.9)[..., None]
    s.img = s.img * (1 - a) + a * s.horizon_colour


# --- layouts: the scenes each class is drawn from -----------------------------------------------
# Shared scenes take the parameters that decide how much each class's cue shows; the classes draw
# them from overlapping ranges, so the middle of every range is ambiguous by design.


def draw_coast(s, sea_share: float, dune_layers: int) -> None:
    """Sky, open sea, and a sandy shore taking the rest of the ground."""
    rng = s.rng
    h = rng.uniform(0.2, 0.5)
    draw_sky(s, h)
    draw_sea(s, h)
    shore = h + (1 - h) * sea_share
    line = shore + 0.03 * np.sin(2 * np.pi * rng.uniform(0.5, 2.5) * s.x + rng.uniform(0, 6))
    s.paint((s.y < line) & (s.y > line - rng.uniform(0.01, 0.05)), WHITE, rng.uniform(0.3, 0.9))
    draw_sand(s, h, mask=s.y >= line)
    if dune_layers:
        draw_dunes(s, shore + 0.03, dune_layers)
    draw_haze(s, rng.uniform(0, 0.4))


def draw_steamy_water(s, mist: float, steam: float) -> None:
    """A wide stretch of calm water with a bank of mist and plumes rising from the surface."""
    rng = s.rng
    h = rng.uniform(0.2, 0.5)
    draw_sky(s, h)
    draw_sea(s, h, rough=rng.uniform(0.05, 0.6))
    if rng.random() < 0.5:
        draw_rock(s, rng.uniform(0.75, 0.95))
    draw_mist(s, h + rng.uniform(-0.03, 0.2), rng.uniform(0.04, 0.18), mist)
    src = [(rng.uniform(0.1, 0.9), rng.uniform(h + 0.1, 0.85), 0.12) for _ in range(3)]
    draw_steam(s, src, steam)
    draw_haze(s, rng.uniform(0, 0.5))


def draw_rock_coast(s, pools: int, rims: bool, steam: float) -> None:
    """Rocks in front of the sea, with pools in the rock and steam or spray rising."""
    rng = s.rng
    h = rng.uniform(0.2, 0.45)
    draw_sky(s, h)
    waves = draw_sea(s, h, rough=rng.uniform(0.3, 1.0))
    shore = h + rng.uniform(0.1, 0.4)
    rocks = s.y > shore + 0.06 * np.sin(rng.uniform(4, 12) * s.x + rng.uniform(0, 6)) + 0.03 * waves
    if rng.random() < 0.5:  # a headland on one side
        rocks |= (s.x * s.light + (s.light < 0)) > 1 - rng.uniform(0.15, 0.4)
    draw_rock(s, h + 0.02, rocks)
    src = draw_pools(s, pools, shore + 0.12, 0.92, rims=rims)
    src += [(rng.uniform(0.1, 0.9), shore + rng.uniform(0, 0.05), 0.1)]
    draw_steam(s, src, steam)


def draw_city(s, ground: str, heights: tuple, haze: float) -> None:
    """Towers standing on the horizon of sand (with dunes in front) or of water."""
    rng = s.rng
    h = rng.uniform(0.35, 0.7)
    draw_sky(s, h)
    n = int(rng.integers(2, 9))
    w = (0.15 * heights[0] + 0.01, 0.3 * heights[1] + 0.02)
    draw_towers(s, h + 0.005, n, heights, w, haze)
    if ground == "sand":
        draw_sand(s, h)
        if rng.random() < 0.7:
            draw_dunes(s, h + 0.04, int(rng.integers(1, 3)))
    else:
        draw_sea(s, h, rough=rng.uniform(0.1, 0.8))
    draw_haze(s, rng.uniform(0.1, 0.5))


def draw_sandy_pools(s, pools: int, steam: float) -> None:
    rng = s.rng
    h = rng.uniform(0.15, 0.45)
    draw_sky(s, h)
    draw_sand(s, h)
    if rng.random() < 0.5:
        draw_dunes(s, h, 1, amp=rng.uniform(0.3, 1.0))
    src = draw_pools(s, pools, h + 0.12, 0.85, rims=rng.random() < 0.5)
    draw_steam(s, src, steam)
    draw_haze(s, rng.uniform(0, 0.4))


def draw_pool_and_towers(s, heights: tuple, rock: bool, steam: float) -> None:
    """A pool in front, buildings behind: a hot-spring town, or a city seen from a rooftop pool."""
    rng = s.rng
    h = rng.uniform(0.45, 0.7)
    draw_sky(s, h - 0.2)
    draw_towers(s, h, int(rng.integers(2, 7)), heights, (0.06, 0.2))
    if rock:
        draw_rock(s, h)
    else:
        s.paint(s.y >= h, pick_colour(rng, FACADES + ROCKS[1:2]) * rng.uniform(0.6, 1.0))
    src = draw_pools(s, int(rng.integers(1, 3)), h + 0.15, 0.9, rng.uniform(0.8, 1.6), rims=rock)
    draw_steam(s, src, steam)
