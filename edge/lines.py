"""Line crops for the CTC recognizer, shared by training and the live app.

`normalize_line` is THE line normalization: `convert/` builds every training line with it
and `edge.infer.recognizer` runs it on every live line, as `normalize_crop` is for digits.
"""
from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from edge.normalize import as_gray_u8

CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.,-/"  # the recognizer's classes; CTC's blank is last
BLANK = len(CHARSET)
HEIGHT = 32  # line height fed to the recognizer: about 20 px of character, like the field's readers
WIDTHS = (32, 48, 64, 96, 128, 192, 256)  # a line is padded to the next (an interpreter each): a third pads at most
SQUEEZE = 0.125  # lines this much wider than the narrowest bucket fit it: a photo's lone digits are 34 px
STEP = 4  # pixels of line per CTC time step (the model pools the width by 4)
STRETCH_PERCENTILES = (2, 98)  # grey levels stretched to 0..255: a few stray pixels do not set the contrast
MIN_CONTRAST = 16  # grey levels between those percentiles below which a line is blank


def line_width(w: int, h: int) -> int:
    """Width of a w x h crop scaled to HEIGHT, aspect kept, at most the widest bucket; a line
    up to SQUEEZE wider than the narrowest is squeezed into it (into every bucket, plates read worse)."""
    width = int(min(WIDTHS[-1], max(4, round(w * HEIGHT / max(h, 1)))))
    return WIDTHS[0] if WIDTHS[0] < width <= WIDTHS[0] * (1 + SQUEEZE) else width


def bucket(width: int, widths: tuple[int, ...] | None = None) -> int:
    """The width a line `width` px wide is padded to: the next of `widths` (default WIDTHS)."""
    return next(b for b in widths or WIDTHS if b >= width)


def normalize_line(crop: np.ndarray) -> np.ndarray:
    """One line crop (any size, type and polarity) -> HEIGHT x w uint8, contrast-stretched.

    The height is scaled to HEIGHT with the aspect kept (a line wider than the widest bucket,
    or a little wider than the narrowest, is squeezed into it: line_width); the grey levels
    from the 2nd to the 98th percentile are stretched to 0..255. Polarity is left as it is: the
    model reads both, so no guess can go wrong. A blank or degenerate crop gives a black
    HEIGHT x 4 image."""
    gray = as_gray_u8(crop)
    if gray.size == 0 or min(gray.shape) < 2:
        return np.zeros((HEIGHT, 4), np.uint8)
    h, w = gray.shape
    width = line_width(w, h)
    scale = HEIGHT / h
    line = cv2.resize(gray, (width, HEIGHT), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    lo, hi = percentiles_u8(line, STRETCH_PERCENTILES)
    if hi - lo < MIN_CONTRAST:
        return np.zeros((HEIGHT, width), np.uint8)
    return cv2.convertScaleAbs(line, alpha=255.0 / (hi - lo), beta=-lo * 255.0 / (hi - lo))


def line_ink_is_dark(line: np.ndarray) -> bool:
    """True when the line's mean grey is below its median: ink is a line's minority and pulls
    the mean its way (a blank line: dark). Given without its margin, the paper or frame around
    a line does not sway it (edge.line_reader._inside_margin)."""
    gray = as_gray_u8(line)
    if gray.size == 0:
        return True
    middle = gray.size // 2
    pixels = gray.flatten()  # a copy of its own, partitioned in place
    pixels.partition(middle)
    return cv2.mean(gray)[0] <= float(pixels[middle])


def percentiles_u8(image: np.ndarray, percents) -> list[float]:
    """np.percentile(image, percents) of a non-empty uint8 image, to the last bit (its 'linear'
    method), from a histogram: numpy sorts every pixel, which cost more than the rest of the line."""
    ranks, gammas = _percentile_ranks(image.size, tuple(percents))
    counts = np.bincount(image.ravel(), minlength=256).cumsum()
    found = counts.searchsorted(ranks, side="right").tolist()  # the grey level at each rank
    return [a + (b - a) * g if g < 0.5 else b - (b - a) * (1 - g)  # numpy's _lerp
            for g, a, b in zip(gammas, found[::2], found[1::2])]


@functools.lru_cache(maxsize=256)
def _percentile_ranks(n: int, percents: tuple) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The ranks either side of each percentile's virtual index among n values (numpy's
    'linear'), and where between them it lies; lines come in few sizes, so each is worked out once."""
    ranks, gammas = [], []
    for p in percents:
        virtual = (n - 1) * (p / 100)  # numpy's virtual index for 'linear'
        below = math.floor(virtual)
        ranks += [min(max(below, 0), n - 1), min(max(below + 1, 0), n - 1)]
        gammas.append(virtual - below)
    return tuple(ranks), tuple(gammas)


def pad_line(line: np.ndarray, width: int) -> np.ndarray:
    """A normalized line padded on the right to `width` by repeating its last column (a
    constant would draw an edge the model could read as a '1')."""
    line = line[:, :width]
    if line.shape[1] == width:
        return line
    return cv2.copyMakeBorder(line, 0, 0, 0, width - line.shape[1], cv2.BORDER_REPLICATE)


def by_bucket(lines: list[np.ndarray], widths: tuple[int, ...] | None = None) -> dict[int, list[int]]:
    """Positions of normalized lines grouped by the width bucket each is padded to."""
    groups: dict[int, list[int]] = {}
    for i, line in enumerate(lines):
        groups.setdefault(bucket(line.shape[1], widths), []).append(i)
    return groups


def line_batch(lines: list[np.ndarray], width: int) -> np.ndarray:
    """Normalized lines -> (N, HEIGHT, width, 1) uint8, the recognizer's input."""
    batch = np.zeros((len(lines), HEIGHT, width, 1), np.uint8)
    for i, line in enumerate(lines):
        batch[i, :, :, 0] = pad_line(line, width)
    return batch


def encode(text: str) -> list[int]:
    """Text -> class indices; characters outside CHARSET (spaces, '·') are left out, lower
    case is read as upper case."""
    index = {c: i for i, c in enumerate(CHARSET)}
    return [index[c] for c in text.upper() if c in index]
