"""The smallest printed text the learned reader reads: numbers in OpenCV's Duplex font, a few
px tall, at random places in a plain 640x480 frame, read end to end; and lone digits (one
character alone: a house or page number), from small to large.

    python -m convert.smallest_text [--heights 10 12 14 16 20 24 32] [--tries 20] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from edge.types import Frame

FRAME = (640, 480)
HEIGHTS = (10, 12, 14, 16, 20, 24, 32)
LONE_HEIGHTS = (16, 24, 32, 48, 64, 96)  # a lone digit's core is short: found later than a number's


def number_frame(text: str, height: int, rng: np.random.Generator) -> np.ndarray:
    """A grey frame with dark `text` `height` px tall (cap height) somewhere inside it."""
    frame = np.clip(rng.normal(190, 6, FRAME[::-1]), 0, 255).astype(np.uint8)
    thickness = max(1, height // 10)
    scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_DUPLEX, height, thickness)
    (w, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, thickness)
    x, y = int(rng.integers(5, max(6, FRAME[0] - 5 - w))), int(rng.integers(height + 5, FRAME[1] - 5))
    cv2.putText(frame, text, (x, y), cv2.FONT_HERSHEY_DUPLEX, scale, 30, thickness, cv2.LINE_AA)
    return frame


def _read_counts(detector, recognizer, heights, tries: int, seed: int, text_of, read_right, tag: str,
                 **levels) -> dict:
    """{height: tries whose frame `read_right(text, numbers)`}, each try a frame of `text_of(rng)`
    and its own source, so the reader starts its tracking afresh (LineReader.process). `levels`:
    the reader's edge_confidence and min_confidence, if not the detector metadata's."""
    from edge.line_reader import LineReader
    reader = LineReader(detector, recognizer, keep_mask=False, **levels)
    rng = np.random.default_rng(seed)
    found = {}
    for height in heights:
        hits = 0
        for k in range(tries):
            text = text_of(rng)
            result = reader.process(Frame(number_frame(text, height, rng), 0, 0.0, f"{tag}{height}-{k}"))
            hits += read_right(text, result.numbers)
        found[height] = hits
    return found


def smallest_text(detector, recognizer, heights=HEIGHTS, tries: int = 20, seed: int = 0, **levels) -> dict:
    """{height: numbers of 3-6 digits read exactly (among whatever else is read), of `tries`}."""
    return _read_counts(detector, recognizer, heights, tries, seed,
                        lambda rng: "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(3, 7)))),
                        lambda text, numbers: any(n.read == text for n in numbers), "", **levels)


def lone_digits(detector, recognizer, heights=LONE_HEIGHTS, tries: int = 20, seed: int = 1, **levels) -> dict:
    """{height: lone digits read exactly and nothing else, of `tries`}: one digit alone in the frame."""
    return _read_counts(detector, recognizer, heights, tries, seed, lambda rng: str(int(rng.integers(0, 10))),
                        lambda text, numbers: [n.read for n in numbers] == [text], "lone-", **levels)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.smallest_text", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--heights", type=int, nargs="+", default=list(HEIGHTS), help="text heights in px")
    p.add_argument("--tries", type=int, default=20, help="random placements per height (default 20)")
    p.add_argument("--threshold", type=float, help="the detector's threshold (default: its metadata's)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    a = p.parse_args(argv)
    if a.tries < 1 or min(a.heights) < 1 or max(a.heights) > FRAME[1] // 2:
        p.error(f"--tries must be >= 1, --heights 1-{FRAME[1] // 2} (text in a {FRAME[0]}x{FRAME[1]} frame)")
    if a.threshold is not None and not 0 < a.threshold < 1:
        p.error(f"--threshold must be between 0 and 1, got {a.threshold:g}")
    from convert.outputs import out_problem
    if a.json and (problem := out_problem(a.json, "--json", suffix=None, makes_folders=False)):  # now, not after
        p.error(problem)
    from edge.detect import TextDetector
    from edge.infer import ModelError
    from edge.infer.recognizer import LineRecognizer
    try:
        detector, recognizer = TextDetector(threshold=a.threshold), LineRecognizer()
    except ModelError as e:
        print(f"convert.smallest_text: error: {e}", file=sys.stderr)
        return 2
    found = smallest_text(detector, recognizer, a.heights, a.tries)
    lone = lone_digits(detector, recognizer, tries=a.tries)
    report = {"frame": list(FRAME), "tries": a.tries, "threshold": detector.threshold,
              "read": {str(h): n for h, n in found.items()}, "lone_digits": {str(h): n for h, n in lone.items()}}
    print(", ".join(f"{h} px {n}/{a.tries}" for h, n in found.items()))
    print("lone digits: " + ", ".join(f"{h} px {n}/{a.tries}" for h, n in lone.items()))
    if a.json:
        a.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
