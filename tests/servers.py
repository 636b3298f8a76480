"""Real servers on the loopback interface for the tests: Mosquitto, and the app itself
running with --serve / --mqtt in a subprocess."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import IN_CI, ROOT


def need_program(name: str, package: str) -> str:
    """The program's path; skip without it, but fail in CI (.ci/run installs it)."""
    path = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None)
    if not path:
        message = f"{name} not found (apt-get install {package})"
        if IN_CI:
            pytest.fail(message + "; .ci/run should have installed it")
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A certificate for host `name` (and 127.0.0.1 when it is localhost), signed by itself, and its key."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    folder.mkdir(parents=True, exist_ok=True)
    alt = "DNS:localhost,IP:127.0.0.1" if name == "localhost" else f"DNS:{name}"
    subprocess.run([need_program("openssl", "openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}", "-addext", f"subjectAltName={alt}"],
                   check=True, capture_output=True)
    return cert, key


class Mosquitto:
    """A broker of the test's own on a free loopback port (never the system's 1883), with
    persistence, so a subscriber's session and its queued messages survive a restart."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None, tls: tuple[Path, Path] | None = None):
        self.exe = need_program("mosquitto", "mosquitto")
        self.folder, self.port, self.proc = folder, free_port(), None
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {folder}/",
                 "user root" if os.geteuid() == 0 else "", f"log_dest file {folder}/mosquitto.log"]
        if tls:  # (certificate, key): TLS on the listener
            lines += [f"certfile {tls[0]}", f"keyfile {tls[1]}"]
        if users:
            passwords = folder / "passwords"
            for i, (user, password) in enumerate(users.items()):
                subprocess.run([need_program("mosquitto_passwd", "mosquitto"), "-b"] + (["-c"] if i == 0 else [])
                               + [str(passwords), user, password], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def start(self):
        self.proc = subprocess.Popen([self.exe, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: mosquitto saves its persistence file and exits
            self.proc.wait(10)
        self.proc = None


class Subscriber:
    """A paho client that records (topic, payload, retain, qos) of everything it receives.
    With a `client_id` its session is persistent: messages wait for it while it is away."""

    def __init__(self, port: int, topic: str = "#", client_id: str = ""):
        import paho.mqtt.client as mqtt
        self.messages: list[tuple[str, str, bool, int]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=not client_id)
        self.client.reconnect_delay_set(0.2, 1)
        self.subscribed = threading.Event()  # the broker has granted the subscription (this connection)
        self.client.on_connect = lambda c, u, f, rc, p: (self.subscribed.clear(), c.subscribe(topic, qos=1))
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if not any(code.is_failure for code in reason_codes):
            self.subscribed.set()

    def _on_message(self, client, userdata, m):
        with self.lock:
            self.messages.append((m.topic, m.payload.decode(), bool(m.retain), m.qos))

    def on(self, topic: str) -> list[tuple[str, bool, int]]:
        with self.lock:
            return [(payload, retain, qos) for t, payload, retain, qos in self.messages if t == topic]

    def wait_subscribed(self, timeout: float = 10.0) -> "Subscriber":
        """Block until the broker holds the subscription: what is published before that is lost."""
        if not self.subscribed.wait(timeout):
            raise AssertionError(f"the subscriber was not subscribed within {timeout} s")
        return self

    def wait_for(self, condition, timeout: float = 30.0, what: str = "messages"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; got {self.messages[-10:]}")

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


class App:
    """main.py in a subprocess (no display); its output lines (stderr and stdout) are collected
    as they come."""

    def __init__(self, *args, env=None):
        env_all = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        env_all.update(env or {})
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), *map(str, args)], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env_all)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, pattern: str, timeout: float = 60.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}; stderr: {self.lines}")

    def url(self) -> str:
        return self.wait_line(r"live view on (http://\S+/)").group(1)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(5)
        return code
