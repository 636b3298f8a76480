"""Frame sources behind one factory, `open_source(spec)` (like OpenCV's create_capture).

spec: "auto" (camera 0, else the demo), "demo", "picam", a camera index or /dev/videoN,
an rtsp:// or http(s):// URL, a video file, an image file, a folder or a glob of images.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path

from edge import CAPTURE_FPS, CAPTURE_SIZE, utf8_name, warn
from edge.capture.base import FrameSource, SourceError, SourceLost
from edge.capture.demo import DemoSource
from edge.capture.files import ImageFilesSource, VideoFileSource, is_image_path
from edge.capture.live import (HUNG_READ_SECONDS, STALL_PERIODS, STALL_SECONDS, LiveSource, has_length,
                               open_camera, open_stream, open_url, without_password)

__all__ = ["open_source", "FrameSource", "SourceError", "SourceLost", "DemoSource"]


def open_source(spec: str = "auto", width: int = 0, height: int = 0, fps: float = CAPTURE_FPS,
                exit_on_loss: bool = False, say=warn, demo_fallback: bool = True) -> FrameSource:
    """The source `spec` names; `say(message)` reports what the app works around (default: stderr).
    `demo_fallback`: "auto" without a camera reads the demo, else it is an error."""
    spec = str(spec).strip()
    if not spec:
        raise SourceError("--source is empty; give auto, demo, picam, a camera index, a video, an image, "
                          "a folder, a glob or a URL")
    period = 1 / fps if fps and fps > 0 else 0.0  # a snapshot URL waits this long inside a read
    live = dict(exit_on_loss=exit_on_loss, say=say, stall_seconds=max(STALL_SECONDS, STALL_PERIODS * period),
                hung_seconds=HUNG_READ_SECONDS + period)
    if spec == "auto":
        try:
            return LiveSource(open_camera(0, width, height, fps), "camera 0", **live)
        except SourceError:
            if not demo_fallback:
                raise
            say("no camera found; reading the built-in demo instead (use --source to choose a source)")
            return DemoSource(width, height, fps)
    if spec == "demo":
        return DemoSource(width, height, fps)
    if spec == "picam":
        from edge.capture.picam import open_picamera
        return LiveSource(open_picamera(width, height, fps), "picam", **live)
    if (spec.isascii() and spec.isdigit()) or spec.startswith("/dev/video"):  # not '²': a file of that name
        device = int(spec) if spec.isdigit() else spec
        return LiveSource(open_camera(device, width, height, fps), f"camera {spec}", **live)
    if "://" in spec:
        name, first = without_password(spec), open_url(spec)
        if has_length(first):  # a video file behind a URL plays once, as a file does, not reconnected for ever
            return VideoFileSource(name, say, capture=first)
        return LiveSource(open_stream(spec, fps=fps, first=first), name, **live)
    if not utf8_name(spec):  # OpenCV crashes the process on such a name
        raise SourceError(f"cannot open {spec!r}: its name is not valid UTF-8; rename it")
    path = Path(spec).expanduser()
    try:
        if path.is_dir():
            images = _named_images(path.iterdir(), say)
            return ImageFilesSource(images, spec, say)
        if not path.exists() and any(ch in spec for ch in "*?["):
            images = _named_images(map(Path, glob.glob(os.path.expanduser(spec))), say)
            return ImageFilesSource(images, spec, say)
        if path.is_file():
            if not os.access(path, os.R_OK):
                raise SourceError(f"cannot read {spec}: permission denied")
            if is_image_path(path):
                return ImageFilesSource([str(path)], spec, say)
            return VideoFileSource(str(path), say)
    except PermissionError:
        raise SourceError(f"cannot read {spec}: permission denied") from None
    if path.exists():  # a device, a pipe or a socket that is no camera
        raise SourceError(f"cannot read {spec}: not a picture, video, folder or camera")
    raise SourceError(f"no such file, folder or camera: {spec!r} (try --source demo, a camera index, "
                      "a video, an image, a folder, or a URL)")


def _named_images(paths, say) -> list[str]:
    """The image files among paths, sorted; a name that is not UTF-8 is said and left out."""
    images = []
    for p in paths:
        if not (p.is_file() and is_image_path(p)):
            continue
        if utf8_name(str(p)):
            images.append(str(p))
        else:
            say(f"skipping {str(p)!r}: its name is not valid UTF-8; rename it")
    return sorted(images)
