"""The frame-source interface and its errors."""
from __future__ import annotations

import time
from typing import Iterator

from edge import warn
from edge.types import Frame


class SourceError(Exception):
    """A source cannot be opened; the message says what and what to try."""


class SourceLost(Exception):
    """A live source stopped delivering and the app was asked to exit on that."""


class FrameSource:
    """Iterate for frames. A live source may yield None when no new frame has arrived yet,
    so the caller can keep its window responsive; files end the iteration when done."""

    name = "source"
    say = staticmethod(warn)  # how it reports skipped files and a lost camera (the app passes its own, for -q)
    still = False  # frames are separate pictures (a window waits for a key on each)
    live = False  # a camera or stream: frames the reader has no time for are dropped
    lost = False  # a live source that stopped delivering (said on stderr; reconnecting)
    outages = 0  # times it was lost so far: one lost and back between two frames still counts
    total: int | None = None  # frames in a file source, when known
    fps: float | None = None  # the source's own frame rate, when known (a video file's)
    size: tuple[int, int] | None = None  # (width, height) of every frame, when known before the first
    files: tuple[str, ...] = ()  # the files it reads: no output may overwrite one

    def __iter__(self) -> Iterator[Frame | None]:
        raise NotImplementedError

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Pacer:
    """Paces a source at `fps` frames per second (0 = no pacing). `due()` says whether the
    next frame is due, else sleeps a short slice, so callers stay responsive to signals."""

    def __init__(self, fps: float, slice_seconds: float = 0.05):
        self.period = 1.0 / fps if fps and fps > 0 else 0.0
        self.slice = slice_seconds
        self.next = time.monotonic()

    def due(self) -> bool:
        if not self.period:
            return True
        now = time.monotonic()
        if now < self.next:
            time.sleep(min(self.next - now, self.slice))
            return False
        self.next = max(self.next + self.period, now - self.period)
        return True
