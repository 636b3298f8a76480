"""--serve: the live view in a browser, from the standard library alone.

    /             the page: live video, the current readings, stable readings, a snapshot
                  button and a form to read an uploaded photo
    /stream.mjpg  the annotated video as MJPEG        /snapshot.jpg  the latest annotated frame
    /readings     the latest frame's JSON (the --json schema)
    /events       Server-Sent Events, one per stable reading (edge.output.stable_reading)
    POST /read    an uploaded photo -> its reading as JSON (?format=jpeg: the drawn photo)

The capture loop only hands each FrameResult to `LiveFeed.publish` (a short lock, no I/O).
One encoder thread draws and JPEG-encodes the newest frame, once, at most `max_fps` times a
second and only while someone watches; each viewer's thread waits for a newer sequence number
and sends with a timeout, so a slow viewer skips frames and a stalled one is dropped without
holding anyone up.
"""
from __future__ import annotations

import base64
import functools
import json
import secrets
import socket
import threading
import time
from collections import deque
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from edge.capture.files import ImageError, decode_image, image_size
from edge.draw import draw_result
from edge.output import OutputError, reading_record, stable_reading
from edge.share import STREAM_FPS
from edge.types import Frame, FrameResult

# 20: each viewer costs a thread and ~40 KB a frame (at 30 FPS, 20 viewers are ~24 MB/s,
# more than a Raspberry Pi's Wi-Fi carries); the 21st is answered 503.
MAX_VIEWERS = 20
SEND_TIMEOUT_S = 5.0  # a viewer that accepts no data for this long is dropped
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # a 12-megapixel JPEG fits; anything bigger is refused (413)
MAX_UPLOAD_PIXELS = 50_000_000  # a 48-MP phone photo fits; larger pictures (413) would take a Pi's memory
JPEG_QUALITY = 80
EVENTS_KEPT = 256  # stable readings an /events client may fall behind by before it skips some
EVENTS_REPLAYED = 20  # the recent stable readings a new /events client is sent first (the page shows 20)
BOUNDARY = "frame"


class WebError(OutputError):
    """The server cannot start (e.g. the port is in use); main reports it in one line, exit 2."""


class LiveFeed:
    """The newest frame, its JPEG and the recent stable readings, shared by all viewers."""

    def __init__(self, max_fps: float = STREAM_FPS, roi=None):
        self.max_fps, self.roi = max_fps, roi  # roi: outlined, as in the window and the video
        self._lock = threading.Lock()
        self._new_frame = threading.Condition(self._lock)  # wakes the encoder
        self._new_jpeg = threading.Condition(self._lock)  # wakes the video viewers
        self._new_event = threading.Condition(self._lock)  # wakes the /events clients
        self._result: FrameResult | None = None
        self._fps = 0.0
        self._seq = 0  # frames published
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0  # the frame the JPEG shows
        self._jpeg_wanted = 0  # a snapshot waits for this frame's JPEG
        self._events: deque[tuple[int, dict]] = deque(maxlen=EVENTS_KEPT)
        self._event_seq = 0
        self.run = secrets.token_hex(4)  # in every event id: an id from an earlier run is not resumed from
        self.slots = {"video": 0, "events": 0}
        self.encoded = 0  # JPEGs made (once per frame shown, whatever the number of viewers)
        self.closed = False
        self._encoder = threading.Thread(target=self._encode_loop, name="web-encoder", daemon=True)
        self._encoder.start()

    # -- the capture loop's side: never waits on a viewer
    def publish(self, result: FrameResult, fps: float = 0.0):
        events = [stable_reading(result, n) for n in result.events]
        with self._lock:
            self._result, self._fps = result, fps
            self._seq += 1
            self._new_frame.notify()
            for event in events:
                self._event_seq += 1
                self._events.append((self._event_seq, event))
            if events:
                self._new_event.notify_all()

    def close(self):
        with self._lock:
            self.closed = True
            self._new_frame.notify_all()
            self._new_jpeg.notify_all()
            self._new_event.notify_all()

    # -- the encoder thread
    def _encode_loop(self):
        done, due = 0, 0.0
        snapshot_wanted = lambda: self._jpeg_wanted > self._jpeg_seq  # noqa: E731
        while True:
            with self._lock:
                self._new_frame.wait_for(lambda: self.closed or (
                    self._seq > done and (self.slots["video"] > 0 or snapshot_wanted())))
                wait = due - time.monotonic()
                if wait > 0 and not snapshot_wanted():  # the rate cap; a snapshot does not wait for it
                    self._new_frame.wait_for(lambda: self.closed or snapshot_wanted(), wait)
                if self.closed:
                    return
                result, fps, seq = self._result, self._fps, self._seq  # the newest: frames between are skipped
            due = time.monotonic() + 1.0 / self.max_fps
            try:
                jpeg = encode_jpeg(draw_result(result, fps, roi=self.roi))
            except Exception:  # noqa: BLE001 -- one frame it cannot show must not end the video for good
                done = seq
                continue
            with self._lock:
                self._jpeg, self._jpeg_seq = jpeg, seq
                self.encoded += 1
                self._new_jpeg.notify_all()
            done = seq

    # -- the viewers' side
    def latest(self) -> FrameResult | None:
        with self._lock:
            return self._result

    def next_jpeg(self, after: int, timeout: float) -> tuple[bytes | None, int]:
        """The first JPEG newer than frame `after` (waiting up to `timeout`), and its frame."""
        with self._lock:
            self._new_jpeg.wait_for(lambda: self.closed or self._jpeg_seq > after, timeout)
            if self._jpeg_seq > after:
                return self._jpeg, self._jpeg_seq
            return None, after

    def snapshot(self, timeout: float = 5.0) -> bytes | None:
        """The JPEG of the newest frame (made now if nobody is watching)."""
        with self._lock:
            if self._seq == 0:
                return None
            self._jpeg_wanted = max(self._jpeg_wanted, self._seq)
            self._new_frame.notify()
            want = self._seq
        jpeg, _ = self.next_jpeg(want - 1, timeout)
        return jpeg

    def next_events(self, after: int, timeout: float) -> tuple[list[dict], int]:
        with self._lock:
            self._new_event.wait_for(lambda: self.closed or self._event_seq > after, timeout)
            fresh = [(s, e) for s, e in self._events if s > after]
            return [e for _, e in fresh], (fresh[-1][0] if fresh else after)

    def event_seq(self) -> int:
        with self._lock:
            return self._event_seq

    def take_slot(self, kind: str) -> bool:
        with self._lock:
            if self.slots[kind] >= MAX_VIEWERS:
                return False
            self.slots[kind] += 1
            self._new_frame.notify()  # the first viewer starts the encoder
            return True

    def give_slot(self, kind: str):
        with self._lock:
            self.slots[kind] -= 1


WRITE_EVERY_S = 2.0  # a quiet stream writes this often (the picture again, a comment): a viewer who left frees its slot
JPEG_MAX_SIDE = 65500  # JPEG's limit: a longer frame is scaled down to it


@functools.lru_cache(maxsize=1)
def waiting_jpeg() -> bytes:
    """A small grey picture, shown before the first frame."""
    return encode_jpeg(np.full((48, 64, 3), 64, np.uint8))


def encode_jpeg(image: np.ndarray) -> bytes:
    if max(image.shape[:2]) > JPEG_MAX_SIDE:
        f = JPEG_MAX_SIDE / max(image.shape[:2])
        image = cv2.resize(image, (max(1, int(image.shape[1] * f)), max(1, int(image.shape[0] * f))),
                           interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


class UploadReader:
    """Reads uploaded photos with a reader of its own (the live one holds the tracker and is
    busy in the loop), one photo at a time; built at the first upload."""

    def __init__(self, make_reader):
        self._make_reader = make_reader
        self._reader = None
        self._lock = threading.Lock()
        self._count = 0

    def read(self, data: bytes, name: str) -> tuple[dict, bytes]:
        """The record and the drawn JPEG; ImageError when `data` is not an image it can decode
        (or a PNG, JPEG or WebP whose size its header hides), PictureTooLarge when its header
        says it has over MAX_UPLOAD_PIXELS."""
        size = image_size(data)
        if size and size[0] * size[1] > MAX_UPLOAD_PIXELS:
            raise PictureTooLarge(f"{size[0]}x{size[1]} pixels, over the limit of {MAX_UPLOAD_PIXELS / 1e6:.0f} MP")
        with self._lock:  # one photo decoded at a time: concurrent uploads do not add up in memory
            image = decode_image(np.frombuffer(data, np.uint8))  # upright by EXIF, as a --source photo
            if self._reader is None:
                self._reader = self._make_reader()
            self._count += 1
            self._reader.tracker.reset()  # every photo is a scene of its own
            result = self._reader.process(Frame(image, self._count - 1, time.time(), name or "upload"))
            return reading_record(result), encode_jpeg(draw_result(result))


class PictureTooLarge(ImageError):
    """An upload whose picture has too many pixels (its file may be small)."""


def parse_upload(content_type: str, body: bytes) -> tuple[bytes, str]:
    """The image bytes and file name of a multipart form (field `image` or the first file),
    or the body itself when it was sent as is (curl --data-binary @photo.jpg)."""
    if not content_type.lower().startswith("multipart/form-data"):
        return body, "upload"
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    parts = [p for p in message.iter_parts()] if message.is_multipart() else []
    files = [p for p in parts if p.get_filename() or p.get_param("name", header="content-disposition") == "image"]
    if not files:
        return b"", "upload"
    part = files[0]
    return part.get_payload(decode=True) or b"", part.get_filename() or "upload"


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>edge-digits</title>
<style>
body {{ font: 15px system-ui, sans-serif; margin: 1em; background: #f4f4f2; color: #222 }}
.row {{ display: flex; flex-wrap: wrap; gap: 1.5em }}
#video {{ max-width: 100%; width: 640px; background: #333; min-height: 120px }}
table {{ border-collapse: collapse }} td, th {{ padding: 2px 10px; text-align: left; border-bottom: 1px solid #ccc }}
.stable {{ color: #1a7f2a; font-weight: bold }} .text {{ font-size: 1.4em }}
.note {{ color: #666; font-size: 0.9em }} .button {{ padding: 4px 10px; border: 1px solid #888; background: #fff; text-decoration: none; color: #222 }}
#drawn {{ max-width: 100% }}
</style></head><body>
<h1>edge-digits <small id="source"></small></h1>
<div class="row">
 <div><img id="video" src="/stream.mjpg" alt="live video">
  <p><a class="button" href="/snapshot.jpg" download="edge-digits-snapshot.jpg">Snapshot</a>
   <span class="note">Live video for up to {max_viewers} viewers at a time; more are turned away.</span></p></div>
 <div><h2>Readings</h2>
  <table><thead><tr><th>text</th><th>confidence</th><th>stable</th><th>age</th></tr></thead>
   <tbody id="readings"></tbody></table>
  <p class="note" id="status">waiting for the first frame</p>
  <h2>Stable readings</h2><ol id="events"></ol></div>
</div>
<h2>Read a photo</h2>
<form id="upload" method="post" action="/read" enctype="multipart/form-data">
 <input type="file" name="image" accept="image/*" required> <button>Read</button>
 <span class="note">up to {max_mb} MB</span></form>
<pre id="result"></pre><img id="drawn" alt="">
<script>
const $ = id => document.getElementById(id);
function cell(row, text, cls) {{ const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; }}
let lastFrame = null, lastChange = Date.now();
const STILL_S = 3;  // the capture loop's own stall report comes after 3 s too
let away = false;  // the app was unreachable: its readings are greyed, its video is asked for again on return
function gone() {{ away = true; $('readings').style.opacity = 0.35; $('status').textContent = 'no connection to the app'; }}
async function poll() {{
  try {{
    const r = await fetch('/readings', {{cache: 'no-store'}});
    if (r.status === 503 && away) $('status').textContent = 'waiting for the first frame';  // back, no frame yet
    else if (!r.ok && r.status !== 503) gone();
    if (r.ok) {{
      if (away) {{ away = false; $('readings').style.opacity = 1; $('video').src = '/stream.mjpg?' + Date.now(); }}
      const rec = await r.json(), body = $('readings');
      body.replaceChildren();
      const age = Math.max(0, Date.now() / 1000 - rec.t).toFixed(1) + ' s';
      for (const n of rec.numbers) {{
        const row = body.insertRow();
        cell(row, n.text, 'text' + (n.stable ? ' stable' : ''));
        cell(row, n.confidence.toFixed(2)); cell(row, n.stable ? 'yes' : 'no'); cell(row, age);
      }}
      $('source').textContent = rec.source;
      if (rec.frame !== lastFrame) {{ lastFrame = rec.frame; lastChange = Date.now(); }}
      const still = (Date.now() - lastChange) / 1000;  // a lost camera or a pause: the same frame again
      $('status').textContent = still > STILL_S ? 'no new frame for ' + still.toFixed(0) + ' s (camera lost or paused?)'
        : 'frame ' + rec.frame + ', ' + rec.latency_ms.toFixed(1) + ' ms';
    }}
  }} catch (e) {{ gone(); }}
  setTimeout(poll, 500);
}}
poll();
new EventSource('/events').onmessage = e => {{
  const n = JSON.parse(e.data), li = document.createElement('li');
  li.textContent = n.text + ' (' + n.confidence.toFixed(2) + ') at ' + new Date(n.t * 1000).toLocaleTimeString();
  $('events').prepend(li);
  while ($('events').children.length > 20) $('events').lastChild.remove();
}};
$('upload').onsubmit = async e => {{
  e.preventDefault();
  $('result').textContent = 'reading...'; $('drawn').removeAttribute('src');
  let r, j;
  try {{
    r = await fetch('/read', {{method: 'POST', body: new FormData($('upload'))}});
    j = await r.json();
  }} catch (err) {{
    $('result').textContent = 'not read: ' + (r ? 'the app answered ' + r.status : 'no connection to the app');
    return;
  }}
  if (!r.ok) {{ $('result').textContent = j.error; return; }}
  $('drawn').src = 'data:image/jpeg;base64,' + j.annotated_jpeg;
  delete j.annotated_jpeg;
  $('result').textContent = j.numbers.map(n => n.text).join(' ') + '\\n' + JSON.stringify(j, null, 1);
}};
</script></body></html>
"""


class Handler(BaseHTTPRequestHandler):
    server_version = "edge-digits"
    protocol_version = "HTTP/1.1"
    timeout = SEND_TIMEOUT_S  # every socket operation: a stalled client is dropped, not waited for
    feed: LiveFeed
    uploads: UploadReader

    def log_message(self, format, *args):  # no line per request on the app's console
        pass

    def _send(self, status: int, body: bytes, content_type: str, close: bool = False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj, close: bool = False):
        self._send(status, json.dumps(obj).encode() + b"\n", "application/json", close)

    def _error(self, status: int, message: str):
        self._json(status, {"error": message}, close=True)

    def send_error(self, code, message=None, explain=None):
        """What the server answers itself (an unknown method, a bad request line): one JSON line too."""
        try:
            self._error(code, message or HTTPStatus(code).phrase)
        except OSError:
            self.close_connection = True

    def do_GET(self):
        path = urlsplit(self.path).path
        try:
            if path in ("/", "/index.html"):
                page = PAGE.format(max_viewers=MAX_VIEWERS, max_mb=MAX_UPLOAD_BYTES // 2**20)
                self._send(200, page.encode(), "text/html; charset=utf-8")
            elif path == "/readings":
                result = self.feed.latest()
                if result is None:
                    self._error(503, "no frame yet")
                else:
                    self._json(200, reading_record(result))
            elif path == "/snapshot.jpg":
                jpeg = self.feed.snapshot()
                if jpeg is None:
                    self._error(503, "no frame yet")
                else:
                    self._send(200, jpeg, "image/jpeg")
            elif path == "/stream.mjpg":
                self._stream("video", self._video)
            elif path == "/events":
                self._stream("events", self._events)
            elif path == "/read":
                self._error(405, "POST a photo to /read (a form field 'image', or the image itself as the body)")
            else:
                self._error(404, f"no page {path}; try / /stream.mjpg /readings /events /snapshot.jpg")
        except OSError:  # the viewer went away or stalled past the timeout
            self.close_connection = True

    def do_HEAD(self):
        """An uptime check's: a GET's headers; a stream's without starting it."""
        kinds = {"/stream.mjpg": f"multipart/x-mixed-replace; boundary={BOUNDARY}", "/events": "text/event-stream"}
        path = urlsplit(self.path).path
        if path not in kinds:
            self.do_GET()  # _send leaves out the body of a HEAD
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", kinds[path])
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
        except OSError:
            pass
        self.close_connection = True

    def _stream(self, kind: str, send):
        if not self.feed.take_slot(kind):
            self._error(503, f"viewer limit reached ({MAX_VIEWERS}); try again later")
            return
        self.close_connection = True  # a stream ends with its connection
        try:
            send()
        finally:
            self.feed.give_slot(kind)

    def _video(self):
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        seq, shown, quiet_since = 0, waiting_jpeg(), time.monotonic()  # grey until the first frame
        while not self.feed.closed:
            jpeg, seq = self.feed.next_jpeg(seq, timeout=1.0)
            if jpeg is None and time.monotonic() - quiet_since >= WRITE_EVERY_S:
                jpeg = shown  # the same picture again: a viewer who left is found by the write
            if jpeg is not None:
                self.wfile.write(b"--" + BOUNDARY.encode() + b"\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                 + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                shown, quiet_since = jpeg, time.monotonic()

    def _events(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b": stable readings, one event each\n\n")
        # a reconnecting EventSource resumes after the last event it saw; a new one, or one from an
        # earlier run (its numbers started again), gets the recent ones
        run, _, seen = self.headers.get("Last-Event-ID", "").partition(".")
        if run == self.feed.run and seen.isascii() and seen.isdigit():  # not '²': int() refuses it
            seq = int(seen)
        else:
            seq = max(0, self.feed.event_seq() - EVENTS_REPLAYED)
        quiet_since = time.monotonic()
        while not self.feed.closed:
            events, last = self.feed.next_events(seq, timeout=1.0)
            for i, event in enumerate(events, start=last - len(events) + 1):
                self.wfile.write(f"id: {self.feed.run}.{i}\ndata: {json.dumps(event)}\n\n".encode())
            if events:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= WRITE_EVERY_S:  # a comment finds viewers who left
                self.wfile.write(b": keep-alive\n\n")
                quiet_since = time.monotonic()
            seq = last

    def _discard(self, length: int):
        try:
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 16))
                if not chunk:
                    break
                length -= len(chunk)
        except OSError:
            pass

    def do_POST(self):
        url = urlsplit(self.path)
        if url.path != "/read":
            self._error(404, f"POST only to /read, not {url.path}")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._error(411, "Content-Length required")
            return
        if length < 0:  # read(-1) would wait for the client to close
            self._error(400, f"Content-Length {length} is negative")
            return
        if length > MAX_UPLOAD_BYTES:
            self._error(413, f"upload of {length} bytes is over the limit of {MAX_UPLOAD_BYTES // 2**20} MB")
            self._discard(min(length, 8 * MAX_UPLOAD_BYTES))  # so the client, still sending, reads the answer
            return
        try:
            body = self.rfile.read(length)
        except OSError:
            self.close_connection = True
            return
        try:
            data, name = parse_upload(self.headers.get("Content-Type", ""), body)
        except Exception:  # a malformed form is bad input, not a crash
            data, name = b"", "upload"
        if not data:
            self._error(400, "no file in the upload (send a form field 'image' or the image itself)")
            return
        try:
            record, jpeg = self.uploads.read(data, name)
        except PictureTooLarge as e:
            self._error(413, f"{name}: {e}")
            return
        except ImageError as e:
            self._error(415, f"{name}: {e} (JPEG, PNG, BMP, WebP, TIFF ...)")
            return
        except Exception as e:  # the upload reader failed (its model, memory): an answer, not a dropped connection
            self._error(500, f"could not read {name}: {(str(e) or type(e).__name__).splitlines()[0]}")
            return
        if parse_qs(url.query).get("format") == ["jpeg"]:
            self._send(200, jpeg, "image/jpeg")
        else:
            self._json(200, {**record, "annotated_jpeg": base64.b64encode(jpeg).decode("ascii")})


class IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class WebServer:
    """The HTTP server on a daemon thread; `publish` is the loop's hand-off."""

    def __init__(self, host: str, port: int, make_reader, max_fps: float = STREAM_FPS, roi=None):
        self.feed = LiveFeed(max_fps, roi)
        handler = type("BoundHandler", (Handler,), {"feed": self.feed, "uploads": UploadReader(make_reader)})
        try:
            server_class = IPv6Server if ":" in host else ThreadingHTTPServer
            self.httpd = server_class((host, port), handler)
        except OSError as e:
            self.feed.close()
            raise WebError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None
        self.httpd.daemon_threads = True  # streaming threads never hold up the exit
        self.host, self.port = host, self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="web-server", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Where to open it; on all interfaces (0.0.0.0, ::) by this machine's name, which others can reach."""
        host = socket.gethostname() if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    def publish(self, result: FrameResult, fps: float = 0.0):
        self.feed.publish(result, fps)

    def close(self):
        self.feed.close()
        self.httpd.shutdown()
        self.httpd.server_close()
