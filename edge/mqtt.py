"""--mqtt: stable readings to an MQTT broker (paho-mqtt 2.x), with Home Assistant discovery.

Topics (prefix `edge-digits` unless --mqtt-topic, device from --device-name):
    <prefix>/<device>/reading        every stable reading, JSON (edge.output.stable_reading), QoS 1
    <prefix>/<device>/state          the latest stable reading and all numbers stable now, retained
    <prefix>/<device>/availability   online / offline (camera lost, exit, the last will), retained
    homeassistant/sensor/<device>/reading/config   Home Assistant discovery, retained

Start-up: a host that does not resolve, a refused login (CONNACK "not authorized" or "bad
user name or password") or an unusable TLS CA file is one line and exit 2. A broker that
is down is one warning line: the app reads on and connects when it comes up. Later outages:
paho reconnects with backoff (1 s doubling to 30 s); readings wait in paho's own queue, in
order, up to --mqtt-buffer (readings not yet acknowledged); a newer reading that does not fit is dropped, counted and reported
once per outage (and in the closing line), never silently.
"""
from __future__ import annotations

import json
import re
import secrets
import socket
import ssl
import sys
import threading
import time
import unicodedata
import zlib

from edge import PROG
from edge.output import OutputError, stable_reading
from edge.share import DEFAULT_BUFFER, DEFAULT_MQTTS_PORT, DEFAULT_PREFIX, PASSWORD_ENV, topic_part
from edge.types import FrameResult

DISCOVERY_PREFIX = "homeassistant"  # Home Assistant's default discovery prefix
STARTUP_WAIT_S = 10.0  # how long start-up waits for the broker's first answer
CLOSE_FLUSH_S = 3.0  # how long the end waits for readings still on their way
KEEPALIVE_S = 30


class MqttError(OutputError):
    """The broker cannot be used as given; main reports it in one line, exit 2."""


UNKNOWN_SIGNER = {18, 19, 20, 21}  # OpenSSL's X509_V_ERR_*: self-signed, or signed by a CA not given
AUTH_REFUSED = {"Bad user name or password", "Not authorized", "Bad username or password"}


def entity_slug(name: str) -> str:
    """`name` as Home Assistant's entity ids take it: a-z, 0-9 and single underscores ('Site-A/cam' -> 'site_a_cam');
    a name with no Latin letters or digits keeps a hash of itself, so two such names stay two entities."""
    ascii_name = unicodedata.normalize("NFKD", name.replace("ß", "ss")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_") or f"device_{zlib.crc32(name.encode()):08x}"


class MqttPublisher:
    def __init__(self, host: str, port: int, device: str, user: str | None = None, password: str | None = None,
                 prefix: str = DEFAULT_PREFIX, tls: str | None = None, buffer: int = DEFAULT_BUFFER,
                 say=print, version: str = "", startup_wait: float = STARTUP_WAIT_S, stopped=lambda: False):
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise MqttError("--mqtt needs paho-mqtt: pip install 'paho-mqtt>=2' (or the '[mqtt]' extra)") from None
        self._mqtt = mqtt
        self.host, self.port, self.device, self.say = host, port, device, say
        base = f"{prefix}/{device}"
        self.reading_topic, self.state_topic = f"{base}/reading", f"{base}/state"
        self.availability_topic = f"{base}/availability"
        # Home Assistant's node: the device, with any prefix but the default (site-a/meters/cam1 and
        # site-b/meters/cam1 are two sensors, not one whose config each overwrites)
        self.node = device if prefix == DEFAULT_PREFIX else topic_part(f"{prefix}_{device}")
        self.discovery_topic = f"{DISCOVERY_PREFIX}/sensor/{self.node}/reading/config"
        self.prefix = prefix
        self.version, self.buffer = version, buffer
        self.dropped = 0  # readings that did not fit the buffer, in all
        self._outage_dropped = 0  # ... since the connection was lost
        self._state: dict | None = None
        self._lock = threading.Lock()
        self._unacked: set[int] = set()  # reading messages not yet acknowledged by the broker
        self._first = threading.Event()  # the first answer (or failure) at start-up
        self._refused: str | None = None
        self._failure: Exception | None = None  # why the last connection attempt failed
        self._was_connected = False
        self._connected = False
        self._refusal_said = False
        self._closing = False  # our own disconnect is no outage
        self._source_up = True  # availability is 'online' while the app runs and its camera delivers
        self._availability_lock = threading.Lock()  # paho's publish never takes it: no deadlock with _lock
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as e:
            raise MqttError(f"MQTT broker host {host!r} does not resolve ({getattr(e, 'strerror', None) or e})") from None
        # a client id of its own: two apps of one device name (two cameras on a host, two Pis
        # called raspberrypi) would otherwise take the broker's connection from each other, endlessly
        # (at most 23 bytes, all MQTT 3.1.1 promises a broker takes)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{device[:14]}-{secrets.token_hex(4)}",
                             protocol=mqtt.MQTTv311)
        if user:
            client.username_pw_set(user, password)
        if tls:
            try:
                client.tls_set(ca_certs=None if tls == "system" else tls)
            except (OSError, ValueError) as e:
                raise MqttError(f"cannot use TLS CA file {tls}: {getattr(e, 'strerror', None) or e}") from None
        self.tls = tls
        client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_queued_messages_set(0)  # unbounded in paho: publish() bounds the readings itself
        client.on_connect, client.on_connect_fail = self._on_connect, self._on_connect_fail
        client.on_disconnect, client.on_publish = self._on_disconnect, self._on_publish
        self.client = client
        client.connect_async(host, port, keepalive=KEEPALIVE_S)
        client.loop_start()
        deadline = time.monotonic() + startup_wait
        while not self._first.wait(0.1) and time.monotonic() < deadline and not stopped():
            pass  # in slices: a Ctrl-C (`stopped`) while an unreachable broker is waited for ends it now
        if stopped():
            return
        if not self._first.is_set():
            say(f"MQTT broker {host}:{port} does not answer yet: reading on, connecting when it does")
        elif self._refused:
            self._stop()
            raise MqttError(f"MQTT broker {host}:{port} refused the login: {self._refused}"
                            + ("" if password else f" (password from ${PASSWORD_ENV})" if user else ""))
        elif not self._connected:
            failure = self._failure
            if isinstance(failure, ssl.SSLCertVerificationError):  # set-up, not an outage: it will not pass later
                self._stop()
                unknown_signer = failure.verify_code in UNKNOWN_SIGNER  # not a wrong name or an expired one
                raise MqttError(f"MQTT broker {host}:{port}: its TLS certificate is not accepted "
                                f"({failure.verify_message.rstrip('.')})"
                                + ("; give the CA that signed it: --mqtt-tls ca.pem" if unknown_signer else ""))
            why = f" ({failure.strerror or failure})" if isinstance(failure, OSError) else ""
            plain_port = (self.tls and port != DEFAULT_MQTTS_PORT  # a plain port hangs up on the handshake
                          and isinstance(failure, (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError)))
            say(f"MQTT broker {host}:{port} is not reachable{why}: reading on, reconnecting with backoff"
                + (f"; is it the broker's TLS port (usually {DEFAULT_MQTTS_PORT})?" if plain_port else ""))

    # -- paho's thread
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            if not self._first.is_set() and str(reason_code) in AUTH_REFUSED:
                self._refused = str(reason_code)
            elif not self._refusal_said:  # once, until the next success
                self.say(f"MQTT broker {self.host}:{self.port} refused the connection ({reason_code}): retrying")
                self._refusal_said = True
            self._first.set()
            return
        with self._availability_lock:  # with source_available: the last availability sent is the camera's now
            with self._lock:
                state, dropped, self._outage_dropped = self._state, self._outage_dropped, 0
                self._connected, self._refusal_said = True, False
            client.publish(self.availability_topic, "online" if self._source_up else "offline", qos=1, retain=True)
        client.publish(self.discovery_topic, json.dumps(self.discovery_config()), qos=1, retain=True)
        if state is not None:
            client.publish(self.state_topic, json.dumps(state), qos=1, retain=True)
        if self._was_connected:
            self.say(f"MQTT reconnected to {self.host}:{self.port}; sending the buffered readings"
                     + (f"; {dropped} readings did not fit the buffer ({self.buffer}) and were dropped" if dropped else ""))
        else:
            self.say(f"MQTT connected to {self.host}:{self.port}: publishing to {self.reading_topic}"
                     + (f"; {dropped} readings did not fit the buffer ({self.buffer}) and were dropped" if dropped else ""))
        self._was_connected = True
        self._first.set()

    def _on_connect_fail(self, client, userdata):
        self._failure = sys.exc_info()[1]  # paho calls this inside its `except OSError`: the reason
        self._first.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        with self._lock:
            was, self._connected = self._connected, False
        if was and not self._closing:
            self.say(f"MQTT connection to {self.host}:{self.port} lost ({reason_code}): reading on, "
                     f"buffering up to {self.buffer} readings, reconnecting with backoff")

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self._lock:
            self._unacked.discard(mid)

    # -- the capture loop's side: publish() only queues; paho's thread does the network
    def source_available(self, up: bool):
        """The camera lost (False) or delivering again (True): the sensor goes unavailable with it."""
        with self._availability_lock:
            if up == self._source_up:
                return
            self._source_up = up
            if self._connected:  # else said on (re)connect
                self.client.publish(self.availability_topic, "online" if up else "offline", qos=1, retain=True)

    def publish(self, result: FrameResult):
        if not result.events:
            return
        for number in result.events:
            with self._lock:  # while away: readings queued or in flight (not the state nor availability)
                full = not self._connected and len(self._unacked) >= self.buffer
                if full:
                    self.dropped += 1
                    self._outage_dropped += 1
                first_drop = full and self._outage_dropped == 1
            if not full:
                info = self.client.publish(self.reading_topic, json.dumps(stable_reading(result, number)), qos=1)
                with self._lock:
                    if info.rc in (self._mqtt.MQTT_ERR_SUCCESS, self._mqtt.MQTT_ERR_NO_CONN):  # queued either way
                        self._unacked.add(info.mid)
            if first_drop:
                self.say(f"MQTT buffer full ({self.buffer} readings): newer readings are dropped and counted "
                         "until the broker is back")
        latest = stable_reading(result, result.events[-1])
        state = {**latest, "numbers": [n.text for n in result.numbers if n.stable], "dropped": self.dropped}
        with self._lock:
            self._state = state
            connected = self._connected
        if connected:  # else on_connect sends the latest state
            self.client.publish(self.state_topic, json.dumps(state), qos=1, retain=True)

    def discovery_config(self) -> dict:
        ident = f"{PROG}-{self.node}"
        where = self.device if self.prefix == DEFAULT_PREFIX else f"{self.prefix}/{self.device}"
        return {
            "name": "Reading",
            "unique_id": f"{ident}-reading",
            "default_entity_id": f"sensor.{entity_slug(self.node)}_reading",  # object_id's successor (HA 2025.10)
            "state_topic": self.state_topic,
            "value_template": "{{ value_json.text }}",
            "json_attributes_topic": self.state_topic,
            "availability_topic": self.availability_topic,
            "payload_available": "online",
            "payload_not_available": "offline",
            "icon": "mdi:counter",
            "device": {"identifiers": [ident], "name": f"{PROG} {where}", "manufacturer": PROG,
                       "model": "camera digit reader", "sw_version": self.version},
        }

    def unsent(self) -> int:
        with self._lock:
            return len(self._unacked)

    def close(self):
        """Wait a little for readings on their way, say goodbye (offline, retained), disconnect."""
        deadline = time.monotonic() + CLOSE_FLUSH_S
        while self._connected and self.unsent() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._connected:
            info = self.client.publish(self.availability_topic, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=max(0.1, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                pass
        unsent = self.unsent()
        self._stop()
        if unsent or self.dropped:
            self.say(f"MQTT: {unsent} readings not delivered (broker away at the end), "
                     f"{self.dropped} dropped when the buffer was full")

    def _stop(self):
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()
