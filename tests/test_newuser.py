"""Issue 17: what a new user met trying the app (one test, or a few, per item)."""
import json

import pytest

from tests.conftest import ROOT, run_app


def lines_of(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# 1. a display variable that is set but unusable: headless, with one line saying why
@pytest.mark.parametrize("env", [{"DISPLAY": ":99"}, {"WAYLAND_DISPLAY": "bogus-wayland-0"}])
def test_unusable_display_runs_headless_and_says_why(env):
    r = run_app("--source", "demo", "--fps", "0", "--max-frames", "5", "--json", "-", env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    why = [line for line in r.stderr.splitlines() if "headless" in line]
    assert len(why) == 1, r.stderr
    assert "display" in why[0] and list(env.values())[0] in why[0], why[0]
    assert len(lines_of(r.stdout)) == 5


# 3. headless runs on images print what was read in each image
def test_headless_images_print_their_readings(tmp_path):
    import cv2

    from tests.pages import render_page
    for name, numbers in {"a.png": [("2024", 60, 200, 70)], "b.png": [("315", 100, 150, 60)]}.items():
        cv2.imwrite(str(tmp_path / name), render_page(numbers)[0])
    r = run_app("--source", tmp_path / "a.png", "--no-display")
    assert r.returncode == 0, r.stderr
    assert f"{tmp_path / 'a.png'}: 2024" in r.stdout, r.stdout
    r = run_app("--source", tmp_path, "--no-display")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"{tmp_path / 'a.png'}: 2024") and lines[1].startswith(f"{tmp_path / 'b.png'}: 315")


# 9. messages that said the wrong thing
def test_empty_source_folder_model_and_plural(tmp_path):
    from tests.test_errors import assert_one_line_error
    line = assert_one_line_error(run_app("--source", ""), "--source is empty")
    assert "no images found" not in line
    assert_one_line_error(run_app("--source", "demo", "--recognizer", tmp_path), "is a folder")
    assert_one_line_error(run_app("--source", "demo", "--detector", tmp_path), "is a folder")
    r = run_app("--source", "demo", "--fps", "0", "--max-frames", "1", "--no-display")
    assert r.returncode == 0 and "processed 1 frame" in r.stderr and "1 frames" not in r.stderr, r.stderr


def catches_sigterm(pid: int) -> bool:
    """Whether the process has a SIGTERM handler (Linux /proc): main.py's first act sets one."""
    import signal
    try:
        with open(f"/proc/{pid}/status") as f:
            caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(caught >> (signal.SIGTERM - 1) & 1)


# 4. Ctrl-C while the modules load: quiet, and the documented status (0, as for any SIGINT)
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5])
def test_sigint_during_start_up_is_quiet(delay):
    import os
    import signal
    import subprocess
    import sys
    import time
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--source", "demo", "--max-frames", "100000"],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not catches_sigterm(p.pid) and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)  # the launcher's handlers are in (before them, Python's own Ctrl-C traceback)
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert p.returncode == 0, (p.returncode, err)


def _one_line_argument_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("edge-digits: error:"), r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


# 5. an ROI outside the frame, and a negative one
def test_roi_outside_the_frame_is_said_once(tmp_path):
    import cv2
    import numpy as np
    from tests.test_errors import assert_one_line_error
    assert_one_line_error(run_app("--source", "demo", "--fps", "0", "--max-frames", "5", "--roi", "700,500,100,100"),
                          "--roi", "outside", "640x480")
    # a source whose size is not known up front (a folder, like a live camera): a warning, once
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.full((480, 640), 255, np.uint8))
    r = run_app("--source", tmp_path, "--roi", "700,500,100,100", "--no-display")
    assert r.returncode == 0, r.stderr
    assert [line for line in r.stderr.splitlines() if "--roi" in line and "outside" in line] != []
    assert sum("--roi" in line for line in r.stderr.splitlines()) == 1, r.stderr
    _one_line_argument_error(run_app("--roi", "-10,-10,100,100"), "--roi", "negative")


# 6. rates that are no rates, a zero size
@pytest.mark.parametrize("args", [["--fps", "-1"], ["--fps", "nan"], ["--fps", "inf"], ["--width", "0"],
                                  ["--height", "0"], ["--fps", "-1", "--save-video", "out.avi"]])
def test_bad_rates_and_zero_sizes_are_refused(args, tmp_path):
    _one_line_argument_error(run_app("--source", "demo", "--max-frames", "1", *args, cwd=tmp_path),
                             args[0], "between")


# 7. sizes need an upper bound and one-line errors
@pytest.mark.parametrize("args", [["--width", "99999999999999999999"], ["--width", "3000000000", "--height", "10"],
                                  ["--width", "20000", "--height", "20000"], ["--height", "5000"]])
def test_huge_sizes_are_refused_in_one_line(args):
    _one_line_argument_error(run_app("--source", "demo", "--max-frames", "1", *args, timeout=60),
                             "between 1 and")


# 8. FFmpeg's own log lines must not make a one-line error two
def test_ffmpeg_log_lines_do_not_leak(tmp_path):
    import socket

    import cv2
    import numpy as np
    writer = cv2.VideoWriter(str(tmp_path / "ok.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(20):
        writer.write(np.full((48, 64, 3), i * 10, np.uint8))
    writer.release()
    data = (tmp_path / "ok.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # the index ('moov' atom) is at the end
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for source in (tmp_path / "cut.mp4", f"rtsp://127.0.0.1:{port}/x"):
        r = run_app("--source", source, "--max-frames", "1", timeout=60)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("edge-digits: error:"), r.stderr


# 11. a folder of mixed sizes: letterboxed in the saved video, not stretched
def test_mixed_sizes_are_letterboxed_in_the_video(tmp_path):
    import cv2
    import numpy as np

    from edge.output import VideoSink
    sink = VideoSink(str(tmp_path / "v.avi"), 5)
    sink.write(np.zeros((480, 640, 3), np.uint8))
    sink.write(np.full((1280, 960, 3), 255, np.uint8))  # a portrait photo
    sink.close()
    cap = cv2.VideoCapture(str(tmp_path / "v.avi"))
    cap.read()
    ok, frame = cap.read()
    assert ok and frame.shape == (480, 640, 3)
    gray = frame.mean(axis=2)
    assert gray[:, :100].max() < 60 and gray[:, -100:].max() < 60  # black bars beside it
    assert gray[:, 150:490].min() > 190  # the photo, 360 px wide at 480 high (3:4 kept)


def test_a_disk_filling_up_closes_the_video_playable_and_says_so(tmp_path, monkeypatch):
    """Recording onto a disk that fills: before, the MP4 lost its index (unplayable) and the app said
    'video saved' with status 0. The video is closed while there is room, and it is an output error."""
    import os
    import types

    import cv2
    import numpy as np

    from edge import output
    free = {"bytes": 10**9}
    monkeypatch.setattr(output.shutil, "disk_usage", lambda _: types.SimpleNamespace(free=free["bytes"]))
    path = tmp_path / "v.mp4"
    path.write_bytes(bytes(3 * 2**20))  # an old video, overwritten: its room is free, its size no growth
    free["bytes"] = 6 * 2**20  # 9 MB once the old video is gone
    sink = output.VideoSink(str(path), 30, overwrite=True)
    for i in range(5):
        sink.write(np.full((48, 64, 3), i * 40, np.uint8))
    free["bytes"] = 2**20  # 1 MB left
    sink._space_checked = -1.0  # looked at once a second: now
    with pytest.raises(output.OutputError, match=r"v.mp4: 1.0 MB left on its disk; the video, 5 frames, was closed"):
        sink.write(np.zeros((48, 64, 3), np.uint8))
    sink.close()  # the app's clean-up closes it again: harmless
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5 and cap.read()[0]
    assert os.path.getsize(path) > 0


def test_a_live_sources_video_plays_in_real_time(tmp_path):
    """A camera drops the frames the reader has no time for: at 10 read a second, a 30 FPS video
    holds each for three frames, so it plays in real time; a minute lost, or the clock stepped
    back, is one frame, not a still; frames faster than the video's rate share its frames."""
    import cv2
    import numpy as np

    from edge.output import VideoSink

    def video(times, fps=30, paced=True):
        sink = VideoSink(str(tmp_path / "v.avi"), fps, overwrite=True, paced=paced)
        for i, t in enumerate(times):
            sink.write(np.full((48, 64, 3), i % 250, np.uint8), t)
        sink.close()
        return sink

    tenth = [1000 + i / 10 for i in range(20)] + [1062 + i / 10 for i in range(10)]  # a minute lost between
    sink = video(tenth)
    assert sink.frames == 19 * 3 + 1 + 9 * 3 + 1 and sink.received == 30
    assert int(cv2.VideoCapture(str(tmp_path / "v.avi")).get(cv2.CAP_PROP_FRAME_COUNT)) == sink.frames
    assert video([100.0, 100.1, 40.0, 40.1, 40.2]).frames == 3 + 1 + 3 + 3 + 1  # the clock stepped back 60 s
    assert video([1000 + i / 60 for i in range(60)]).frames == 30  # 60 a second into a 30 FPS video: 1 s
    assert video([1000 + i / 10 for i in range(5)], fps=1000).frames == 4 * 6 + 1  # at most 60 FPS
    assert video(tenth, paced=False).frames == 30  # a file's frames are all read: one video frame each


@pytest.mark.parametrize("live,frames", [(True, 4 * 3 + 1), (False, 5)])
def test_the_app_paces_the_video_of_a_live_source_not_of_a_file(tmp_path, monkeypatch, live, frames):
    """Five frames a tenth of a second apart: a camera's make 1.3 s of a 30 FPS video, a file's five frames."""
    import cv2
    import numpy as np

    import edge.capture
    from edge.capture.base import FrameSource
    from edge.cli import build_parser, run
    from edge.types import Frame

    class Source(FrameSource):
        name = "fake"

        def __iter__(self):
            for i in range(5):
                yield Frame(np.full((48, 64, 3), 200, np.uint8), i, 1000 + i / 10, self.name)

    Source.live = live
    monkeypatch.setattr(edge.capture, "open_source", lambda *a, **k: Source())
    video = tmp_path / "v.avi"
    args = build_parser().parse_args(["--save-video", str(video), "--no-display", "-q"])
    stop = type("Stop", (), {"raised": False, "ignore": lambda self: None})()
    assert run(args, stop) == 0
    assert int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT)) == frames


# 12. one list of video extensions; every option in the README's table; one Python range; headless snapshots
def test_video_extensions_options_and_python_range_agree():
    import configparser
    import re

    from edge.output import OutputError, VideoSink
    from edge.video_formats import VIDEO_EXTENSIONS
    readme = (ROOT / "README.md").read_text()
    help_text = " ".join(run_app("--help").stdout.split())
    with pytest.raises(OutputError) as e:
        VideoSink("out.gif", 30)
    for ext in VIDEO_EXTENSIONS:
        assert ext in help_text and ext in str(e.value)
    row = next(line for line in readme.splitlines() if line.startswith("| `--save-video"))
    assert set(re.findall(r"`(\.\w+)`", row)) == set(VIDEO_EXTENSIONS)
    table = {m for line in readme.splitlines() if line.startswith("| `-") for m in re.findall(r"`(--[\w-]+)", line)}
    options = set(re.findall(r"(?<![\w-])(--[a-z][\w-]+)", help_text)) - {"--help"}
    assert options <= table, f"options missing from the README's table: {sorted(options - table)}"
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    low, high = re.fullmatch(r">=3\.(\d+),<3\.(\d+)", cfg["options"]["python_requires"].replace(" ", "")).groups()
    assert f"Python 3.{low}-3.{int(high) - 1}" in readme


def test_headless_snapshots(tmp_path):
    r = run_app("--source", "demo", "--fps", "0", "--max-frames", "4", "--snapshot-every", "2",
                "--snapshot-dir", tmp_path / "snaps", "-q")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "snaps").glob("*.png"))) == 2
    for f in (tmp_path / "snaps").glob("*.json"):
        assert json.loads(f.read_text())["source"] == "demo"


def test_a_snapshot_folder_that_cannot_be_written_is_one_line_at_start(tmp_path):
    (tmp_path / "afile").write_text("in the way")
    for every in (["--snapshot-every", "1"], []):  # without it, the 's' key or SIGUSR1 found it mid-run
        r = run_app("--source", "demo", "--fps", "0", "--max-frames", "4", *every,
                    "--snapshot-dir", tmp_path / "afile", "-q")
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "is a file, not a folder" in r.stderr, r.stderr


def test_two_snapshots_of_one_frame_keep_both(tmp_path):
    """A second 's' on a paused frame (the debug view, say) once overwrote the first."""
    import numpy as np

    from edge.cli import save_snapshot
    from edge.types import Digits, Frame, FrameResult
    result = FrameResult(Frame(np.zeros((8, 8, 3), np.uint8), 7, 0.0, "t"), Digits(), [], {}, None, [])
    said = []
    for shade in (0, 255):
        save_snapshot(tmp_path, result, np.full((8, 8, 3), shade, np.uint8), said.append)
    assert len(list(tmp_path.glob("*.png"))) == 2 and len(list(tmp_path.glob("*.json"))) == 2
    assert said[0] != said[1]


def test_sigusr1_saves_a_snapshot(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--source", "demo", "--fps", "10",
                          "--snapshot-dir", str(tmp_path), "--no-display"], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while "reading demo" not in p.stderr.readline():  # started: its handlers are in place
            assert p.poll() is None
        p.send_signal(signal.SIGUSR1)
        for _ in range(600):  # until it is saved (bounded: the test fails instead of hanging)
            if list(tmp_path.glob("*.json")):
                break
            time.sleep(0.05)
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=60)
    assert p.returncode == 0
    assert len(list(tmp_path.glob("*.png"))) == 1 and len(list(tmp_path.glob("*.json"))) == 1


# 13. no 'showing' in headless runs; a progress line every few seconds on a terminal only
def test_no_camera_message_fits_headless_runs(monkeypatch, capsys):
    import edge.capture as capture
    from edge.capture import SourceError

    def no_camera(*_):
        raise SourceError("no camera")
    monkeypatch.setattr(capture, "open_camera", no_camera)
    source = capture.open_source("auto", 640, 480, 0)
    source.close()
    err = capsys.readouterr().err
    assert "demo" in err and "showing" not in err


def test_progress_line_every_few_seconds():
    import io
    import types

    from edge.progress import Progress, progress_wanted
    now = [0.0]
    out = io.StringIO()
    ticker = Progress(out, every_seconds=5, clock=lambda: now[0])
    numbers = [types.SimpleNamespace(text="4821"), types.SimpleNamespace(text="96")]
    lines = []
    for frame in range(1, 301):  # 10 s at 30 FPS
        now[0] = frame / 30
        lines.append(ticker.update(frame, numbers))
    printed = [line for line in lines if line]
    assert len(printed) == 2 and out.getvalue().count("\n") == 2
    assert "150 frames" in printed[0] and "30.0 FPS" in printed[0] and "4821, 96" in printed[0]

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    assert progress_wanted(quiet=False, headless=True, stream=Terminal())
    assert not progress_wanted(quiet=True, headless=True, stream=Terminal())
    assert not progress_wanted(quiet=False, headless=True, stream=io.StringIO())  # a log file or pipe
    assert not progress_wanted(quiet=False, headless=False, stream=Terminal())  # the window shows it


def test_headless_run_on_a_terminal_shows_progress():
    import os
    import pty
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    args = [sys.executable, str(ROOT / "main.py"), "--source", "demo", "--fps", "30", "--max-frames", "200"]
    main_fd, term_fd = pty.openpty()
    try:  # 200 frames at 30 FPS take at least 6.7 s, more than the 5 s between lines
        r = subprocess.run(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=term_fd, timeout=120)
        os.close(term_fd)
        err = b""
        while True:
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
    finally:
        os.close(main_fd)
    assert r.returncode == 0, err
    assert b"FPS, reading:" in err, err
    r = run_app("--source", "demo", "--fps", "30", "--max-frames", "200")  # stderr a pipe: no progress
    assert "FPS, reading:" not in r.stderr


# 14. the GUI build of OpenCV without X libraries (Raspberry Pi OS Lite): one line saying what to install
@pytest.mark.parametrize("failure", [
    "raise ImportError('libxcb.so.1: cannot open shared object file: No such file or directory')",
    "raise ModuleNotFoundError(\"No module named 'cv2'\", name='cv2')",
])
def test_opencv_that_cannot_load_is_one_line(tmp_path, failure):
    import os
    (tmp_path / "cv2").mkdir()
    (tmp_path / "cv2" / "__init__.py").write_text(failure + "\n")
    env = {"PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = run_app("--source", "demo", "--max-frames", "1", env=env)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("edge-digits: error:"), r.stderr
    assert "opencv-python-headless" in r.stderr


# 10. the overlay on a dense photo: legible labels out of each other's way, status off the readings, ROI drawn
def _dense_result(with_corner_number=True):
    import numpy as np

    from edge.types import Digits, Frame, FrameResult, Number
    numbers = []
    for row in range(5):
        for col in range(4):  # 3 narrow digits (12 px wide, 2 px apart), numbers 30 px apart
            x, y, h = 30 + col * 150, 60 + row * 80, 30 if row % 2 else 60 if row == 4 else 24
            y = min(y, 480 - h - 40)
            boxes = np.array([[x + i * 14, y, 12, h] for i in range(3)])
            digits = Digits(boxes, labels=np.array([1, 0, 6]), confidence=np.array([0.97, 0.57, 1.0]))
            numbers.append(Number("106", 0.57, (x, y, 40, h), digits, stable=True))
    if with_corner_number:
        boxes = np.array([[2, 2, 20, 30], [24, 2, 20, 30]])
        numbers.append(Number("42", 0.9, (2, 2, 42, 30), Digits(boxes, labels=np.array([4, 2]),
                                                                confidence=np.array([0.9, 0.95]))))
    frame = Frame(np.full((480, 640, 3), 200, np.uint8), 0, 0.0, "dense.jpg")
    return FrameResult(frame, Digits(), numbers, {"segment": 4.0})


def test_overlay_labels_stay_apart_on_a_dense_photo():
    from edge.draw import _overlaps, layout
    result = _dense_result()
    labels = layout(result, (480, 640, 3), fps=30.0)
    digits = [tuple(b) for n in result.numbers for b in n.digits.boxes.tolist()]
    for i, a in enumerate(labels):
        assert not any(_overlaps(a.rect, b.rect) for b in labels[i + 1:]), a
        assert not any(_overlaps(a.rect, d) for d in digits), a
        x, y, w, h = a.rect
        assert x >= 0 and y >= 0 and x + w <= 640 and y + h <= 480
    numbers = [lab for lab in labels if lab.kind == "number"]
    assert len(numbers) == len(result.numbers)  # every number keeps its label
    by_height = {n.box[3]: lab.rect[3] for n, lab in zip(result.numbers, numbers)}
    assert by_height[24] < by_height[60]  # labels scale with the digits
    assert max(lab.rect[3] for lab in numbers) <= 60  # and are never larger than the digits
    (status,) = [lab for lab in labels if lab.kind == "status"]
    boxes = [(n.box[0] - 3, n.box[1] - 3, n.box[2] + 6, n.box[3] + 6) for n in result.numbers]
    assert not any(_overlaps(status.rect, b) for b in boxes)  # moved off the reading in its corner


def test_overlay_labels_grow_on_a_big_frame_and_the_status_fits_a_small_one():
    """A 4000x3000 photo is seen shrunk to a window or page: its labels' caps grow with it. A
    160x120 frame's status line is made smaller to fit its width; a 32x24 one draws without error."""
    import numpy as np

    from edge.draw import draw_result, layout
    from edge.types import Digits, Frame, FrameResult, Number
    boxes = np.array([[1000 + i * 420, 1200, 400, 600] for i in range(4)])
    digits = Digits(boxes, labels=np.array([4, 8, 2, 1]), confidence=np.full(4, 0.99))
    big = FrameResult(Frame(np.full((3000, 4000, 3), 200, np.uint8), 0, 0.0, "big.jpg"), digits,
                      [Number("4821", 0.99, (1000, 1200, 1660, 600), digits, stable=True)], {})
    labels = {lab.kind: lab for lab in layout(big, (3000, 4000, 3), 30.0)}
    assert labels["number"].scale > 3 * 1.2 and labels["digit"].scale > 3 * 0.6  # 1.2 and 0.6 at 640x480
    small = FrameResult(Frame(np.full((120, 160, 3), 200, np.uint8), 0, 0.0, "s"), Digits(), [], {})
    (status,) = layout(small, (120, 160, 3), 30.0)
    assert status.rect[0] >= 0 and status.rect[0] + status.rect[2] <= 160
    tiny = FrameResult(Frame(np.full((24, 32, 3), 200, np.uint8), 0, 0.0, "t"), Digits(), [], {})
    assert draw_result(tiny, 30.0).shape == (24, 32, 3)


def test_overlay_outlines_the_roi():
    from edge.draw import ROI, draw_result
    image = draw_result(_dense_result(False), 30.0, roi=(5, 300, 600, 170))
    assert tuple(image[300, 320]) == ROI and tuple(image[469, 320]) == ROI and tuple(image[400, 5]) == ROI


def test_window_keys_arrows_and_shift_are_no_commands():
    """An arrow's keysym (Left 0xFF51) once came out as 'Q' (its low byte) and quit; Shift
    skipped a picture; S and D with Caps Lock did nothing."""
    from edge.display import KEY_QUIT, OTHER_KEY, key_code
    assert key_code(0xFF51) == OTHER_KEY and OTHER_KEY not in KEY_QUIT  # Left: the next picture
    assert key_code(0xFFE1) == -1 and key_code(-1) == -1  # Shift alone, no key
    assert [key_code(ord(c)) for c in "qQsSdD "] == [ord(c) for c in "qqssdd "]
    assert key_code(27) in KEY_QUIT and key_code(ord("Q")) in KEY_QUIT
    assert key_code(0x100071) == ord("q") and key_code(0x20053) == ord("s")  # GTK: Num Lock, Caps Lock bits
    assert key_code(0xFE03) == key_code(0xFF7F) == -1  # AltGr, Num Lock alone


def test_on_a_terminal_the_percentage_line_gives_way_to_readings_and_counts_to_max_frames(tmp_path):
    """Before, a reading was glued to the percentage line ('10/60 frames (16%) 235.0 FPSdemo frame 14:
    4821'), and with --max-frames 40 the count went on to '40/60 frames (66%)'."""
    import os
    import pty
    import subprocess
    import sys

    import cv2
    import numpy as np

    from edge.capture.demo import DemoSource
    video = tmp_path / "demo.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for i in range(60):  # blank at first: the readings come after the first percentage line
        writer.write(DemoSource().render(i) if i >= 15 else np.full((480, 640, 3), 128, np.uint8))
    writer.release()
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--source", str(video), "--max-frames", "40"],
                         cwd=ROOT, env=env, stdout=follower, stderr=follower)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the app ended: the terminal is gone
            break
        if not chunk:
            break
        out += chunk
    assert p.wait(timeout=60) == 0
    text = out.decode()
    shown = [line.split("\r")[-1].replace("\x1b[K", "") for line in text.replace("\r\n", "\n").split("\n")]
    readings = [line for line in shown if ".avi frame" in line]  # as the terminal shows them
    assert len(readings) == 4 and all(line.startswith(str(video)) for line in readings), readings
    assert "40/40 frames (100%)" in text and "/60 frames" not in text


def test_the_readmes_python_example_reads_pictures_as_pictures(tmp_path):
    """The README's loop, run on a folder of two pictures: each read at once, stable (as the CLI
    reads them), where LineReader() alone voted them as video frames and reported nothing stable."""
    import re
    import subprocess
    import sys

    import cv2

    from tests.conftest import rendered
    cv2.imwrite(str(tmp_path / "a.png"), rendered("2024", height=60))
    cv2.imwrite(str(tmp_path / "b.png"), rendered("315", height=60))
    code = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    assert 'open_source("demo")' in code
    code = code.replace('open_source("demo")', f'open_source({str(tmp_path / "*.png")!r})')
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.splitlines() == ["[('2024', True)]", "[('315', True)]"], r.stdout


def test_the_tensorflow_fallback_reads_the_demo_without_its_start_up_chatter(tmp_path):
    """With neither ai-edge-litert nor tflite-runtime importable, tensorflow.lite runs the models;
    its CUDA and oneDNN lines used to come first on the console."""
    from tests.conftest import need_module
    need_module("tensorflow")
    for name in ("ai_edge_litert", "tflite_runtime"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('not installed here')\n")
    r = run_app("--source", "demo", "--fps", "0", "--max-frames", "20", "--json", "-", "--no-display",
                env={"PYTHONPATH": str(tmp_path)}, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "tensorflow.lite" in r.stderr, r.stderr
    assert [line for line in r.stderr.splitlines() if not line.startswith("edge-digits: ")] == [], r.stderr
    assert {n["text"] for n in lines_of(r.stdout)[-1]["numbers"]} >= {"4821"}


def test_overlay_boxes_a_plates_letters_as_well_as_its_digits():
    """With --charset alnum the overlay drew only the digits' boxes and confidences: a plate's
    letters had none, and labels could land on them."""
    import numpy as np

    from edge.draw import DIGIT_BOX, draw_result, layout
    from edge.line_reader import ReadChar
    from edge.types import Digits, Frame, FrameResult, Number
    chars = [ReadChar(c, 0.9, (100 + 30 * i, 200, 24, 40)) for i, c in enumerate("AB-12")]
    digits = Digits(np.array([c.box for c in chars[3:]]), np.array([1, 2]), np.array([0.9, 0.9]))
    plate = Number("AB-12", 0.9, (100, 200, 144, 40), digits, stable=True, chars=chars)
    result = FrameResult(Frame(np.full((480, 640, 3), 200, np.uint8), 0, 0.0, "p"), digits, [plate], {})
    image = draw_result(result, 30.0)
    assert tuple(image[220, 100]) == DIGIT_BOX and tuple(image[220, 130]) == DIGIT_BOX  # A and B boxed
    assert tuple(image[220, 160]) != DIGIT_BOX  # the '-' is not
    assert len([lab for lab in layout(result, image.shape, 30.0) if lab.kind == "digit"]) == 4
