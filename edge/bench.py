"""Benchmark: per-stage timings and end-to-end frames per second.

    python -m edge.bench                 # demo + photos, 640x480 and 1280x720, 1 and 2 threads
    python -m edge.bench --frames 100 --repeats 1 --photos DIR --json bench.json

The reader's stages are detect, cut, recognize, chars (each character's box, numbers, reading
order) and track; around them, capture
(render/decode) and draw.
"end to end" is one frame through everything but drawing (what a headless Pi pays).
Also photo files read as pictures (a closer look, as the app reads a file), and the web
view's cost: the loop's frame rate with 0 and with 20 MJPEG viewers (--viewers).
Also measures start-up (process start to first processed frame) and resident memory of
`main.py` in a subprocess, and checks that TensorFlow is never imported; and how long the
app takes to stop after SIGINT (tests/test_reliability.py checks only that it stops).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from edge.capture import DemoSource
from edge.detect import TextDetector
from edge.draw import draw_result
from edge.infer.recognizer import LineRecognizer
from edge.line_reader import LineReader
from edge.types import Frame

SIZES = [(640, 480), (1280, 720)]
ROOT = Path(__file__).resolve().parents[1]


def photo_frames(paths, width, height, n):
    """The photos as a camera of that size would frame them: whole, aspect kept (a portrait
    photo is not squashed), on a grey ground."""
    for i in range(n):
        image = cv2.imread(str(paths[i % len(paths)]))
        f = min(width / image.shape[1], height / image.shape[0])
        w, h = max(1, min(width, round(image.shape[1] * f))), max(1, min(height, round(image.shape[0] * f)))
        frame = np.full((height, width, 3), 128, np.uint8)
        x, y = (width - w) // 2, (height - h) // 2
        frame[y:y + h, x:x + w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        yield Frame(frame, i, time.time(), "photos")


def camera_frames(paths, width, height, n):
    """photo_frames as a camera gives them: each photo framed once, before the timing, then
    copied a frame, as a driver's buffer is. Decoding a 12-MP JPEG before every frame left the
    reader's caches cold (about 0.6 ms a frame more): no camera does that."""
    framed = [f.image for f in photo_frames(paths, width, height, min(n, len(paths)))]
    return (Frame(framed[i % len(framed)].copy(), i, time.time(), "photos") for i in range(n))


def package_versions(runtime: str) -> dict:
    """The versions the timings depend on: the TFLite runtime in use, OpenCV's build, numpy."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        runtime_version = version({"tensorflow.lite": "tensorflow"}.get(runtime, runtime))  # else its package's name
    except PackageNotFoundError:
        runtime_version = None
    return {runtime: runtime_version, "opencv": cv2.__version__, "numpy": np.__version__}


INT8_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "asimddp")  # the CPU features int8 kernels use
MODEL_KEYS = ("Model", "model name", "Hardware")  # /proc/cpuinfo's name for the machine: a Pi's board, x86, older ARM


def processor(cpuinfo: str = "/proc/cpuinfo") -> dict:
    """The CPU's model name and which of INT8_FLAGS it has ({} where there is no cpuinfo)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    model = next((fields[k] for k in MODEL_KEYS if fields.get(k)), None)
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return {"model": model, "int8_features": [f for f in INT8_FLAGS if f in flags]}


def run_one(frames, reader: LineReader) -> dict:
    stages = {"capture": []}  # then the reader's own stages (FrameResult.timings_ms), then draw
    end_to_end, digits = [], []
    started = time.perf_counter()
    t = time.perf_counter()
    for frame in frames:
        stages["capture"].append((time.perf_counter() - t) * 1000)
        result = reader.process(frame)
        for k, v in result.timings_ms.items():
            stages.setdefault(k, []).append(v)
        end_to_end.append(result.latency_ms)
        t_draw = time.perf_counter()
        draw_result(result, 30.0)
        stages.setdefault("draw", []).append((time.perf_counter() - t_draw) * 1000)
        digits.append(len(result.digits))
        t = time.perf_counter()
    elapsed = time.perf_counter() - started
    return {
        "frames": len(end_to_end),
        "digits_per_frame": round(float(np.mean(digits)), 1),
        "median_ms": {k: round(float(np.median(v)), 3) for k, v in stages.items()},
        "end_to_end_ms": {"median": round(float(np.median(end_to_end)), 3),
                          "p95": round(float(np.percentile(end_to_end, 95)), 3)},
        "fps_all_stages": round(len(end_to_end) / elapsed, 1),
    }


def viewer_cost(num_threads: int, frames: int, viewers: int, repeats: int) -> dict:
    """The loop's frame rate (demo 640x480, as fast as it goes, as headless with --serve) with no
    viewer and with `viewers` MJPEG viewers reading on the loopback interface: what the web
    view costs the loop (the JPEG encoding on its own thread, the sends on the viewers')."""
    import socket
    import threading

    from edge.web import WebServer

    reader = LineReader(TextDetector(num_threads=num_threads), LineRecognizer(num_threads=num_threads),
                        keep_mask=False)  # one for every run: the timings leave out its loading
    server = WebServer("127.0.0.1", 0, lambda: None)
    stop = threading.Event()

    def watch():
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: bench\r\n\r\n")
            while not stop.is_set() and s.recv(1 << 16):
                pass

    def fps() -> float:
        reader.tracker.reset()
        t0 = time.perf_counter()
        for frame in DemoSource(640, 480, fps=0, frames=frames):
            server.publish(reader.process(frame), 30.0)
        return frames / (time.perf_counter() - t0)

    rates = {0: [], viewers: []}
    try:
        for _ in range(repeats):  # in turn, so a busy spell of a shared machine hits both alike
            rates[0].append(fps())
            stop.clear()
            threads = [threading.Thread(target=watch, daemon=True) for _ in range(viewers)]
            for t in threads:
                t.start()
            while server.feed.slots["video"] < viewers:
                time.sleep(0.01)
            encoded = server.feed.encoded
            rates[viewers].append(fps())
            encoded = server.feed.encoded - encoded
            stop.set()
            server.publish(server.feed.latest(), 30.0)  # one more frame wakes the viewers to see the stop
            for t in threads:
                t.join(5)
    finally:
        server.close()
    best = {n: max(r) for n, r in rates.items()}
    return {"viewers": viewers, "frames": frames, "video_fps_cap": server.feed.max_fps,
            "fps_no_viewer": round(best[0], 1),
            f"fps_{viewers}_viewers": round(best[viewers], 1),
            "cost_percent": round(100 * (1 - best[viewers] / best[0]), 1),
            "jpegs_encoded_last_run": encoded, "runs": {str(n): [round(v, 1) for v in r] for n, r in rates.items()}}


def peak_rss_kb() -> int:
    """This process's peak resident memory in KB (Linux: VmHWM; elsewhere ru_maxrss)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS


def startup() -> dict:
    """Process start -> first frame processed, peak RSS, and TensorFlow absence, of the real app."""
    # ru_maxrss survives exec, so in a child it would count the (bigger) benchmark process it
    # was forked from; VmHWM belongs to the new program alone.
    code = ("import sys, time; t0=time.time(); sys.argv=['main.py','--source','demo','--max-frames','30',"
            "'--no-display','--json','-','-q'];"
            "from edge.launch import main; rc=main();"
            "from edge.bench import peak_rss_kb;"
            "print('TF', 'tensorflow' in sys.modules, file=sys.stderr);"
            "print('RSS', peak_rss_kb(), file=sys.stderr); sys.exit(rc)")
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    t_first = time.time() - t0
    out, err = proc.communicate(timeout=60)
    lines = dict(line.split(" ", 1) for line in err.splitlines() if line[:3] in ("TF ", "RSS"))
    return {"first_frame_s": round(t_first, 3), "ok": bool(first.startswith("{")) and proc.returncode == 0,
            "peak_rss_mb": round(int(lines.get("RSS", "0")) / 1024, 1),
            "tensorflow_imported": lines.get("TF", "?").strip() == "True"}


def stop_time(repeats: int = 3) -> dict:
    """SIGINT to process exit of the app (demo, JSON log, annotated video): the loop ends at the
    next frame boundary, then the outputs close; the slowest of `repeats` runs, and each."""
    import signal
    import tempfile
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "r.jsonl"
            path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
            env = {**os.environ, "PYTHONPATH": path}  # this edge package, a checkout's or installed
            proc = subprocess.Popen([sys.executable, "-m", "edge", "--source", "demo", "--fps", "15",
                                     "--json", str(log), "--save-video", str(Path(tmp) / "v.avi"), "--no-display",
                                     "-q"], cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while (not log.exists() or log.read_text().count("\n") < 10) and time.monotonic() < deadline:
                time.sleep(0.05)
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
            times.append(round(time.monotonic() - sent, 3))
    return {"stop_s": max(times), "runs": times}


PICTURES = 20  # photo files read as the app reads a picture: the first this many of --photos


def pictures_cost(paths, repeats: int) -> dict:
    """Photo files at full size read as the app reads a picture (still: tiles, up to 64 lines,
    each line at two cuts), one thread; decoding not counted. The least disturbed repeat."""
    images = [im for im in (cv2.imread(str(p)) for p in paths[:PICTURES]) if im is not None]
    if not images:
        return {"pictures": 0}
    reader = LineReader(keep_mask=False, still=True)
    runs, digits = [], []
    for _ in range(repeats):
        results = [reader.process(Frame(image, i, time.time(), "pictures")) for i, image in enumerate(images)]
        runs.append([r.latency_ms for r in results])
        digits = [len(r.digits) for r in results]
    best = min(runs, key=np.median)
    return {"pictures": len(images), "median_ms": round(float(np.median(best)), 2),
            "p95_ms": round(float(np.percentile(best, 95)), 2),
            "medians_of_repeats": [round(float(np.median(r)), 2) for r in runs],
            "digits_per_picture": round(float(np.mean(digits)), 1),
            "size": f"{images[0].shape[1]}x{images[0].shape[0]}"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3, help="runs of each configuration; the least disturbed is reported")
    p.add_argument("--photos", type=Path, help="folder of photos (default: ../shared/data/sudoku-train if present)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--cv-threads", type=int, default=1, help="OpenCV threads (default 1: one core, as on a busy Pi)")
    p.add_argument("--viewers", type=int, default=20, help="MJPEG viewers for the web view's cost (0: skip)")
    a = p.parse_args(argv)
    if a.frames < 1 or a.repeats < 1:
        p.error("--frames and --repeats must be >= 1")
    cv2.setNumThreads(a.cv_threads)
    photos_dir = a.photos or ROOT.parent / "shared" / "data" / "sudoku-train"
    photos = sorted(photos_dir.glob("*.jpg"))[:50] if photos_dir.is_dir() else []
    report = {"cpu": os.cpu_count(), "opencv_threads": a.cv_threads, "repeats": a.repeats, "runs": []}
    readers = {threads: LineReader(TextDetector(num_threads=threads), LineRecognizer(num_threads=threads),
                                   keep_mask=False) for threads in a.threads}
    from edge.infer.runtime import interpreter_class
    report["runtime"] = interpreter_class()[1]
    report["versions"] = package_versions(report["runtime"])
    report["processor"] = processor()  # int8 timings differ widely between processors: say which one timed them
    runs: dict[tuple, list[dict]] = {}
    # Repeats go round every configuration in turn, so a slow spell of a shared machine hits
    # them all alike; each configuration keeps its least disturbed run (lowest median), as
    # timeit does, and the medians of all its runs show the spread.
    for _ in range(a.repeats):
        for threads, reader in readers.items():
            for w, h in SIZES:
                sources = [("demo", iter(DemoSource(w, h, fps=0, frames=a.frames)))]
                if photos:
                    sources.append(("photos", camera_frames(photos, w, h, min(a.frames, 4 * len(photos)))))
                for name, frames in sources:
                    reader.tracker.reset()
                    r = run_one(frames, reader)  # as headless: no debug mask
                    runs.setdefault((name, f"{w}x{h}", threads), []).append(r)
    for (name, size, threads), repeats in runs.items():
        r = min(repeats, key=lambda run: run["end_to_end_ms"]["median"])
        r["end_to_end_ms"]["medians_of_repeats"] = [run["end_to_end_ms"]["median"] for run in repeats]
        r.update(source=name, size=size, threads=threads)
        report["runs"].append(r)
        m, e = r["median_ms"], r["end_to_end_ms"]
        print(f"{name:6} {size} threads={threads}: end-to-end median {e['median']:.2f} ms (p95 {e['p95']:.2f}; "
              f"medians of the {len(e['medians_of_repeats'])} runs {', '.join(f'{v:.2f}' for v in e['medians_of_repeats'])}), "
              f"{r['fps_all_stages']} FPS with capture+draw, {r['digits_per_frame']} digits/frame | "
              + " ".join(f"{k} {v:.2f}" for k, v in m.items()) + " ms", flush=True)
    v = report["pictures"] = pictures_cost(photos, a.repeats)
    if v["pictures"]:
        print(f"pictures: {v['pictures']} photo files ({v['size']} the first) read as pictures, 1 thread: median "
              f"{v['median_ms']:.1f} ms (p95 {v['p95_ms']:.1f}), {v['digits_per_picture']} digits each", flush=True)
    if a.viewers:
        v = report["web_viewers"] = viewer_cost(a.threads[0], a.frames, a.viewers, a.repeats)
        print(f"web view, demo 640x480: {v['fps_no_viewer']} FPS with no viewer, "
              f"{v[f'fps_{a.viewers}_viewers']} with {a.viewers} MJPEG viewers: {v['cost_percent']}% of the "
              f"frame rate (target under 10%); {v['jpegs_encoded_last_run']} JPEGs for {a.frames} frames")
    s = report["startup"] = startup()
    print(f"start-up to first frame {s['first_frame_s']:.2f} s; peak RSS {s['peak_rss_mb']} MB; "
          f"TensorFlow imported: {s['tensorflow_imported']}")
    s = report["stop"] = stop_time()
    print(f"SIGINT to exit {s['stop_s']:.2f} s at worst of {len(s['runs'])} runs (target under 1 s)")
    if a.json:
        a.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
