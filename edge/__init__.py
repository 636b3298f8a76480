"""edge-digits: read digits live from a camera on small devices."""
import os
import sys
import threading

# Before OpenCV loads (it reads this once; code that imports cv2 before edge keeps OpenCV's 2**30):
# a 20000x20000 PNG would take 1.2 GB to decode, a Pi's whole memory. 2**27 keeps 134-MP photos.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(2**27))
# FFmpeg's own log lines ("moov atom not found", "Connection refused") off, read when its backend
# loads: the app, and the API's SourceError, say what went wrong in one line of their own
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

PROG = "edge-digits"
CAPTURE_SIZE = (640, 480)  # (w, h) a camera is asked for and the demo draws, unless the user sets one
CAPTURE_FPS = 30.0  # a camera's rate and the demo's pace, unless the user sets one
VERSION = "0.1.0"  # the version when not installed (a checkout); keep equal to setup.cfg's


def utf8_name(name) -> bool:
    """False for a name holding bytes that are not UTF-8 (argv's surrogates): OpenCV crashes the process on one."""
    try:
        str(name).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


_WARN_LOCK = threading.Lock()


def warn(message: str):
    """One line on stderr, in one write under a lock: print() writes the newline apart, and the
    capture thread's line would split another's."""
    with _WARN_LOCK:
        sys.stderr.write(f"{PROG}: {message}\n")
        sys.stderr.flush()


def version() -> str:
    """The installed distribution's version, else VERSION."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed
    try:
        return installed(PROG)
    except PackageNotFoundError:
        return VERSION
