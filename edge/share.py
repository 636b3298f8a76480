"""The readings where people use them: the options of the web view (edge.web) and MQTT
(edge.mqtt), and `SharedOutputs`, the one object the read loop hands each FrameResult to.

Kept light (standard library only at import) so that --help stays instant.
"""
from __future__ import annotations

import argparse
import os
import re
import socket

from edge import version
from edge.cli import positive_int

DEFAULT_MQTT_PORT, DEFAULT_MQTTS_PORT = 1883, 8883
DEFAULT_PREFIX = "edge-digits"
PASSWORD_ENV = "EDGE_DIGITS_MQTT_PASSWORD"
DEFAULT_BUFFER = 1000  # readings kept while the broker is away (~200 KB)
STREAM_FPS = 15  # the live video's default rate cap: enough to watch, half a 30 FPS camera's JPEGs to make


def serve_address(text: str) -> tuple[str, int]:
    """[HOST:]PORT -> (host, port); the host is 127.0.0.1 unless given ([::1]:8080 for IPv6)."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected [HOST:]PORT, got {text!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {number}")
    return host, number


def mqtt_target(text: str) -> tuple[str | None, str, int | None]:
    """[USER@]HOST[:PORT] -> (user, host, port or None for the default)."""
    user, at, rest = text.rpartition("@")
    if at and not user:
        raise argparse.ArgumentTypeError(f"a user name before '@', or no '@', got {text!r}")
    host, port = rest, None
    if rest.startswith("["):  # [IPv6]:port
        host, _, port = rest[1:].partition("]")
        port = port[1:] if port.startswith(":") else None
    elif rest.count(":") == 1:
        host, port = rest.split(":")
    if port is not None:
        if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
            raise argparse.ArgumentTypeError(f"port must be 1-65535, got {port!r}")
        port = int(port)
    if not host:
        raise argparse.ArgumentTypeError(f"expected [USER@]HOST[:PORT], got {text!r}")
    return user or None, host, port


def topic_part(text: str) -> str:
    """A device name or prefix as one safe topic level (Home Assistant allows [A-Za-z0-9_-])."""
    clean = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")
    if not clean:
        raise argparse.ArgumentTypeError(f"needs letters, digits, _ or -, got {text!r}")
    return clean


def topic_prefix(text: str) -> str:
    parts = [p for p in text.strip("/").split("/")]
    if not all(parts) or any(c in text for c in "+#") or parts[0].startswith("$"):  # $SYS...: the broker's own
        raise argparse.ArgumentTypeError(f"a topic prefix like edge-digits or site/meters, got {text!r}")
    return "/".join(parts)


def add_arguments(parser: argparse.ArgumentParser):
    g = parser.add_argument_group("sharing (web view, MQTT)")
    g.add_argument("--serve", metavar="[HOST:]PORT", type=serve_address,
                   help="serve the live view, readings and photo upload over HTTP (host 127.0.0.1 unless "
                        "given; 0.0.0.0:8080 for other machines: no authentication)")
    g.add_argument("--serve-fps", metavar="N", type=positive_int, default=STREAM_FPS,
                   help=f"the live video's frame rate at most (default {STREAM_FPS}); readings are every frame's")
    g.add_argument("--mqtt", metavar="[USER@]HOST[:PORT]", type=mqtt_target,
                   help=f"publish stable readings to this MQTT broker (password from ${PASSWORD_ENV}); "
                        "needs pip install 'paho-mqtt>=2'")
    g.add_argument("--mqtt-topic", metavar="PREFIX", type=topic_prefix, default=DEFAULT_PREFIX,
                   help=f"topic prefix (default {DEFAULT_PREFIX}): PREFIX/DEVICE/reading, /state, /availability")
    g.add_argument("--device-name", type=topic_part, help="this device in topics and Home Assistant "
                   "(default: the host name)")
    g.add_argument("--mqtt-tls", metavar="CAFILE", nargs="?", const="system",
                   help="connect with TLS (port 8883 unless given), verified against the system's CAs or CAFILE")
    g.add_argument("--mqtt-buffer", metavar="N", type=positive_int, default=DEFAULT_BUFFER,
                   help=f"readings kept while the broker is away (default {DEFAULT_BUFFER}); more are dropped "
                        "and counted")


def stray_option(args) -> str | None:
    """'--X needs --Y' for the first option given without the output it tunes (it would do nothing)."""
    given = [("--serve-fps", "--serve", args.serve_fps != STREAM_FPS),
             ("--mqtt-topic", "--mqtt", args.mqtt_topic != DEFAULT_PREFIX),
             ("--device-name", "--mqtt", args.device_name is not None),
             ("--mqtt-tls", "--mqtt", args.mqtt_tls is not None),
             ("--mqtt-buffer", "--mqtt", args.mqtt_buffer != DEFAULT_BUFFER)]
    return next((f"{option} needs {output}" for option, output, set_ in given
                 if set_ and not getattr(args, output[2:])), None)


class SharedOutputs:
    """The web server and the MQTT publisher behind one `write`, the loop's only call."""

    def __init__(self, web=None, mqtt=None):
        self.web, self.mqtt = web, mqtt

    def __bool__(self):
        return bool(self.web or self.mqtt)

    def write(self, result, fps: float = 0.0):
        if self.web:
            self.web.publish(result, fps)
        if self.mqtt:
            self.mqtt.publish(result)

    def source_available(self, up: bool):
        """The source lost or back: MQTT's availability follows it (the web page shows the frames)."""
        if self.mqtt:
            self.mqtt.source_available(up)

    def close(self):
        if self.mqtt:
            self.mqtt.close()
        if self.web:
            self.web.close()


def open_shared(args, say, make_reader, stopped=lambda: False) -> SharedOutputs:
    """Start what --serve and --mqtt ask for; bad input raises an OutputError (one line, exit 2).
    `make_reader` builds a second reader, for uploaded photos; `stopped`: a Ctrl-C came meanwhile."""
    shared = SharedOutputs()
    try:
        if args.mqtt:
            from edge.mqtt import MqttPublisher
            user, host, port = args.mqtt
            device = args.device_name or topic_part(socket.gethostname() or "camera")
            shared.mqtt = MqttPublisher(
                host, port or (DEFAULT_MQTTS_PORT if args.mqtt_tls else DEFAULT_MQTT_PORT), device, user=user,
                password=os.environ.get(PASSWORD_ENV), prefix=args.mqtt_topic, tls=args.mqtt_tls,
                buffer=args.mqtt_buffer, say=say, version=version(), stopped=stopped)
        if args.serve:
            from edge.web import MAX_VIEWERS, WebServer
            shared.web = WebServer(*args.serve, make_reader, max_fps=args.serve_fps, roi=args.roi)
            say(f"live view on {shared.web.url} (up to {MAX_VIEWERS} video viewers)")
    except BaseException:
        shared.close()
        raise
    return shared
