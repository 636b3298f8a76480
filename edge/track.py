"""Numbers matched across frames by box overlap (or a similarity of your own); the text is a
vote over recent frames.

A track's reading becomes *stable* once the same voted text has been seen in
`stable_hits` of its recent frames; the overlay then stops flickering and the
console prints one event per stable reading. A track lost for a moment (a hand
passing in front) comes back under its id, its votes taken anew, and its reading
is not announced again.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge.boxes import iou_matrix
from edge.types import Number


@dataclass
class Track:
    id: int
    box: tuple
    history: deque
    misses: int = 0
    stable_text: str | None = None  # the reading once stable; changes only on a clear majority
    announced: str | None = None  # the last stable text reported for this track

    def vote(self) -> tuple[str, int]:
        """The most common text and its count; ties to the one seen first (as Counter's most_common,
        at a fifth of its cost: a photo frame votes for about 25 numbers)."""
        history = self.history
        if len(history) == 1:
            return history[0], 1
        text = max(dict.fromkeys(history), key=history.count)
        return text, history.count(text)


@dataclass
class Tracker:
    """`similarity(tracks' boxes, numbers' boxes)` scores every pair (higher: more alike; x, y, w,
    h boxes); a pair below `min_similarity` is never one number. Overlap suits a steady camera;
    a panning one may want its centres' distance."""
    similarity: Callable[[list, list], np.ndarray] = iou_matrix
    min_similarity: float = 0.3
    window: int = 8  # frames a vote looks back over
    stable_hits: int = 3  # votes the winning text needs
    max_misses: int = 5  # frames a track survives unseen
    recall: int = 30  # frames after that in which a number at its place takes its id back (1 s at 30 FPS)
    tracks: list[Track] = field(default_factory=list)
    ended: list[tuple[int, Track]] = field(default_factory=list)  # (frame it ended, track) of announced ones
    _next_id: int = 1
    _frame: int = 0

    def reset(self):
        """A new scene (another picture, or after an outage): nothing carries over."""
        self.tracks.clear()
        self.ended.clear()

    def update(self, numbers: list[Number]) -> list[Number]:
        """Set text (voted), stable and track_id on this frame's numbers; returns the numbers
        whose reading just became stable (the events). Each number's read, box, digits and
        confidence stay this frame's."""
        boxes = [_where(n) for n in numbers]
        self._frame += 1
        self.ended = [(f, t) for f, t in self.ended if self._frame - f <= self.recall]
        live = len(self.tracks)  # one score matrix for the live tracks and the ended ones below them
        scores = self.similarity([t.box for t in self.tracks] + [t.box for _, t in self.ended], boxes)
        matched_t, matched_n = set(), set()
        for ti, ni in _pairs(scores[:live], self.min_similarity):
            matched_t.add(ti)
            matched_n.add(ni)
            self._assign(self.tracks[ti], numbers[ni])
        new = [ni for ni in range(len(numbers)) if ni not in matched_n]
        recalled = self._recalled(scores[live:, new])
        for ti, track in enumerate(self.tracks):
            if ti not in matched_t:
                track.misses += 1
                if track.misses > self.max_misses and track.announced is not None:
                    self.ended.append((self._frame, track))  # an announced reading may come back
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]
        for ni, track in zip(new, recalled):
            if track is None:
                track = Track(self._next_id, boxes[ni], deque(maxlen=self.window))
                self._next_id += 1
            self.tracks.append(track)
            self._assign(track, numbers[ni])
        events = []
        by_id = {t.id: t for t in self.tracks}
        for num in numbers:
            track = by_id[num.track_id]
            if num.stable and track.announced != num.text:
                track.announced = num.text
                events.append(num)
        return events

    def _recalled(self, scores: np.ndarray) -> list[Track | None]:
        """For each new number (a column of scores with the ended tracks), the ended track that
        overlaps it (best pairs first), its votes cleared; else None."""
        found: list[Track | None] = [None] * scores.shape[1]
        if not scores.size:
            return found
        taken = set()
        for ei, ni in _pairs(scores, self.min_similarity):
            track = found[ni] = self.ended[ei][1]
            track.history.clear()
            track.stable_text, track.misses = None, 0
            taken.add(ei)
        self.ended = [e for ei, e in enumerate(self.ended) if ei not in taken]
        return found

    def _assign(self, track: Track, num: Number):
        track.history.append(num.read)
        track.box, track.misses = _where(num), 0
        text, count = track.vote()
        held = track.history.count(track.stable_text) if track.stable_text else 0
        # hysteresis: a stable reading gives way only to one that clearly outvotes it, so a
        # digit read in some frames and missed in others does not flip the reading to and fro
        if count >= self.stable_hits and (track.stable_text is None or count >= held + 2):
            track.stable_text = text
        if track.stable_text not in track.history:  # its votes have all left the window
            track.stable_text = None
        num.track_id = track.id
        num.stable = track.stable_text is not None
        # a misread frame reports the settled reading as text; read, digits, box stay this frame's
        num.text = track.stable_text if num.stable else num.read


def _pairs(scores: np.ndarray, least: float) -> list[tuple[int, int]]:
    """(row, column) pairs of at least `least`, the best first, each row and column used once."""
    rows, cols = np.nonzero(scores >= least)
    order = np.argsort(-scores[rows, cols], kind="stable")
    used_r, used_c, pairs = set(), set(), []
    for r, c in zip(rows[order].tolist(), cols[order].tolist()):
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            pairs.append((r, c))
    return pairs


def _where(num: Number) -> tuple:
    """The box a number is matched by: its stretch of its line (the line's height, steadier than its glyphs'), else its own."""
    return num.line_box or num.box
