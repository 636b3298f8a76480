"""--serve: the web view, with real HTTP clients and headless Chromium on the loopback interface."""
import base64
import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from edge.capture.demo import TRUTH
from edge.web import MAX_UPLOAD_BYTES, MAX_VIEWERS
from tests.conftest import need_module, run_app
from tests.pages import render_page
from tests.servers import App, free_port, need_program, wait_for_port
from tests.test_cli import check_record


def get(url, data=None, headers=None, timeout=20):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def multipart(field, name, data):
    boundary = "----edge-digits-test"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.fixture(scope="module")
def app():
    a = App("--source", "demo", "--fps", "20", "--serve", "127.0.0.1:0")
    a.base = a.url()
    yield a
    assert a.stop() == 0, a.lines


def frame_index(base):
    status, _, body = get(base + "readings")
    assert status == 200
    return json.loads(body)["frame"]


def test_page_readings_snapshot_and_events(app):
    status, kind, page = get(app.base)
    assert status == 200 and kind.startswith("text/html")
    assert b"/stream.mjpg" in page and f"up to {MAX_VIEWERS} viewers".encode() in page
    assert f"live view on {app.base} (up to {MAX_VIEWERS} video viewers)" in "\n".join(app.lines)
    time.sleep(0.5)
    status, kind, body = get(app.base + "readings")
    assert status == 200 and kind == "application/json"
    record = json.loads(body)
    check_record(record)  # the --json schema
    assert {n["text"] for n in record["numbers"]} & set(TRUTH)
    status, kind, jpeg = get(app.base + "snapshot.jpg")
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert status == 200 and kind == "image/jpeg" and image.shape == (480, 640, 3)
    # A new /events client first gets the recent stable readings (the demo's four, at its start);
    # so does a page that saw event 57 of an earlier run (this run's numbers started again).
    for header in (b"", b"Last-Event-ID: 57\r\n", b"Last-Event-ID: 0badc0de.57\r\n"):
        with socket.create_connection(("127.0.0.1", int(app.base.rsplit(":", 1)[1].strip("/"))), timeout=10) as s:
            s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n")
            data = b""
            while data.count(b"data: ") < 4:
                data += s.recv(65536)
        assert b"text/event-stream" in data
        events = [json.loads(line[6:]) for line in data.decode().splitlines() if line.startswith("data: ")]
        assert {e["text"] for e in events} == set(TRUTH)
        ids = [line[4:] for line in data.decode().splitlines() if line.startswith("id: ")]
        assert len({i.split(".")[0] for i in ids}) == 1 and all(i.split(".")[1].isdigit() for i in ids)
    run = ids[-1].split(".")[0]  # a number int() refuses ('²', latin-1 0xb2) is a new page's, not a crash
    with socket.create_connection(("127.0.0.1", int(app.base.rsplit(":", 1)[1].strip("/"))), timeout=10) as s:
        s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: " + run.encode() + b".\xb2\r\n\r\n")
        data = b""
        while data.count(b"data: ") < 4:
            data += s.recv(65536)
    # a page of this run that saw them resumes after the last: nothing again (the demo's readings are stable)
    with socket.create_connection(("127.0.0.1", int(app.base.rsplit(":", 1)[1].strip("/"))), timeout=10) as s:
        s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: " + ids[-1].encode() + b"\r\n\r\n")
        s.settimeout(0.5)
        data, deadline = b"", time.monotonic() + 2.5  # the stream writes a comment a second: read for a while
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            data += chunk
    assert b"text/event-stream" in data and b"data: " not in data and b": keep-alive" in data
    status, _, body = get(app.base + "nowhere")
    assert status == 404 and "error" in json.loads(body)


def test_upload_a_photo(app):
    page, _ = render_page([("2024", 60, 200, 70), ("86", 100, 350, 80)])
    ok, png = cv2.imencode(".png", page)
    body, headers = multipart("image", "page.png", png.tobytes())
    status, kind, answer = get(app.base + "read", body, headers)
    assert status == 200 and kind == "application/json"
    record = json.loads(answer)
    drawn = cv2.imdecode(np.frombuffer(base64.b64decode(record.pop("annotated_jpeg")), np.uint8), cv2.IMREAD_COLOR)
    check_record(record)
    assert [n["text"] for n in record["numbers"]] == ["2024", "86"] and record["source"] == "page.png"
    assert drawn.shape == (480, 640, 3)
    # the raw image as the body, the drawn picture back
    status, kind, jpeg = get(app.base + "read?format=jpeg", png.tobytes(), {"Content-Type": "image/png"})
    assert status == 200 and kind == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (480, 640, 3)


@pytest.mark.parametrize("data, status", [(b"not an image at all", 415), (b"", 400),
                                          (b"\0" * (MAX_UPLOAD_BYTES + 1), 413)])
def test_upload_errors_are_one_line_json(app, data, status):
    body, headers = multipart("image", "notes.txt", data)
    code, kind, answer = get(app.base + "read", body, headers)
    assert code == status and kind == "application/json"
    assert answer.count(b"\n") == 1 and json.loads(answer)["error"]
    assert app.proc.poll() is None


def test_head_requests_answer_with_headers_alone(app):
    """An uptime check's HEAD was answered 501 'Unsupported method'."""
    port = int(app.base.rsplit(":", 1)[1].strip("/"))
    for path, kind in (("/", "text/html; charset=utf-8"),
                       ("/stream.mjpg", "multipart/x-mixed-replace; boundary=frame"), ("/events", "text/event-stream")):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(f"HEAD {path} HTTP/1.0\r\n\r\n".encode())
            answer = b""
            while chunk := s.recv(65536):  # HTTP/1.0: the server closes after its answer
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b"\r\n")[0].endswith(b" 200 OK") and f"Content-Type: {kind}".encode() in head, head
        assert body == b"", (path, body[:40])


def test_a_negative_content_length_is_answered_at_once(app):
    with socket.create_connection(("127.0.0.1", int(app.base.rsplit(":", 1)[1].strip("/"))), timeout=3) as s:
        s.sendall(b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")
        answer = s.recv(65536)  # before the fix: no answer until the server's 5 s timeout
    assert answer.startswith(b"HTTP/1.0 400") or answer.startswith(b"HTTP/1.1 400"), answer[:40]


def stream_request(port, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
    return s


def test_twenty_viewers_one_stalled(app):
    """20 MJPEG clients, one connected but never reading: frames keep being processed, the
    19 others keep receiving, the 21st is turned away, and the stalled one is dropped."""
    port = int(app.base.rsplit(":", 1)[1].strip("/"))
    stalled = stream_request(port, rcvbuf=4096)
    clients = [stream_request(port) for _ in range(MAX_VIEWERS - 1)]
    parts = [[] for _ in clients]  # arrival times of JPEG parts
    stop = threading.Event()

    def receive(s, arrivals):
        seen = b""
        while not stop.is_set():
            try:
                chunk = s.recv(1 << 16)
            except OSError:
                return
            if not chunk:
                return
            seen = seen[-16:] + chunk
            arrivals.extend([time.monotonic()] * (seen.count(b"--frame\r\n") - (seen[:-len(chunk)].count(b"--frame\r\n"))))
    threads = [threading.Thread(target=receive, args=(s, a), daemon=True) for s, a in zip(clients, parts)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        extra = stream_request(port)
        assert extra.recv(100).startswith(b"HTTP/1.1 503"), "the viewer over the cap was let in"
        extra.close()
        first, t0 = frame_index(app.base), time.monotonic()
        time.sleep(6)
        frames, seconds = frame_index(app.base) - first, time.monotonic() - t0
        now = time.monotonic()
        assert frames >= 0.5 * 20 * seconds, f"{frames} frames in {seconds:.1f} s at --fps 20 with 20 viewers"
        for arrivals in parts:
            assert len(arrivals) >= 20 and now - arrivals[-1] < 2.0, "a reading viewer stopped receiving"
        # the stalled viewer is dropped after its send timeout, which frees its place
        deadline = time.monotonic() + 30
        while True:
            late = stream_request(port)
            answer = late.recv(100)
            late.close()
            if answer.startswith(b"HTTP/1.1 200"):
                break
            assert time.monotonic() < deadline, "the stalled viewer was never dropped"
            time.sleep(1)
    finally:
        stop.set()
        for s in clients + [stalled]:
            s.close()


class WebDriver:
    """Just enough of the W3C WebDriver protocol over plain HTTP (no selenium)."""

    def __init__(self, tmp_path):
        chromium = need_program("chromium", "chromium")
        driver = need_program("chromedriver", "chromium-driver")
        self.port = free_port()
        self.proc = subprocess.Popen([driver, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        self.base = f"http://127.0.0.1:{self.port}"
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chromium'}"]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "pageLoadStrategy": "eager",
                                                 "goog:chromeOptions": {"binary": chromium, "args": args}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, payload=None):
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        value = json.loads(body)["value"]
        assert status == 200, value
        return value

    def run(self, script):
        return self.call("POST", f"/session/{self.session}/execute/sync", {"script": script, "args": []})

    def wait(self, script, check, what: str, timeout: float):
        """The script's value once check(value) holds; AssertionError(what) with the last value after timeout."""
        deadline, seen = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            seen = self.run(script)
            if check(seen):
                return seen
            time.sleep(0.2)
        raise AssertionError(f"{what}: {seen!r}")

    def close(self):
        try:
            self.call("DELETE", f"/session/{self.session}")
        finally:
            self.proc.terminate()
            self.proc.wait(10)


def test_page_in_headless_chromium(app, tmp_path):
    browser = WebDriver(tmp_path)
    try:
        browser.call("POST", f"/session/{browser.session}/url", {"url": app.base})
        deadline, state = time.monotonic() + 30, {}
        script = ("const v = document.getElementById('video'), r = v.getBoundingClientRect();"
                  "return {width: v.naturalWidth, rect: [r.x, r.y, r.width, r.height], ratio: devicePixelRatio,"
                  " readings: document.getElementById('readings').innerText,"
                  " events: document.getElementById('events').innerText};")
        while time.monotonic() < deadline:
            state = browser.run(script)
            if state["width"] and any(t in state["readings"] for t in TRUTH) and state["events"]:
                break
            time.sleep(0.5)
        assert state["width"] == 640, f"the video never showed: {state}"
        assert any(t in state["readings"] for t in TRUTH), f"no reading on the page: {state}"
        assert any(t in state["events"] for t in TRUTH), f"no stable reading listed: {state}"
        png = base64.b64decode(browser.call("GET", f"/session/{browser.session}/screenshot"))
        shot = tmp_path / "web-view.png"
        shot.write_bytes(png)
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        x, y, w, h = (int(v * state["ratio"]) for v in state["rect"])
        video = image[y:y + h, x:x + w]
        assert video.size and video.std() > 20, f"the video region of {shot} looks blank"
        # the demo's paper (light) fills most of the view: not the page's dark placeholder
        assert np.mean(video.min(axis=2) > 150) > 0.2, f"the video region of {shot} shows no paper"
        time.sleep(1.0)
        later = cv2.imdecode(np.frombuffer(base64.b64decode(
            browser.call("GET", f"/session/{browser.session}/screenshot")), np.uint8), cv2.IMREAD_COLOR)
        assert np.abs(later[y:y + h, x:x + w].astype(int) - video).mean() > 1, "the video is not live"
    finally:
        browser.close()


def test_port_in_use_is_one_line_and_status_2():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run_app("--source", "demo", "--max-frames", "1", "--serve", f"127.0.0.1:{port}")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and f"cannot serve on 127.0.0.1:{port}" in r.stderr, r.stderr


def test_a_start_that_fails_leaves_the_json_log_as_it_was(tmp_path):
    """--overwrite emptied the log, and a new log was left empty, before the web view's port was found taken."""
    kept, new = tmp_path / "kept.jsonl", tmp_path / "new.jsonl"
    kept.write_text('{"frame": 0}\n')
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for log, more in ((kept, ["--overwrite"]), (new, [])):
            r = run_app("--source", "demo", "--max-frames", "1", "--json", log, *more, "--serve", f"127.0.0.1:{port}")
            assert r.returncode == 2 and f"cannot serve on 127.0.0.1:{port}" in r.stderr, r.stderr
    assert kept.read_text() == '{"frame": 0}\n' and not new.exists()


@pytest.mark.parametrize("args", [["--serve", "http"], ["--serve", "host:"], ["--serve", "70000"],
                                  ["--serve", "1.2.3.4:x"], ["--serve", "8080", "--serve-fps", "0"],
                                  ["--serve", "8080", "--serve-fps", "fast"]])
def test_serve_argument_errors(args):
    r = run_app("--source", "demo", "--max-frames", "1", *args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and args[-2] in r.stderr, r.stderr


def test_the_video_is_encoded_at_most_at_its_rate_and_a_snapshot_does_not_wait_for_it():
    from edge.types import Digits, Frame, FrameResult
    from edge.web import LiveFeed
    feed = LiveFeed(max_fps=5)
    try:
        def publish(i):
            feed.publish(FrameResult(Frame(np.zeros((480, 640, 3), np.uint8), i, time.time(), "test"), Digits(), [], {}))
        publish(0)
        assert feed.take_slot("video")
        t0, i = time.monotonic(), 1
        while time.monotonic() - t0 < 2.0:  # the loop at 100 FPS
            publish(i)
            i += 1
            time.sleep(0.01)
        encoded = feed.encoded
        assert 7 <= encoded <= 12, f"{encoded} JPEGs in 2 s at --serve-fps 5 with frames at 100 FPS"
        _, shown = feed.next_jpeg(i - 1, timeout=1.0)
        assert shown == i, "the encoder did not go on to the newest frame"
        publish(i)
        t1 = time.monotonic()
        assert feed.snapshot(timeout=2.0) is not None and time.monotonic() - t1 < 0.1
    finally:
        feed.close()


def test_a_picture_served_stays_on_view_until_ctrl_c(tmp_path):
    """Without a window the web view is how a picture's readings are looked at: it stays up
    after the source ends; its JSON lines are complete before the wait."""
    page = np.full((240, 320, 3), 235, np.uint8)
    cv2.putText(page, "4821", (60, 140), cv2.FONT_HERSHEY_SIMPLEX, 2, (20, 20, 20), 4)
    cv2.imwrite(str(tmp_path / "page.png"), page)
    app = App("--source", tmp_path / "page.png", "--serve", "127.0.0.1:0", "--json", tmp_path / "r.jsonl")
    try:
        base = app.url()
        app.wait_line("ended; the web view stays up until Ctrl-C")
        status, _, body = get(base + "readings")
        assert status == 200 and "4821" in body.decode()
        assert json.loads((tmp_path / "r.jsonl").read_text())["numbers"][0]["text"] == "4821"
        time.sleep(1)
        assert app.proc.poll() is None
    finally:
        assert app.stop() == 0, app.lines


def test_a_frame_the_encoder_cannot_show_does_not_end_the_video(monkeypatch):
    """A frame longer than JPEG allows is scaled down; one whose encoding fails is skipped."""
    import edge.web
    from edge.types import Digits, Frame, FrameResult
    from edge.web import LiveFeed
    feed = LiveFeed(max_fps=100)
    try:
        def publish(image, i):
            feed.publish(FrameResult(Frame(image, i, time.time(), "test"), Digits(), [], {}))
        publish(np.zeros((20, 70000, 3), np.uint8), 0)
        jpeg = feed.snapshot(timeout=5.0)
        assert jpeg is not None and cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape[1] == 65500
        encode = edge.web.encode_jpeg
        monkeypatch.setattr(edge.web, "encode_jpeg", lambda image: 1 / 0)
        publish(np.zeros((48, 64, 3), np.uint8), 1)
        assert feed.snapshot(timeout=0.5) is None
        monkeypatch.setattr(edge.web, "encode_jpeg", encode)
        publish(np.zeros((48, 64, 3), np.uint8), 2)
        jpeg = feed.snapshot(timeout=5.0)
        assert jpeg is not None and cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (48, 64)
    finally:
        feed.close()


@pytest.mark.parametrize("path", ["/events", "/stream.mjpg"])
def test_viewers_that_leave_free_their_slots_with_no_frames_coming(path):
    """Page reloads: 20 viewers come and go while no frame comes; the next one is let in."""
    from edge.web import WebServer
    server = WebServer("127.0.0.1", 0, lambda: None)  # no frame yet: the camera slow to start, or lost
    try:
        def status():
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                return s.recv(200).split(b"\r\n")[0]
        assert all(status() == b"HTTP/1.1 200 OK" for _ in range(MAX_VIEWERS))
        deadline = time.monotonic() + 15
        while max(server.feed.slots.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.feed.slots == {"video": 0, "events": 0}
        assert status() == b"HTTP/1.1 200 OK"
    finally:
        server.close()


def test_an_uploaded_phone_photo_is_read_upright_by_its_exif_orientation():
    """Stored sideways with EXIF Orientation 6, as a phone stores a portrait photo (a --source photo too)."""
    import io

    from edge.line_reader import LineReader
    from edge.web import UploadReader
    PIL = need_module("PIL.Image")
    page, _ = render_page([("2024", 60, 200, 70), ("86", 100, 350, 80)])
    im = PIL.fromarray(np.rot90(page).copy())  # turned a quarter left; the tag turns it back
    exif = im.getexif()
    exif[0x0112] = 6
    jpeg = io.BytesIO()
    im.save(jpeg, "JPEG", quality=95, exif=exif)
    record, _ = UploadReader(LineReader).read(jpeg.getvalue(), "portrait.jpg")
    assert [n["text"] for n in record["numbers"]] == ["2024", "86"]


def test_an_upload_the_reader_fails_on_gets_a_json_500_not_a_dropped_connection():
    from edge.web import WebServer

    def broken_reader():
        raise RuntimeError("cannot load the recognizer\nsecond line")
    server = WebServer("127.0.0.1", 0, broken_reader)
    try:
        png = cv2.imencode(".png", np.zeros((20, 20, 3), np.uint8))[1].tobytes()
        body, headers = multipart("image", "meter.png", png)
        code, kind, answer = get(f"http://127.0.0.1:{server.port}/read", body, headers)
        assert code == 500 and kind == "application/json"
        assert json.loads(answer)["error"] == "could not read meter.png: cannot load the recognizer"
    finally:
        server.close()


def test_a_small_file_of_a_huge_picture_is_413_before_it_is_decoded():
    """An 850 KB PNG of 11500 x 11500 16-bit pixels took 2.1 GB to decode, three at once 4.8 GB."""
    from edge.web import MAX_UPLOAD_PIXELS, WebServer

    def reader_never_wanted():
        raise RuntimeError("decoded")  # a 500 would say the picture was decoded and read
    server = WebServer("127.0.0.1", 0, reader_never_wanted)
    try:
        side = int(MAX_UPLOAD_PIXELS ** 0.5) + 1
        png = cv2.imencode(".png", np.zeros((side, side), np.uint8))[1].tobytes()
        assert len(png) < 2**20  # a small file
        body, headers = multipart("image", "bomb.png", png)
        code, kind, answer = get(f"http://127.0.0.1:{server.port}/read", body, headers)
        assert code == 413 and kind == "application/json"
        assert json.loads(answer)["error"] == f"bomb.png: {side}x{side} pixels, over the limit of 50 MP"
    finally:
        server.close()


def test_an_upload_whose_size_its_header_hides_is_refused():
    """Junk between a JPEG's markers hid its size from the header check, but libjpeg reads past it:
    the pixel limit was skipped."""
    from edge.capture.files import ImageError
    from edge.web import UploadReader
    jpeg = cv2.imencode(".jpg", np.full((40, 60, 3), 90, np.uint8))[1].tobytes()
    after_app0 = 4 + int.from_bytes(jpeg[4:6], "big")
    hidden = jpeg[:after_app0] + b"\0\0" + jpeg[after_app0:]
    assert cv2.imdecode(np.frombuffer(hidden, np.uint8), cv2.IMREAD_COLOR).shape == (40, 60, 3)  # decodable
    with pytest.raises(ImageError, match="its size cannot be read from its header"):
        UploadReader(lambda: None).read(hidden, "hidden.jpg")


@pytest.mark.parametrize("ext,params", [(".png", []), (".jpg", []), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
                                        (".webp", []), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101])])
def test_a_pictures_size_is_read_from_its_header(ext, params):
    from edge.capture.files import image_size
    for h, w in ((1, 1), (37, 53), (3000, 4000)):
        assert image_size(cv2.imencode(ext, np.full((h, w, 3), 90, np.uint8), params)[1].tobytes()) == (w, h)
    assert image_size(cv2.imencode(".bmp", np.zeros((5, 5), np.uint8))[1].tobytes()) is None  # not read: no limit


def test_the_page_greys_old_readings_and_gets_the_video_back_after_a_restart(tmp_path):
    """The app stopped: the page greys its last readings and says so; the app back on the same
    port: the readings and the live video come back without reloading the page."""
    port = free_port()
    app = App("--source", "demo", "--fps", "20", "--serve", f"127.0.0.1:{port}")
    browser = WebDriver(tmp_path)
    state = ("const v = document.getElementById('video'), t = document.getElementById('readings');"
             "return {width: v.naturalWidth, src: v.src, opacity: t.style.opacity, readings: t.innerText,"
             " status: document.getElementById('status').innerText};")

    def wait(check, what, timeout=30):
        return browser.wait(state, check, what, timeout)
    try:
        browser.call("POST", f"/session/{browser.session}/url", {"url": app.url()})
        wait(lambda s: s["width"] == 640 and any(t in s["readings"] for t in TRUTH), "the page never read")
        app.stop()
        wait(lambda s: s["opacity"] == "0.35" and "no connection" in s["status"], "the break was not shown")
        app = App("--source", "demo", "--fps", "20", "--serve", f"127.0.0.1:{port}")
        back = wait(lambda s: s["opacity"] == "1" and "?" in s["src"] and s["width"] == 640, "not back", 60)
        assert any(t in back["readings"] for t in TRUTH)
    finally:
        browser.close()
        app.stop()


def test_the_page_says_when_no_new_frame_comes(tmp_path):
    """A lost camera or a pause: /readings keeps the last frame, and the page says the frame is
    not new (here a demo at one frame in 5 s), then reads on when the next one comes."""
    app = App("--source", "demo", "--fps", "0.2", "--serve", "127.0.0.1:0")
    browser = WebDriver(tmp_path)
    status = "return document.getElementById('status').innerText;"

    def wait(check, what):
        return browser.wait(status, check, what, 20)
    try:
        browser.call("POST", f"/session/{browser.session}/url", {"url": app.url()})
        wait(lambda s: s.startswith("frame 0"), "the first frame")
        wait(lambda s: s.startswith("no new frame for"), "the still frame was not said")
        wait(lambda s: s.startswith("frame 1"), "the next frame was not shown")
    finally:
        browser.close()
        app.stop()


def test_on_all_interfaces_the_address_said_is_this_machines_name():
    """'http://0.0.0.0:8080/' opens nothing on another machine."""
    from edge.web import WebServer
    server = WebServer("0.0.0.0", 0, lambda: None)
    try:
        assert server.url == f"http://{socket.gethostname()}:{server.port}/"
    finally:
        server.close()


def test_a_wrong_method_is_one_json_line_too():
    from edge.web import WebServer
    server = WebServer("127.0.0.1", 0, lambda: None)
    try:
        base = f"http://127.0.0.1:{server.port}/"
        code, kind, answer = get(base + "read")  # a GET where a POST belongs
        assert code == 405 and kind == "application/json" and "POST a photo" in json.loads(answer)["error"]
        request = urllib.request.Request(base, method="DELETE")
        try:
            urllib.request.urlopen(request, timeout=20)
        except urllib.error.HTTPError as e:
            code, kind, answer = e.code, e.headers.get("Content-Type"), e.read()
        assert code == 501 and kind == "application/json" and answer.count(b"\n") == 1
        assert json.loads(answer)["error"].startswith("Unsupported method")
    finally:
        server.close()


def test_the_web_view_outlines_the_roi_as_the_window_does():
    import cv2

    from edge.draw import ROI
    from edge.types import Digits, Frame, FrameResult
    from edge.web import LiveFeed
    feed = LiveFeed(max_fps=100, roi=(100, 100, 200, 150))
    try:
        feed.publish(FrameResult(Frame(np.full((480, 640, 3), 200, np.uint8), 0, time.time(), "t"), Digits(), [], {}))
        image = cv2.imdecode(np.frombuffer(feed.snapshot(timeout=2.0), np.uint8), cv2.IMREAD_COLOR)
    finally:
        feed.close()
    edge, inside = image[100, 150:250].astype(int), image[175, 150:250].astype(int)  # a 1-px line, JPEG-blurred
    assert np.abs(edge - 200).mean() > 30 and np.abs(inside - 200).mean() < 5
    assert ROI == (255, 0, 255) and edge[:, 1].mean() < edge[:, [0, 2]].mean() - 50  # magenta: green drops
