"""Where readings go: JSON lines (one per frame, flushed at once) and annotated video.

A JSON log is appended to, never truncated (unless asked with overwrite=True); a line
left half-written by a crash is closed off before the first new line, and one a full disk
took half of is cut back, so every line stays parseable. An existing video file is refused
unless overwrite=True.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import cv2

from edge import utf8_name
from edge.types import FrameResult
from edge.video_formats import FOURCC, VIDEO_EXTENSIONS


class OutputError(Exception):
    """An output path cannot be used; the message says why."""


def reading_record(result: FrameResult) -> dict:
    def box(b):
        return [int(v) for v in b]

    return {
        "source": result.frame.source,
        "frame": int(result.frame.index),
        "t": round(float(result.frame.t), 3),
        "latency_ms": round(result.latency_ms, 3),
        "numbers": [{
            "text": n.text,
            "read": n.read,
            "confidence": round(float(n.confidence), 4),
            "box": box(n.box),
            "stable": bool(n.stable),
            "digits": [{"digit": int(d), "confidence": round(float(c), 4), "box": box(b)}
                       for b, d, c in zip(n.digits.boxes, n.digits.labels, n.digits.confidence)],
            **({"chars": [{"char": c.char, "confidence": round(float(c.confidence), 4), "box": box(c.box)}
                          for c in n.chars]} if n.chars else {}),
        } for n in result.numbers],
    }


def stable_reading(result: FrameResult, number) -> dict:
    """One number that just became stable (a FrameResult.events entry): what the web view's
    /events and MQTT's reading topic send."""
    return {
        "source": result.frame.source,
        "frame": int(result.frame.index),
        "t": round(float(result.frame.t), 3),
        "text": number.text,
        "confidence": round(float(number.confidence), 4),
        "box": [int(v) for v in number.box],
    }


def check_writable(path: str, overwrite: bool, refuse_existing: bool):
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{path} is a folder; give a file name")
    if path.endswith(("/", os.sep)):
        raise OutputError(f"{path} names a folder; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        where = next((q for q in [parent, *parent.parents] if q.exists()), None)  # a file in the path
        raise OutputError(f"cannot write {path}: {where} is a file, not a folder" if where and not where.is_dir()
                          else f"cannot write {path}: folder {parent} does not exist")
    if p.exists() and not os.access(p, os.W_OK) or not p.exists() and not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {path}: permission denied")
    if refuse_existing and p.exists() and not overwrite:
        raise OutputError(f"{path} exists; choose another name or pass --overwrite")
    if not p.exists():  # the surest test: create it (and remove it again)
        _create_and_remove(p, f"cannot write {path}")


def _create_and_remove(p: Path, failure: str):
    """Make the file p and remove it again: OutputError(failure: why) if the system refuses."""
    try:
        with open(p, "ab"):
            pass
        p.unlink()
    except OSError as e:
        raise OutputError(f"{failure}: {e.strerror or e}") from None


def check_folder(folder: str, what: str, make: bool = True):
    """A folder outputs go to: made if missing; OutputError if it cannot be (a file in the way,
    no permission), said before the first frame rather than on every frame after. `make`
    False (it may never be used): only a file in its place is refused, nothing is made."""
    if not utf8_name(folder):  # OpenCV would crash the process writing in it
        raise OutputError(f"cannot use {what} folder {folder!r}: its name is not valid UTF-8; rename it")
    p = Path(folder)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{what} {folder} is a file, not a folder")
    if not make:
        return
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot make {what} folder {folder}: {e.strerror or e}") from None
    _create_and_remove(p / f".edge-digits-probe-{os.getpid()}", f"cannot write in {what} folder {folder}")


class JsonLinesWriter:
    def __init__(self, path: str, overwrite: bool = False):
        self.path = path
        if path == "-":
            if sys.stdout is None:  # started with stdout closed (`>&-`)
                raise OutputError("cannot write JSON lines to - : standard output is closed")
            self.file = sys.stdout
            return
        check_writable(path, overwrite, refuse_existing=False)
        if Path(path).is_fifo():
            self.file = _open_pipe(path)
            return
        try:
            # unbuffered bytes: a write the disk cannot take is cut back to the last whole line
            self.file = open(path, "wb" if overwrite else "ab", buffering=0)
            if not overwrite and os.path.isfile(path) and not _ends_with_newline(path):
                self._put("\n")  # an earlier run died mid-line: close that line off
        except OSError as e:
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from None

    def _put(self, text: str):
        try:
            if self.file is sys.stdout:
                self.file.write(text)
                self.file.flush()
                return
            left, done = memoryview(text.encode("utf-8")), 0
            while left:  # a raw write may take part of it
                n = self.file.write(left)
                left, done = left[n:], done + n
        except BrokenPipeError:
            raise
        except OSError as e:  # disk full, device gone
            if self.file is not sys.stdout:
                self._cut_back(done)
            where = "to standard output" if self.path == "-" else self.path  # as the readings' own message
            raise OutputError(f"cannot write {where}: {e.strerror or e}") from None

    def _cut_back(self, written: int):
        """The file ends at its last whole line again: the `written` bytes of this one go (a full
        disk took half of it). From its size now: a log rotated meanwhile is not padded back."""
        try:
            fd = self.file.fileno()
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - written))
        except OSError:  # not a regular file (a pipe, a device): nothing to cut
            pass

    def write(self, result: FrameResult):
        self._put(json.dumps(reading_record(result), separators=(",", ":")) + "\n")

    def close(self):
        if self.file is not sys.stdout:
            try:
                self.file.close()
            except OSError as e:
                raise OutputError(f"cannot write {self.path}: {e.strerror or e}") from None


def _open_pipe(path: str):
    """A named pipe, opened for writing only when something reads it (else open() would wait,
    and a first Ctrl-C would not end the wait); kept open from here on, so the reader never
    sees an end before the run's."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        raise OutputError(f"cannot write {path}: it is a pipe nothing reads from") from None
    os.set_blocking(fd, True)
    return open(fd, "wb", buffering=0)


def _ends_with_newline(path: str) -> bool:
    """True for an empty file too; only a regular file is looked at."""
    if os.path.getsize(path) == 0:
        return True
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


VIDEO_RESERVE_BYTES = 8 * 2**20  # free disk under which a video is closed, still playable: its index goes last
INDEX_BYTES_PER_FRAME = 32  # and the room its index takes (AVI 16, MP4 7.5 bytes a frame, measured)
MAX_HOLD_SECONDS = 2.0  # a longer gap between live frames (a camera lost) is cut, not held as a still
MIN_VIDEO_SIDE = 2  # px: FFmpeg's writers (mp4, mkv, mov) refuse a frame 1 px wide or high
MAX_PACED_FPS = 60.0  # a camera's video rate at most: at --fps 1000 each held frame would be written hundreds of times


class VideoSink:
    """Annotated video, opened at the first frame (its size is known only then).

    `paced` (a live source, which drops the frames the reader has no time for): each frame is
    held until the next one arrives, for the time between their capture times, so the video
    plays in real time; frames arriving faster than the video's rate may take no video frame."""

    def __init__(self, path: str, fps: float, overwrite: bool = False, paced: bool = False):
        ext = Path(path).suffix.lower()
        if ext not in FOURCC:
            raise OutputError(f"cannot write video {path}: use one of {', '.join(VIDEO_EXTENSIONS)}")
        if not utf8_name(path):  # OpenCV crashes the process on such a name
            raise OutputError(f"cannot write video {path!r}: its name is not valid UTF-8; rename it")
        check_writable(path, overwrite, refuse_existing=True)
        self.path, self.fps, self.writer, self.size = path, fps, None, None
        self.frames = 0  # video frames written
        self.received = 0  # annotated frames given
        self.paced = paced
        self._held: tuple | None = None  # (image, capture time): a paced video's newest frame, not yet written
        self._clock = 0.0  # seconds of a paced video due so far
        self._space_checked = -1.0  # when the disk's free space was last looked at (monotonic seconds)
        self._size = 0  # the file's size then

    @property
    def rate(self) -> float:
        fps = float(self.fps or 30.0)
        return min(fps, MAX_PACED_FPS) if self.paced else fps

    def write(self, image, t: float | None = None):
        """One annotated frame (`t`: its capture time, for a paced video). OutputError when the
        disk is nearly full: the video is then closed while it can still be finalized."""
        self._check_space()
        h, w = image.shape[:2]
        if self.writer is None:
            self.size = (max(w, MIN_VIDEO_SIDE), max(h, MIN_VIDEO_SIDE))
            self.writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*FOURCC[Path(self.path).suffix.lower()]),
                                          self.rate, self.size)
            if not self.writer.isOpened():
                raise OutputError(f"cannot write video {self.path}: OpenCV has no encoder for it here")
        if (w, h) != self.size:  # frames of a folder differ in size: fit them to the first, unstretched
            image = letterbox(image, self.size)
        self.received += 1
        if not self.paced or t is None:
            self._emit(image, 1)
            return
        if self._held is not None:
            held, since = self._held
            gap = t - since
            # a camera lost for a while, or a clock stepped back: one frame
            self._clock += gap if 0 <= gap <= MAX_HOLD_SECONDS else 1 / self.rate
            self._emit(held, int(self._clock * self.rate + 1e-6) - self.frames)  # 1e-6: 0.1 s is 3 frames, not 2.999
        self._held = (image, t)

    def _check_space(self, every_s: float = 1.0):
        now = time.monotonic()
        if self._space_checked >= 0 and now - self._space_checked < every_s:
            return
        self._space_checked = now
        try:
            free = shutil.disk_usage(os.path.dirname(os.path.abspath(self.path))).free
            size = os.path.getsize(self.path) if os.path.isfile(self.path) else 0
        except OSError:
            return
        if self.writer is None:  # before the first frame: a video about to be overwritten frees its room
            free, size = free + size, 0
        growth, self._size = size - self._size, size  # a fast, large video needs more room
        reserve = VIDEO_RESERVE_BYTES + INDEX_BYTES_PER_FRAME * self.frames  # the index, written last, grows
        if free < max(reserve, 4 * growth):
            self.close()
            kept = f"; the video, {self.frames} frames, was closed and plays" if self.frames else ""
            raise OutputError(f"cannot write video {self.path}: {free / 2**20:.1f} MB left on its disk{kept}")

    def _emit(self, image, copies: int):
        for _ in range(copies):
            self.writer.write(image)
            self.frames += 1

    def close(self):
        if self.writer is not None:
            if self._held is not None:  # the last frame, once
                self._emit(self._held[0], 1)
                self._held = None
            self.writer.release()
            self.writer = None


def letterbox(image, size: tuple[int, int]):
    """image scaled to fit (width, height) with its aspect kept, centred on black bars."""
    import numpy as np

    w, h = size
    ih, iw = image.shape[:2]
    f = min(w / iw, h / ih)
    sw, sh = max(1, min(w, round(iw * f))), max(1, min(h, round(ih * f)))
    canvas = np.zeros((h, w) + image.shape[2:], image.dtype)
    x, y = (w - sw) // 2, (h - sh) // 2
    canvas[y:y + sh, x:x + sw] = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    return canvas
