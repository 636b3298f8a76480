"""Live sources (cameras, streams, Picamera2): read on a background thread that keeps only
the newest frame, so processing never falls behind; survive the source going away.

When the device stops delivering, the reader says so once, retries with exponential
backoff and says when it is back. With `exit_on_loss`, iteration raises SourceLost.
"""
from __future__ import annotations

import contextlib
import re
import threading
import time
from typing import Callable

import cv2

from edge import warn
from edge.capture.base import FrameSource, SourceError, SourceLost
from edge.types import Frame


STALL_SECONDS = 3.0  # no new frame this long is a stall, said once ...
STALL_PERIODS = 3  # ... or this many frame periods of a source polled slower (--fps 0.2: 15 s)
HUNG_READ_SECONDS = 15.0  # a driver call blocked this long has hung (V4L2 gives up on its own at 10 s)


def _release_quietly(device):
    try:
        device.release()
    except Exception:
        pass


class LiveSource(FrameSource):
    live = True

    def __init__(self, open_device: Callable[[], object], name: str, exit_on_loss: bool = False,
                 stall_seconds: float = STALL_SECONDS, backoff=(0.25, 5.0), poll_seconds: float = 0.05, say=warn,
                 hung_seconds: float = HUNG_READ_SECONDS):
        """open_device() returns an object with read() -> (ok, image) and release(), or raises
        SourceError. It is called once here (errors reach the caller) and again to reconnect."""
        self.name, self.exit_on_loss, self.say = name, exit_on_loss, say  # say: before the thread can use it
        self.stall_seconds, self.backoff, self.poll_seconds = stall_seconds, backoff, poll_seconds
        self.hung_seconds = hung_seconds
        self._open_device = open_device
        self._device = open_device()
        self._cond = threading.Condition()
        self._latest: tuple[int, float, object, int] | None = None  # (sequence, time, image, outages before it)
        self._lost = False
        self._stop = threading.Event()
        self._generation = 0  # a capture thread whose driver call hung is left behind: a newer one reads
        self._reading_since: float | None = None  # when the current thread's driver call (read or open) began
        self._seq = 0
        self._hung = ""  # with exit_on_loss: why the run ends, when a driver call hung
        self._thread = self._start_thread()

    def _start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(self._generation,), name=f"capture:{self.name}",
                                  daemon=True)
        thread.start()
        return thread

    def _abandon_hung_read(self):
        """The driver's read() or open has not returned for hung_seconds (a Pi camera can wait
        forever): leave that thread behind, release its device (on a thread of its own: that may
        hang too; a Pi camera held open cannot be opened again), and open it anew in a new thread."""
        with self._cond:  # atomic with the reader's own check: a left-behind thread writes nothing more
            self._generation += 1
            self.outages += int(not self._lost)
            hung, self._device, self._reading_since, self._lost = self._device, None, None, True
        if hung is not None:
            threading.Thread(target=_release_quietly, args=(hung,), name=f"release:{self.name}", daemon=True).start()
        if self.exit_on_loss:  # the run ends (__iter__ raises SourceLost): nothing to open again
            self._hung = f"the driver hung for {self.hung_seconds:g} s"
            self._thread = None  # left behind, hung: close() does not wait for it
            return
        self.say(f"{self.name}: the driver hung for {self.hung_seconds:.0f} s; opening it again")
        self._thread = self._start_thread()

    def _current(self, generation: int, reading_since: float | None = None) -> bool:
        """Whether this thread still reads (not left behind); sets when its driver call began."""
        with self._cond:
            if generation != self._generation:
                return False
            self._reading_since = reading_since
            return True

    @property
    def lost(self) -> bool:
        return self._lost

    def _set_lost(self, lost: bool, why: str = ""):
        with self._cond:
            changed, self._lost = self._lost != lost, lost
            self.outages += int(changed and lost)
            self._cond.notify_all()
        if changed and not (lost and self.exit_on_loss):  # then the run ends on SourceLost's own line
            self.say(f"{self.name}: {why}" if lost else f"{self.name}: source is back")

    def _run(self, generation: int):
        delay = self.backoff[0]
        while not self._stop.is_set() and self._current(generation):
            device = self._device
            if device is None:
                if self._stop.wait(delay):
                    break
                delay = min(delay * 2, self.backoff[1])
                if not self._current(generation, time.monotonic()):  # an open can hang too (a Pi camera's)
                    return
                try:
                    device = self._open_device()
                except SourceError:
                    continue
                with self._cond:
                    current = generation == self._generation and not self._stop.is_set()
                    if current:
                        self._device, self._reading_since = device, None
                if not current:  # closed, or left behind while it opened
                    _release_quietly(device)
                    return
                continue
            if not self._current(generation, time.monotonic()):
                return
            try:
                ok, image = device.read()
            except Exception:  # a driver error is a lost source, not a crash
                ok, image = False, None
            with self._cond:  # it hung and was left behind meanwhile: a newer thread reads; its device is released
                if generation != self._generation:
                    return
                self._reading_since = None
                if ok and image is not None:
                    self._seq += 1
                    self._latest = (self._seq, time.time(), image, self.outages)
                    self._cond.notify_all()
            if ok and image is not None:
                delay = self.backoff[0]
                if self._lost:
                    self._set_lost(False)
                continue
            self._set_lost(True, "no frames (unplugged or stream dropped?); retrying")
            try:
                device.release()
            except Exception:
                pass
            self._device = None

    def __iter__(self):
        index, last_seq, last_time = 0, 0, time.monotonic()
        while not self._stop.is_set():
            with self._cond:
                self._cond.wait_for(lambda: self._latest is not None and self._latest[0] != last_seq,
                                    timeout=self.poll_seconds)
                latest, lost = self._latest, self._lost
            if latest is not None and latest[0] != last_seq:
                last_seq, last_time = latest[0], time.monotonic()
                yield Frame(latest[2], index, latest[1], self.name, latest[3])
                index += 1
                continue
            with self._cond:
                since = self._reading_since
            if since is not None and time.monotonic() - since > self.hung_seconds and not self._stop.is_set():
                self._abandon_hung_read()
                lost = True
            stalled = time.monotonic() - last_time > self.stall_seconds
            if stalled and not lost:
                self._set_lost(True, f"no new frame for {self.stall_seconds:.0f} s; waiting")
                lost = True
            if lost and self.exit_on_loss:
                raise SourceLost(f"{self.name} stopped delivering frames" + (f" ({self._hung})" if self._hung else ""))
            yield None

    def close(self):
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=1.0)
        device, self._device = self._device, None
        if device is not None and (thread is None or not thread.is_alive()):
            device.release()


@contextlib.contextmanager
def _opencv_quiet():
    """OpenCV's own lines ('can't open camera by index') off while a source is probed: its
    SourceError says it. The CLI keeps them off for the whole run."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def open_camera(index_or_path, width: int, height: int, fps: float):
    """A V4L2 (or the platform's default) camera, with the size and rate asked for."""
    def open_device():
        backend = cv2.CAP_V4L2 if hasattr(cv2, "CAP_V4L2") and _is_linux() else cv2.CAP_ANY
        try:
            with _opencv_quiet():
                cap = cv2.VideoCapture(index_or_path, backend)
        except (cv2.error, OverflowError):  # an index past a C int
            cap = cv2.VideoCapture()
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"no camera at {index_or_path!r}; try another --source index, a video file, "
                              "or --source demo")
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap
    return open_device


def open_url(url: str, timeout_ms: int = 5000):
    """An FFmpeg capture of a URL, or SourceError."""
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
    with _opencv_quiet():
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"cannot open stream {without_password(url)}: unreachable, refused or not a video stream")
    return cap


def open_stream(url: str, timeout_ms: int = 5000, fps: float = 0.0, first=None):
    """A stream's opener for LiveSource; `first`: a capture of it already open, used first."""
    pending = [first] if first is not None else []

    def open_capture():
        return pending.pop() if pending else open_url(url, timeout_ms)
    return lambda: SnapshotsOrStream(open_capture, fps)


def has_length(cap) -> bool:
    """A video file behind a URL (http, ftp, file) says how many frames it has; a live stream
    does not, and a snapshot URL's one picture is polled again."""
    return cap.get(cv2.CAP_PROP_FRAME_COUNT) > 1


HOST_AFTER_AT = re.compile(r"@(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d+)?(?=[/?#]|$)")  # '@host[:port]', end
SECRET_PARAMETERS = re.compile(r"([?&;](?:pwd|pass|passwd|password|psw|loginpas|token|key|apikey|api_key|auth|"
                               r"secret)=)[^&;#]*", re.IGNORECASE)  # as IP cameras take them in the query


def without_password(url: str) -> str:
    """url with its password shown as *** ('rtsp://admin:***@cam/live', '...?user=admin&pwd=***'):
    a source's name goes to the console, the JSON lines, MQTT and the web view. A password may
    hold an unescaped '/', '?', '#' or '@': it ends at the first '@' followed by a host."""
    scheme, sep, rest = url.partition("://")
    user, colon, _ = rest.partition(":")
    if sep and colon and not any(c in user for c in "/?#@"):
        at = next((m.start() for m in HOST_AFTER_AT.finditer(rest, len(user))), None)
        if at is not None:  # privacy first: 'cam:8080/snap@2x.jpg' shows as 'cam:***@2x.jpg'
            rest = f"{user}:***{rest[at:]}"
    return SECRET_PARAMETERS.sub(r"\1***", f"{scheme}{sep}{rest}")


class SnapshotsOrStream:
    """A stream, or a URL that gives one picture a request (an IP camera's or an ESP32-CAM's
    snapshot URL): one that ends after its first frame is opened again for each next frame, at
    most `fps` a second, rather than reported lost and found on every frame."""

    def __init__(self, open_capture: Callable[[], object], fps: float = 0.0):
        self._open, self._period = open_capture, 1.0 / fps if fps else 0.0
        self._cap = open_capture()
        self._frames = 0  # read from this connection
        self._snapshots = False
        self._opened = time.monotonic()

    def read(self):
        ok, image = self._cap.read()
        if ok and image is not None:
            self._frames += 1
            return ok, image
        if not (self._snapshots or self._frames == 1):  # a stream that stopped: lost (LiveSource retries)
            return False, None
        self._snapshots = True
        self._cap.release()
        time.sleep(max(0.0, self._opened + self._period - time.monotonic()))
        self._opened = time.monotonic()
        try:
            self._cap = self._open()
        except SourceError:  # lost: LiveSource releases this device (its capture already is) and retries
            return False, None
        ok, image = self._cap.read()
        self._frames = int(bool(ok) and image is not None)
        return ok, image

    def release(self):
        self._cap.release()


def _is_linux() -> bool:
    import sys
    return sys.platform.startswith("linux")
