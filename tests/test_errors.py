"""Bad sources, models and outputs: one line, status 2, no traceback, before the first frame."""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from edge.detect import DEFAULT_DETECTOR as DETECTOR_MODEL
from edge.infer.recognizer import DEFAULT_LINES_MODEL as LINES_MODEL
from tests.conftest import ROOT, need_module, run_app


def assert_one_line_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize("source,words", [
    ("does/not/exist.mp4", ["no such file"]),
    ("7", ["no camera"]),
    ("/dev/video9", ["no camera"]),
    ("/dev/null", ["cannot read /dev/null: not a picture, video, folder or camera"]),  # was "no such file"
    ("rtsp://127.0.0.1:9/stream", ["cannot open stream"]),
    ("http://127.0.0.1:9/video.mjpg", ["cannot open stream"]),
])
def test_bad_sources(source, words):
    assert_one_line_error(run_app("--source", source, "--max-frames", "1", timeout=60), *words)


def test_a_streams_password_is_not_shown():
    """A URL's password went into the error, the console, every JSON line, MQTT and the web view."""
    r = run_app("--source", "http://admin:s3cret@127.0.0.1:9/video.mjpg", "--max-frames", "1", timeout=60)
    assert_one_line_error(r, "cannot open stream http://admin:***@127.0.0.1:9/video.mjpg")
    assert "s3cret" not in r.stderr + r.stdout
    # in the query, as many IP cameras take it
    r = run_app("--source", "http://127.0.0.1:9/videostream.cgi?user=admin&pwd=s3cret", "--max-frames", "1", timeout=60)
    assert_one_line_error(r, "cannot open stream http://127.0.0.1:9/videostream.cgi?user=admin&pwd=***")


@pytest.mark.parametrize("url,shown", [
    ("rtsp://admin:pa/ss@cam/live", "rtsp://admin:***@cam/live"),  # an unescaped '/' split at the host
    ("rtsp://admin:p@ss@cam:554/live?x=1", "rtsp://admin:***@cam:554/live?x=1"),
    ("http://u:p@cam/snap@2x.jpg?email=a@b.c", "http://u:***@cam/snap@2x.jpg?email=a@b.c"),
    ("rtsp://admin:pa?ss@127.0.0.1:9/live", "rtsp://admin:***@127.0.0.1:9/live"),  # '?' and '#' too
    ("rtsp://admin:se#cret@cam/live", "rtsp://admin:***@cam/live"),
    ("rtsp://admin:1234/x@cam/live", "rtsp://admin:***@cam/live"),
    ("rtsp://admin:pw@[fe80::1]:554/live", "rtsp://admin:***@[fe80::1]:554/live"),
    ("http://cam:8080/snap@2x.jpg", "http://cam:***@2x.jpg"),  # ambiguous: privacy first
    ("http://cam/live?u=a:b@c", "http://cam/live?u=a:b@c"),
    ("rtsp://admin@cam:554/live", "rtsp://admin@cam:554/live"),  # no password
])
def test_passwords_hidden_in_urls(url, shown):
    from edge.capture.live import without_password
    assert without_password(url) == shown


@pytest.mark.parametrize("ext,damage", [(".png", "cut"), (".png", "crc"), (".tiff", "cut"), (".pgm", "cut")])
def test_a_damaged_image_is_one_line_with_no_library_lines(tmp_path, ext, damage):
    """libpng printed 'libpng error: ...', OpenCV '[ERROR:0@0.02] global loadsave.cpp ...' lines."""
    import cv2
    image = np.random.default_rng(0).integers(0, 255, (100, 120, 3), np.uint8)  # libpng says nothing on a grey one
    data = bytearray(cv2.imencode(ext, image[:, :, 0] if ext == ".pgm" else image)[1].tobytes())
    if damage == "cut":
        data = data[:len(data) // 2]
    else:  # inside the image data: a CRC that does not match
        data[200:260] = b"x" * 60
    path = tmp_path / f"damaged{ext}"
    path.write_bytes(bytes(data))
    r = run_app("--source", path)
    assert_one_line_error(r, f"cannot read image {path}")
    assert r.stderr.count("\n") == 1, r.stderr
    cv2.imwrite(str(tmp_path / "whole.png"), image)  # in a folder: one line for it, the rest read
    r = run_app("--source", tmp_path, "--json", "-")
    assert r.returncode == 0 and f"edge-digits: skipping {path}: not an image OpenCV can decode\n" in r.stderr
    assert all(line.startswith("edge-digits: ") for line in r.stderr.splitlines()), r.stderr  # the app's lines alone


def test_picam_without_picamera2():
    r = run_app("--source", "picam", "--max-frames", "1")
    assert_one_line_error(r, "python3-picamera2")


def test_picam_that_fails_to_import_for_numpys_sake(tmp_path):
    """Debian's simplejpeg is built for numpy 1.x: Picamera2 raises ValueError on import beside numpy 2."""
    fake = tmp_path / "picamera2"
    fake.mkdir()
    (fake / "__init__.py").write_text('raise ValueError("numpy.dtype size changed, may indicate binary '
                                      'incompatibility. Expected 96 from C header, got 88 from PyObject")\n')
    r = run_app("--source", "picam", "--max-frames", "1", env={"PYTHONPATH": str(tmp_path)})
    assert_one_line_error(r, "numpy.dtype size changed", "pip install simplejpeg")


def test_undecodable_video_and_image(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "broken.mp4").write_bytes(rng.integers(0, 255, 5000, dtype=np.uint8).tobytes())
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_app("--source", tmp_path / "broken.mp4"), "broken.mp4")
    assert_one_line_error(run_app("--source", tmp_path / "broken.png"), "broken.png: not an image OpenCV can decode")
    assert_one_line_error(run_app("--source", tmp_path / "empty"), "no images")
    junk = tmp_path / "junk"
    junk.mkdir()
    shutil.copy(tmp_path / "broken.png", junk / "a.png")
    (junk / "b.jpg").write_bytes(b"not a jpeg")
    log = tmp_path / "kept.jsonl"
    log.write_text('{"frame": 0}\n')
    assert_one_line_error(run_app("--source", junk, "--json", log, "--overwrite"), "none of the 2 images")
    assert log.read_text() == '{"frame": 0}\n'  # failed before any output opened


def model_copy(tmp_path, mutate_model=None, mutate_meta=None, shipped=LINES_MODEL, meta_of=None):
    model, meta = tmp_path / "m.tflite", tmp_path / "m.json"
    data = shipped.read_bytes()
    model.write_bytes(mutate_model(data) if mutate_model else data)
    metadata = json.loads((meta_of or shipped).with_suffix(".json").read_text())
    if mutate_meta:
        mutate_meta(metadata)
    meta.write_text(json.dumps(metadata))
    return model


def _other_charset(m):
    m["charset"] = "0123456789"


def _wrong_scale(m):
    m["output"]["scale"] = 0.5


@pytest.mark.parametrize("make,words", [
    (lambda p: p / "missing.tflite", ["not found"]),
    (lambda p: model_copy(p, lambda d: d[: len(d) // 3]), ["cannot load"]),
    (lambda p: model_copy(p, lambda d: b"not a model at all" * 10), ["not a TFLite model"]),
    (lambda p: model_copy(p, lambda d: d[:4] + b"XXXX" + d[8:]), ["not a TFLite model"]),
    (lambda p: model_copy(p, mutate_meta=_other_charset), ["charset"]),
    (lambda p: model_copy(p, mutate_meta=_wrong_scale), ["scale", "re-export"]),
    (lambda p: model_copy(p, shipped=DETECTOR_MODEL), ["describes a text-line detector (--detector)"]),
    (lambda p: model_copy(p, shipped=DETECTOR_MODEL, meta_of=LINES_MODEL), ["[240, 320, 1]", "a line recognizer?"]),
    (lambda p: model_copy(p, shipped=ROOT / "models" / "digits.tflite"), ["describes a digit classifier"]),
])
def test_bad_recognizers(tmp_path, make, words):
    r = run_app("--source", "demo", "--max-frames", "1", "--recognizer", make(tmp_path))
    assert_one_line_error(r, *words)


@pytest.mark.parametrize("make,words", [
    (lambda p: p / "missing.tflite", ["not found"]),
    (lambda p: model_copy(p, lambda d: d[: len(d) // 3], shipped=DETECTOR_MODEL), ["cannot load"]),
    (lambda p: model_copy(p, lambda d: b"not a model at all" * 10, shipped=DETECTOR_MODEL), ["not a TFLite model"]),
    (lambda p: model_copy(p, mutate_meta=_wrong_scale, shipped=DETECTOR_MODEL), ["scale", "re-export"]),
    (lambda p: model_copy(p), ["describes a line recognizer (--recognizer), not a text-line detector"]),
])
def test_bad_detectors(tmp_path, make, words):
    r = run_app("--source", "demo", "--max-frames", "1", "--detector", make(tmp_path))
    assert_one_line_error(r, *words)


def test_missing_or_broken_metadata(tmp_path):
    model = tmp_path / "m.tflite"
    shutil.copy(LINES_MODEL, model)
    assert_one_line_error(run_app("--source", "demo", "--recognizer", model), "metadata", "not found")
    model.with_suffix(".json").write_text("{not json")
    assert_one_line_error(run_app("--source", "demo", "--recognizer", model), "metadata", "invalid")


def test_wrong_shape_model(tmp_path):
    tf = need_module("tensorflow")
    keras = need_module("keras")
    inputs = keras.Input((32, 32, 1))
    model = keras.Model(inputs, keras.layers.Dense(11)(keras.layers.Flatten()(inputs)))
    path = tmp_path / "other.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    shutil.copy(LINES_MODEL.with_suffix(".json"), path.with_suffix(".json"))
    assert_one_line_error(run_app("--source", "demo", "--recognizer", path), "takes float32")


def test_unusable_outputs(tmp_path):
    assert_one_line_error(run_app("--source", "demo", "--json", tmp_path / "no" / "such" / "dir.jsonl"),
                          "does not exist")
    assert_one_line_error(run_app("--source", "demo", "--json", tmp_path), "folder")
    assert_one_line_error(run_app("--source", "demo", "--save-video", tmp_path / "v.gif"), "use one of")
    existing = tmp_path / "old.avi"
    existing.write_bytes(b"precious")
    assert_one_line_error(run_app("--source", "demo", "--save-video", existing), "exists", "--overwrite")
    assert existing.read_bytes() == b"precious"
    # a folder nobody can create files in, not even root
    assert_one_line_error(run_app("--source", "demo", "--json", "/proc/readings.jsonl"), "cannot write")
    assert_one_line_error(run_app("--source", "demo", "--save-video", "/proc/out.avi", "--max-frames", "2"),
                          "cannot write")


def test_quiet_runs_say_nothing_but_errors(tmp_path):
    cv2 = need_module("cv2")
    cv2.imwrite(str(tmp_path / "a.png"), np.full((60, 80), 200, np.uint8))
    (tmp_path / "b.png").write_bytes(b"not a png")
    r = run_app("--source", tmp_path, "-q")
    assert r.returncode == 0 and r.stderr == "", r.stderr  # no "skipping b.png", no "headless"


def test_json_to_closed_stdout():
    r = run_app("--source", "demo", "--max-frames", "2", "--json", "-", preexec_fn=lambda: os.close(1))
    assert_one_line_error(r, "standard output is closed")


def test_existing_json_log_is_appended_never_truncated(tmp_path):
    log = tmp_path / "readings.jsonl"
    log.write_text('{"frame": "an earlier run"}\n{"half a line')  # the earlier run died mid-line
    r = run_app("--source", "demo", "--fps", "0", "--max-frames", "3", "--json", log, "-q")
    assert r.returncode == 0, r.stderr
    lines = log.read_text().splitlines()
    assert lines[:2] == ['{"frame": "an earlier run"}', '{"half a line']
    assert [json.loads(line)["frame"] for line in lines[2:]] == [0, 1, 2]
    r = run_app("--source", "demo", "--fps", "0", "--max-frames", "1", "--json", log, "--overwrite", "-q")
    assert [json.loads(line)["frame"] for line in log.read_text().splitlines()] == [0]


def test_a_file_name_that_is_not_utf8_is_one_line_not_a_crash(tmp_path):
    """OpenCV's imread and VideoCapture end the process (SIGSEGV) on such a name."""
    import cv2
    odd = os.fsdecode(bytes(tmp_path) + b"/\xff\xfename.png")
    cv2.imwrite(str(tmp_path / "good.png"), np.full((48, 64, 3), 200, np.uint8))
    shutil.copy(tmp_path / "good.png", odd)
    assert_one_line_error(run_app("--source", odd, "--max-frames", "1"), "not valid UTF-8")
    r = run_app("--source", tmp_path, "--no-display")  # in a folder: said, skipped, the rest read
    assert r.returncode == 0 and "not valid UTF-8" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "good.png" in r.stdout


def test_an_output_name_that_is_not_utf8_is_one_line_not_a_crash(tmp_path):
    """OpenCV's VideoWriter and imwrite end the process (SIGSEGV) on such a name."""
    odd = os.fsdecode(bytes(tmp_path) + b"/\xff")
    assert_one_line_error(run_app("--source", "demo", "--max-frames", "2", "--save-video", odd + ".avi"),
                          "not valid UTF-8")
    assert_one_line_error(run_app("--source", "demo", "--max-frames", "2", "--snapshot-every", "1",
                                  "--snapshot-dir", odd), "not valid UTF-8")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("index", ["2147483648", "99999999999999999999", "\u00b2"])
def test_a_camera_index_past_a_c_int_or_not_ascii_is_one_line(index):
    assert_one_line_error(run_app("--source", index, "--max-frames", "1"), "no ")


def test_an_output_that_is_a_file_the_source_reads_is_refused_and_the_file_kept(tmp_path):
    import cv2
    image, video = tmp_path / "page.png", tmp_path / "clip.avi"
    cv2.imwrite(str(image), np.full((48, 64, 3), 200, np.uint8))
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(5):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    kept = {p: p.read_bytes() for p in (image, video)}
    os.link(image, tmp_path / "linked.txt")
    for args in (["--source", image, "--json", image],
                 ["--source", image, "--json", tmp_path / "linked.txt"],  # a hard link: another name, one file
                 ["--source", tmp_path, "--json", tmp_path / "." / "page.png"],  # inside a folder read
                 ["--source", str(tmp_path / "*.png"), "--json", image],
                 ["--source", video, "--save-video", video, "--overwrite"]):
        assert_one_line_error(run_app(*args), "is a file the source reads")
    assert {p: p.read_bytes() for p in kept} == kept


@pytest.mark.parametrize("args,words", [
    (["--json", ""], "--json needs a name"),
    (["--save-video", ""], "--save-video needs a name"),
    (["--detector", " "], "--detector needs a name"),  # was the shipped model, unsaid
    (["--recognizer", ""], "--recognizer needs a name"),
    (["--save-video", "clip.mp4/"], "clip.mp4/ names a folder; give a file name"),
    (["--json", "log/"], "log/ names a folder; give a file name"),  # was "is a folder", and none was there
])
def test_empty_or_folder_output_names_are_refused_before_the_first_frame(tmp_path, args, words):
    r = run_app("--source", "demo", "--max-frames", "1", *args, cwd=tmp_path)
    assert_one_line_error(r, words)
    assert os.listdir(tmp_path) == []


def test_an_unquoted_pattern_is_said_as_one(tmp_path):
    """`--source photos/*.jpg` unquoted: the shell gives the app three names, argparse said
    'unrecognized arguments' with no hint of why."""
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (tmp_path / name).write_bytes(b"")
    r = run_app("--source", "a.jpg", "b.jpg", "c.jpg", cwd=tmp_path)
    assert_one_line_error(r, "unrecognized arguments: b.jpg and 1 more; quote a pattern")
    assert "quote" not in run_app("--source", "demo", "nonsense").stderr


def test_a_file_where_an_output_folder_should_be_is_named(tmp_path):
    """'--json notes.txt/x.jsonl' said 'folder notes.txt does not exist' while notes.txt was there."""
    (tmp_path / "notes.txt").write_text("mine\n")
    for option in ("--json", "--save-video"):
        r = run_app("--source", "demo", "--max-frames", "1", option, "notes.txt/a/x.mp4", cwd=tmp_path)
        assert_one_line_error(r, "cannot write notes.txt/a/x.mp4: notes.txt is a file, not a folder")
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_a_json_pipe_nothing_reads_is_one_line_not_a_wait(tmp_path):
    """Opening a named pipe for writing waits for a reader: the app hung, and a first Ctrl-C did not end it."""
    pipe = tmp_path / "readings"
    os.mkfifo(pipe)
    assert_one_line_error(run_app("--source", "demo", "--max-frames", "1", "--json", pipe, timeout=60),
                          f"cannot write {pipe}: it is a pipe nothing reads from")
    # with a reader (one that stops at the first end it sees, as cat does), it is written to
    reader = subprocess.Popen(["cat", str(pipe)], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(500):  # cat waits in open() for a writer
            with open(f"/proc/{reader.pid}/wchan") as f:
                if f.read().strip() == "wait_for_partner":
                    break
            time.sleep(0.01)
        r = run_app("--source", "demo", "--max-frames", "2", "--json", pipe, "-q", timeout=60)
        lines = reader.communicate(timeout=60)[0].splitlines()
    finally:
        reader.kill()
    assert r.returncode == 0 and [json.loads(line)["frame"] for line in lines] == [0, 1], r.stderr


def test_an_unreadable_folder_is_one_line(monkeypatch, tmp_path):
    from pathlib import Path

    from edge.capture import SourceError, open_source

    def refuse(self):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "iterdir", refuse)  # chmod 000 does not stop root, who runs CI
    with pytest.raises(SourceError, match="permission denied"):
        open_source(str(tmp_path))


def test_a_photo_is_read_upright_by_its_exif_orientation(tmp_path):
    """A phone's portrait photo is stored sideways with EXIF Orientation 6."""
    PIL = need_module("PIL.Image")
    from edge.capture import open_source
    image = np.zeros((48, 64, 3), np.uint8)
    im = PIL.fromarray(image)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "portrait.jpg", exif=exif)
    (frame,) = [f for f in open_source(str(tmp_path / "portrait.jpg")) if f is not None]
    assert frame.image.shape[:2] == (64, 48)


def test_an_image_over_the_pixel_limit_is_one_line_and_a_folder_goes_on(tmp_path):
    """A huge image is refused before it is decoded (the app sets OpenCV's limit, 2**27 pixels)."""
    import cv2
    cv2.imwrite(str(tmp_path / "a-big.png"), np.zeros((40, 50), np.uint8))
    cv2.imwrite(str(tmp_path / "b-small.png"), np.zeros((20, 30), np.uint8))
    env = {"OPENCV_IO_MAX_IMAGE_PIXELS": "1000"}  # 40x50 is over it
    r = run_app("--source", str(tmp_path / "a-big.png"), env=env)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"edge-digits: error: cannot read image {tmp_path / 'a-big.png'}: over the 1,000 pixels OpenCV decodes "
        "(OPENCV_IO_MAX_IMAGE_PIXELS sets the limit)"], r.stderr
    r = run_app("--source", str(tmp_path), "--json", "-", env=env)
    assert r.returncode == 0 and "skipping" in r.stderr and "over the 1,000 pixels" in r.stderr
    assert [json.loads(line)["source"] for line in r.stdout.splitlines()] == [str(tmp_path / "b-small.png")]
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}  # set by `import edge` here
    probe = "import edge, os; print(os.environ['OPENCV_IO_MAX_IMAGE_PIXELS'])"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True).stdout
    assert out.strip() == str(2**27)


def test_damaged_frames_inside_a_video_are_skipped_not_its_end(tmp_path):
    """Three frames of 60 with no JPEG data: the other 57 are read and the three are counted."""
    import cv2

    from edge.capture.files import VideoFileSource
    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(60):
        writer.write(np.full((48, 64, 3), i * 4, np.uint8))
    writer.release()
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]  # each frame's JPEG
    assert len(starts) == 60
    for k in (31, 35, 36):
        data[starts[k]:starts[k + 1] - 8] = b"\xff" * (starts[k + 1] - 8 - starts[k])
    path.write_bytes(data)
    said = []
    source = VideoFileSource(str(path), said.append)
    frames = list(source)
    source.close()
    assert len(frames) == 57 and said == [f"{path}: 3 damaged frames skipped"]


FULL = "No space left on device"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("args,error", [
    (["--version"], f"cannot write to standard output: {FULL}"),
    (["--source", "demo", "--no-display", "--max-frames", "10"], f"cannot write to standard output: {FULL}"),
    (["--source", "demo", "--max-frames", "10", "-q", "--json", "-"], f"cannot write to standard output: {FULL}"),
    (["--source", "demo", "--max-frames", "10", "-q", "--json", "/dev/full"], f"cannot write /dev/full: {FULL}"),
])
def test_a_full_standard_output_or_json_file_is_one_line_and_status_2(args, error):
    """The readings (or --version) to a device that is full: before, a traceback and status 1."""
    with open("/dev/full", "w") as full:
        r = run_app(*args, stdout=subprocess.PIPE if "/dev/full" in args else full)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1] == f"edge-digits: error: {error}"
    assert "-q" not in args or r.stderr.count("\n") == 1, r.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("args,status", [(["--source", "does/not/exist"], 2), (["--fps", "-1"], 2),
                                         (["--source", "demo", "--max-frames", "2", "-q"], 0)])
def test_a_full_standard_error_keeps_the_exit_status(args, status):
    """An error that could not be said ended with status 1 (a traceback nobody saw), not the error's 2."""
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], stdout=subprocess.DEVNULL, stderr=full,
                           timeout=120, env={k: v for k, v in os.environ.items() if k != "DISPLAY"})
    assert r.returncode == status


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_a_json_line_that_cannot_be_written_is_said_at_that_frame():
    """Not left to the close at the end (which says it too): the frame's own write fails in one line."""
    from edge.output import JsonLinesWriter, OutputError
    from edge.types import Digits, Frame, FrameResult
    log = JsonLinesWriter("/dev/full")
    result = FrameResult(Frame(np.zeros((4, 4), np.uint8), 0, 0.0, "t"), Digits(), [], {})
    with pytest.raises(OutputError, match=f"^cannot write /dev/full: {FULL}$"):
        log.write(result)
    log.close()  # nothing was held back to fail again


def test_a_disk_that_fills_mid_run_leaves_only_whole_json_lines(tmp_path):
    """A full disk took half a line, and the next run's lines followed it: that line never parsed."""
    import resource
    import signal
    log = tmp_path / "log.jsonl"

    def small_disk():  # writes past 20 kB fail as on a full disk (EFBIG, not ENOSPC)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))

    r = run_app("--source", "demo", "--fps", "0", "--max-frames", "200", "-q", "--json", log, preexec_fn=small_disk)
    assert_one_line_error(r, f"cannot write {log}")
    text = log.read_text()
    assert 10000 < len(text) <= 20000 and text.endswith("\n")
    assert [json.loads(line)["frame"] for line in text.splitlines()] == list(range(len(text.splitlines())))


def test_json_and_video_on_one_file_is_one_line(tmp_path):
    (tmp_path / "sub").mkdir()
    r = run_app("--source", "demo", "--json", tmp_path / "same.avi", "--save-video", tmp_path / "sub" / ".." / "same.avi")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "name the same file" in r.stderr, r.stderr
    assert not (tmp_path / "same.avi").exists()


def test_an_empty_model_variable_means_the_default_model():
    env = {"EDGE_DIGITS_DETECTOR": "", "EDGE_DIGITS_LINES_MODEL": ""}
    r = run_app("--source", "demo", "--max-frames", "3", "--no-display", "-q", env=env)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("variable", ["EDGE_DIGITS_DETECTOR", "EDGE_DIGITS_LINES_MODEL"])
def test_a_model_variable_naming_no_file_is_said_as_the_cause(variable):
    """It said 'pass --detector PATH or make it ...', with no word of the variable that chose it."""
    r = run_app("--source", "demo", "--max-frames", "1", env={variable: "/nowhere/model.tflite"})
    assert_one_line_error(r, f"model file /nowhere/model.tflite not found (from ${variable})")


def test_with_standard_error_closed_messages_stay_out_of_the_json_stream():
    import os
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "--source", "demo", "--json", "-", "--max-frames", "2"],
                       cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, timeout=120,
                       preexec_fn=lambda: os.close(2))  # as `2>&-`
    assert r.returncode == 0
    assert [json.loads(line)["frame"] for line in r.stdout.splitlines()] == [0, 1], r.stdout


def test_a_console_line_is_one_write(monkeypatch):
    """print() wrote the text and its newline apart: the capture thread's line landed between
    them ('... Ctrl-C stopsedge-digits: http://...: no frames', then an empty line)."""
    from edge import warn
    from edge.cli import _tell
    writes = []

    class Recorder:
        def write(self, text):
            writes.append(text)

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stderr", Recorder())
    _tell("reading demo")
    warn("camera 0: source is back")
    assert writes == ["edge-digits: reading demo\n", "edge-digits: camera 0: source is back\n"]


def test_the_api_says_a_missing_source_in_its_error_alone():
    """open_source from Python printed OpenCV's '[ WARN:0@0.5] ... can't open camera by index'
    and FFmpeg's '[tcp @ 0x...] Connection refused' lines beside its SourceError."""
    code = ("from edge.capture import open_source, SourceError\n"
            "for spec in ('9', 'rtsp://127.0.0.1:9/x'):\n"
            "    try:\n        open_source(spec)\n    except SourceError as e:\n        print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.stderr == "" and r.stdout.count("\n") == 2, r.stderr
