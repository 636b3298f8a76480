"""Real text lines from the development sets, split three ways for the recognizer.

Splits are fixed by a hash: of the file name (orand-car-a), of the plate text (plates-train:
most vehicles appear twice), of the device folder (meters-train: the point is meters never
seen). 'heldout' is reported and never trained on; 'tune' chooses settings; 'train' trains.
"""
from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from convert.datasets import DataError, find_dataset, load_orand, read_data_image
from edge.lines import normalize_line

HELDOUT_PERCENT, TUNE_PERCENT = 20, 10  # orand's held-out 20% is the one the classic reader reports


def split3(key: str) -> str:
    bucket = zlib.crc32(key.encode()) % 100
    return "heldout" if bucket < HELDOUT_PERCENT else "tune" if bucket < HELDOUT_PERCENT + TUNE_PERCENT else "train"


@dataclass
class RealLine:
    gray: np.ndarray  # the crop as stored, grey
    text: str  # what it says (orand: digits only; plates: letters and digits)
    kind: str  # orand / plate / meter
    key: str  # file name, plate text or device: what the split hangs on
    extent: tuple[int, int, int, int] | None = None  # the text's box inside the crop, when known
    value: float | None = None  # meters: the wheel's position in tenths (4.7: 70% from 4 to 5)
    boxes: list | None = None  # orand: [(x, y, w, h, digit)] left to right


def orand_lines(split: str | None = None, root: Path | None = None) -> list[RealLine]:
    out = []
    for im in load_orand(root):
        if split and split3(im.file.name) != split:
            continue
        gray = read_data_image(im.file, cv2.IMREAD_GRAYSCALE)
        extent = None
        if im.boxes:
            b = np.array([bx[:4] for bx in im.boxes])
            x0, y0 = b[:, 0].min(), b[:, 1].min()
            extent = (int(x0), int(y0), int((b[:, 0] + b[:, 2]).max() - x0), int((b[:, 1] + b[:, 3]).max() - y0))
        out.append(RealLine(gray, im.digits, "orand", im.file.name, extent, boxes=list(im.boxes)))
    return out


def _rows(name: str) -> tuple[Path, list[dict]]:
    root = find_dataset(name)
    try:
        with open(root / "labels.csv", newline="") as f:
            return root, list(csv.DictReader(f))
    except (OSError, ValueError) as e:
        raise DataError(f"{root / 'labels.csv'} is unreadable: {e}") from None


def plate_lines(split: str | None = None) -> list[RealLine]:
    root, rows = _rows("plates-train")
    return [RealLine(read_data_image(root / r["file"], cv2.IMREAD_GRAYSCALE), r["text"].upper(), "plate", r["text"])
            for r in rows if not split or split3(r["text"].upper()) == split]


def meter_digits(split: str | None = None) -> list[RealLine]:
    """Single meter digits; `text` is the nearer whole digit (a mid-roll wheel's too)."""
    root, rows = _rows("meters-train")
    out = []
    for r in rows:
        device = r["source_device_folder"]
        if split and split3(device) != split:
            continue
        value = float(r["value"])
        out.append(RealLine(read_data_image(root / r["file"], cv2.IMREAD_GRAYSCALE), str(int(round(value)) % 10),
                            "meter", device, value=value))
    return out


def mid_roll(line: RealLine) -> bool:
    return line.value is not None and abs(line.value - round(line.value)) > 0.2


def neighbours(line: RealLine) -> set[str]:
    """The digits a meter wheel may be read as: its own, or either side of a mid-roll."""
    if not mid_roll(line):
        return {line.text}
    low = int(np.floor(line.value)) % 10
    return {str(low), str((low + 1) % 10)}


# -- training copies ----------------------------------------------------------------------
def jitter(gray: np.ndarray, rng: np.random.Generator, extent=None) -> np.ndarray:
    """A real crop cut again as a detector might (margins around the text's extent, or a few
    percent off the stored crop), turned a little, either polarity, other light and blur."""
    h, w = gray.shape
    if extent is not None:
        x, y, ew, eh = extent
        m = eh
        x0 = int(np.clip(x - rng.uniform(0.0, 0.5) * m, 0, w - 1))
        y0 = int(np.clip(y - rng.uniform(0.0, 0.3) * m, 0, h - 1))
        x1 = int(np.clip(x + ew + rng.uniform(0.0, 0.5) * m, x0 + 2, w))
        y1 = int(np.clip(y + eh + rng.uniform(0.0, 0.3) * m, y0 + 2, h))
    else:
        x0, x1 = int(rng.uniform(0, 0.06) * w), w - int(rng.uniform(0, 0.06) * w)
        y0, y1 = int(rng.uniform(0, 0.1) * h), h - int(rng.uniform(0, 0.1) * h)
    crop = gray[y0:y1, x0:x1].astype(np.float32)
    ch, cw = crop.shape
    c = (cw / 2, ch / 2)
    rot = cv2.getRotationMatrix2D(c, rng.uniform(-3, 3), 1.0)
    shear = rng.uniform(-0.15, 0.15)
    m = np.vstack([rot, [0, 0, 1]]) @ np.array([[rng.uniform(0.85, 1.15), shear, -shear * c[1]], [0, 1, 0], [0, 0, 1]])
    crop = cv2.warpAffine(crop, m[:2], (cw, ch), borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.3:
        crop = 255 - crop
    crop = crop * rng.uniform(0.5, 1.2) + rng.uniform(-40, 40)
    scale = rng.uniform(0.3, 1.0)  # seen smaller by the camera
    if scale < 0.9 and ch * scale >= 8:
        crop = cv2.resize(crop, (max(2, int(cw * scale)), max(2, int(ch * scale))), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.4:
        crop = cv2.GaussianBlur(crop, (0, 0), rng.uniform(0.4, 1.2))
    crop = crop + rng.normal(0, rng.uniform(0, 8), crop.shape)
    return np.clip(crop, 0, 255).astype(np.uint8)


WARP_SMOOTHNESS = 0.12  # of the line's height: the displacement field's blur, bending strokes rather than pixels
WARP_AMPLITUDE = (0.02, 0.07)  # of the line's height: up to ~3.5 px on a 53 px cheque line


def restroke(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same dark-ink handwriting as another hand might draw it: strokes bent by a smooth
    random displacement field, and drawn thinner or thicker."""
    h, w = gray.shape
    sigma = max(1.0, WARP_SMOOTHNESS * h)
    amplitude = rng.uniform(*WARP_AMPLITUDE) * h
    field = []
    for _ in range(2):
        d = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
        field.append(d * (amplitude / max(float(np.abs(d).max()), 1e-6)))
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = cv2.remap(gray, xs + field[0], ys + field[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    stroke = rng.random()
    if stroke < 0.3:  # thicker: dark ink spreads under a grey erosion
        out = cv2.erode(out, np.ones((2, 2) if rng.random() < 0.6 else (3, 3), np.uint8))
    elif stroke < 0.55:  # thinner
        out = cv2.dilate(out, np.ones((2, 2), np.uint8))
    return out


CLEAN_CUT = 0.25  # a cut between two digits crosses at most this share of the most inked column's ink


def digit_pieces(line: RealLine) -> tuple[list[int], list[str]] | None:
    """Where a handwritten line can be cut apart: the first digit's left edge, the least-inked
    column between neighbours that do not touch there, the last one's right edge; and the
    digits of each piece (touching digits stay together)."""
    if not line.boxes or line.extent is None or "".join(str(b[4]) for b in line.boxes) != line.text:
        return None
    _, y, _, h = line.extent
    band = line.gray[max(0, y):y + h].astype(np.float32)
    ink = np.clip(np.percentile(band, 80) - band, 0, None).sum(axis=0)
    width = line.gray.shape[1]
    cuts, texts = [max(0, line.boxes[0][0])], [str(line.boxes[0][4])]
    for a, b in zip(line.boxes, line.boxes[1:]):
        lo, hi = sorted((a[0] + a[2], b[0]))
        lo, hi = max(lo, a[0] + a[2] // 2, cuts[-1] + 2), min(hi, b[0] + b[2] // 2, width - 1)
        cut = lo + int(np.argmin(ink[lo:hi + 1])) if hi >= lo else -1
        if cut < 0 or ink[cut] > CLEAN_CUT * ink.max():
            texts[-1] += str(b[4])
            continue
        cuts.append(cut)
        texts.append(str(b[4]))
    cuts.append(min(width, line.boxes[-1][0] + line.boxes[-1][2]))
    if len(texts) < 2 or cuts[-1] - cuts[-2] < 2:
        return None
    return cuts, texts


def spliced_line(line: RealLine, rng: np.random.Generator) -> tuple[np.ndarray, str, tuple] | None:
    """New digits in the same hand: the line's pieces (digit_pieces) drawn at random, about as
    many digits as the line has and the last ones often zeros, between the line's own margins.
    The real lines are few (730); this varies their strings, not only their pixels."""
    found = digit_pieces(line)
    if found is None:
        return None
    cuts, texts = found
    target = int(np.clip(len(line.text) + rng.integers(-2, 3), 1, 9))
    zeros = [k for k, t in enumerate(texts) if set(t) == {"0"}]
    order, count = [], 0
    while count < target:
        k = int(rng.integers(len(texts)))
        if zeros and count >= target - 3 and rng.random() < 0.7:
            k = zeros[int(rng.integers(len(zeros)))]
        order.append(k)
        count += len(texts[k])
    gray, (_, y, _, h) = line.gray, line.extent
    parts = [gray[:, :cuts[0]]] + [gray[:, cuts[k]:cuts[k + 1]] for k in order] + [gray[:, cuts[-1]:]]
    middle = sum(cuts[k + 1] - cuts[k] for k in order)
    return np.hstack(parts), "".join(texts[k] for k in order), (cuts[0], y, middle, h)


def meter_strip(digits: list[RealLine], rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Real wheels of one device side by side: a counter line."""
    height = max(d.gray.shape[0] for d in digits)
    parts = [cv2.resize(d.gray, (max(2, int(d.gray.shape[1] * height / d.gray.shape[0])), height)) for d in digits]
    return np.hstack(parts), "".join(d.text for d in digits)


WHOLE_PLATE_SHARE = 0.25  # plate copies cut loosely (the whole crop, as an ROI gives it); the rest around the line


def detected_extent(gray: np.ndarray, detector) -> tuple[int, int, int, int] | None:
    """The tallest line the detector finds in a crop, as (x, y, w, h): where a plate's characters
    are, so that its training copies are cut as the app cuts them (plate crops carry no boxes)."""
    lines = detector.detect(gray) if detector is not None else []
    return max((ln.box for ln in lines), key=lambda b: b[3], default=None)


APP_CUT_COVER = 0.8  # of the amount's width, in the detector's line: else the app reads it as pieces
DIGIT_IN_CUT = 0.75  # of each labelled digit's width, inside the cut: else the cut drops a digit


def app_cut(line: RealLine, detector) -> np.ndarray | None:
    """An orand amount as the app cuts it: the detector's line over the digits' extent,
    straightened with the app's margin; None when no one line holds every labelled digit."""
    from edge.detect import cut_line
    from edge.line_reader import LINE_MARGIN
    if line.extent is None or not line.boxes:
        return None
    x, y, w, h = line.extent

    def width_share(box):  # of the extent's width inside the box, if it overlaps over half its height
        bx, by, bw, bh = box
        dx = max(0, min(x + w, bx + bw) - max(x, bx))
        dy = max(0, min(y + h, by + bh) - max(y, by))
        return dx / max(w, 1) if dy > h / 2 else 0.0
    best = max(detector.detect(line.gray), key=lambda ln: width_share(ln.box), default=None)
    if best is None or width_share(best.box) < APP_CUT_COVER:
        return None
    bx, by, bw, bh = best.box
    m = LINE_MARGIN * best.height  # the cut's margin around the line
    x0, x1 = bx - m, bx + bw + m
    if not all(min(x1, dx + dw) - max(x0, dx) >= DIGIT_IN_CUT * dw and by - m <= dy + dh / 2 <= by + bh + m
               for dx, dy, dw, dh, _ in line.boxes):  # a thin leading 1 left out: the label would lie
        return None
    return cut_line(line.gray, best, LINE_MARGIN)


def training_lines(rng: np.random.Generator, orand_copies: int = 16, plate_copies: int = 8,
                   meter_copies: int = 1, meter_strips: int = 4000, split: str = "train", detector=None,
                   orand_splices: int = 0, orand_warp: float = 0.0, orand_cut: float = 0.0):
    """Normalized real lines of one split, jittered copies of each: (lines, texts, kinds).
    `detector` (edge.detect.TextDetector): plates are cut around its line, as the app does.
    `orand_splices`: spliced lines (spliced_line) per orand line, besides its copies.
    `orand_warp`: the share of orand copies restroked (restroke) before their jitter.
    `orand_cut`: the share of orand copies cut as the app cuts them (app_cut; needs `detector`)."""
    if orand_cut and detector is None:
        raise ValueError("orand_cut needs a detector")
    lines, texts, kinds = [], [], []

    def add(gray, text, kind):
        lines.append(normalize_line(gray))
        texts.append(text)
        kinds.append(kind)

    for line in orand_lines(split):
        cut = app_cut(line, detector) if orand_cut else None
        for _ in range(orand_copies):
            if cut is not None and rng.random() < orand_cut:
                # the whole cut as the text's extent: its margins fall outside, so only pose and light change
                add(jitter(cut, rng, (0, 0, cut.shape[1], cut.shape[0])), line.text, "orand_cut")
                continue
            gray = restroke(line.gray, rng) if orand_warp and rng.random() < orand_warp else line.gray
            add(jitter(gray, rng, line.extent), line.text, "orand")
        for _ in range(orand_splices):
            spliced = spliced_line(line, rng)
            if spliced is not None:
                add(jitter(spliced[0], rng, spliced[2]), spliced[1], "orand_splice")
    for line in plate_lines(split):
        extent = detected_extent(line.gray, detector) if plate_copies else None
        for _ in range(plate_copies):
            loose = extent is None or rng.random() < WHOLE_PLATE_SHARE
            add(jitter(line.gray, rng, None if loose else extent), line.text, "plate")
    meters = meter_digits(split)
    for line in meters:
        for _ in range(meter_copies):
            add(jitter(line.gray, rng), line.text, "meter")
    by_device: dict[str, list[RealLine]] = {}
    for line in meters:
        by_device.setdefault(line.key, []).append(line)
    devices = sorted(by_device)
    for _ in range(meter_strips if devices else 0):
        pool = by_device[devices[int(rng.integers(len(devices)))]]
        picks = [pool[i] for i in rng.integers(len(pool), size=int(rng.integers(2, 8)))]
        gray, text = meter_strip(picks, rng)
        add(jitter(gray, rng), text, "meter_strip")
    return lines, texts, kinds
