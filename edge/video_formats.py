"""The video files --save-video writes, in one place (no cv2 import: --help reads it too)."""

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".avi": "MJPG", ".mkv": "MJPG", ".mov": "mp4v"}  # extension -> codec
VIDEO_EXTENSIONS = tuple(FOURCC)  # --help, the error message and the README list these
