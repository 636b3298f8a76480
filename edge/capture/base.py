"""The frame-source interface and its errors."""
from __future__ import annotations

import sys
import time
from typing import Iterator

from edge.types import Frame


class SourceError(Exception):
    """A source cannot be opened; the message says what and what to try."""


class SourceLost(Exception):
    """A live source stopped delivering and the app was asked to exit on that."""


def warn(message: str):
    print(f"edge-digits: {message}", file=sys.stderr, flush=True)


class FrameSource:
    """Iterate for frames. A live source may yield None when no new frame has arrived yet,
    so the caller can keep its window responsive; files end the iteration when done."""

    name = "source"
    live = False
    total: int | None = None  # frames in a file source, when known

    def __iter__(self) -> Iterator[Frame | None]:
        raise NotImplementedError

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Pacer:
    """Sleeps so that successive calls are at most `fps` per second (0 = no pacing)."""

    def __init__(self, fps: float):
        self.period = 1.0 / fps if fps and fps > 0 else 0.0
        self.next = time.monotonic()

    def wait(self):
        if not self.period:
            return
        now = time.monotonic()
        if self.next > now:
            time.sleep(self.next - now)
        self.next = max(self.next + self.period, time.monotonic() - self.period)
