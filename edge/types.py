"""What flows from stage to stage.

capture -> `Frame`; the reader -> a `Number` a line read, its `Digits` and characters;
tracking marks numbers stable; everything of one frame travels in a `FrameResult`, which
drawing and output read.
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
    scene: int = 0  # a live source's outages so far: after one, the reader votes anew (no reading held from before)


@dataclass
class Digits:
    """N digits as numpy columns (like supervision's Detections): boxes [x, y, w, h] in frame
    pixels, labels 0-9, confidences."""
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def __post_init__(self):
        n = len(self.boxes)
        self.boxes = np.asarray(self.boxes, np.int32).reshape(n, 4)
        self.labels = np.asarray(self.labels, np.int16).reshape(n) if len(self.labels) else np.full(n, -1, np.int16)
        self.confidence = (np.asarray(self.confidence, np.float32).reshape(n) if len(self.confidence)
                           else np.zeros(n, np.float32))

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass
class Number:
    """One number in one frame. Everything but `text` describes this frame alone: `read` is
    what this frame's characters say, `box` surrounds them, `confidence` is the least sure of
    them. `text` starts equal to `read`; the tracker may replace it with the vote over the
    track's recent frames, so a misread frame still reports the settled reading."""
    text: str  # the reading to report: this frame's, or once tracked, the vote
    confidence: float  # the lowest confidence of this frame's characters
    box: tuple[int, int, int, int]  # around this frame's characters kept (dropped letters are out)
    digits: Digits  # this frame's digits, left to right
    stable: bool = False
    track_id: int | None = None
    read: str | None = None  # this frame's characters; None at creation means `text`
    chars: list = field(default_factory=list)  # every character kept (edge.line_reader.ReadChar)
    line_box: tuple[int, int, int, int] | None = None  # its stretch of the detected line: tracks match on it, steadier than `box`

    def __post_init__(self):
        if self.read is None:
            self.read = self.text


@dataclass
class FrameResult:
    frame: Frame
    digits: Digits  # accepted digits
    numbers: list[Number]
    timings_ms: dict[str, float]
    mask: np.ndarray | None = None  # the detected lines filled in (debug view)
    events: list[Number] = field(default_factory=list)  # numbers whose reading just became stable

    @property
    def latency_ms(self) -> float:
        return float(sum(self.timings_ms.values()))
