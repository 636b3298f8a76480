"""Raspberry Pi camera through Picamera2 (imported only when asked for)."""
from __future__ import annotations

from edge import CAPTURE_SIZE
from edge.capture.base import SourceError

INSTALL_HINT = ("Picamera2 is not installed: on Raspberry Pi OS run 'sudo apt install python3-picamera2' "
                "and create the venv with 'python3 -m venv --system-site-packages .venv'")


NUMPY_HINT = ("if it says numpy.dtype size changed, run '.venv/bin/pip install simplejpeg': Debian's simplejpeg, "
              "which Picamera2 imports, is built for Debian's numpy 1.x and this app needs numpy 2")


class _PicamDevice:
    """Adapts Picamera2 to the read()/release() shape LiveSource expects. The main stream
    is BGR ('RGB888' in libcamera's naming) at the size asked for."""

    def __init__(self, width: int, height: int, fps: float):
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise SourceError(INSTALL_HINT) from None
        except Exception as e:  # "numpy.dtype size changed": Debian's simplejpeg is built for its numpy 1.x
            raise SourceError(f"Picamera2 cannot be imported ({str(e).splitlines()[0] if str(e) else e!r}); "
                              f"{NUMPY_HINT}") from None
        self.cam = None
        try:
            self.cam = Picamera2()
            controls = {"FrameRate": float(fps)} if fps else {}
            size = (width or CAPTURE_SIZE[0], height or CAPTURE_SIZE[1])
            config = self.cam.create_video_configuration(main={"size": size, "format": "RGB888"}, controls=controls)
            self.cam.configure(config)
            self.cam.start()
        except Exception as e:  # no camera attached, camera busy, libcamera errors
            self.release()  # a half-opened camera would stay busy for the next attempt
            raise SourceError(f"cannot start the Pi camera: {str(e).splitlines()[0] if str(e) else e!r}") from None

    def read(self):
        return True, self.cam.capture_array("main")

    def release(self):
        if self.cam is None:
            return
        for step in (self.cam.stop, self.cam.close):
            try:
                step()
            except Exception:
                pass


def open_picamera(width: int, height: int, fps: float):
    return lambda: _PicamDevice(width, height, fps)
