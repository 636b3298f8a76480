"""Soak benchmark: many frames of the demo through the whole app loop (read, draw, JSON
line, video), reporting resident memory at start and end, frames per second over time, and
what was read: the frames with all the demo's numbers, and any other reading, with its count
of frames.

    python -m edge.soak --frames 20000 [--video /tmp/soak.avi] [--json soak.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter

from edge.capture import DemoSource
from edge.draw import draw_result
from edge.line_reader import LineReader
from edge.output import JsonLinesWriter, VideoSink


def rss_mb() -> float:
    """Resident memory now (Linux /proc), in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def soak(frames: int, window: int, video_path: str | None, log=print) -> dict:
    reader = LineReader()
    source = DemoSource(fps=0, frames=frames)
    with tempfile.TemporaryDirectory() as tmp:
        writer = JsonLinesWriter(os.path.join(tmp, "readings.jsonl"))
        video = VideoSink(video_path or os.path.join(tmp, "soak.avi"), 30, overwrite=True)
        # warm up: interpreters for the batch sizes seen, first allocations
        for frame in DemoSource(fps=0, frames=50):
            reader.process(frame)
        start_mb = rss_mb()
        windows, t0, tw, read_ok = [], time.perf_counter(), time.perf_counter(), 0
        truth, others = set(DemoSource.truth), Counter()  # others: readings that are none of truth, frames each
        for frame in source:
            result = reader.process(frame)
            texts = {n.text for n in result.numbers}
            read_ok += truth <= texts
            others.update(texts - truth)
            writer.write(result)
            video.write(draw_result(result, 30.0))
            if (frame.index + 1) % window == 0:
                now = time.perf_counter()
                windows.append({"frames": frame.index + 1, "fps": round(window / (now - tw), 1),
                                "rss_mb": round(rss_mb(), 1)})
                log(f"{frame.index + 1:6d} frames  {windows[-1]['fps']:6.1f} FPS  RSS {windows[-1]['rss_mb']:.1f} MB",
                    flush=True)
                tw = now
        writer.close()
        video.close()
    end_mb = rss_mb()
    return {"frames": frames, "seconds": round(time.perf_counter() - t0, 1), "rss_start_mb": round(start_mb, 1),
            "rss_end_mb": round(end_mb, 1), "rss_growth_mb": round(end_mb - start_mb, 1),
            "frames_with_all_numbers": read_ok, "other_readings": dict(others.most_common()), "windows": windows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=20000)
    p.add_argument("--window", type=int, default=1000, help="frames per FPS/memory reading")
    p.add_argument("--video", help="keep the annotated video here (default: a temporary file)")
    p.add_argument("--json", help="write the report here")
    a = p.parse_args(argv)
    report = soak(a.frames, a.window, a.video)
    print(f"{report['frames']} frames in {report['seconds']} s; RSS {report['rss_start_mb']} -> "
          f"{report['rss_end_mb']} MB (growth {report['rss_growth_mb']} MB); all demo numbers read in "
          f"{report['frames_with_all_numbers']} frames; other readings (frames): {report['other_readings'] or 'none'}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
