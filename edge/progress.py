"""A progress line every few seconds for headless runs on a terminal, so a long quiet run
does not look like a hang. Off with -q and when stderr is not a terminal (logs, pipes)."""
from __future__ import annotations

import sys
import time

from edge import PROG


def progress_wanted(quiet: bool, headless: bool, stream=None) -> bool:
    stream = stream or sys.stderr
    try:
        return headless and not quiet and stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


class Progress:
    def __init__(self, stream=None, every_seconds: float = 5.0, clock=time.monotonic):
        self.stream, self.every, self.clock = stream or sys.stderr, every_seconds, clock
        self.started = self.last = clock()
        self.frames_then = 0

    def update(self, frames: int, numbers) -> str | None:
        """Called once a frame; prints (and returns) a line when `every_seconds` have passed."""
        now = self.clock()
        if now - self.last < self.every:
            return None
        fps = (frames - self.frames_then) / max(now - self.last, 1e-9)
        self.last, self.frames_then = now, frames
        read = ", ".join(n.text for n in numbers) or "none"
        line = f"{PROG}: {frames} frames, {fps:.1f} FPS, reading: {read}"
        print(line, file=self.stream, flush=True)
        return line
