"""Synthetic text lines for the recognizer: printed numbers and codes in many fonts, seven-
and fourteen-segment displays, dot matrices, handwritten strings composed from MNIST and real
cheque digits, rolling-counter windows with half-rolled wheels, number plates and price tags.

Each maker returns (ink, text): an ink map (float32, 1 = ink) and what it says; `photograph_line`
turns it into a camera's grey crop of the line, cut as loosely as a detector would.
"""
from __future__ import annotations

import glob
import os
from functools import lru_cache

import cv2
import numpy as np

from convert import synth
from edge.lines import normalize_line

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
FONT_FOLDERS = (  # Debian's fonts-dejavu-core, fonts-liberation2, fonts-freefont-ttf, fonts-roboto-unhinted,
    "/usr/share/fonts/truetype", "/usr/share/fonts/opentype/urw-base35")  # fonts-urw-base35
SEGMENT_FONTS = "/usr/share/fonts/truetype/dseg"  # Debian's fonts-dseg
FONT_PACKAGES = {  # the Debian font packages the shipped models' synthetic text used, and where each installs
    "fonts-dejavu-core": "/usr/share/fonts/truetype/dejavu", "fonts-liberation2": "/usr/share/fonts/truetype/liberation2",
    "fonts-freefont-ttf": "/usr/share/fonts/truetype/freefont", "fonts-roboto-unhinted": "/usr/share/fonts/truetype/roboto",
    "fonts-urw-base35": "/usr/share/fonts/opentype/urw-base35", "fonts-dseg": SEGMENT_FONTS}
STATES = ["CALIFORNIA", "TEXAS", "NEW YORK", "FLORIDA", "OHIO", "BRASIL", "ARGENTINA", "MERCOSUR",
          "D", "F", "NL", "PL", "I", "E", "GB", "ONTARIO", "QUEBEC", "SAO PAULO", "RIO DE JANEIRO"]


@lru_cache(maxsize=1)
def text_fonts() -> tuple[str, ...]:
    """Every text font found: Debian's font packages, then matplotlib's bundled set."""
    found = []
    for folder in FONT_FOLDERS:
        for path in _font_files(folder):
            name = os.path.basename(path).lower()
            if not any(s in name for s in ("dseg", "math", "symbol", "dingbat", "z003", "d050000l", "extralight")):
                found.append(path)
    return tuple(found) or synth.font_paths()


def missing_font_packages() -> list[str]:
    """The font packages of FONT_PACKAGES not installed: without them a training run learns
    from fewer fonts than the shipped models did."""
    return [name for name, folder in FONT_PACKAGES.items() if not _font_files(folder)]


def _font_files(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "**", "*.[ot]tf"), recursive=True))


def fonts_warning() -> str | None:
    """One line for a training log when fonts are missing, with the command that installs them."""
    missing = missing_font_packages()
    return (f"warning: fonts missing ({', '.join(missing)}): synthetic text uses fewer fonts than the shipped "
            f"models'; install them with 'apt-get install {' '.join(missing)}'") if missing else None


def font_counts() -> dict:
    """How many fonts of each kind the synthetic lines draw from, for a training record."""
    seven, fourteen = segment_fonts()
    return {"text": len(text_fonts()), "seven_segment": len(seven), "fourteen_segment": len(fourteen)}


@lru_cache(maxsize=1)
def segment_fonts() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(seven-segment fonts, fourteen-segment fonts) from fonts-dseg, if installed."""
    fonts = sorted(glob.glob(os.path.join(SEGMENT_FONTS, "DSEG*.ttf")))
    return (tuple(f for f in fonts if "DSEG7" in f and "SEGG" not in f),
            tuple(f for f in fonts if "DSEG14" in f))


@lru_cache(maxsize=512)
def _font(path: str, size: int):
    from PIL import ImageFont
    return ImageFont.truetype(path, size)


def render_text(text: str, path: str, size: int, spacing: float = 0.0) -> np.ndarray:
    """Text in one font, character by character with `spacing` (of the size) added between."""
    from PIL import Image, ImageDraw
    font = _font(path, size)
    widths = [max(1.0, font.getlength(c)) for c in text]
    extra = spacing * size
    width = int(sum(widths) + extra * max(0, len(text) - 1) + size)
    canvas = Image.new("L", (max(width, size), size * 2), 0)
    draw = ImageDraw.Draw(canvas)
    x = size / 2
    for c, w in zip(text, widths):
        draw.text((x, size / 3), c, fill=255, font=font)
        x += w + extra
    return synth._trim(np.asarray(canvas, np.float32) / 255.0)


# -- texts --------------------------------------------------------------------------------
def number_text(rng: np.random.Generator) -> str:
    """A number as printed on things: counts, prices, decimals, dates, codes, phone numbers."""
    kind = rng.choice(["int", "int", "decimal", "price", "grouped", "date", "code", "phone", "negative"])
    n = int(rng.integers(1, 9))
    digits = "".join(rng.choice(list(DIGITS), n))
    if kind == "decimal":
        return digits + rng.choice([".", ","]) + "".join(rng.choice(list(DIGITS), int(rng.integers(1, 4))))
    if kind == "price":
        return digits[:4] + rng.choice([".", ","]) + "".join(rng.choice(list(DIGITS), 2))
    if kind == "grouped":
        groups = ["".join(rng.choice(list(DIGITS), 3)) for _ in range(int(rng.integers(1, 3)))]
        return str(int(rng.integers(1, 999))) + rng.choice([".", ","]) + rng.choice([".", ","]).join(groups)
    if kind == "date":
        return f"{rng.integers(1, 32):02d}{rng.choice(['/', '-', '.'])}{rng.integers(1, 13):02d}" + (
            f"{rng.choice(['/', '-', '.'])}{rng.integers(0, 100):02d}" if rng.random() < 0.6 else "")
    if kind == "code":
        parts = ["".join(rng.choice(list(DIGITS + LETTERS), int(rng.integers(2, 5)))) for _ in range(2)]
        return parts[0] + rng.choice(["-", "/", ""]) + parts[1]
    if kind == "phone":
        return "-".join("".join(rng.choice(list(DIGITS), int(rng.integers(2, 5)))) for _ in range(3))
    if kind == "negative":
        return "-" + digits[:5]
    return digits


def plate_text(rng: np.random.Generator) -> tuple[str, list[int]]:
    """A plate's characters and where its gaps fall, in the layouts of several countries."""
    L = lambda k: "".join(rng.choice(list(LETTERS), k))  # noqa: E731
    D = lambda k: "".join(rng.choice(list(DIGITS), k))  # noqa: E731
    layouts = [
        lambda: (L(3) + D(4), [3]),  # Brazil (old), US states
        lambda: (L(3) + D(1) + L(1) + D(2), [3]),  # Mercosur Brazil
        lambda: (L(2) + D(3) + L(2), [2, 5]),  # Mercosur Argentina, France
        lambda: (L(3) + D(3), [3]),  # Argentina (old), many US states
        lambda: (D(1) + L(3) + D(3), []),  # California
        lambda: (L(2) + D(2) + L(3), [2, 4]),  # United Kingdom
        lambda: (L(int(rng.integers(1, 4))) + L(int(rng.integers(1, 3))) + D(int(rng.integers(1, 5))), [1, 2]),  # Germany
        lambda: (D(2) + L(3) + D(1), [2, 5]),  # Netherlands-like
        lambda: (L(3) + D(int(rng.integers(2, 5))) + L(int(rng.integers(0, 3))), [3]),
        lambda: (D(int(rng.integers(3, 7))), []),
    ]
    return layouts[int(rng.integers(len(layouts)))]()


# -- ink makers: each returns (ink, text) -------------------------------------------------
def printed_line(rng: np.random.Generator, text: str | None = None) -> tuple[np.ndarray, str]:
    text = text or (number_text(rng) if rng.random() < 0.8 else plate_text(rng)[0])
    fonts = text_fonts()
    ink = _font_line(text, fonts, rng, 0.3) if fonts and rng.random() < 0.85 else _hershey_line(text, rng)
    return ink, text


def _font_line(text: str, fonts, rng: np.random.Generator, max_spacing: float) -> np.ndarray:
    """`text` in one of `fonts`, 24-56 px, letter spacing up to `max_spacing` of the size."""
    return render_text(text, fonts[int(rng.integers(len(fonts)))], int(rng.integers(24, 56)),
                       float(rng.uniform(-0.05, max_spacing)))


def _hershey_line(text: str, rng: np.random.Generator) -> np.ndarray:
    font = synth.HERSHEY_FONTS[int(rng.integers(6))] | (cv2.FONT_ITALIC if rng.random() < 0.2 else 0)
    height = int(rng.integers(24, 48))
    thickness = int(rng.integers(1, max(2, height // 8) + 1))
    scale = cv2.getFontScaleFromHeight(font, height, thickness)
    (w, _), _ = cv2.getTextSize(text, font, scale, thickness)
    canvas = np.zeros((height * 2, w + height), np.uint8)
    cv2.putText(canvas, text, (height // 2, int(height * 1.5)), font, scale, 255, thickness, cv2.LINE_AA)
    return synth._trim(canvas.astype(np.float32) / 255.0)


def segment_line(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A seven- or fourteen-segment display: fonts-dseg when there, else drawn segments."""
    seven, fourteen = segment_fonts()
    if fourteen and rng.random() < 0.2:
        text = "".join(rng.choice(list(LETTERS + DIGITS), int(rng.integers(2, 8))))
        return render_text(text, fourteen[int(rng.integers(len(fourteen)))], int(rng.integers(28, 56))), text
    n = int(rng.integers(1, 9))
    text = "".join(rng.choice(list(DIGITS), n))
    if rng.random() < 0.3 and n > 1:
        cut = int(rng.integers(1, n))
        text = text[:cut] + "." + text[cut:]
    if rng.random() < 0.1:
        text = "-" + text
    if seven and rng.random() < 0.7:
        return render_text(text, seven[int(rng.integers(len(seven)))], int(rng.integers(28, 56)),
                       float(rng.uniform(0, 0.15))), text
    glyphs = []
    height = 64
    for c in text:
        if c in DIGITS:
            glyphs.append(synth.seven_segment_ink(int(c), rng, height))
        elif c == ".":
            dot = np.zeros((height, 10), np.float32)
            cv2.circle(dot, (5, height - 6), 4, 1.0, -1)
            glyphs.append(dot)
        else:
            bar = np.zeros((height, 30), np.float32)
            cv2.line(bar, (3, height // 2), (26, height // 2), 1.0, 7)
            glyphs.append(bar)
    return _join(glyphs, rng, gap=(0.1, 0.4), align="bottom"), text


def dot_matrix_line(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Characters drawn as a grid of dots (a 5x7 matrix display or a receipt printer)."""
    text = number_text(rng) if rng.random() < 0.8 else plate_text(rng)[0]
    fonts = text_fonts()
    mono = [f for f in fonts if "Mono" in f or "Courier" in f or "C059" in f] or fonts
    small = render_text(text, mono[int(rng.integers(len(mono)))], 20) if fonts else _hershey_line(text, rng)
    grid = cv2.resize(small, (max(1, small.shape[1] * 9 // max(small.shape[0], 1)), 9), interpolation=cv2.INTER_AREA)
    pitch = int(rng.integers(5, 9))
    radius = max(1, int(pitch * rng.uniform(0.3, 0.48)))
    canvas = np.zeros((9 * pitch + pitch, grid.shape[1] * pitch + pitch), np.float32)
    for y, x in zip(*np.nonzero(grid > 0.3)):
        cv2.circle(canvas, (int(x * pitch + pitch), int(y * pitch + pitch)), radius, 1.0, -1, cv2.LINE_AA)
    return canvas, text


def handwritten_line(rng: np.random.Generator, digit_images, digit_labels) -> tuple[np.ndarray, str]:
    """Digits from a pool of handwritten crops (MNIST, real cheque digits), side by side with
    uneven spacing, touching or overlapping, at uneven heights and slants."""
    n = int(rng.integers(1, 9))
    picks = rng.integers(len(digit_images), size=n)
    glyphs = [synth._trim(synth.mnist_ink(digit_images[i], rng)) if digit_images[i].shape == (28, 28)
              else synth._trim(digit_images[i].astype(np.float32) / 255.0) for i in picks]
    text = "".join(str(int(digit_labels[i])) for i in picks)
    if rng.random() < 0.15 and n > 2:  # a written separator
        cut = int(rng.integers(1, n))
        mark = np.zeros((40, 12), np.float32)
        cv2.line(mark, (6, 30), (4, 38), 1.0, 4)
        glyphs.insert(cut, mark)
        text = text[:cut] + rng.choice([".", ","]) + text[cut:]
    return _join(glyphs, rng, gap=(-0.15, 0.5), align="jitter"), text


def counter_line(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A rolling counter: digits in windows, some wheels caught between two digits (read as
    the nearer one), window frames and a dark or light drum."""
    n = int(rng.integers(1, 9))
    fonts = text_fonts()
    font = fonts[int(rng.integers(len(fonts)))] if fonts else None
    size = 48
    cells, text = [], ""
    for _ in range(n):
        d = int(rng.integers(10))
        roll = float(rng.uniform(0, 1)) if rng.random() < 0.3 else 0.0
        top = render_text(str(d), font, size) if font else synth.printed_digit_ink(d, rng)
        bottom = render_text(str((d + 1) % 10), font, size) if font else synth.printed_digit_ink((d + 1) % 10, rng)
        h = int(size * 1.3)
        w = max(top.shape[1], bottom.shape[1]) + 10
        strip = np.zeros((h * 2, w), np.float32)
        for k, g in enumerate((top, bottom)):
            g = g[:h - 4, :w - 4]
            y0 = k * h + (h - g.shape[0]) // 2
            x0 = (w - g.shape[1]) // 2
            strip[y0:y0 + g.shape[0], x0:x0 + g.shape[1]] = g
        offset = int(roll * h)
        cell = strip[offset:offset + h]
        text += str(d if roll < 0.5 else (d + 1) % 10)
        if rng.random() < 0.5:  # the window's frame
            cv2.rectangle(cell, (0, 0), (w - 1, h - 1), float(rng.uniform(0.3, 1.0)), int(rng.integers(1, 4)))
        cells.append(cell)
    return _join(cells, rng, gap=(0.0, 0.3), align="top"), text


def plate_line(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A number plate: its characters in a condensed or plain font, a border, and often a
    state or country name in small letters above or below (not part of the reading)."""
    text, gaps = plate_text(rng)
    fonts = text_fonts()
    bold = [f for f in fonts if any(s in os.path.basename(f) for s in ("Bold", "Condensed", "Mono", "Roboto"))] or fonts
    size = 48
    font = bold[int(rng.integers(len(bold)))] if bold else None
    shown = "".join(c + (rng.choice([" ", "-", "·"]) if i + 1 in gaps else "") for i, c in enumerate(text))
    main = render_text(shown, font, size, float(rng.uniform(0, 0.15))) if font else _hershey_line(shown, rng)
    main = cv2.resize(main, (max(2, int(main.shape[1] * rng.uniform(0.7, 1.0))), main.shape[0]))  # condensed
    h, w = main.shape
    pad_y, pad_x = int(h * rng.uniform(0.3, 0.6)), int(h * rng.uniform(0.2, 0.5))
    plate = np.zeros((h + 2 * pad_y, w + 2 * pad_x), np.float32)
    plate[pad_y:pad_y + h, pad_x:pad_x + w] = main
    if rng.random() < 0.6 and fonts:
        state = STATES[int(rng.integers(len(STATES)))]
        small = render_text(state, fonts[int(rng.integers(len(fonts)))], int(size * 0.3))
        small = small[:max(1, pad_y - 2), :plate.shape[1] - 4]
        y0 = 1 if rng.random() < 0.7 else plate.shape[0] - small.shape[0] - 1
        x0 = max(0, (plate.shape[1] - small.shape[1]) // 2)
        region = plate[y0:y0 + small.shape[0], x0:x0 + small.shape[1]]
        np.maximum(region, small[:region.shape[0], :region.shape[1]], out=region)
    if rng.random() < 0.8:
        cv2.rectangle(plate, (1, 1), (plate.shape[1] - 2, plate.shape[0] - 2), 1.0, int(rng.integers(1, 4)))
    return plate, text


def price_line(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A price tag: a currency sign (not read), big units and small raised cents."""
    fonts = text_fonts()
    font = fonts[int(rng.integers(len(fonts)))]
    units = str(int(rng.integers(0, 10 ** int(rng.integers(1, 4)))))
    cents = f"{int(rng.integers(0, 100)):02d}"
    size = 48
    big = render_text(units, font, size)
    small = render_text(cents, font, int(size * rng.uniform(0.4, 0.6)))
    sign = render_text(str(rng.choice(["$", "€", "£", "R$"])), font, int(size * 0.6)) if rng.random() < 0.6 else None
    separator = rng.random() < 0.5
    text = units + ("." if separator else "") + cents
    parts = ([sign] if sign is not None else []) + [big]
    if separator:
        dot = np.zeros((big.shape[0], 8), np.float32)
        cv2.circle(dot, (4, big.shape[0] - 5), 3, 1.0, -1)
        parts.append(dot)
    parts.append(small)
    return _join(parts, rng, gap=(0.05, 0.15), align="top"), text


WORD_LETTERS = "eeeeeeeeeeeettttttttaaaaaaaaoooooooiiiiiiinnnnnnnsssssshhhhhhrrrrrrddddllllcccuuummwwffggyyppbbvkjxqz"


def word_line(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Words in any case, labelled in upper case: text beside numbers must read as letters
    (which --charset digits drops), not as digits."""
    words = []
    for _ in range(int(rng.integers(1, 4))):
        case = rng.random()
        upper = 0.3 <= case < 0.45
        # a lower-case l looks like 1 or I: labelled L, it would teach a bar to read L
        letters = WORD_LETTERS if upper else WORD_LETTERS.replace("l", "")
        word = "".join(rng.choice(list(letters), int(rng.integers(2, 9))))
        words.append(word.capitalize() if case < 0.3 else word.upper() if upper else word)
    if rng.random() < 0.3:
        words.insert(int(rng.integers(len(words) + 1)), number_text(rng))
    text = (" " if rng.random() < 0.8 else rng.choice(["-", ".", ", "])).join(words)
    fonts = text_fonts()
    ink = _font_line(text, fonts, rng, 0.2) if fonts else _hershey_line(text, rng)
    return ink, "".join(c for c in text.upper() if c != " ")


def clutter_line(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """No text: strokes, boxes, blobs, textures and symbols outside the charset, as a
    detector may hand over (letters and digits are never clutter: they are read)."""
    pieces = []
    for _ in range(int(rng.integers(1, 4))):
        size = 48
        canvas = np.zeros((size, int(size * rng.uniform(0.5, 2.5))), np.uint8)
        kind = rng.choice(["lines", "box", "blob", "texture", "symbol"])
        thick = int(rng.integers(1, 7))
        if kind == "lines":
            for _ in range(int(rng.integers(1, 4))):
                p0, p1 = rng.uniform(0, 1, (2, 2)) * canvas.shape[::-1]
                cv2.line(canvas, tuple(int(v) for v in p0), tuple(int(v) for v in p1), 255, thick)
        elif kind == "box":
            cv2.rectangle(canvas, (2, 2), (canvas.shape[1] - 3, size - 3), 255, thick)
        elif kind == "blob":
            pts = (rng.uniform(0.1, 0.9, (6, 2)) * canvas.shape[::-1]).astype(np.int32)
            cv2.fillPoly(canvas, [cv2.convexHull(pts)], 255)
        elif kind == "texture":
            noise = rng.random((8, max(2, canvas.shape[1] // 6))).astype(np.float32)
            noise = cv2.resize(noise, canvas.shape[::-1], interpolation=cv2.INTER_CUBIC)
            canvas = ((noise > rng.uniform(0.5, 0.75)) * 255).astype(np.uint8)
        else:
            fonts = text_fonts()
            if fonts:
                symbols = "".join(rng.choice(list("#%@+=*?!<>~^:;&()[]|"), int(rng.integers(1, 4))))
                pieces.append(render_text(symbols, fonts[int(rng.integers(len(fonts)))], size))
                continue
        pieces.append(canvas.astype(np.float32) / 255.0)
    return _join(pieces, rng, gap=(0.1, 0.6), align="jitter"), ""


def _join(glyphs: list[np.ndarray], rng: np.random.Generator, gap=(0.0, 0.3), align: str = "bottom") -> np.ndarray:
    """Glyphs side by side, scaled to one height (handwriting varies it), `gap` (of the height)
    between them; negative gaps overlap."""
    height = 48
    scaled = []
    for g in glyphs:
        if g.size == 0:
            continue
        f = height / max(g.shape[0], 1) * (rng.uniform(0.75, 1.1) if align == "jitter" else 1.0)
        scaled.append(cv2.resize(g, (max(1, int(g.shape[1] * f)), max(1, int(g.shape[0] * f)))))
    if not scaled:
        return np.zeros((height, height), np.float32)
    tall = max(s.shape[0] for s in scaled)
    gaps = [int(rng.uniform(*gap) * height) for _ in scaled]
    width = sum(s.shape[1] for s in scaled) + sum(gaps[:-1]) + 2
    canvas = np.zeros((int(tall * 1.3) + 2, max(width, 2)), np.float32)
    x = 0
    for s, g in zip(scaled, gaps):
        if align == "top":
            y = 1
        elif align == "bottom":
            y = tall - s.shape[0] + 1
        else:
            y = int(rng.uniform(0, 0.3) * tall + (tall - s.shape[0]) / 2)
        x = max(0, min(x, canvas.shape[1] - s.shape[1]))
        region = canvas[y:y + s.shape[0], x:x + s.shape[1]]
        np.maximum(region, s[:region.shape[0], :region.shape[1]], out=region)
        x += s.shape[1] + g
    return synth._trim(canvas)


# -- the camera ---------------------------------------------------------------------------
PANEL_EDGE_SHARE = 0.12  # crops with their panel's edge (a display, a label) in a margin: read as nothing


def _panel_edge(image: np.ndarray, ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The line's panel ends in one margin of the crop: beyond its edge, the surroundings
    in another shade (a '1' must not come of it)."""
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.2), np.flatnonzero(ink.max(axis=0) > 0.2)
    if not cols.size:
        return image
    out, other = image.copy(), float(rng.uniform(0, 255))
    h, w = image.shape
    side = int(rng.integers(4))
    if side == 0 and cols[0] >= 2:
        out[:, :int(rng.integers(1, cols[0]))] = other
    elif side == 1 and cols[-1] < w - 3:
        out[:, int(rng.integers(cols[-1] + 2, w - 1)):] = other
    elif side == 2 and rows[0] >= 2:
        out[:int(rng.integers(1, rows[0]))] = other
    elif side == 3 and rows[-1] < h - 3:
        out[int(rng.integers(rows[-1] + 2, h - 1)):] = other
    return out


def photograph_line(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink map -> a grey uint8 crop of the line as a camera and a detector would give it:
    slanted and rotated a little, cut with uneven margins, either polarity, uneven light,
    blur, noise and JPEG."""
    if ink.size == 0 or ink.max() <= 0:
        ink = np.zeros((32, 32), np.float32)
    h, w = ink.shape
    pad = h
    ink = cv2.copyMakeBorder(ink, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    c = (ink.shape[1] / 2, ink.shape[0] / 2)
    rot = cv2.getRotationMatrix2D(c, rng.uniform(-4, 4), 1.0)
    shear = rng.uniform(-0.3, 0.3)
    m = np.vstack([rot, [0, 0, 1]]) @ np.array([[1, shear, -shear * c[1]], [0, 1, 0], [0, 0, 1]])
    ink = cv2.warpAffine(ink, m[:2], (ink.shape[1], ink.shape[0]), flags=cv2.INTER_LINEAR)
    # the detector's box: the text's extent with margins of 0-40% of the height, sometimes clipping
    rows = np.flatnonzero(ink.max(axis=1) > 0.2)
    cols = np.flatnonzero(ink.max(axis=0) > 0.2)
    if rows.size:
        th = rows[-1] - rows[0] + 1
        top, bottom = (rng.uniform(-0.05, 0.4, 2) * th).astype(int)
        left, right = (rng.uniform(-0.02, 0.6, 2) * th).astype(int)
        y0, y1 = max(0, rows[0] - top), min(ink.shape[0], rows[-1] + 1 + bottom)
        x0, x1 = max(0, cols[0] - left), min(ink.shape[1], cols[-1] + 1 + right)
        ink = ink[y0:y1, x0:x1]
    target = rng.uniform(10, 60)  # the line's height in the camera's pixels
    f = target / max(ink.shape[0], 1)
    size = (max(4, int(ink.shape[1] * f)), max(4, int(ink.shape[0] * f)))
    ink = cv2.resize(ink, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    dark_ink = rng.random() < 0.6
    paper = rng.uniform(100, 250) if dark_ink else rng.uniform(0, 110)
    contrast = rng.uniform(30, 220)
    level = max(0.0, paper - contrast) if dark_ink else min(255.0, paper + contrast)
    image = paper + (level - paper) * np.clip(ink, 0, 1)
    if rng.random() < PANEL_EDGE_SHARE:
        image = _panel_edge(image, ink, rng)
    hh, ww = image.shape
    gx, gy = np.meshgrid(np.linspace(-1, 1, ww), np.linspace(-1, 1, hh))
    image = image * (1 + rng.uniform(-0.2, 0.2) * gx + rng.uniform(-0.15, 0.15) * gy)
    sigma = rng.uniform(0, 1.3) * hh / 30
    if sigma > 0.3:
        image = cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma)
    return synth.sensor_noise(image, rng)


MAKERS = {
    "printed": (printed_line, 0.24),
    "segment": (segment_line, 0.12),
    "dot_matrix": (dot_matrix_line, 0.05),
    "handwritten": (None, 0.25),  # needs the digit pool
    "counter": (counter_line, 0.1),
    "plate": (plate_line, 0.14),
    "price": (price_line, 0.05),
    "clutter": (clutter_line, 0.05),
    "words": (word_line, 0.06),
}


def synthetic_lines(n: int, seed: int, digit_images=None, digit_labels=None) -> tuple[list[np.ndarray], list[str], list[str]]:
    """n normalized synthetic lines (edge.lines.normalize_line), their texts and kinds."""
    rng = np.random.default_rng(seed)
    kinds = [k for k in MAKERS if k != "handwritten" or digit_images is not None]
    weights = np.array([MAKERS[k][1] for k in kinds])
    picks = rng.choice(len(kinds), size=n, p=weights / weights.sum())
    lines, texts, names = [], [], []
    for i in picks:
        kind = kinds[i]
        if kind == "handwritten":
            ink, text = handwritten_line(rng, digit_images, digit_labels)
        else:
            ink, text = MAKERS[kind][0](rng)
        lines.append(normalize_line(photograph_line(ink, rng)))
        texts.append(text)
        names.append(kind)
    return lines, texts, names
