"""One frame through every stage: segment -> normalize -> classify -> group -> track."""
from __future__ import annotations

import time

import numpy as np

from edge.boxes import cover_matrix, largest, side_by_side
from edge.group import GroupParams, group_numbers
from edge.infer import DigitClassifier
from edge.infer.classifier import NOT_A_DIGIT
from edge.normalize import as_gray_u8, normalize_batch
from edge.segment import SegmentParams, crops_for, has_digit_beside, is_stroke, segment
from edge.track import Tracker
from edge.types import Digits, Frame, FrameResult

SURE = 0.9  # a sure reading: a piece needs it to win a cut; a digit under it gets a second look


def resolve_splits(digits: Digits, sure: float = SURE, max_single_aspect: float = 1.0) -> np.ndarray:
    """For each wide candidate that was also cut into pieces (in one or more ways), keep
    the reading the classifier is surest of: a way of cutting scores the confidence of its
    least sure piece, if all its pieces are digits; the whole scores its own, if a digit.
    Ties and all-rejected go to the whole. When the whole is "not a digit" (touching digits
    that no way cut cleanly, as in a run of zeros), the way with the largest share of
    pieces read as digits at `sure` or more, at least half, keeps those pieces.
    A narrow candidate (at most `max_single_aspect` of its height wide) is one digit unless
    the model does not read it as one (not a digit, or unsure) and reads every piece of its
    cut as a digit at `sure`.
    Returns a keep mask (rejected ones included)."""
    keep = np.ones(len(digits), bool)
    is_piece = digits.parent >= 0
    keep[is_piece] = False
    for whole in set(digits.parent[is_piece].tolist()):
        if digits.boxes[whole][2] <= max_single_aspect * digits.boxes[whole][3]:
            pieces = np.flatnonzero(digits.parent == whole)
            if (digits.labels[whole] < 0 and (digits.labels[pieces] >= 0).all()
                    and digits.confidence[pieces].min() >= sure):
                keep[whole] = False
                keep[pieces] = True
            continue
        best_score = float(digits.confidence[whole]) if digits.labels[whole] >= 0 else 0.0
        best, partial, partial_share = None, None, 0.0
        for cut in set(digits.cut[digits.parent == whole].tolist()):
            pieces = np.flatnonzero((digits.parent == whole) & (digits.cut == cut))
            if (digits.labels[pieces] >= 0).all():
                if digits.confidence[pieces].min() > best_score:
                    best_score, best = float(digits.confidence[pieces].min()), pieces
                continue
            good = pieces[(digits.labels[pieces] >= 0) & (digits.confidence[pieces] >= sure)]
            share = len(good) / len(pieces)
            if share >= 0.5 and share > partial_share:
                partial, partial_share = good, share
        if best is None and digits.labels[whole] == NOT_A_DIGIT:
            best = partial
        if best is not None:
            keep[whole] = False
            keep[best] = True
    return keep


def second_look(gray: np.ndarray, candidates: Digits, probabilities: np.ndarray, classifier: DigitClassifier,
                below: float = SURE, margins: tuple[float, ...] = (0.0, 0.3), most: int = 16) -> np.ndarray:
    """A second reading of unsure digits. Candidates in dark ink read as a digit with under
    `below` confidence are cut from the frame again, with no margin (1 px) and with a wide one
    (the first cut has 0.15 of the box), and the three readings are combined by their
    geometric mean, renormalized: a digit must be likely in every cut, and a class one cut
    gives no probability at all (an int8 zero, floored at 1e-6) is all but ruled out. Either
    cut alone helps handwriting or print and not the other; together they help both, and the
    geometric mean more than the plain mean (README "Measured").
    Light ink is left alone: on a display's lit digits the wide cut takes in the panel's edge
    and the neighbours' segments. Pieces of a whole read surely as a digit are not looked at
    again: to win (`resolve_splits`, with the same `SURE`) every piece would have to beat a
    whole that is already sure; looking at them too measured level (README "Measured"). At most `most`
    candidates, the largest, are looked at again, so clutter cannot blow up a frame's time.
    Returns `probabilities` with the rows looked at again replaced."""
    top = probabilities.argmax(axis=1)
    sure = probabilities.max(axis=1) >= below
    piece = candidates.parent >= 0
    settled = np.zeros(len(top), bool)  # pieces of a whole read as a digit surely
    settled[piece] = sure[candidates.parent[piece]] & (top[candidates.parent[piece]] != classifier.reject_class)
    unsure = np.flatnonzero(~sure & (top != classifier.reject_class) & ~settled & candidates.dark_ink)
    if not len(unsure):
        return probabilities
    unsure = np.sort(unsure[largest(candidates.boxes[unsure], most)])
    again = candidates.take(unsure)
    crops = [crop for margin in margins for crop in crops_for(gray, again, margin)]  # margin by margin
    extra = classifier.probabilities(normalize_batch(crops, np.tile(again.dark_ink, len(margins))))
    readings = np.concatenate([probabilities[unsure][None], extra.reshape(len(margins), len(unsure), -1)])
    geometric_mean = np.exp(np.log(np.maximum(readings, 1e-6)).mean(axis=0))
    out = probabilities.copy()
    out[unsure] = geometric_mean / geometric_mean.sum(axis=1, keepdims=True)
    return out


def inside_words(candidates: Digits, digits: np.ndarray | None = None, lookalikes=(0, 1, 5),
                 max_gap: float = 0.35) -> np.ndarray:
    """Letters read as digits: an 'o', 'O' or 'D' is a fine 0, an 'l' or 'I' a fine 1, an 'S' a 5,
    but inside a word they have a letter (a candidate the model calls "not a digit") right
    beside them on their line, at about their height, and no digit beside them: the 0 of
    "10kg" has the 1, the o of "Sudoku" has only letters. `digits` masks the candidates
    that count as digits (default: all with a digit label). Returns a mask of such letters."""
    suspect = np.zeros(len(candidates), bool)
    for digit in lookalikes:  # np.isin costs more on a few dozen labels
        suspect |= candidates.labels == digit
    counted = candidates.labels >= 0 if digits is None else digits
    letter = candidates.labels == NOT_A_DIGIT
    letter[candidates.parent[(candidates.parent >= 0) & counted]] = False  # a blob read as cut digits is no letter
    letter[candidates.parent >= 0] = False
    out = np.zeros(len(candidates), bool)
    if not suspect.any() or not letter.any():
        return out
    digit = counted.copy()
    d = np.flatnonzero(suspect)
    geometry = side_by_side(candidates.boxes)
    near_letter = _beside(candidates, geometry, d, np.flatnonzero(letter), max_gap).any(axis=1)
    digit[d[near_letter]] = False  # a lookalike beside a letter vouches for nobody ("book")
    out[d] = near_letter & ~_beside(candidates, geometry, d, np.flatnonzero(digit), max_gap).any(axis=1)
    return out


def _beside(candidates: Digits, geometry, d: np.ndarray, t: np.ndarray, max_gap: float) -> np.ndarray:
    """[i, j]: candidate t[j] is on d[i]'s line, in the same ink, at about its height,
    within max_gap of its height to the left or right. `geometry`: side_by_side(boxes)."""
    _, h, overlap_y, gap = geometry
    overlap_y, gap = overlap_y[np.ix_(d, t)], gap[np.ix_(d, t)]
    same_ink = candidates.dark_ink[d, None] == candidates.dark_ink[t]  # a word is written in one ink
    return (same_ink & (overlap_y >= 0.6 * np.minimum(h[d, None], h[t])) & (h[t] >= 0.6 * h[d, None])
            & (h[t] <= 1.6 * h[d, None]) & (gap <= max_gap * h[d, None]) & (gap >= 0))


def lone_strokes(candidates: Digits, digits: np.ndarray) -> np.ndarray:
    """Whole strokes (a '1', or a line: under a third of their height wide) among the
    candidates that count as digits (`digits`, a mask), with no digit beside them that is not
    a stroke, of about their height (0.8-1.3x), on their line and in the same ink. Segmentation
    asks the same of every stroke before reading, where any such blob would do: the edge of a
    sheet of paper in a camera view passed beside another edge the model reads as "not a
    digit". Pieces cut from a blob are left alone (a touching "11" cut in two is two strokes
    that vouch for nobody). Returns a mask of such strokes."""
    stroke = is_stroke(candidates.boxes[:, 2], candidates.boxes[:, 3])
    lone = stroke & digits & (candidates.parent < 0)
    rows = np.flatnonzero(lone)
    if len(rows):
        lone[rows] = ~has_digit_beside(candidates.boxes, stroke | ~digits, candidates.dark_ink, rows)
    return lone


def suppress_overlaps(digits: Digits, max_cover: float = 0.7, max_cover_across: float = 0.25) -> Digits:
    """Of digits whose boxes cover each other by more than `max_cover` of the smaller box
    (a '0' and its hole, a digit and the paper around it in the other polarity), keep
    the most confident. A dark and a light digit that cover each other by more than
    `max_cover_across` are a digit and the space beside its strokes (the dark panel
    around a display's lit digits): the one standing alone gives way to the one in a number."""
    if len(digits) < 2:
        return digits
    order = np.argsort(-digits.confidence, kind="stable")
    boxes = digits.boxes[order]
    cover = cover_matrix(boxes, boxes)
    in_number = _peers(digits).any(axis=1)[order]
    dark = digits.dark_ink[order]
    keep = ~((cover > max_cover_across) & (dark[:, None] != dark) & in_number[:, None] & ~in_number).any(axis=0)
    covered = np.triu(cover > max_cover, k=1)  # i covers a less sure j
    for i in range(len(boxes)):
        if keep[i]:
            keep[covered[i]] = False
    return digits.take(np.sort(order[keep]))


def _peers(digits: Digits, geometry=None) -> np.ndarray:
    """[i, j]: digit j is i's neighbour in a number: on i's line (spanning half its height),
    of about its height (0.7-1.4x), in the same ink, within 0.8 of i's height to the left
    or right, and beside it, not on it (overlapping by at most a quarter of the narrower
    width). `geometry`: side_by_side(digits.boxes), when the caller has it."""
    w, h, overlap_y, gap = side_by_side(digits.boxes) if geometry is None else geometry
    peer = ((overlap_y >= 0.5 * h[:, None]) & (h >= 0.7 * h[:, None]) & (h <= 1.4 * h[:, None])
            & (gap <= 0.8 * h[:, None]) & (gap >= -0.25 * np.minimum(w[:, None], w))
            & (digits.dark_ink[:, None] == digits.dark_ink))
    np.fill_diagonal(peer, False)
    return peer


def marks_beside_numbers(digits: Digits, max_ratio: float = 0.5, reach: float = 1.0,
                         band: float = 0.7) -> np.ndarray:
    """Small marks read as digits: the dash, slash or comma that ends a written amount
    ("4450/-"), a speck, the lead-in tick of a '4' drawn apart above the line. Such a mark
    is lone (no digit of about its height beside it) and less than `max_ratio` of the
    height of a number's digit right beside it, within `reach` of that digit's height
    across and with its centre within `band` of that height of the digit's centre: on the
    number's line, or just above or below it. The number's digit must have a digit of its
    own height beside it: a lone big thing (a grid line read as a 1) makes nothing a mark.
    Returns a mask of such marks."""
    n = len(digits)
    if n < 2:
        return np.zeros(n, bool)
    geometry = side_by_side(digits.boxes)
    _, h, _, gap = geometry
    in_number = _peers(digits, geometry).any(axis=1)
    centre_y = digits.boxes[:, 1] + digits.boxes[:, 3] / 2
    beside_number = ((np.abs(centre_y[:, None] - centre_y) <= band * h) & (h[:, None] < max_ratio * h)
                     & (gap <= reach * h) & in_number)
    return beside_number.any(axis=1) & ~in_number


class DigitReader:
    """Reads the numbers in frames. Holds the model and the tracker; otherwise stateless."""

    def __init__(self, classifier: DigitClassifier | None = None,
                 segment_params: SegmentParams = SegmentParams(),
                 group_params: GroupParams = GroupParams(), tracker: Tracker | None = None,
                 keep_mask: bool = True):
        self.classifier = classifier or DigitClassifier()
        self.keep_mask = keep_mask  # the ink mask for a debug view; headless runs skip it
        self.segment_params = segment_params
        self.group_params = group_params
        self.tracker = tracker or Tracker()
        self._last_source = None

    def process(self, frame: Frame) -> FrameResult:
        t0 = time.perf_counter()
        gray = as_gray_u8(frame.image)
        candidates, mask = segment(gray, self.segment_params, self.keep_mask)
        t1 = time.perf_counter()
        batch = normalize_batch(crops_for(gray, candidates), candidates.dark_ink)
        t2 = time.perf_counter()
        probabilities = self.classifier.probabilities(batch)
        t3 = time.perf_counter()
        probabilities = second_look(gray, candidates, probabilities, self.classifier)
        candidates.labels, candidates.confidence = self.classifier.decide(probabilities)
        t4 = time.perf_counter()
        keep = resolve_splits(candidates, max_single_aspect=self.segment_params.max_single_aspect)
        keep &= candidates.labels >= 0
        keep &= ~inside_words(candidates, keep)
        keep &= ~lone_strokes(candidates, keep)
        digits = suppress_overlaps(candidates.take(keep))
        digits = digits.take(~marks_beside_numbers(digits))
        numbers = group_numbers(digits, self.group_params)
        if frame.source != self._last_source:  # a new image of a folder is a new scene
            self.tracker.reset()
            self._last_source = frame.source
        events = self.tracker.update(numbers)
        t5 = time.perf_counter()
        timings = {"segment": t1 - t0, "normalize": t2 - t1, "inference": t3 - t2, "second_look": t4 - t3,
                   "group_track": t5 - t4}
        return FrameResult(frame, digits, numbers, {k: v * 1000 for k, v in timings.items()}, mask, events)
