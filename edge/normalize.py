"""Image conversions shared by training and the live app.

`normalize_crop` is THE digit-crop normalization: `convert/` builds every training
sample of the digit classifier with it and `DigitClassifier.classify` runs it on
every crop it reads, so the model sees the same thing in both places. `as_gray_u8`
is every stage's way to a grey uint8 frame.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

SIZE = 28  # model input side (MNIST convention)
BOX = 20  # the digit's longest side inside the 28x28 image
WORK = 64  # larger crops are halved until they fit this side
MIN_CONTRAST = 12  # grey levels between background and ink below which a crop is blank
FLOAT_UNIT_MAX = 2.0  # a float image brighter than this is 0..255; under it 0..1 (processing overshoots 1 a little)
BACKGROUND_WINDOW = 0.5  # of the crop's side: wider than a bold stroke (at 0.3, 166 MNIST train digits lost ink)


NO_IMAGE = "no image (None): cv2.imread gives None for a file it cannot read"


def as_gray_u8(image: np.ndarray) -> np.ndarray:
    """Any image (2-D or HxWxC with 1/3/4 channels; bool, 8/16-bit, float) -> 2-D uint8.

    Integers wider than 8 bits keep the top 8 bits of their brightest pixel (12-bit data in
    uint16 is not black); floats are 0..1 when their brightest pixel is under FLOAT_UNIT_MAX,
    0..255 up to 255, else scaled to it; NaN and inf become 0. A leading axis of 1 (a batch of
    one) is dropped, a 1-D array is one row; what is no image (a scalar, a batch, text) is empty.
    None is a TypeError: it is what cv2.imread gives for a file it cannot read.
    """
    if image is None:
        raise TypeError(NO_IMAGE)
    a = np.asarray(image)
    while a.ndim > 3 and a.shape[0] == 1:
        a = a[0]
    if a.dtype == np.uint8 and a.ndim == 2:  # the common case, kept cheap
        return a if a.flags.c_contiguous or a.strides[1] == 1 else np.ascontiguousarray(a)
    if a.ndim == 1:
        a = a[None, :]
    if not 2 <= a.ndim <= 3 or a.dtype.kind not in "biuf":  # booleans, integers, floats
        return np.zeros((0, 0), np.uint8)  # read as nothing
    if a.ndim == 3:
        channels = a.shape[2]
        if channels == 1:
            a = a[:, :, 0]
        elif channels in (3, 4):
            a = to_u8(a)
            code = cv2.COLOR_BGR2GRAY if channels == 3 else cv2.COLOR_BGRA2GRAY
            if a.size == 0:
                return np.zeros(a.shape[:2], np.uint8)
            return cv2.cvtColor(np.ascontiguousarray(a), code)
        else:
            a = a.mean(axis=2) if channels else np.zeros(a.shape[:2])
    return np.ascontiguousarray(to_u8(a))


def to_u8(a: np.ndarray) -> np.ndarray:
    """Any dtype -> uint8, one scale for the whole array (a colour image keeps its colours)."""
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.integer):
        if not a.size:
            return np.zeros(a.shape, np.uint8)
        low = min(int(a.min()), 0)  # signed data is shifted up to start at 0
        shift = max(0, (int(a.max()) - low).bit_length() - 8)
        if low:
            return np.clip((a.astype(np.float64) - low) / (1 << shift), 0, 255).astype(np.uint8)
        return (a >> shift).astype(np.uint8)
    f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    top = float(f.max()) if f.size else 0.0
    if top < FLOAT_UNIT_MAX:
        f = f * 255.0
    elif top > 255.0:
        f = f * (255.0 / top)
    return np.clip(f, 0, 255).astype(np.uint8)


def halve(gray: np.ndarray) -> np.ndarray:
    """Half size by 2x2 means (an odd last row or column is dropped): OpenCV's fast area
    resize. Any other area-resize factor takes a slow path (1/3 of a 720p frame: ~1 ms)."""
    h, w = gray.shape
    return cv2.resize(gray[:max(1, h - h % 2), :max(1, w - w % 2)], (max(1, w // 2), max(1, h // 2)),
                      interpolation=cv2.INTER_AREA)


def ink_is_dark(gray: np.ndarray) -> bool:
    """True when the crop's border (its background) is brighter than the crop as a whole."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(border.mean()) > float(gray.mean())


def normalize_crop(crop: np.ndarray, dark_ink: bool | None = None) -> np.ndarray:
    """One digit crop of any size and either polarity -> 28x28 uint8, white ink on black.

    The ink is contrast-stretched, cut to its bounding box, scaled (aspect kept) so its
    longest side is 20 px and placed so its centre of mass is at the image centre, as in
    MNIST. `dark_ink` gives the polarity when the caller knows it; by default it is read
    from the crop's border. Blank or degenerate crops give an all-black image.

    Every step is one OpenCV call on uint8 (classify reads many crops a call).
    """
    gray = as_gray_u8(crop)
    out = np.zeros((SIZE, SIZE), np.uint8)
    if gray.size == 0:
        return out
    if dark_ink is None:
        dark_ink = ink_is_dark(gray)
    while max(gray.shape) > WORK:  # big crops: halved, the cheap way
        gray = halve(gray)
    # Uneven light: a grey closing (opening for light ink) with a window wider than any
    # stroke keeps only the background. Printed and written ink reflects a fixed share of
    # the light, so dark ink is measured relative to its background (shadows cancel out);
    # light ink (a display) is measured as the difference.
    kernel = _square(max(3, int(BACKGROUND_WINDOW * max(gray.shape)) | 1))
    if dark_ink:
        background = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, kernel)
        ink_u8 = cv2.divide(cv2.subtract(background, gray), cv2.max(background, 32), scale=255)
    else:
        ink_u8 = cv2.subtract(gray, cv2.morphologyEx(gray, cv2.MORPH_OPEN, kernel))
    hi = int(cv2.minMaxLoc(ink_u8)[1])
    if hi < MIN_CONTRAST:
        return out
    # Otsu splits ink from what is left of the background; below half that split is
    # noise and goes to black, the rest ramps up to white.
    split, _ = cv2.threshold(ink_u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    floor = int(split) // 2
    x, y, w, h = cv2.boundingRect(cv2.threshold(ink_u8, floor, 255, cv2.THRESH_BINARY)[1])
    if w == 0 or h == 0:
        return out
    gain = 255.0 / max(hi - floor, 1)
    ink = cv2.convertScaleAbs(cv2.max(ink_u8[y:y + h, x:x + w], floor), alpha=gain, beta=-floor * gain)
    scale = BOX / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    patch = cv2.resize(ink, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    m = cv2.moments(patch)
    if m["m00"] <= 0:
        return out
    top = min(max(round(SIZE / 2 - m["m01"] / m["m00"]), 0), SIZE - nh)
    left = min(max(round(SIZE / 2 - m["m10"] / m["m00"]), 0), SIZE - nw)
    out[top:top + nh, left:left + nw] = patch
    return out


@functools.lru_cache(maxsize=64)
def _square(k: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))


def normalize_batch(crops, dark_ink=None) -> np.ndarray:
    """Crops (a list, or any iterable) -> (N, 28, 28, 1) uint8, the model's input batch."""
    crops = list(crops)
    batch = np.zeros((len(crops), SIZE, SIZE, 1), np.uint8)
    for i, crop in enumerate(crops):
        polarity = None if dark_ink is None else dark_ink[i]
        batch[i, :, :, 0] = normalize_crop(crop, polarity)
    return batch
