"""Find digit-sized blobs of ink in a frame (pure functions on numpy images).

Local (adaptive) thresholding against a box-filtered mean copes with uneven light; it
runs for dark-on-light and light-on-dark ink. Connected components are filtered on
size and ink density, broken strokes (and seven-segment digits) are merged, touching
digits are split at the thinnest columns, and the candidate count is capped.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from edge.boxes import largest
from edge.normalize import as_gray_u8, halve
from edge.types import Digits


@dataclass(frozen=True)
class SegmentParams:
    min_height: int = 10  # pixels, in the full frame
    max_height: float = 1.0  # fraction of the frame (or ROI) height
    max_single_aspect: float = 1.0  # w/h above this may be several touching digits
    # Dark blobs from min_pair_aspect to max_single_aspect heights wide with thin ink (fill
    # under narrow_pair_fill) are also cut in two: two narrow handwritten digits joined ("89").
    # Most such blobs are one digit, so the cut counts only where the model does not read the
    # whole as a digit (edge.pipeline.resolve_splits). That is why the fill limit can be looser
    # than split_counts' 0.3 for blobs 1-1.2 heights wide, whose cut competes with the whole.
    min_pair_aspect: float = 0.6
    narrow_pair_fill: float = 0.4
    max_aspect: float = 5.0  # w/h above this is not digits at all (a run of flat written zeros reaches 5)
    min_fill: float = 0.08  # ink pixels / box area
    max_fill: float = 0.9  # solid blocks and paper between lines are not digits (solid bars may be a '1')
    contrast: float = 0.13  # dark ink: at least this share darker than the local mean
    # (light ink: this share of the way from the local mean to white); light falls off as a
    # ratio, so a relative margin holds in shadow and in glare alike
    min_offset: int = 6  # and always at least this many grey levels
    block: int = 0  # local mean window; 0 = analysed height / 12
    polarity: str = "both"  # "dark" (ink on paper), "light" (displays, plates), or "both"
    max_regions: int = 64  # hard cap on candidates per frame
    max_parts: int = 300  # components considered for merging (largest first)
    max_width: int = 480  # wider frames are analysed halved until they fit (crops come from full size)
    roi: tuple[int, int, int, int] | None = None  # x, y, w, h

    def __post_init__(self):
        if self.polarity not in ("dark", "light", "both"):
            raise ValueError(f"polarity must be 'dark', 'light' or 'both', not {self.polarity!r}")


def ink_masks(gray: np.ndarray, params: SegmentParams) -> dict[bool, np.ndarray]:
    """{dark_ink: binary mask} for the polarities asked for."""
    block = params.block or max(15, (min(gray.shape) // 12) | 1)
    mean = cv2.blur(gray, (block, block))
    k = params.contrast
    # Long horizontal lines (underlines, rules, table and grid lines) glue digits together:
    # an opening with a kernel longer than any digit stroke finds them, and they are cut out.
    line_length = max(40, gray.shape[1] // 5)
    line = cv2.getStructuringElement(cv2.MORPH_RECT, (line_length, 1))
    masks = {}
    if params.polarity in ("dark", "both"):  # gray < mean - max(k * mean, min_offset)
        limit = cv2.subtract(mean, cv2.max(cv2.convertScaleAbs(mean, alpha=k), params.min_offset))
        masks[True] = cv2.compare(gray, limit, cv2.CMP_LT)
    if params.polarity in ("light", "both"):  # gray > mean + max(k * (255 - mean), min_offset)
        limit = cv2.add(mean, cv2.max(cv2.convertScaleAbs(cv2.bitwise_not(mean), alpha=k), params.min_offset))
        masks[False] = cv2.compare(gray, limit, cv2.CMP_GT)
    for mask in masks.values():
        # The kernel is one row high, so only rows with that much ink need it (at an image
        # edge, half that: a line leaving the frame counts), often a third of them or fewer.
        rows = np.flatnonzero(cv2.reduce(mask, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
                              >= 255 * min(line_length // 2, mask.shape[1]))
        if len(rows):
            band = mask[rows]
            mask[rows] = cv2.subtract(band, cv2.morphologyEx(band, cv2.MORPH_OPEN, line))
    return masks


def components(link: np.ndarray) -> np.ndarray:
    """Connected components of a symmetric boolean adjacency matrix (diagonal set): each
    node's label is the lowest index in its component. Min-label propagation with pointer
    jumping: a few vectorized rounds instead of a Python flood fill."""
    n = len(link)
    label = np.arange(n)
    while True:
        new = np.where(link, label[None, :], n).min(axis=1)
        new = np.minimum(new, new[new])
        if np.array_equal(new, label):
            return label
        label = new


def _merge_broken(stats: np.ndarray) -> np.ndarray:
    """Union the parts of one digit: parts stacked with a small gap (broken strokes, the
    upper and lower segments of a seven-segment digit), and short horizontal parts beside
    the end of a tall one (the top bar of a '5', the a/d/g segments). Two tall strokes side
    by side never join ('11' stays two digits). stats rows: x, y, w, h, area."""
    n = len(stats)
    if n < 2:
        return stats
    x, y, w, h = (stats[:, i].astype(np.float32) for i in range(4))
    x1, y1 = x + w, y + h
    overlap_x = np.minimum(x1[:, None], x1) - np.maximum(x[:, None], x)
    gap_y = np.maximum(y[:, None], y) - np.minimum(y1[:, None], y1)
    merged_h = np.maximum(y1[:, None], y1) - np.minimum(y[:, None], y)
    merged_w = np.maximum(x1[:, None], x1) - np.minimum(x[:, None], x)
    bar = w >= 2.5 * h
    shorter_is_bar = np.where(h[:, None] <= h, bar[:, None], bar[None, :])
    stacked = ((overlap_x >= 0.5 * np.minimum(w[:, None], w)) & (gap_y <= 0.25 * np.maximum(h[:, None], h))
               & (merged_w <= 1.2 * merged_h)
               # parts of about one size (halves of a digit), or a bar on top of / below a stroke;
               # not a whole digit and the end of a table line it touches
               & ((merged_h <= 3.2 * np.minimum(h[:, None], h)) | shorter_is_bar))
    # bar i (a segment: long and thin) beside stroke j (tall and thin), within its height, across a gap of a stroke or so
    centre_y = y + h / 2
    beside = (bar[:, None] & (h[None, :] >= 2.5 * w[None, :]) & (h[None, :] > 2 * h[:, None])
              & (-overlap_x <= 0.15 * h[None, :]) & (centre_y[:, None] >= y[None, :] - 0.1 * h[None, :])
              & (centre_y[:, None] <= y1[None, :] + 0.1 * h[None, :]) & (merged_w <= 1.2 * merged_h))
    link = stacked | beside | beside.T
    np.fill_diagonal(link, True)
    if np.count_nonzero(link) == n:  # only the diagonal
        return stats
    label = components(link)
    roots = label == np.arange(n)  # each component is labelled by its lowest member
    inverse = (np.cumsum(roots) - 1)[label]  # np.unique(return_inverse) costs 10x more here
    groups = np.flatnonzero(roots)
    out = np.zeros((len(groups), 5), np.int64)
    x0 = np.full(len(groups), np.iinfo(np.int64).max)
    y0 = x0.copy()
    xe = np.zeros(len(groups), np.int64)
    ye = xe.copy()
    np.minimum.at(x0, inverse, stats[:, 0])
    np.minimum.at(y0, inverse, stats[:, 1])
    np.maximum.at(xe, inverse, stats[:, 0] + stats[:, 2])
    np.maximum.at(ye, inverse, stats[:, 1] + stats[:, 3])
    np.add.at(out[:, 4], inverse, stats[:, 4])
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = x0, y0, xe - x0, ye - y0
    return out


def split_counts(box, fill: float = 0.0, digit_aspect: float = 0.8, max_pair_fill: float = 0.3,
                 wide_aspect: float = 1.5, narrow_aspect: float = 0.5) -> list[int]:
    """Ways to cut a wide box, likeliest first: into about w / (digit_aspect * h) pieces,
    then one fewer and one more, as handwriting varies in width (0.8: handwritten zeros are
    wide), then into w / (wide_aspect * h) pieces: a run of flat zeros ("44000"), each up
    to twice as wide as high, then into w / (narrow_aspect * h): narrow handwriting ("6808"),
    digits half as wide as high. A box under 1.2 heights wide is cut in two only when its ink
    is thin (`fill`, ink pixels over box area, below `max_pair_fill`): two narrow
    handwritten digits, such as "17", are that wide, but so are one bold digit, a hole or
    a patch of a display."""
    _, _, w, h = box
    k = int(round(w / (digit_aspect * h)))
    if k < 2:
        return [2] if fill < max_pair_fill else []
    counts = [n for n in (k, k - 1, k + 1) if 2 <= n <= 8]
    for n in (round(w / (wide_aspect * h)), round(w / (narrow_aspect * h))):
        if 2 <= n <= 8 and n not in counts:
            counts.append(n)
    return counts


EVEN_RANK = 8  # more than the ways split_counts gives a blob
NARROW_RANK = 2 * EVEN_RANK  # the cuts of narrow blobs come after every other way


def split_touching(box, mask: np.ndarray, counts: list[int], even_too: bool = True,
                   tolerance: float = 0.15) -> list[tuple[int, list]]:
    """Cut a box into k pieces for each k of `counts`, at the columns with the least ink
    near the k-1 even divisions; each piece's box is trimmed to the rows its ink spans.
    With `even_too`, for counts no larger than the likeliest (the first), also at the
    even divisions themselves wherever a least-ink cut strays from them by more than
    `tolerance` of a piece, onto a column with less ink: touching round digits ("000",
    "88") have the least ink in their middles, not where they touch, and are wider than
    most. Those ways rank after the least-ink ways of every blob (EVEN_RANK).
    Returns (rank, piece boxes) for each way that gave more than one piece."""
    x, y, w, h = box
    ink = mask[y:y + h, x:x + w]
    profile = np.count_nonzero(ink, axis=0)
    plans = []
    for rank, k in enumerate(counts):
        cuts, start = [], 0
        for i in range(1, k):
            centre = int(w * i / k)
            lo, hi = max(start + 1, centre - w // (3 * k)), min(w - 1, centre + w // (3 * k))
            if hi <= lo:
                continue
            cut = lo + int(np.argmin(profile[lo:hi]))
            cuts.append(cut)
            start = cut
        plans.append((rank, cuts))
        if even_too and k <= counts[0] and len(cuts) == k - 1:
            even = [int(w * i / k) for i in range(1, k)]
            # (a thin bridge has many least-ink columns: an even cut on it is the same way)
            if any(abs(e - c) > tolerance * w / k and profile[e] > profile[c] for e, c in zip(even, cuts)):
                plans.append((EVEN_RANK + rank, even))
    ways = []
    for rank, cuts in plans:
        edges = [0] + cuts + [w]
        pieces = []
        for a, b in zip(edges[:-1], edges[1:]):
            rows = np.flatnonzero(ink[:, a:b].any(axis=1))
            if b - a > 1 and len(rows):  # each piece as tall as its own ink
                pieces.append((x + a, y + int(rows[0]), b - a, int(rows[-1] - rows[0] + 1)))
        if len(pieces) > 1:
            ways.append((rank, pieces))
    return ways


def lit_against_dark(gray: np.ndarray, mask: np.ndarray, boxes: np.ndarray, ratio: float = 0.4) -> np.ndarray:
    """Light ink (an LED or LCD digit, chalk, a plate's letters) glows against a dark
    surround: its mean brightness beats the ring around its box by `ratio` of itself.
    Paper showing between dark strokes does not. Integral images: O(1) per box."""
    H, W = gray.shape
    sum_gray = cv2.integral(gray, sdepth=cv2.CV_32S)  # int32 holds up to 8k x 1k x 255
    sum_ink = cv2.integral(cv2.bitwise_and(gray, mask), sdepth=cv2.CV_32S)
    count_ink = cv2.integral(mask, sdepth=cv2.CV_32S)  # 255 per ink pixel
    x, y, w, h = (boxes[:, i] for i in range(4))
    m = (0.15 * np.maximum(w, h)).astype(np.int64) + 1
    ox0, oy0 = np.maximum(x - m, 0), np.maximum(y - m, 0)
    ox1, oy1 = np.minimum(x + w + m, W), np.minimum(y + h + m, H)

    def box_sum(table, x0, y0, x1, y1):
        t = lambda r, c: table[r, c].astype(np.int64)  # noqa: E731 - gather, then widen
        return t(y1, x1) - t(y0, x1) - t(y1, x0) + t(y0, x0)

    inner = box_sum(sum_gray, x, y, x + w, y + h)
    ring_area = np.maximum((ox1 - ox0) * (oy1 - oy0) - w * h, 1)
    ring_mean = (box_sum(sum_gray, ox0, oy0, ox1, oy1) - inner) / ring_area
    ink_mean = box_sum(sum_ink, x, y, x + w, y + h) / np.maximum(box_sum(count_ink, x, y, x + w, y + h) / 255, 1)
    return ink_mean - ring_mean > ratio * ink_mean


def _candidates(gray: np.ndarray, mask: np.ndarray, dark: bool, params: SegmentParams,
                min_h: float, max_h: float) -> np.ndarray:
    """Rows x, y, w, h, area of digit-like (merged) components of one mask."""
    # BBDT explicitly: OpenCV's default labelling spends ~1.5 ms more per frame on the stats
    _, _, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_BBDT)
    stats = stats[1:].astype(np.int64)
    # Parts worth merging: not specks, not page-sized.
    keep = (stats[:, 4] >= 6) & (stats[:, 3] >= 2) & (stats[:, 3] <= max_h) & (stats[:, 2] <= max_h * params.max_aspect)
    if not dark:  # bright paper between dark things is not light ink; drop it before it merges
        keep[keep] = lit_against_dark(gray, mask, stats[keep])
    parts = stats[keep]
    if len(parts) > params.max_parts:
        parts = parts[np.argsort(-parts[:, 4], kind="stable")[:params.max_parts]]
    merged = _merge_broken(parts)
    x, y, w, h, area = (merged[:, i] for i in range(5))
    fill = area / np.maximum(w * h, 1)
    thin = w * 2.5 < h  # a '1' can be a solid bar
    ok = ((h >= min_h) & (h <= max_h) & (w <= params.max_aspect * h) & (w * 25 >= h) & (w >= 2)
          & (fill >= params.min_fill) & ((fill <= params.max_fill) | thin))
    merged = merged[ok]
    # A thin tall stroke is a '1' only with a digit of about its height beside it on its
    # line; alone it is a line (a grid, a frame, the edge of something).
    thin = is_stroke(merged[:, 2], merged[:, 3])
    if thin.any():
        merged = merged[~thin | has_digit_beside(merged, thin)]
    return merged


def is_stroke(w, h) -> np.ndarray:
    """Boxes under a third of their height wide: a '1', or a line."""
    return np.asarray(w) * 3 < np.asarray(h)


def has_digit_beside(boxes: np.ndarray, thin: np.ndarray, dark_ink: np.ndarray | None = None,
                     rows: np.ndarray | None = None) -> np.ndarray:
    """For each box (or each of `rows`): is there a box not marked `thin` (a stroke) of about
    its height (0.8-1.3x) on its line (centres within 0.2 of its height), close by (centres
    within 1.6 heights) and, given `dark_ink`, in the same ink?"""
    x, y, w, h = boxes[:, :4].astype(np.float32).T
    r = slice(None) if rows is None else rows
    cx, cy = x + w / 2, y + h / 2
    near = ((np.abs(cy[None, :] - cy[r, None]) < 0.2 * h[r, None]) & (np.abs(cx[None, :] - cx[r, None]) < 1.6 * h[r, None])
            & (h[None, :] >= 0.8 * h[r, None]) & (h[None, :] <= 1.3 * h[r, None]) & ~thin[None, :])
    if dark_ink is not None:
        near &= dark_ink[None, :] == dark_ink[r, None]
    return near.any(axis=1)


def segment(image: np.ndarray, params: SegmentParams = SegmentParams(),
            with_mask: bool = True) -> tuple[Digits, np.ndarray | None]:
    """Frame -> (digit candidates, the binary ink mask at frame size for the debug view,
    or None without `with_mask`: scaling it up costs ~0.2 ms a frame).

    A wide component that may be several touching digits is returned whole *and* cut into
    pieces in a few ways (the pieces' `parent` is the whole one's index, `cut` tells the ways
    apart), and so is a narrow one of thin dark ink, in two (`min_pair_aspect`); the
    classifier decides which reading is best (edge.pipeline.resolve_splits)."""
    gray = as_gray_u8(image)
    full = np.zeros(gray.shape, np.uint8) if with_mask else None
    ox = oy = 0
    if params.roi is not None:
        x, y, w, h = params.roi
        ox, oy = max(0, x), max(0, y)
        gray = gray[oy:max(oy, y + h), ox:max(ox, x + w)]
    if gray.shape[0] < params.min_height or gray.shape[1] < 2:
        return Digits(), full
    # Analysed at 1/scale size: halved while that stays at or above the target, then one
    # linear step (a 1/4 size would lose small digits at 720p).
    scale = max(1, -(-gray.shape[1] // params.max_width))
    target = (max(1, gray.shape[1] // scale), max(1, gray.shape[0] // scale))
    small = gray
    while small.shape[1] >= 2 * target[0] and small.shape[0] >= 2 * target[1]:
        small = halve(small)
    if small.shape[::-1] != target:
        small = cv2.resize(small, target, interpolation=cv2.INTER_LINEAR)
    min_h = params.min_height / scale
    # a number cut out of a page may be all digit; in a camera view a frame-tall blob is an edge
    max_h = max(min_h, params.max_height * small.shape[0] * (1.0 if gray.shape[0] < 200 else 0.8))
    wholes, pieces = [], []  # (x, y, w, h, dark)
    masks = ink_masks(small, params)
    if with_mask:
        both = functools.reduce(cv2.bitwise_or, masks.values())
        region = full[oy:oy + gray.shape[0], ox:ox + gray.shape[1]]
        region[...] = cv2.resize(both, region.shape[::-1], interpolation=cv2.INTER_NEAREST) if scale > 1 else both
    for dark, mask in masks.items():
        for row in _candidates(small, mask, dark, params, min_h, max_h):
            box = tuple(int(v) for v in row[:4])
            wholes.append((*box, dark))
            if box[2] > params.max_single_aspect * box[3]:
                counts = split_counts(box, int(row[4]) / (box[2] * box[3]))
                # even cuts for dark ink only: handwriting runs; light blobs in a
                # page are paper between strokes, and would only cost time
                for rank, parts in split_touching(box, mask, counts, even_too=dark):
                    pieces.append((rank, len(wholes) - 1, parts))
            elif (dark and box[2] >= params.min_pair_aspect * box[3]
                  and row[4] < params.narrow_pair_fill * box[2] * box[3]):
                for _, parts in split_touching(box, mask, [2], even_too=False):
                    pieces.append((NARROW_RANK, len(wholes) - 1, parts))
    if not wholes:
        return Digits(), full
    order = largest([whole[:4] for whole in wholes], params.max_regions)
    new_index = {int(old): i for i, old in enumerate(order)}
    rows = [wholes[i] for i in order]
    parent, cut = [-1] * len(rows), [-1] * len(rows)
    pieces.sort(key=lambda p: p[0])  # under the cap: every blob's likeliest cut before any other
    for i, (_, whole, parts) in enumerate(pieces):
        if whole in new_index and len(rows) + len(parts) <= params.max_regions:
            rows += [(*p, wholes[whole][4]) for p in parts]
            parent += [new_index[whole]] * len(parts)
            cut += [i] * len(parts)
    boxes = np.array([r[:4] for r in rows], np.int32) * scale
    boxes[:, 0] += ox
    boxes[:, 1] += oy
    return Digits(boxes, np.array([r[4] for r in rows], bool), parent=np.array(parent, np.int32),
                  cut=np.array(cut, np.int16)), full


def crops_for(gray: np.ndarray, digits: Digits, margin: float = 0.15) -> list[np.ndarray]:
    """Cut each candidate out of the grey frame with a margin, as the model was trained."""
    H, W = gray.shape[:2]
    out = []
    for x, y, w, h in digits.boxes:
        m = int(round(margin * max(w, h))) + 1
        out.append(gray[max(0, y - m):min(H, y + h + m), max(0, x - m):min(W, x + w + m)])
    return out
