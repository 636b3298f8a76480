"""What flows from stage to stage.

capture -> `Frame`; segmentation -> `Digits` (boxes only); classification fills in
`Digits.labels/confidence`; grouping and tracking add `Number`s; everything of one frame
travels in a `FrameResult`, which drawing and output read.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Frame:
    image: np.ndarray  # as the source gave it (any size, grey/BGR/BGRA, 8 or 16 bit)
    index: int  # 0, 1, 2 ... in the order the app received frames
    t: float  # seconds since the epoch, when the frame was captured
    source: str  # the source's name; for a folder of images, the image's path


@dataclass
class Digits:
    """N digit candidates as numpy columns (like supervision's Detections).

    boxes are [x, y, w, h] in frame pixels; labels are 0-9, -1 while unclassified or when
    unsure, -2 when "not a digit" (edge.infer.classifier.UNSURE, NOT_A_DIGIT); parent is -1,
    or for a piece cut from a wide candidate (maybe touching digits) the index of that
    candidate; cut tells a piece's way of cutting its parent (into 2, 3 ... pieces) from the
    other ways (-1 for all but pieces)."""
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int32))
    dark_ink: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    parent: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    cut: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))

    def __post_init__(self):
        n = len(self.boxes)
        self.boxes = np.asarray(self.boxes, np.int32).reshape(n, 4)
        self.dark_ink = np.asarray(self.dark_ink, bool).reshape(n) if len(self.dark_ink) else np.ones(n, bool)
        self.labels = np.asarray(self.labels, np.int16).reshape(n) if len(self.labels) else np.full(n, -1, np.int16)
        self.confidence = (np.asarray(self.confidence, np.float32).reshape(n) if len(self.confidence)
                           else np.zeros(n, np.float32))
        self.parent = np.asarray(self.parent, np.int32).reshape(n) if len(self.parent) else np.full(n, -1, np.int32)
        self.cut = np.asarray(self.cut, np.int16).reshape(n) if len(self.cut) else np.full(n, -1, np.int16)

    def __len__(self) -> int:
        return len(self.boxes)

    def take(self, index) -> "Digits":
        """The subset at `index` (a boolean mask or integer positions). Piece-to-whole links
        point at positions in the full set, so the subset has none."""
        if np.ndim(index) == 0:
            raise TypeError("Digits.take wants a mask or a sequence of positions, not one position")
        subset = Digits.__new__(Digits)  # the columns are checked already: no __post_init__ (~10 subsets a frame)
        subset.boxes, subset.dark_ink = self.boxes[index], self.dark_ink[index]
        subset.labels, subset.confidence = self.labels[index], self.confidence[index]
        subset.parent = np.full(len(subset.boxes), -1, np.int32)
        subset.cut = np.full(len(subset.boxes), -1, np.int16)
        return subset


@dataclass
class Number:
    """One number in one frame. Everything but `text` describes this frame alone: `read` is
    what this frame's digits say, `box` surrounds them, `confidence` is the least sure of
    them. `text` starts equal to `read`; the tracker may replace it with the vote over the
    track's recent frames, so a misread frame still reports the settled reading."""
    text: str  # the reading to report: this frame's, or once tracked, the vote
    confidence: float  # the lowest confidence of this frame's digits
    box: tuple[int, int, int, int]  # around this frame's digits
    digits: Digits  # this frame's digits, left to right
    stable: bool = False
    track_id: int | None = None
    read: str | None = None  # this frame's characters; None at creation means `text`
    chars: list = field(default_factory=list)  # the learned reader's characters (edge.line_reader.ReadChar)

    def __post_init__(self):
        if self.read is None:
            self.read = self.text


@dataclass
class FrameResult:
    frame: Frame
    digits: Digits  # accepted digits
    numbers: list[Number]
    timings_ms: dict[str, float]
    mask: np.ndarray | None = None  # the segmentation's binary image (debug view)
    events: list[Number] = field(default_factory=list)  # numbers whose reading just became stable

    @property
    def latency_ms(self) -> float:
        return float(sum(self.timings_ms.values()))
