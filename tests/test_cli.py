"""The app end to end, in a subprocess with no display, as a user runs it."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge.capture.demo import TRUTH
from tests.conftest import ROOT, run_app
from tests.pages import render_page

RECORD_KEYS = {"source", "frame", "t", "latency_ms", "numbers"}
NUMBER_KEYS = {"text", "read", "confidence", "box", "stable", "digits", "chars"}
DIGIT_KEYS = {"digit", "confidence", "box"}
CHAR_KEYS = {"char", "confidence", "box"}
NUMBER_CHARS = set("0123456789.,-/")  # --charset digits: digits, and a number's own symbols


def check_record(rec):
    assert set(rec) == RECORD_KEYS
    assert isinstance(rec["source"], str) and isinstance(rec["frame"], int)
    assert isinstance(rec["t"], float) and isinstance(rec["latency_ms"], float)
    for n in rec["numbers"]:
        assert set(n) == NUMBER_KEYS
        assert isinstance(n["text"], str) and n["text"] and set(n["text"]) <= NUMBER_CHARS
        assert 0 <= n["confidence"] <= 1 and isinstance(n["stable"], bool)
        assert len(n["box"]) == 4 and all(isinstance(v, int) for v in n["box"])
        assert isinstance(n["read"], str) and "".join(c["char"] for c in n["chars"]) == n["read"]
        assert "".join(str(d["digit"]) for d in n["digits"]) == "".join(filter(str.isdigit, n["read"]))
        assert n["confidence"] == min(c["confidence"] for c in n["chars"])  # all of this frame
        for d in n["digits"]:
            assert set(d) == DIGIT_KEYS and 0 <= d["digit"] <= 9 and len(d["box"]) == 4
        for c in n["chars"]:
            assert set(c) == CHAR_KEYS and c["char"] in NUMBER_CHARS and len(c["box"]) == 4


def lines_of(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_help():
    r = run_app("--help")
    assert r.returncode == 0
    for option in ("--source", "--json", "--save-video", "--max-frames", "--no-display", "--roi"):
        assert option in r.stdout


@pytest.mark.parametrize("args", [
    ["--max-frames", "-1"], ["--max-frames", "x"], ["--roi", "1,2,3"], ["--roi", "0,0,-5,10"],
    ["--threads", "0"], ["--charset", "greek"], ["--width", "-640"], ["--threshold", "2"],
    ["--min-confidence", "-0.1"], ["--bogus"],
])
def test_argument_errors_are_one_line_and_status_2(args):
    r = run_app(*args)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("edge-digits: error:")
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args,words", [
    (["--threads", "abc"], "expected a whole number"), (["--threshold", "x"], "expected a number"),
    (["--serve-fps", "x"], "expected a whole number"), (["--threads", "100000"], "cores"),
    (["--tiles", "0"], "must be >= 1"), (["--tiles", "2000"], "at most 8"),
    (["--mqtt-tls"], "--mqtt-tls needs --mqtt"), (["--device-name", "pump"], "--device-name needs --mqtt"),
    (["--serve-fps", "5"], "--serve-fps needs --serve"),
])
def test_options_that_would_do_nothing_or_leak_names_are_refused(args, words):
    """Each says what is wrong in the user's words: no internal function names, nothing ignored."""
    r = run_app(*args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and words in r.stderr, r.stderr
    assert "_" not in r.stderr.split("error:")[1].split("(see")[0].replace("--", "")


def test_runtime_never_imports_tensorflow():
    code = ("import sys, edge, edge.line_reader, edge.capture, edge.infer, edge.bench, main;"
            "from edge.infer import DigitClassifier; DigitClassifier();"
            "from edge.line_reader import LineReader; LineReader();"
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_demo_headless_reads_its_numbers(tmp_path):
    out = tmp_path / "readings.jsonl"
    r = run_app("--source", "demo", "--fps", "0", "--max-frames", "40", "--json", out)
    assert r.returncode == 0, r.stderr
    assert "headless" in r.stderr
    records = lines_of(out.read_text())
    assert [rec["frame"] for rec in records] == list(range(40))
    for rec in records:
        check_record(rec)
        assert rec["source"] == "demo"
    for text in TRUTH:
        hits = sum(any(n["text"] == text for n in rec["numbers"]) for rec in records)
        assert hits >= 36, f"{text} read in only {hits} of 40 frames"
    stable = {n["text"] for rec in records[10:] for n in rec["numbers"] if n["stable"]}
    assert set(TRUTH) <= stable


def test_folder_of_images_one_frame_each(tmp_path):
    pages = {"a.png": [("2024", 60, 200, 70)], "b.png": [("315", 100, 150, 60), ("86", 100, 350, 80)],
             "c.jpg": [("7", 300, 300, 90)]}
    for name, numbers in pages.items():
        page, _ = render_page(numbers)
        cv2.imwrite(str(tmp_path / name), page)
    (tmp_path / "notes.txt").write_text("not an image")
    r = run_app("--source", tmp_path, "--json", "-", "-q")
    assert r.returncode == 0, r.stderr
    records = lines_of(r.stdout)
    assert [rec["source"] for rec in records] == [str(tmp_path / n) for n in sorted(pages)]
    for rec, numbers in zip(records, (pages[n] for n in sorted(pages))):
        check_record(rec)
        assert [n["text"] for n in rec["numbers"]] == [text for text, *_ in numbers]


def test_a_size_asked_of_files_is_said_to_do_nothing(tmp_path):
    page, _ = render_page([("2024", 60, 200, 70)])
    cv2.imwrite(str(tmp_path / "a.png"), page)
    r = run_app("--source", tmp_path / "a.png", "--width", "1280")
    assert r.returncode == 0 and "files are read at their own" in r.stderr, r.stderr
    assert "files are read" not in run_app("--source", tmp_path / "a.png").stderr
    assert "--fps set a camera's" in run_app("--source", tmp_path / "a.png", "--fps", "5").stderr
    r = run_app("--source", tmp_path / "a.png", "--fps", "5", "--save-video", tmp_path / "a.avi")
    assert r.returncode == 0 and "files are read" not in r.stderr, r.stderr  # it sets the pictures' video rate
    assert cv2.VideoCapture(str(tmp_path / "a.avi")).get(cv2.CAP_PROP_FPS) == 5
    video = tmp_path / "small.avi"  # the demo is no file: it is drawn at the size asked
    r = run_app("--source", "demo", "--width", "320", "--height", "240", "--max-frames", "1", "--save-video", video)
    assert r.returncode == 0 and "files are read" not in r.stderr, r.stderr
    ok, image = cv2.VideoCapture(str(video)).read()
    assert ok and image.shape == (240, 320, 3)


def test_light_on_dark_and_16_bit_images(tmp_path):
    page, _ = render_page([("509", 80, 240, 90)], dark_ink=False)
    cv2.imwrite(str(tmp_path / "led.png"), page.astype(np.uint16) * 257)
    r = run_app("--source", tmp_path / "led.png", "--json", "-", "-q")
    assert r.returncode == 0, r.stderr
    (rec,) = lines_of(r.stdout)
    assert [n["text"] for n in rec["numbers"]] == ["509"]


def test_annotated_video_is_written_and_readable(tmp_path):
    video = tmp_path / "annotated.avi"
    r = run_app("--source", "demo", "--fps", "0", "--max-frames", "15", "--save-video", video, "-q")
    assert r.returncode == 0, r.stderr
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    assert len(frames) == 15 and frames[0].shape == (480, 640, 3)
    # ... and the video is a source too, with every frame read in order
    r = run_app("--source", video, "--json", "-", "-q")
    assert r.returncode == 0, r.stderr
    assert [rec["frame"] for rec in lines_of(r.stdout)] == list(range(15))


def test_frames_one_pixel_high_make_a_video(tmp_path):
    """FFmpeg's writers refuse a side of 1 px: the run ended with 'no encoder for it here'."""
    (tmp_path / "a_line.png").write_bytes(cv2.imencode(".png", np.full((1, 300, 3), 200, np.uint8))[1].tobytes())
    cv2.imwrite(str(tmp_path / "b_page.png"), np.full((120, 160, 3), 200, np.uint8))
    video = tmp_path / "pictures.mp4"
    r = run_app("--source", tmp_path, "--save-video", video, "-q")
    assert r.returncode == 0, r.stderr
    cap = cv2.VideoCapture(str(video))
    sizes = []
    while (frame := cap.read()[1]) is not None:
        sizes.append(frame.shape[:2])
    assert sizes[:1] == [(2, 300)] and len(sizes) >= 2  # the page too, fitted to the first picture's size


def test_console_script_is_installed():
    from pathlib import Path

    from tests.conftest import IN_CI
    exe = Path(sys.executable).parent / "edge-digits"
    if not exe.exists():
        if IN_CI:
            pytest.fail(f"{exe} missing: the README's install did not create the console script")
        pytest.skip("package not installed (pip install -e .)")
    r = subprocess.run([str(exe), "--source", "demo", "--max-frames", "2", "--fps", "0", "--json", "-", "-q"],
                       capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert len(lines_of(r.stdout)) == 2
