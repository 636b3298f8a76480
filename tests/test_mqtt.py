"""--mqtt against a real Mosquitto broker on the loopback interface, started and stopped here."""
import json
import time

import numpy as np
import pytest

from edge.capture.demo import TRUTH
from tests.conftest import IN_CI, run_app
from tests.servers import App, Mosquitto, Subscriber, free_port, self_signed

try:
    import paho.mqtt.client  # noqa: F401
except ImportError:
    if IN_CI:
        raise
    pytest.skip("paho-mqtt not installed (pip install -e '.[dev]')", allow_module_level=True)


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(tmp_path / "broker").start()
    yield b
    b.stop()


def test_readings_state_availability_and_discovery(broker):
    live = Subscriber(broker.port).wait_subscribed()
    r = run_app("--source", "demo", "--fps", "0", "--max-frames", "40", "--mqtt", f"127.0.0.1:{broker.port}",
                "--device-name", "meter 1")
    live.wait_for(lambda: len(live.on("edge-digits/meter_1/reading")) >= 4, 10, "the four readings")
    live.close()
    assert r.returncode == 0, r.stderr
    assert "MQTT connected" in r.stderr
    readings = live.on("edge-digits/meter_1/reading")
    assert sorted(json.loads(p)["text"] for p, _, _ in readings) == sorted(TRUTH)
    for payload, retain, qos in readings:
        rec = json.loads(payload)
        assert set(rec) == {"source", "frame", "t", "text", "confidence", "box"} and rec["source"] == "demo"
        assert not retain and qos == 1
    assert [p for p, _, _ in live.on("edge-digits/meter_1/availability")] == ["online", "offline"]

    # A newcomer gets the retained topics: the last state, offline (said on the way out), discovery.
    late = Subscriber(broker.port)
    late.wait_for(lambda: len(late.messages) >= 3, 10, "the retained messages")
    time.sleep(0.3)
    late.close()
    retained = {t: (p, r) for t, p, r, _ in late.messages}
    assert set(retained) == {"edge-digits/meter_1/state", "edge-digits/meter_1/availability",
                             "homeassistant/sensor/meter_1/reading/config"}
    assert all(r for _, r in retained.values())
    assert retained["edge-digits/meter_1/availability"][0] == "offline"
    state = json.loads(retained["edge-digits/meter_1/state"][0])
    assert state["text"] in TRUTH and sorted(state["numbers"]) == sorted(TRUTH) and state["dropped"] == 0
    # Home Assistant's MQTT sensor: its topics exist, its template reads the state's field.
    config = json.loads(retained["homeassistant/sensor/meter_1/reading/config"][0])
    assert config["state_topic"] == "edge-digits/meter_1/state"
    assert config["json_attributes_topic"] == "edge-digits/meter_1/state"
    assert config["availability_topic"] == "edge-digits/meter_1/availability"
    assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
    assert config["value_template"] == "{{ value_json.text }}" and "text" in state
    assert config["unique_id"] == "edge-digits-meter_1-reading"  # the default prefix: ids as before
    assert config["default_entity_id"] == "sensor.meter_1_reading" and "object_id" not in config
    assert config["device"]["identifiers"] == ["edge-digits-meter_1"] and config["device"]["name"]
    from edge import version
    assert config["device"]["sw_version"] == version() != ""  # a checkout's too (it was empty there)


def test_one_device_name_under_two_prefixes_is_two_home_assistant_sensors(broker):
    """site-a/meters/cam1 and site-b/meters/cam1 wrote one discovery config, the second over the first."""
    for prefix in ("site-a/meters", "site-b/meters"):
        r = run_app("--source", "demo", "--fps", "0", "--max-frames", "2", "--mqtt", f"127.0.0.1:{broker.port}",
                    "--mqtt-topic", prefix, "--device-name", "cam1")
        assert r.returncode == 0, r.stderr
    late = Subscriber(broker.port, "homeassistant/#")
    late.wait_for(lambda: len(late.messages) >= 2, 10, "both discovery configs")
    time.sleep(0.3)
    late.close()
    configs = {t: json.loads(p) for t, p, _, _ in late.messages}
    assert set(configs) == {"homeassistant/sensor/site-a_meters_cam1/reading/config",
                            "homeassistant/sensor/site-b_meters_cam1/reading/config"}
    a, b = configs.values()
    assert a["unique_id"] != b["unique_id"] and a["device"]["identifiers"] != b["device"]["identifiers"]
    assert {c["state_topic"] for c in configs.values()} == {"site-a/meters/cam1/state", "site-b/meters/cam1/state"}
    assert {c["default_entity_id"] for c in configs.values()} == {"sensor.site_a_meters_cam1_reading",
                                                                 "sensor.site_b_meters_cam1_reading"}
    assert all("object_id" not in c for c in configs.values())  # Home Assistant dropped it in 2026.4


@pytest.mark.parametrize("name,slug", [("water-meter", "water_meter"), ("Site-A_meters__cam1", "site_a_meters_cam1"),
                                       ("Zähler 2", "zahler_2"), ("Straße", "strasse"),
                                       ("--", "device_242c1465"), ("水表", "device_3be8af8f")])
def test_entity_ids_are_what_home_assistant_takes(name, slug):
    """'sensor.water-meter_reading' is no valid entity id: a-z, 0-9 and single underscores only."""
    from edge.mqtt import entity_slug
    assert entity_slug(name) == slug


def test_tls_with_its_ca_connects_and_an_untrusted_certificate_is_one_line(tmp_path):
    """A self-signed certificate, or one of another CA, was said as 'not reachable, or its TLS
    handshake failed' and retried for ever: readings never arrived and the status was 0."""
    own = self_signed(tmp_path / "certs", "localhost")
    other, _ = self_signed(tmp_path / "certs", "elsewhere")
    broker = Mosquitto(tmp_path / "broker", tls=own).start()
    try:
        args = ["--source", "demo", "--fps", "0", "--max-frames", "2", "--mqtt", f"127.0.0.1:{broker.port}", "-q"]
        r = run_app(*args, "--mqtt-tls", own[0])
        assert r.returncode == 0 and r.stderr == "", r.stderr
        for ca in (None, other):  # the system's CAs, another CA
            r = run_app(*args, "--mqtt-tls", *([ca] if ca else []), timeout=60)
            assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
            assert (f"MQTT broker 127.0.0.1:{broker.port}: its TLS certificate is not accepted "
                    "(self-signed certificate); give the CA that signed it: --mqtt-tls ca.pem") in r.stderr, r.stderr
    finally:
        broker.stop()


def test_a_tls_certificate_for_another_host_is_one_line_without_the_ca_hint(tmp_path):
    """A trusted certificate made out to another name is a set-up error too, but giving a CA
    would not mend it."""
    cert, key = self_signed(tmp_path / "certs", "elsewhere")
    broker = Mosquitto(tmp_path / "broker", tls=(cert, key)).start()
    try:
        r = run_app("--source", "demo", "--fps", "0", "--max-frames", "2", "--mqtt", f"127.0.0.1:{broker.port}",
                    "-q", "--mqtt-tls", cert, timeout=60)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert (f"MQTT broker 127.0.0.1:{broker.port}: its TLS certificate is not accepted (IP address mismatch, "
                "certificate is not valid for '127.0.0.1')\n") in r.stderr, r.stderr
        assert "--mqtt-tls ca.pem" not in r.stderr
    finally:
        broker.stop()


def test_tls_to_a_plain_port_asks_whether_it_is_the_tls_one(tmp_path):
    """TLS to a port without it was said as an outage alone: the broker hangs up on the handshake."""
    broker = Mosquitto(tmp_path / "broker").start()
    try:
        r = run_app("--source", "demo", "--fps", "0", "--max-frames", "2", "--mqtt", f"127.0.0.1:{broker.port}",
                    "--mqtt-tls", timeout=60)
        assert r.returncode == 0, r.stderr
        assert "reconnecting with backoff; is it the broker's TLS port (usually 8883)?" in r.stderr, r.stderr
    finally:
        broker.stop()


def test_a_ctrl_c_while_the_broker_is_waited_for_leaves_the_json_log_as_it_was(tmp_path):
    """Stopped during start-up (a broker that never answers is waited for), the log was still
    opened: emptied with --overwrite."""
    import signal
    import socket
    kept = tmp_path / "kept.jsonl"
    kept.write_text('{"frame": 0}\n')
    with socket.socket() as silent:  # takes the connection, never answers it
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        app = App("--source", "demo", "--json", kept, "--overwrite", "--mqtt", f"127.0.0.1:{silent.getsockname()[1]}")
        time.sleep(3)  # loading, or waiting for the broker: either is before the log opens
        app.proc.send_signal(signal.SIGINT)
        code = app.proc.wait(30)
    assert code == 0, app.lines
    assert kept.read_text() == '{"frame": 0}\n'


def test_a_folder_of_pictures_publishes_each_pictures_readings(broker, tmp_path):
    """A picture is read once, so its readings are final: before, they never became stable and a
    folder of photos published nothing."""
    import cv2

    from tests.pages import render_page
    for name, texts in (("a.png", [("2024", 60, 200, 70)]), ("b.png", [("86", 100, 350, 80)])):
        cv2.imwrite(str(tmp_path / name), render_page(texts)[0])
    live = Subscriber(broker.port).wait_subscribed()
    r = run_app("--source", tmp_path, "--mqtt", f"127.0.0.1:{broker.port}", "--json", tmp_path / "r.jsonl",
                "--device-name", "desk")
    live.wait_for(lambda: len(live.on("edge-digits/desk/reading")) >= 2, 10, "the two readings")
    live.close()
    assert r.returncode == 0, r.stderr
    readings = [json.loads(p) for p, _, _ in live.on("edge-digits/desk/reading")]
    assert [(rec["text"], rec["source"]) for rec in readings] == [("2024", str(tmp_path / "a.png")),
                                                                 ("86", str(tmp_path / "b.png"))]
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [[(n["text"], n["stable"]) for n in rec["numbers"]] for rec in records] == [[("2024", True)], [("86", True)]]


def test_availability_follows_the_camera(broker):
    """The sensor goes unavailable while the camera is lost, and available again when it is back:
    here the camera is another app's MJPEG stream, stopped and started again."""
    port = free_port()
    camera = App("--source", "demo", "--fps", "15", "--serve", f"127.0.0.1:{port}")
    stream = camera.url() + "stream.mjpg"
    live = Subscriber(broker.port).wait_subscribed()
    app = App("--source", stream, "--mqtt", f"127.0.0.1:{broker.port}", "--device-name", "door")
    said = lambda: [p for p, _, _ in live.on("edge-digits/door/availability")]  # noqa: E731
    try:
        live.wait_for(lambda: said() == ["online"], 30, "online")
        camera.stop()
        live.wait_for(lambda: said() == ["online", "offline"], 30, "offline while the camera is lost")
        camera = App("--source", "demo", "--fps", "15", "--serve", f"127.0.0.1:{port}")
        live.wait_for(lambda: said() == ["online", "offline", "online"], 60, "online when it is back")
        assert app.proc.poll() is None
    finally:
        app.stop()
        camera.stop()
        live.close()


def fake_result(index: int):
    from edge.types import Digits, Frame, FrameResult, Number
    number = Number(str(index), 0.99, (0, 0, 10, 10), Digits(), stable=True)
    return FrameResult(Frame(np.zeros((8, 8), np.uint8), index, time.time(), "test"), Digits(), [number], {},
                       events=[number])


def test_outage_readings_arrive_in_order_and_overflow_is_counted(tmp_path):
    """The broker stops mid-run: readings wait in the buffer (5 here) and arrive in order when
    it is back; the ones that did not fit are counted and said, once."""
    from edge.mqtt import MqttPublisher
    broker = Mosquitto(tmp_path / "broker").start()
    sub = Subscriber(broker.port, "t/dev/reading", client_id="test-subscriber").wait_subscribed()  # a session
    said = []
    pub = MqttPublisher("127.0.0.1", broker.port, "dev", prefix="t", buffer=5, say=said.append)
    try:
        topic = "t/dev/reading"
        for i in range(3):
            pub.publish(fake_result(i))
        sub.wait_for(lambda: len(sub.on(topic)) == 3, 10, "readings before the outage")
        broker.stop()
        deadline = time.monotonic() + 10
        while pub._connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("lost" in line for line in said)
        for i in range(3, 11):  # 8 readings while it is down: 5 fit, 3 are dropped
            pub.publish(fake_result(i))
        assert pub.dropped == 3
        assert sum("buffer full" in line for line in said) == 1
        broker.start()
        sub.wait_for(lambda: len(sub.on(topic)) >= 8, 40, "the buffered readings")
        for i in range(11, 14):  # and the app goes on publishing
            pub.publish(fake_result(i))
        sub.wait_for(lambda: len(sub.on(topic)) >= 11, 20, "readings after the outage")
        texts = [json.loads(p)["text"] for p, _, _ in sub.on(topic)]
        texts = [t for i, t in enumerate(texts) if t not in texts[:i]]  # QoS 1 is at least once: a resend may repeat one
        assert texts == [str(i) for i in [0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13]]
        assert any("reconnected" in line and "3 readings did not fit" in line for line in said), said
    finally:
        pub.close()
        sub.close()
        broker.stop()


def test_two_apps_of_one_device_name_both_stay_connected(broker):
    """Two cameras on one host (or two hosts of one name) with the default device name: the
    broker must not hand one app's connection to the other, back and forth."""
    from edge.mqtt import MqttPublisher
    said = [[], []]
    pubs = [MqttPublisher("127.0.0.1", broker.port, "raspberrypi-kitchen", prefix="t", say=said[i].append)
            for i in range(2)]
    try:
        assert all(len(p.client._client_id) <= 23 for p in pubs)  # all MQTT 3.1.1 promises a broker takes
        time.sleep(3)
        assert all(p._connected for p in pubs)
        assert not any("lost" in line or "reconnected" in line for lines in said for line in lines), said
    finally:
        for p in pubs:
            p.close()


def test_broker_down_at_start_then_up_then_restarted(tmp_path):
    """The app starts with the broker down (one warning, reading on); the readings it made
    meanwhile arrive once the broker is up; the broker restarts mid-run and the app reconnects."""
    broker = Mosquitto(tmp_path / "broker").start()
    sub = Subscriber(broker.port, "edge-digits/cam/#", client_id="test-subscriber").wait_subscribed()
    sub.close()
    broker.stop()  # the subscriber's session is saved; the app's readings will wait in it
    app = App("--source", "demo", "--fps", "15", "--mqtt", f"127.0.0.1:{broker.port}", "--device-name", "cam")
    try:
        app.wait_line(r"not reachable \(Connection refused\): reading on")  # with its reason
        app.wait_line(r"demo frame \d+: 1258")  # read while the broker is down
        broker.start()
        app.wait_line(r"MQTT connected", 60)
        sub = Subscriber(broker.port, "edge-digits/cam/#", client_id="test-subscriber")
        sub.wait_for(lambda: len(sub.on("edge-digits/cam/reading")) >= 4, 20, "the readings made while down")
        assert sorted(json.loads(p)["text"] for p, _, _ in sub.on("edge-digits/cam/reading")) == sorted(TRUTH)
        broker.stop()
        app.wait_line(r"MQTT connection to .* lost")
        time.sleep(1.5)
        broker.start()
        app.wait_line(r"MQTT reconnected", 60)
        sub.wait_for(lambda: sum(p == "online" for p, _, _ in sub.on("edge-digits/cam/availability")) >= 2, 20,
                     "online again")
        assert app.proc.poll() is None, app.lines  # it kept reading all along
    finally:
        code = app.stop()
        sub.close()
        broker.stop()
    assert code == 0, app.lines
    assert "Traceback" not in "\n".join(app.lines)


def test_host_that_does_not_resolve_is_one_line_and_status_2():
    r = run_app("--source", "demo", "--max-frames", "1", "--mqtt", "no-such-broker.invalid")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "does not resolve" in r.stderr, r.stderr


def test_bad_credentials_are_one_line_and_status_2(tmp_path):
    broker = Mosquitto(tmp_path / "broker", users={"meter": "right"}).start()
    try:
        r = run_app("--source", "demo", "--max-frames", "1", "--mqtt", f"meter@127.0.0.1:{broker.port}",
                    env={"EDGE_DIGITS_MQTT_PASSWORD": "wrong"})
        assert r.returncode == 2
        assert r.stderr.count("\n") == 1 and "refused the login" in r.stderr, r.stderr
        r = run_app("--source", "demo", "--fps", "0", "--max-frames", "5", "--mqtt", f"meter@127.0.0.1:{broker.port}",
                    "-q", env={"EDGE_DIGITS_MQTT_PASSWORD": "right"})
        assert r.returncode == 0, r.stderr
    finally:
        broker.stop()


@pytest.mark.parametrize("args", [["--mqtt", "host:99999"], ["--mqtt", "host:x"], ["--mqtt", "@"],
                                  ["--mqtt", "@host"], ["--mqtt", "host:\u00b2"], ["--mqtt", "h", "--mqtt-topic", "$SYS/x"],
                                  ["--device-name", "///"], ["--mqtt-topic", "a/+/b"], ["--mqtt-buffer", "0"]])
def test_mqtt_argument_errors(args):
    r = run_app(*args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr


def test_without_paho_one_line_and_status_2(tmp_path):
    (tmp_path / "paho").mkdir()
    (tmp_path / "paho" / "__init__.py").write_text("raise ImportError('paho-mqtt is not installed')\n")
    r = run_app("--source", "demo", "--max-frames", "1", "--mqtt", f"127.0.0.1:{free_port()}",
                env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "pip install 'paho-mqtt>=2'" in r.stderr, r.stderr


def test_ctrl_c_while_waiting_for_a_silent_broker_stops_at_once():
    """A broker that takes the connection and never answers: start-up waits up to 10 s for it;
    a Ctrl-C meanwhile ended the app only when that wait was over."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    from tests.conftest import ROOT
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # connections queue; nothing ever answers them
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--source", "demo", "--no-display",
                          "--mqtt", f"127.0.0.1:{silent.getsockname()[1]}"], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not silent_got_a_connection(silent) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
        took = time.monotonic() - t0
    finally:
        p.kill()
        silent.close()
    assert p.returncode == 0 and "Traceback" not in p.stderr.read()
    assert took < 4, took  # before: the rest of the 10 s wait


def silent_got_a_connection(server) -> bool:
    import select
    return bool(select.select([server], [], [], 0)[0])


@pytest.mark.skipif(__import__("os").path.exists("/dev/video0"), reason="this machine has camera 0")
def test_no_camera_with_mqtt_is_an_error_not_the_demo_published():
    """With no --source and no camera, the demo's readings went to the broker as the device's."""
    r = run_app("--mqtt", f"127.0.0.1:{free_port()}", "--device-name", "water-meter", "--max-frames", "2", "-q")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "no camera found" in r.stderr and "--source demo" in r.stderr, r.stderr
