"""Faults and long runs: a camera that goes away and comes back, signals, hostile frames."""
import json
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edge.capture.base import SourceError, SourceLost
from edge.capture.live import LiveSource
from edge.lines import HEIGHT, normalize_line
from edge.normalize import normalize_crop
from edge.types import Frame
from tests.conftest import ROOT


class FlakyCamera:
    """A device that delivers frames, then dies for a while (unplugged), then comes back."""

    def __init__(self, world):
        self.world = world

    def read(self):
        time.sleep(0.005)
        if self.world["unplugged"]:
            return False, None
        self.world["served"] += 1
        return True, np.full((48, 64, 3), self.world["served"] % 255, np.uint8)

    def release(self):
        self.world["released"] += 1


def flaky_opener(world):
    def open_device():
        world["opens"] += 1
        if world["unplugged"]:
            raise SourceError("no camera")
        return FlakyCamera(world)
    return open_device


def new_world():
    return {"unplugged": False, "served": 0, "opens": 0, "released": 0}


def test_live_source_survives_unplug_and_resumes(capsys):
    world = new_world()
    source = LiveSource(flaky_opener(world), "fake camera", backoff=(0.01, 0.05))
    got, nones_while_lost = [], 0
    deadline = time.monotonic() + 10
    for frame in source:
        if time.monotonic() > deadline:
            break
        if frame is None:
            nones_while_lost += world["unplugged"]
            continue
        got.append(frame)
        if len(got) == 5:
            world["unplugged"] = True
            threading.Timer(0.4, lambda: world.update(unplugged=False)).start()
        if len(got) == 10:
            break
    source.close()
    assert len(got) == 10
    assert [f.index for f in got] == list(range(10))
    assert nones_while_lost > 0  # the loop kept turning (window alive) while the camera was gone
    assert world["opens"] >= 2  # it reconnected
    assert source.outages == 1 and not source.lost  # counted once, however many retries
    err = capsys.readouterr().err
    assert err.count("retrying") == 1 and err.count("back") == 1  # said once each


def test_live_source_keeps_only_the_newest_frame():
    world = new_world()
    source = LiveSource(flaky_opener(world), "fake camera")
    it = iter(source)
    first = next(f for f in it if f is not None)
    served = world["served"]
    deadline = time.monotonic() + 30
    while world["served"] < served + 30 and time.monotonic() < deadline:
        time.sleep(0.01)  # a slow consumer: 30 frames arrive meanwhile, however slow the machine
    second = next(f for f in it if f is not None)
    source.close()
    assert second.image[0, 0, 0] - first.image[0, 0, 0] >= 30  # it skipped ahead, no backlog
    assert second.index == first.index + 1


def test_exit_on_source_loss_raises_and_says_no_retrying():
    world, said = new_world(), []
    source = LiveSource(flaky_opener(world), "fake camera", exit_on_loss=True, backoff=(0.01, 0.05), say=said.append)
    with pytest.raises(SourceLost):
        for i, frame in enumerate(source):
            if frame is not None and frame.index == 3:
                world["unplugged"] = True
    source.close()
    assert said == []  # the run ends on SourceLost's line: "retrying" would be untrue


def test_stalled_source_is_reported_as_lost():
    class Frozen:
        def read(self):
            time.sleep(0.5)
            return False, None

        def release(self):
            pass
    calls = []

    def opener():
        calls.append(1)
        if len(calls) > 1:
            raise SourceError("gone")
        return Frozen()
    source = LiveSource(opener, "frozen", exit_on_loss=True, stall_seconds=0.2)
    with pytest.raises(SourceLost):  # that it is reported, not how soon (a shared machine's clock)
        for _ in source:
            pass
    source.close()


def test_a_read_that_blocks_is_a_stall_reported_as_lost():
    """read() neither returns a frame nor fails (a frozen stream): only the stall check can tell.
    Reconnecting, it is said once and counted; with exit_on_loss it ends the run."""
    def watch(exit_on_loss, said):
        wake = threading.Event()

        class Blocks:
            def read(self):
                wake.wait(10)
                return False, None

            def release(self):
                pass

        source = LiveSource(Blocks, "frozen", exit_on_loss=exit_on_loss, stall_seconds=0.2, hung_seconds=60,
                            say=said.append)
        deadline = time.monotonic() + 2  # 10 stalls
        try:
            for frame in source:
                assert frame is None
                if source.lost or time.monotonic() > deadline:
                    break
            return source.lost, source.outages
        finally:
            wake.set()
            source.close()

    said = []
    assert watch(False, said) == (True, 1)
    assert len(said) == 1 and said[0].startswith("frozen: no new frame for"), said
    with pytest.raises(SourceLost, match="^frozen stopped delivering frames$"):
        watch(True, said)


def test_a_hung_driver_is_left_behind_and_the_camera_opened_again(capsys):
    """A Pi camera's read() can block for good, and while its device is open it cannot be opened
    again: after hung_seconds the hung device is released and a new one opened; frames come again."""
    world = {"open": set(), "opens": 0, "released": [], "wake": threading.Event()}

    class Hangs:
        def __init__(self, n):
            self.n, self.read_count = n, 0

        def read(self):
            self.read_count += 1
            if self.n == 1 and self.read_count > 3:
                world["wake"].wait(10)  # the first device hangs after 3 frames
                return False, None
            time.sleep(0.005)
            return True, np.full((8, 8, 3), self.n, np.uint8)

        def release(self):
            world["released"].append(self.n)
            world["open"].discard(self.n)

    def opener():
        if world["open"]:  # as a Pi camera: busy while another instance holds it
            raise SourceError("camera busy")
        world["opens"] += 1
        world["open"].add(world["opens"])
        return Hangs(world["opens"])
    source = LiveSource(opener, "hangs", backoff=(0.01, 0.05), stall_seconds=0.1, hung_seconds=0.3)
    seen, deadline = [], time.monotonic() + 10
    for frame in source:
        if frame is not None:
            seen.append(int(frame.image[0, 0, 0]))
        if 2 in seen or time.monotonic() > deadline:
            break
    world["wake"].set()
    source.close()
    assert seen[0] == 1 and 2 in seen and world["opens"] == 2
    assert world["released"][0] == 1  # the hung one, before the camera could be opened again
    err = capsys.readouterr().err
    assert err.count("driver hung") == 1 and "back" in err


def test_a_hung_driver_with_exit_on_source_loss_ends_the_run_saying_so():
    wake, opens = threading.Event(), []

    class Hangs:
        def read(self):
            wake.wait(10)  # hangs
            return False, None

        def release(self):
            pass

    def opener():
        opens.append(1)
        return Hangs()
    source = LiveSource(opener, "hangs", exit_on_loss=True, stall_seconds=30, hung_seconds=0.2, say=print)
    try:
        with pytest.raises(SourceLost, match="driver hung"):
            for _ in source:
                pass
        assert len(opens) == 1  # not opened again: the run ends
        t0 = time.monotonic()
        source.close()
        assert time.monotonic() - t0 < 0.5  # the hung thread is not waited for
    finally:
        wake.set()
        source.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_stops_at_a_frame_boundary_with_every_line_and_the_video_intact(tmp_path, signum):
    import cv2
    log, video = tmp_path / "r.jsonl", tmp_path / "v.avi"
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--source", "demo", "--fps", "15",
                             "--json", str(log), "--save-video", str(video), "--no-display", "-q"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=hup_stops)
    _STARTED.append(proc)
    deadline = time.monotonic() + 30
    while (not log.exists() or log.read_text().count("\n") < 10) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signum)
    proc.wait(timeout=30)  # that it stops; how fast is the benchmark's figure (edge.bench: stop_s)
    assert proc.returncode == 0, proc.stderr.read()
    text = log.read_text()
    assert text.endswith("\n")
    frames = [json.loads(line)["frame"] for line in text.splitlines()]
    assert frames == list(range(len(frames))) and len(frames) >= 10
    cap = cv2.VideoCapture(str(video))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == len(frames)  # finalized: every processed frame is in the video


# -- hostile frames ----------------------------------------------------------

DTYPES = st.sampled_from([np.uint8, np.uint16, np.float32, np.bool_, np.int16, np.float64])


@st.composite
def frames(draw):
    dtype = draw(DTYPES)
    h = draw(st.integers(0, 300))
    w = draw(st.integers(0, 300))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    shape = (h, w) if channels is None else (h, w, channels)
    kind = draw(st.sampled_from(["random", "constant", "noise"]))
    if kind == "constant":
        value = draw(st.sampled_from([0, 1, 255, 65535, 0.5, np.nan]))
        if dtype not in (np.float32, np.float64):
            value = 0 if np.isnan(value) else min(value, np.iinfo(dtype).max if dtype != np.bool_ else 1)
        return np.full(shape, value).astype(dtype)
    if kind == "noise":
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        return (rng.random(shape) * (65535 if dtype == np.uint16 else 255 if dtype == np.uint8 else 1)).astype(dtype)
    elements = None
    if dtype in (np.float32, np.float64):
        elements = st.one_of(st.floats(-10, 1000, width=32), st.just(float("nan")), st.just(float("inf")))
    return draw(hnp.arrays(dtype, shape, elements=elements))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frames())
def test_normalize_never_raises(image):
    out = normalize_crop(image if image.ndim == 2 or image.shape[-1] in (1, 3, 4) else image[..., 0])
    assert out.shape == (28, 28) and out.dtype == np.uint8


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frames())
def test_normalize_line_never_raises(image):
    out = normalize_line(image if image.ndim == 2 or image.shape[-1] in (1, 3, 4) else image[..., 0])
    assert out.shape[0] == HEIGHT and out.shape[1] >= 4 and out.dtype == np.uint8


@pytest.fixture(scope="module")
def reader():
    from edge.line_reader import LineReader
    return LineReader()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                   HealthCheck.function_scoped_fixture])
@given(frames())
def test_whole_frame_step_never_raises(reader, image):
    from edge.draw import draw_result
    result = reader.process(Frame(image[None] if image.ndim == 3 else image, 0, 0.0, "hypothesis"))
    assert all(n.text and set(n.text) <= set("0123456789.,-/") for n in result.numbers)
    for debug in (False, True):  # what the window and --save-video show
        assert draw_result(result, 30.0, debug).shape == image.shape[:2] + (3,)


def test_huge_and_speckled_frames_finish(reader):
    from edge.detect import MAX_LINES
    rng = np.random.default_rng(0)
    specks = np.full((720, 1280), 230, np.uint8)
    ys, xs = rng.integers(0, 720, 20000), rng.integers(0, 1280, 20000)
    specks[ys, xs] = 0  # thousands of one-pixel specks
    blobs = np.where(rng.random((180, 320)) > 0.6, 0, 230).astype(np.uint8)
    blobs = np.kron(blobs, np.ones((4, 4), np.uint8))  # thousands of digit-sized blobs
    for image in (specks, blobs, np.zeros((4000, 6000, 3), np.uint8)):
        result = reader.process(Frame(image, 0, 0.0, "stress"))
        assert len(result.numbers) <= MAX_LINES


def test_the_soak_reports_memory_speed_and_what_was_read():
    from edge.soak import soak
    report = soak(60, 30, None, log=lambda *a, **k: None)
    assert report["frames"] == 60 and len(report["windows"]) == 2
    assert report["frames_with_all_numbers"] == 60 and report["other_readings"] == {}
    assert 0 < report["rss_start_mb"] and abs(report["rss_growth_mb"]) < 50


def test_after_an_outage_the_scene_is_read_anew():
    """A camera lost and back: the reading from before the outage is not held as the stable
    reading of what the camera shows now (the tracker is reset when the source is lost)."""
    from edge.cli import build_parser, read_loop
    from edge.line_reader import LineReader
    from tests.conftest import rendered

    class Outage:
        still, live, total, fps, size, name, lost, outages = False, True, None, None, None, "camera", False, 0

        def __iter__(self):
            for i in range(5):  # each frame carries the outages so far, as LiveSource's do
                yield Frame(rendered("4821", height=60), i, float(i), self.name, self.outages)
            self.lost, self.outages = True, 1
            yield None
            self.lost = False
            yield Frame(rendered("4827", height=60), 5, 99.0, self.name, self.outages)
            for i in range(6, 11):
                yield Frame(rendered("4821", height=60), i, float(i), self.name, self.outages)
            self.outages = 2  # lost and back while the reader was busy: no None between the frames
            yield Frame(rendered("4827", height=60), 11, 199.0, self.name, self.outages)

    class Log:
        results = []

        def write(self, result):
            self.results.append(result)

    args = build_parser().parse_args(["--source", "demo", "-q", "--no-display"])
    log, stop = Log(), type("Stop", (), {"raised": False})()
    assert read_loop(args, Outage(), LineReader(), log, None, None, stop, print) == 0
    seen = [[(n.text, n.read, n.stable) for n in r.numbers] for r in log.results]
    assert seen[4] == [("4821", "4821", True)]
    assert seen[5] == [("4827", "4827", False)]  # before: ("4821", "4827", True), the old reading held
    assert seen[10] == [("4821", "4821", True)] and seen[11] == [("4827", "4827", False)]


def test_a_live_sources_frames_say_how_many_outages_came_before_them():
    """The reader resets its votes on a new scene, so an API user's loop needs no reset of its own."""
    from edge.capture.live import LiveSource

    class Flaky:  # one frame, then a dead read, then frames again
        reads = 0

        def read(self):
            Flaky.reads += 1
            return (Flaky.reads != 2), np.zeros((8, 8), np.uint8)

        def release(self):
            pass

    source = LiveSource(Flaky, "camera", backoff=(0.01, 0.01), say=lambda m: None)
    try:
        scenes = []
        for frame in source:
            if frame is not None:
                scenes.append(frame.scene)
            if len(scenes) == 3:
                break
    finally:
        source.close()
    assert scenes[0] == 0 and scenes[-1] == 1


def test_a_source_lost_with_exit_on_source_loss_ends_the_loop_with_status_1():
    from edge.cli import build_parser, read_loop
    from edge.line_reader import LineReader
    from tests.conftest import rendered

    class Lost:
        still, live, total, fps, size, name, lost, outages = False, True, None, None, None, "camera 0", False, 0

        def __iter__(self):
            yield Frame(rendered("4821", height=60), 0, 0.0, self.name)
            raise SourceLost("camera 0 stopped delivering frames")

    args = build_parser().parse_args(["--source", "0", "--exit-on-source-loss", "--no-display"])
    said, stop = [], type("Stop", (), {"raised": False})()
    assert read_loop(args, Lost(), LineReader(keep_mask=False), None, None, None, stop, said.append) == 1
    assert [m for m in said if "error" in m] == ["error: camera 0 stopped delivering frames"]


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_a_lost_source_is_said_even_when_quiet(monkeypatch, capsys, quiet):
    """-q silences the app's messages, not its errors: the run ended with status 1 and said nothing."""
    import edge.capture
    from edge.capture.base import FrameSource
    from edge.cli import build_parser, run

    class Lost(FrameSource):
        name, live = "camera 0", True

        def __iter__(self):
            yield Frame(np.full((48, 64, 3), 200, np.uint8), 0, 0.0, self.name)
            raise SourceLost("camera 0 stopped delivering frames")

    monkeypatch.setattr(edge.capture, "open_source", lambda *a, **k: Lost())
    args = build_parser().parse_args(["--no-display", "--exit-on-source-loss", *quiet])
    assert run(args, type("Stop", (), {"raised": False, "ignore": lambda self: None})()) == 1
    err = capsys.readouterr().err
    assert "error: camera 0 stopped delivering frames" in err
    assert ("reading camera 0" in err) != bool(quiet)  # the other messages still follow -q


_STARTED: list = []  # app processes a test started: killed at its end if still running (a failed wait)


@pytest.fixture(autouse=True)
def _no_app_left_running():
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def hup_stops():
    """The app keeps a SIGHUP ignored at launch (nohup), so a suite run under nohup must not pass that on."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _start_demo(tmp_path, **kw):
    log, video = tmp_path / "r.jsonl", tmp_path / "v.avi"
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--source", "demo", "--fps", "15",
                             "--json", str(log), "--save-video", str(video), "--no-display"], cwd=ROOT,
                            **{"preexec_fn": hup_stops, **kw})
    _STARTED.append(proc)
    deadline = time.monotonic() + 30
    while (not log.exists() or log.read_text().count("\n") < 10) and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc, log, video


def test_a_terminal_hung_up_ends_the_run_cleanly_with_status_0(tmp_path):
    """A dropped SSH session: SIGHUP, and the terminal gone (its writes fail with EIO). Before, the
    last message raised on the way out: a traceback and status 1."""
    import os
    import pty
    leader, follower = pty.openpty()
    proc, log, video = _start_demo(tmp_path, stdout=follower, stderr=follower)
    os.close(follower)
    os.close(leader)  # the terminal goes away
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=30) == 0
    frames = [json.loads(line)["frame"] for line in log.read_text().splitlines()]
    assert frames == list(range(len(frames))) and len(frames) >= 10


def test_a_message_to_a_dead_terminal_is_dropped_not_a_traceback(tmp_path):
    """The terminal gone without a hang-up signal (stderr there fails with EIO), then SIGTERM: the
    last message cannot be written; the run still ends cleanly with status 0."""
    import os
    import pty
    leader, follower = pty.openpty()
    proc, log, _ = _start_demo(tmp_path, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    os.close(leader)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert log.read_text().endswith("\n")


def test_under_nohup_a_hangup_is_ignored(tmp_path):
    def as_nohup():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    proc, log, _ = _start_demo(tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=as_nohup)
    try:
        proc.send_signal(signal.SIGHUP)
        lines = log.read_text().count("\n")
        deadline = time.monotonic() + 30
        while log.read_text().count("\n") < lines + 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None  # still reading
    finally:
        proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0


def test_a_background_job_started_with_sigint_ignored_still_stops_on_it(tmp_path):
    """A shell starts `app &` with SIGINT ignored; only nohup's SIGHUP is left ignored on purpose."""
    def as_background_job():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    proc, log, _ = _start_demo(tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=as_background_job)
    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()


class _OneFrameCapture:
    """A connection that gives `frames` frames, then ends (a snapshot URL gives one)."""
    opened = 0

    def __init__(self, frames=1):
        type(self).opened += 1
        self.left = frames

    def read(self):
        self.left -= 1
        return (True, np.full((4, 4), type(self).opened, np.uint8)) if self.left >= 0 else (False, None)

    def release(self):
        pass


def test_a_url_giving_one_picture_a_request_is_polled_not_lost():
    from edge.capture.live import SnapshotsOrStream
    _OneFrameCapture.opened = 0
    device = SnapshotsOrStream(_OneFrameCapture, fps=0)
    reads = [device.read() for _ in range(5)]
    assert [ok for ok, _ in reads] == [True] * 5 and [int(im[0, 0]) for _, im in reads] == [1, 2, 3, 4, 5]


def test_a_stream_that_stops_after_frames_is_lost_not_polled():
    from edge.capture.live import SnapshotsOrStream
    device = SnapshotsOrStream(lambda: _OneFrameCapture(frames=3))
    assert [device.read()[0] for _ in range(5)] == [True, True, True, False, False]


def _snapshot_handler(jpeg: bytes):
    """An IP camera's snapshot URL: the same JPEG for every request."""
    import http.server

    class Snapshot(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(jpeg)))
            self.end_headers()
            self.wfile.write(jpeg)

        def log_message(self, *args):
            pass
    return Snapshot


def _serve(handler):
    """An HTTP server of the test's own on a free loopback port, in a thread: (server, port)."""
    import http.server
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def test_a_snapshot_url_is_read_frame_after_frame_without_loss_messages():
    """An IP camera's /snapshot.jpg through FFmpeg: each frame was a 'no frames; retrying' and a
    'source is back', 0.25 s apart."""
    import cv2

    from edge.capture import open_source
    from tests.conftest import rendered
    jpeg = cv2.imencode(".jpg", rendered("4821", height=60))[1].tobytes()

    server, port = _serve(_snapshot_handler(jpeg))
    said = []
    source = open_source(f"http://cam:pa:ss@127.0.0.1:{port}/snapshot.jpg", 640, 480, 20, say=said.append)
    try:
        start, frames = time.monotonic(), []
        for frame in source:
            if frame is not None:
                frames.append(frame)
            if len(frames) == 6 or time.monotonic() - start > 20:
                break
    finally:
        source.close()
        server.shutdown()
    assert len(frames) == 6 and frames[-1].image.shape[:2] == cv2.imdecode(np.frombuffer(jpeg, np.uint8), 0).shape
    assert said == [] and source.outages == 0
    # its name, in every frame (JSON lines, MQTT, the web view), without the password
    assert {f.source for f in frames} == {source.name} == {f"http://cam:***@127.0.0.1:{port}/snapshot.jpg"}


def test_a_video_file_behind_a_url_plays_once_and_ends(tmp_path):
    """A finite video over http was taken for a stream: replayed for ever, with 'no frames;
    retrying' and 'source is back' at each end."""
    import functools
    import http.server

    import cv2

    from edge.capture import open_source
    writer = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for i in range(12):
        writer.write(np.full((120, 160, 3), 20 * i, np.uint8))
    writer.release()
    server, port = _serve(functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path)))
    said = []
    try:
        source = open_source(f"http://127.0.0.1:{port}/clip.avi", say=said.append)
        frames = []
        for frame in source:  # ends by itself; a replay (the fault) is cut at 40 frames
            frames += [frame] if frame is not None else []
            if len(frames) == 40:
                break
        source.close()
    finally:
        server.shutdown()
    assert len(frames) == 12 and said == []


def test_a_snapshot_url_polled_slower_than_the_stall_limit_is_not_called_lost():
    """--fps 0.2 on a snapshot URL (one picture a request): every frame was 'no new frame for
    3 s; waiting' and 'source is back'; with --exit-on-source-loss the run ended after one."""
    import cv2

    from edge.capture import open_source
    jpeg = cv2.imencode(".jpg", np.full((120, 160, 3), 90, np.uint8))[1].tobytes()

    server, port = _serve(_snapshot_handler(jpeg))
    said = []
    source = open_source(f"http://127.0.0.1:{port}/snapshot.jpg", fps=0.28, say=said.append, exit_on_loss=True)
    try:
        frames = []
        for frame in source:  # SourceLost would end the test in an error
            if frame is not None:
                frames.append(frame)
            if len(frames) == 3:
                break
    finally:
        source.close()
        server.shutdown()
    assert said == [] and source.outages == 0
