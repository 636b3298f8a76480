"""Synthetic training samples: printed, seven-segment and 'not a digit' glyphs, and a
camera model that turns any glyph into a crop like the live segmenter cuts from a photo.

Every glyph is first drawn as an *ink map* (float32, 1 = ink, 0 = paper), then
`photograph` puts it on paper under random light, blur, noise and JPEG, and the
result goes through `edge.normalize.normalize_crop`, the same code the live app runs.
"""
from __future__ import annotations

import glob
import os
from functools import lru_cache

import cv2
import numpy as np

from edge.normalize import normalize_crop

DIGITS = "0123456789"
# Letters and symbols that do not look like a digit in some font or hand
# (no O, o, I, l, i, S, s, Z, z, B, G, b, q, g, T, /, |, parentheses ...).
NOT_DIGIT_CHARS = "ACEFHKMNPRUVWXYacdefhkmnprtuvwx#%@+=*?!<>~^:;&"
HERSHEY_FONTS = [
    cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
]
# Fonts bundled with matplotlib (a dependency of the `train` extra).
FONT_NAMES = [
    "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
    "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique",
    "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
    "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta",
    "cmr10", "cmss10", "cmtt10", "cmb10", "cmti10",
]


@lru_cache(maxsize=1)
def font_paths() -> tuple[str, ...]:
    """TrueType fonts for printed digits: matplotlib's bundled set (if installed)."""
    try:
        import matplotlib
    except ImportError:
        return ()
    folder = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    found = {os.path.splitext(os.path.basename(p))[0]: p for p in glob.glob(os.path.join(folder, "*.ttf"))}
    return tuple(found[n] for n in FONT_NAMES if n in found)


@lru_cache(maxsize=256)
def _font(path: str, size: int):
    from PIL import ImageFont
    return ImageFont.truetype(path, size)


def _trim(ink: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(ink.max(axis=1) > 0.05)
    cols = np.flatnonzero(ink.max(axis=0) > 0.05)
    if rows.size == 0:
        return ink
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def font_ink(char: str, path: str, size: int) -> np.ndarray:
    from PIL import Image, ImageDraw
    font = _font(path, size)
    canvas = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 4), char, fill=255, font=font)
    return _trim(np.asarray(canvas, np.float32) / 255.0)


def hershey_ink(char: str, font: int, height: int, thickness: int) -> np.ndarray:
    scale = cv2.getFontScaleFromHeight(font, height, thickness)
    canvas = np.zeros((height * 3, height * 3), np.uint8)
    cv2.putText(canvas, char, (height // 2, height * 2), font, scale, 255, thickness, cv2.LINE_AA)
    return _trim(canvas.astype(np.float32) / 255.0)


# Segments a..g as (x0, y0, x1, y1) in a unit cell 0..1 wide, 0..2 high.
_SEGMENTS = {
    "a": (0, 0, 1, 0), "b": (1, 0, 1, 1), "c": (1, 1, 1, 2), "d": (0, 2, 1, 2),
    "e": (0, 1, 0, 2), "f": (0, 0, 0, 1), "g": (0, 1, 1, 1),
}
_DIGIT_SEGMENTS = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"]


def seven_segment_ink(digit: int, rng: np.random.Generator, height: int = 64) -> np.ndarray:
    """A seven-segment digit with random stroke width, gaps, slant and optional tails."""
    segs = _DIGIT_SEGMENTS[digit]
    if digit == 6 and rng.random() < 0.3:
        segs = segs.replace("a", "")
    if digit == 9 and rng.random() < 0.3:
        segs = segs.replace("d", "")
    if digit == 7 and rng.random() < 0.3:
        segs += "f"
    unit = height / 2.0
    width = unit * rng.uniform(0.45, 0.8) / 0.5 * 0.5
    stroke = max(2, int(round(height * rng.uniform(0.07, 0.16))))
    gap = stroke * rng.uniform(0.0, 0.6)
    slant = rng.uniform(-0.05, 0.22)
    pad = stroke + 4
    canvas = np.zeros((height + 2 * pad, int(width + height * 0.3) + 2 * pad), np.uint8)
    for s in segs:
        x0, y0, x1, y1 = _SEGMENTS[s]
        p0 = np.array([x0 * width, y0 * unit])
        p1 = np.array([x1 * width, y1 * unit])
        d = (p1 - p0) / max(np.linalg.norm(p1 - p0), 1e-6)
        p0, p1 = p0 + d * gap, p1 - d * gap
        pts = []
        for x, y in (p0, p1):
            pts.append((pad + x + slant * (height - y), pad + y))
        cv2.line(canvas, tuple(int(v) for v in pts[0]), tuple(int(v) for v in pts[1]), 255, stroke, cv2.LINE_AA)
    return _trim(canvas.astype(np.float32) / 255.0)


def mnist_ink(image28: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    factor = rng.uniform(1.5, 4.0)
    size = int(28 * factor)
    return cv2.resize(image28.astype(np.float32) / 255.0, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def printed_digit_ink(digit: int, rng: np.random.Generator) -> np.ndarray:
    char = DIGITS[digit]
    fonts = font_paths()
    if fonts and rng.random() < 0.7:
        return font_ink(char, fonts[rng.integers(len(fonts))], int(rng.integers(28, 72)))
    font = HERSHEY_FONTS[rng.integers(len(HERSHEY_FONTS))] | (cv2.FONT_ITALIC if rng.random() < 0.2 else 0)
    height = int(rng.integers(24, 64))
    return hershey_ink(char, font, height, int(rng.integers(1, max(2, height // 8) + 1)))


def digit_pair_ink(rng: np.random.Generator, mnist_images=None) -> np.ndarray:
    """Two digits touching or overlapping a little: a crop holding two digits is not one digit,
    so the classifier learns to reject it."""
    glyphs = []
    for _ in range(2):
        if mnist_images is not None and rng.random() < 0.7:
            glyphs.append(_trim(mnist_ink(mnist_images[rng.integers(len(mnist_images))], rng)))
        else:
            glyphs.append(printed_digit_ink(int(rng.integers(10)), rng))
    height = max(g.shape[0] for g in glyphs)
    glyphs = [cv2.resize(g, (max(2, int(g.shape[1] * height / g.shape[0])), height)) for g in glyphs]
    overlap = int(rng.uniform(-0.05, 0.2) * min(g.shape[1] for g in glyphs))
    width = glyphs[0].shape[1] + glyphs[1].shape[1] - overlap
    canvas = np.zeros((height, width), np.float32)
    canvas[:, :glyphs[0].shape[1]] = glyphs[0]
    right = canvas[:, width - glyphs[1].shape[1]:]
    np.maximum(right, glyphs[1], out=right)
    return canvas


def not_digit_ink(rng: np.random.Generator, mnist_images=None) -> np.ndarray:
    """Clutter the live app must reject: letters, symbols, lines, grid and box
    fragments, filled blobs, textures, empty patches and pairs of touching digits."""
    kind = rng.choice(["char", "char", "lines", "corner", "corner", "box", "blob", "texture", "blank", "pair", "pair"])
    if kind == "pair":
        return digit_pair_ink(rng, mnist_images)
    if kind == "char":
        char = NOT_DIGIT_CHARS[rng.integers(len(NOT_DIGIT_CHARS))]
        fonts = font_paths()
        if fonts and rng.random() < 0.6:
            return font_ink(char, fonts[rng.integers(len(fonts))], int(rng.integers(28, 72)))
        font = HERSHEY_FONTS[rng.integers(len(HERSHEY_FONTS))]
        height = int(rng.integers(24, 64))
        return hershey_ink(char, font, height, int(rng.integers(1, max(2, height // 8) + 1)))
    size = int(rng.integers(32, 80))
    canvas = np.zeros((size, size), np.uint8)
    thick = int(rng.integers(1, max(2, size // 8) + 1))
    if kind == "lines":
        # Straight strokes at least 35 degrees off vertical, so a '1' is never clutter.
        for _ in range(int(rng.integers(1, 4))):
            angle = np.deg2rad(rng.uniform(35, 145)) + np.pi / 2
            c = rng.uniform(0.2, 0.8, 2) * size
            dx, dy = np.cos(angle) * size, np.sin(angle) * size
            cv2.line(canvas, (int(c[0] - dx), int(c[1] - dy)), (int(c[0] + dx), int(c[1] + dy)), 255, thick)
    elif kind == "corner":
        # Grid fragments: corners (one of them a '7' to a naive model), T and + junctions,
        # and a cell's three sides, in any of the four orientations.
        cx, cy = (rng.uniform(0.2, 0.8, 2) * size).astype(int)
        shape = rng.integers(4)
        cv2.line(canvas, (0 if shape in (1, 2) else cx, cy), (size, cy), 255, thick)
        cv2.line(canvas, (cx, 0 if shape == 2 else cy), (cx, size), 255, thick)
        if shape == 3:  # three sides of a cell
            x2 = int(min(size - 1, cx + rng.uniform(0.4, 0.9) * size))
            cv2.line(canvas, (x2, cy), (x2, size), 255, thick)
        canvas = np.ascontiguousarray(np.rot90(canvas, int(rng.integers(4))))
    elif kind == "box":
        w = int(size * rng.uniform(0.85, 1.0))
        h = int(w * rng.uniform(0.85, 1.15))
        canvas = np.zeros((h + 8, w + 8), np.uint8)
        cv2.rectangle(canvas, (4, 4), (w + 3, h + 3), 255, thick)
        if rng.random() < 0.5:  # a cell of a grid: lines run on past the corners
            canvas[4:4 + thick, :] = 255
            canvas[:, 4:4 + thick] = 255
    elif kind == "blob":
        n = int(rng.integers(3, 9))
        pts = (rng.uniform(0.1, 0.9, (n, 2)) * size).astype(np.int32)
        cv2.fillPoly(canvas, [cv2.convexHull(pts)], 255)
    elif kind == "texture":
        noise = rng.random((max(2, size // 6), max(2, size // 6))).astype(np.float32)
        noise = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
        canvas = ((noise > rng.uniform(0.5, 0.75)) * 255).astype(np.uint8)
    else:  # blank: paper with a faint smudge; the camera model adds the noise
        cv2.circle(canvas, tuple(int(v) for v in rng.uniform(0, size, 2)), int(rng.integers(1, 4)), 60, -1)
    return canvas.astype(np.float32) / 255.0


def _warp(ink: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    h, w = ink.shape
    pad = int(0.3 * max(h, w)) + 2
    ink = cv2.copyMakeBorder(ink, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    angle = rng.uniform(-10, 10) * strength
    scale_x = rng.uniform(0.85, 1.15) if strength else 1.0
    shear = rng.uniform(-0.25, 0.25) * strength
    c = np.array(ink.shape[::-1], np.float32) / 2
    rot = cv2.getRotationMatrix2D(tuple(float(v) for v in c), angle, 1.0)
    m = np.vstack([rot, [0, 0, 1]]) @ np.array([[scale_x, shear, -shear * c[1]], [0, 1, 0], [0, 0, 1]])
    return cv2.warpAffine(ink, m[:2].astype(np.float32), ink.shape[::-1], flags=cv2.INTER_LINEAR)


def _stroke(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h = max(ink.shape)
    k = int(round(rng.uniform(-0.04, 0.06) * h))
    if k == 0:
        return ink
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (abs(k) + 1, abs(k) + 1))
    out = cv2.dilate(ink, kernel) if k > 0 else cv2.erode(ink, kernel)
    return out if out.max() > 0.3 else ink


def _neighbour(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A stroke of a neighbouring glyph poking in at the left or right edge of the crop."""
    h, w = ink.shape
    side = int(rng.integers(2))
    x = 1 if side == 0 else w - 2
    y0, y1 = sorted(rng.integers(0, h, 2))
    thick = max(1, h // 14)
    out = ink.copy()
    cv2.line(out, (x, int(y0)), (x + (3 if side == 0 else -3), int(y1)), 1.0, thick)
    return out


def photograph(ink: np.ndarray, rng: np.random.Generator, strength: float = 1.0,
               neighbours: bool = True) -> tuple[np.ndarray, bool]:
    """Ink map -> (a uint8 grey crop as a camera and the segmenter would give it, ink_is_dark).

    strength 0 keeps the glyph's geometry; photometric effects always apply."""
    if ink.size == 0 or ink.max() <= 0:
        ink = np.zeros((32, 24), np.float32)
    ink = _warp(ink.astype(np.float32), rng, strength)
    ink = _stroke(ink, rng) if strength else ink
    rows = np.flatnonzero(ink.max(axis=1) > 0.1)
    cols = np.flatnonzero(ink.max(axis=0) > 0.1)
    if rows.size:
        h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        m = max(h, w)
        top, bottom = (rng.uniform(0.04, 0.25, 2) * m).astype(int) + 1
        left, right = (rng.uniform(0.04, 0.25, 2) * m).astype(int) + 1
        ink = cv2.copyMakeBorder(ink, m, m, m, m, cv2.BORDER_CONSTANT, value=0)
        r0, c0 = rows[0] + m, cols[0] + m
        ink = ink[r0 - top:r0 + h + bottom, c0 - left:c0 + w + right]
    if neighbours and rng.random() < 0.25:
        ink = _neighbour(ink, rng)
    # The resolution the camera actually saw: digits from 12 to 80 pixels tall.
    target = rng.uniform(12, 80)
    f = target / max(ink.shape[0], 1)
    size = (max(3, int(ink.shape[1] * f)), max(3, int(ink.shape[0] * f)))
    ink = cv2.resize(ink, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    dark_ink = bool(rng.random() < 0.7)
    paper = rng.uniform(110, 250) if dark_ink else rng.uniform(0, 120)
    contrast = rng.uniform(25, 230)
    ink_level = max(0.0, paper - contrast) if dark_ink else min(255.0, paper + contrast)
    image = paper + (ink_level - paper) * np.clip(ink, 0, 1)
    hgt, wid = image.shape
    gx, gy = np.meshgrid(np.linspace(-1, 1, wid), np.linspace(-1, 1, hgt))
    image = image * (1 + rng.uniform(-0.12, 0.12) * gx + rng.uniform(-0.12, 0.12) * gy)
    sigma = rng.uniform(0, 1.2 if rng.random() < 0.7 else 2.2) * max(hgt, 20) / 40  # out of focus
    if sigma > 0.3:
        image = cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma)
    return sensor_noise(image, rng), dark_ink


def sensor_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A float grey image -> uint8 with a camera's noise and, at times, JPEG artefacts."""
    image = image + rng.normal(0, rng.uniform(0, 10), image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 90))])
        if ok:
            image = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return image


def jitter_real_crop(gray: np.ndarray, box, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Cut a real digit out of a scanned page with a random margin, then add camera noise."""
    x, y, w, h = box
    m = max(w, h)
    H, W = gray.shape
    x0 = int(np.clip(x - rng.uniform(0.04, 0.25) * m, 0, W - 1))
    y0 = int(np.clip(y - rng.uniform(0.04, 0.25) * m, 0, H - 1))
    x1 = int(np.clip(x + w + rng.uniform(0.04, 0.25) * m, x0 + 1, W))
    y1 = int(np.clip(y + h + rng.uniform(0.04, 0.25) * m, y0 + 1, H))
    crop = gray[y0:y1, x0:x1].astype(np.float32)
    dark_ink = True
    if rng.random() < 0.25:
        crop, dark_ink = 255 - crop, False
    crop = crop * rng.uniform(0.5, 1.1) + rng.uniform(-30, 30)
    if rng.random() < 0.4:
        crop = cv2.GaussianBlur(crop, (0, 0), rng.uniform(0.4, 1.2))
    crop = crop + rng.normal(0, rng.uniform(0, 8), crop.shape)
    return np.clip(crop, 0, 255).astype(np.uint8), dark_ink


def sample(ink: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    crop, dark_ink = photograph(ink, rng, strength)
    return normalize_crop(crop, dark_ink)

