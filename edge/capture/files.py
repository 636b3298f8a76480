"""Video files and image files: every frame read in order, nothing dropped."""
from __future__ import annotations

import os
import time
import zlib
from pathlib import Path

import cv2
import numpy as np

from edge import warn
from edge.capture.base import FrameSource, SourceError
from edge.types import Frame

MAX_BAD_FRAMES = 25  # damaged frames in a row a video may hold before the rest is taken as lost
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


class ImageError(ValueError):
    """An image's bytes that cannot be decoded; the message says why."""


def decode_image(data: np.ndarray) -> np.ndarray:
    """An encoded image's bytes -> the image, upright by its EXIF orientation, 16-bit kept.
    Raises ImageError saying why it cannot be decoded (not an image, or too many pixels)."""
    if data[:8].tobytes() == PNG_SIGNATURE and not _png_is_whole(memoryview(data)):
        raise ImageError("not an image OpenCV can decode")  # libpng would print a line of its own
    try:
        image = cv2.imdecode(data, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH) if data.size else None
    except cv2.error as e:
        if "MAX_IMAGE_PIXELS" in str(e):
            raw = os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", str(1 << 30)).strip()  # OpenCV also takes "1MB"
            limit = f"{int(raw):,}" if raw.isdigit() else raw
            raise ImageError(f"over the {limit} pixels OpenCV decodes "
                             "(OPENCV_IO_MAX_IMAGE_PIXELS sets the limit)") from None
        image = None
    if image is None or not image.size:
        raise ImageError("not an image OpenCV can decode")
    return image


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # SOFn: the size


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG or WebP header, without decoding: a small file can
    hold a huge picture (an 850 KB PNG of 11500 x 11500). None for other formats; ImageError
    for one of these whose header hides its size (libjpeg reads past junk between markers)."""
    def number(a: int, b: int, order: str = "big") -> int:
        return int.from_bytes(data[a:b], order)

    if data[:8] == PNG_SIGNATURE:
        if data[12:16] == b"IHDR" and len(data) >= 24:
            return number(16, 20), number(20, 24)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = data[12:16] if len(data) >= 30 else b""
        if kind == b"VP8X":  # extended: the canvas, 24 bits less one each
            return number(24, 27, "little") + 1, number(27, 30, "little") + 1
        if kind == b"VP8L":  # lossless: 14 bits less one each
            bits = number(21, 25, "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if kind == b"VP8 ":  # lossy: 14 bits each
            return number(26, 28, "little") & 0x3FFF, number(28, 30, "little") & 0x3FFF
    elif data[:2] == b"\xff\xd8":
        pos = 2
        while pos + 9 <= len(data) and data[pos] == 0xFF:
            marker = data[pos + 1]
            if marker == 0xFF:  # fill byte
                pos += 1
            elif marker in JPEG_FRAMES:
                return number(pos + 7, pos + 9), number(pos + 5, pos + 7)
            elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
                pos += 2
            else:
                pos += 2 + number(pos + 2, pos + 4)
    else:
        return None
    raise ImageError("its size cannot be read from its header")


def _png_is_whole(data: memoryview) -> bool:
    """A PNG's chunks all there up to IEND, its critical ones' CRCs right: else libpng writes
    'libpng error: ...' to the console itself (not through OpenCV's log)."""
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = int.from_bytes(data[pos:pos + 4], "big"), bytes(data[pos + 4:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            return False
        if kind[:1].isupper() and zlib.crc32(data[pos + 4:end - 4]) != int.from_bytes(data[end - 4:end], "big"):
            return False
        if kind == b"IEND":
            return True
        pos = end
    return False


class VideoFileSource(FrameSource):
    def __init__(self, path: str, say=warn, capture=None):
        """`capture`: the file already open (a video behind a URL; `path` then names it)."""
        self.name, self.say, self.files = str(path), say, (str(path),)
        self.cap = capture if capture is not None else cv2.VideoCapture(str(path))
        if not self.cap.isOpened():
            raise SourceError(f"cannot open video {path}: not a format OpenCV can decode")
        ok, self._first = self.cap.read()
        self._taken = 1  # frames taken from the file, damaged ones too
        if not ok or self._first is None:
            self.cap.release()
            raise SourceError(f"cannot read frames from {path}: the file is empty or damaged")
        self.size = (self._first.shape[1], self._first.shape[0])
        count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.total = count if count > 0 else None
        rate = float(self.cap.get(cv2.CAP_PROP_FPS) or 0)
        self.fps = rate if 0 < rate < 1000 else None

    def _next(self):
        """The next frame that decodes (None at the end), and the damaged frames passed on the way:
        a frame that fails inside the file's length is skipped, not taken for the end."""
        bad = 0
        while True:
            ok, image = self.cap.read()
            self._taken += 1
            if ok and image is not None:
                return image, bad
            if not self.total or self._taken >= self.total or bad >= MAX_BAD_FRAMES:
                return None, bad
            bad += 1

    def __iter__(self):
        index, image, skipped = 0, self._first, 0
        while image is not None:
            yield Frame(image, index, time.time(), self.name)
            index += 1
            image, bad = self._next()
            skipped += bad if image is not None else 0
        if skipped:
            self.say(f"{self.name}: {skipped} damaged {'frame' if skipped == 1 else 'frames'} skipped")
        if self.total and index + skipped < self.total - 1:
            self.say(f"{self.name} ended after {index + skipped} of {self.total} frames (damaged file?)")

    def close(self):
        self.cap.release()


class ImageFilesSource(FrameSource):
    """One frame per image, in sorted order; `source` of each frame is the image's path.
    An image that cannot be decoded is reported and skipped; none decoding is a SourceError."""

    still = True

    def __init__(self, paths: list[str], name: str, say=warn):
        if not paths:
            raise SourceError(f"no images found at {name} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
        self.paths, self.name, self.total, self.say = paths, name, len(paths), say
        self.files = tuple(str(p) for p in paths)
        # the first image that decodes, found now: a folder of broken files fails before any output opens
        self._start, self._first, self._why = len(paths), None, []
        for i, path in enumerate(paths):
            self._first, why = self._read(path)
            if self._first is not None:
                self._start = i
                break
            if len(paths) == 1:
                raise SourceError(f"cannot read image {path}: {why}")
            self._why.append(why)  # said in turn, as the frames go out
        if self._first is None:
            raise SourceError(f"none of the {len(paths)} images in {name} could be decoded")
        if len(paths) == 1:  # one image: its size is known (a folder's may differ)
            self.size = (self._first.shape[1], self._first.shape[0])

    @staticmethod
    def _read(path) -> tuple[np.ndarray | None, str]:
        """(the image, "") or (None, why not). Read as bytes, then decoded: cv2.imread crashes
        the process on a name that is not UTF-8."""
        try:
            return decode_image(np.fromfile(path, np.uint8)), ""
        except OSError as e:
            return None, f"cannot read it ({e.strerror or e})"
        except ImageError as e:
            return None, str(e)

    def __iter__(self):
        index = 0
        for i, path in enumerate(self.paths):
            if i < self._start:
                image, why = None, self._why[i]
            else:
                image, why = (self._first, "") if i == self._start else self._read(path)
            if i == self._start:
                self._first = None
            if image is None:
                self.say(f"skipping {path}: {why}")
                continue
            yield Frame(image, index, time.time(), str(path))
            index += 1
