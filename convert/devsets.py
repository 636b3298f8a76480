"""End-to-end accuracy of the reader (detect lines -> cut -> recognize) on the development
sets, exactly as the app runs it on a picture.

- sudoku-train: per photo, the count of each digit read inside the grid vs the count in
  the ground-truth grid -> micro precision, recall, F1 (and the same over the whole photo).
  Reported for all photos and for the held-out split (the models train on the other photos).
- orand-car-a-train: whole-string exact match (all digits read, left to right, vs the
  label), digit precision / recall / F1 (box IoU >= 0.5 and the same label), and the
  digit F1 of the strings alone (matched in order). Reported for all images and for the
  held-out split the models never trained on.

- plates-train: on each held-out plate crop, its big characters read (the
  lines near the tallest one's height, row by row: a motorcycle plate has two rows) vs the
  plate's text: exact (letters and digits, with --charset alnum) and its digits in order.

    python -m convert.devsets [--limit N] [--save-dir DIR] [--out docs/devsets.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from convert.datasets import (DataError, find_dataset, find_sudoku_grid, load_orand, read_data_image,
                              read_sudoku_grid, split_of)
from edge.boxes import iou_matrix
from edge.types import Frame


def lcs_matches(a: str, b: str) -> int:
    """Characters of a and b matched in order (their longest common subsequence)."""
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4),
            "tp": tp, "fp": fp, "fn": fn}


def sudoku_truth(path: Path) -> Counter:
    """How many of each digit a sudoku photo's grid holds."""
    return Counter(d for row in read_sudoku_grid(path.with_suffix(".dat")) for d in row if d)


def in_grid(image: np.ndarray, boxes: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Which boxes (x, y, w, h) are centred inside the photo's sudoku grid, the only region its
    truth labels: a page's other numbers (dates, TV times) are real, not false readings. The
    grid is found on `image` (full size) and scaled by `scale` to the boxes; no grid: all."""
    quad = find_sudoku_grid(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image)
    if quad is None:
        return np.ones(len(boxes), bool)
    outline = (quad * scale).astype(np.float32).reshape(-1, 1, 2)
    centres = np.asarray(boxes, np.float32).reshape(-1, 4)
    centres = centres[:, :2] + centres[:, 2:] / 2
    return np.array([cv2.pointPolygonTest(outline, (x, y), False) >= 0 for x, y in centres.tolist()], bool)


def count_matches(truth: Counter, read: Counter) -> tuple[int, int, int]:
    """(tp, fp, fn) of the digits read against those there, counted per digit."""
    tp = sum(min(truth[d], read[d]) for d in set(truth) | set(read))
    return tp, sum(read.values()) - tp, sum(truth.values()) - tp


def sudoku(reader, limit=None, save_dir: Path | None = None) -> dict:
    """Digit counts per photo vs the grid, for all photos and for the held-out split (the
    classifier trains on crops of the other photos): readings inside the grid, and in
    `whole_photo` all readings (the page's other numbers then count as false)."""
    from edge.draw import draw_result
    root = find_dataset("sudoku-train")
    stats = {"all": Counter(), "heldout": Counter()}
    whole = {"all": Counter(), "heldout": Counter()}
    files = sorted(root.glob("*.jpg"), key=lambda p: int("".join(filter(str.isdigit, p.stem)) or 0))[:limit]
    for path in files:
        truth = sudoku_truth(path)
        image = read_data_image(path)
        result = reader.process(Frame(image, 0, 0.0, str(path)))
        labels = result.digits.labels
        inside = in_grid(image, result.digits.boxes)
        for key in ("all", split_of(path.name)):
            if key not in stats:
                continue
            for s, read in ((stats[key], labels[inside]), (whole[key], labels)):
                tp, fp, fn = count_matches(truth, Counter(int(d) for d in read))
                s["photos"] += 1
                s["tp"], s["fp"], s["fn"] = s["tp"] + tp, s["fp"] + fp, s["fn"] + fn
        if save_dir:
            cv2.imwrite(str(save_dir / f"sudoku-{path.stem}.jpg"), draw_result(result))
    return {k: {"photos": s["photos"], **prf(s["tp"], s["fp"], s["fn"]),
                "whole_photo": prf(whole[k]["tp"], whole[k]["fp"], whole[k]["fn"])} for k, s in stats.items()}


def orand(reader, limit=None, save_dir: Path | None = None) -> dict:
    from edge.draw import draw_result
    stats = {"all": Counter(), "heldout": Counter()}
    for im in load_orand()[:limit]:
        image = read_data_image(im.file)
        result = reader.process(Frame(image, 0, 0.0, str(im.file)))
        order = np.argsort(result.digits.boxes[:, 0], kind="stable")
        read = "".join(str(int(d)) for d in result.digits.labels[order])
        # each labelled digit takes the best unused read digit of its label with IoU >= 0.5
        overlaps = iou_matrix([b[:4] for b in im.boxes], result.digits.boxes)
        matched, used = 0, set()
        for i, (*_, d) in enumerate(im.boxes):
            options = [j for j in np.flatnonzero(overlaps[i] >= 0.5) if result.digits.labels[j] == d and j not in used]
            if options:
                used.add(max(options, key=lambda j: overlaps[i, j]))
                matched += 1
        for key in ("all", split_of(im.file.name)):
            if key not in stats:
                continue
            s = stats[key]
            s["images"] += 1
            s["exact"] += read == im.digits
            s["tp"] += matched
            s["fp"] += len(result.digits) - matched
            s["fn"] += len(im.boxes) - matched
            in_order = lcs_matches(read, im.digits)  # the string alone, boxes aside
            s["str_tp"], s["str_fp"], s["str_fn"] = (s["str_tp"] + in_order, s["str_fp"] + len(read) - in_order,
                                                     s["str_fn"] + len(im.digits) - in_order)
        if save_dir and read != im.digits and stats["all"]["images"] <= 400:
            cv2.imwrite(str(save_dir / f"orand-{im.file.stem[:20]}-{im.digits}-read-{read}.png"), draw_result(result))
    return {k: {"images": s["images"], "exact_match": round(s["exact"] / max(s["images"], 1), 4),
                **prf(s["tp"], s["fp"], s["fn"]),
                "string_f1": prf(s["str_tp"], s["str_fp"], s["str_fn"])["f1"]} for k, s in stats.items()}


PLATE_ROW_SHARE = 0.7  # of the tallest number's height: a plate's rows are alike; a state name is a third of them


def plate_read(numbers) -> str:
    """A plate's text from the numbers read on its crop: those at least PLATE_ROW_SHARE of the
    tallest's height, top row first, each row left to right."""
    tallest = max((n.box[3] for n in numbers), default=0)
    rows: list[list] = []
    for n in sorted((n for n in numbers if n.box[3] >= PLATE_ROW_SHARE * tallest), key=_middle):
        row = rows[-1] if rows else None
        if row and (_middle(n) - _middle(row[0]) < row[0].box[3] / 2 or not any(_under(n, m) for m in row)):
            row.append(n)  # level with the row, or beside it (a tilted row cut in pieces): the same row
        else:
            rows.append([n])
    return "".join(n.read for row in rows for n in sorted(row, key=lambda n: n.box[0]))


def _middle(number) -> float:
    return number.box[1] + number.box[3] / 2


def _under(a, b) -> bool:
    """Whether a and b share columns (stacked rows do; pieces of one row sit side by side)."""
    return min(a.box[0] + a.box[2], b.box[0] + b.box[2]) > max(a.box[0], b.box[0])


def plates(reader, split: str = "heldout", limit=None) -> dict:
    """Whole plates read on the plate crops of one split (convert.line_data.split3 by text)."""
    from convert.line_data import plate_lines
    lines = plate_lines(split)[:limit]
    exact = digits_in_order = 0
    for i, line in enumerate(lines):
        result = reader.process(Frame(line.gray, i, 0.0, f"plate-{i}"))
        text = plate_read(result.numbers)
        exact += text == line.text
        digits_in_order += "".join(filter(str.isdigit, text)) == "".join(filter(str.isdigit, line.text))
    n = max(len(lines), 1)
    return {split: {"plates": len(lines), "exact": round(exact / n, 4), "digits_in_order": round(digits_in_order / n, 4)}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.devsets", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--charset", choices=["digits", "alnum"], default="alnum",
                   help="the charset on plates (default alnum; numbers elsewhere)")
    p.add_argument("--limit", type=int, help="only the first N images of each set")
    p.add_argument("--save-dir", type=Path, help="write annotated images (all sudoku photos, orand misses)")
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    a = p.parse_args(argv)
    if a.limit is not None and a.limit < 1:
        p.error("--limit must be >= 1")
    from convert.outputs import out_problem
    # said now, not after ten minutes of reading
    if a.out and (problem := out_problem(a.out, suffix=None, makes_folders=False)):
        p.error(problem)
    if a.save_dir and (in_way := next((d for d in [a.save_dir.absolute(), *a.save_dir.absolute().parents]
                                       if d.exists() and not d.is_dir()), None)):
        p.error(f"--save-dir {a.save_dir}: {in_way} is a file, not a folder")
    from edge.infer import ModelError
    from edge.line_reader import LineReader
    try:
        reader = LineReader(keep_mask=False, still=True)  # pictures, read as the app reads them (PICTURE_*)
        if a.save_dir:
            a.save_dir.mkdir(parents=True, exist_ok=True)
        started = time.time()
        report = {"sudoku_train": sudoku(reader, a.limit, a.save_dir),
                  "orand_car_a_train": orand(reader, a.limit, a.save_dir)}
        plate_reader = LineReader(reader.detector, reader.recognizer, a.charset, keep_mask=False, still=True)
        report["plates_train"] = plates(plate_reader, "heldout", a.limit)
    except (DataError, ModelError) as e:
        print(f"convert.devsets: error: {e}", file=sys.stderr)
        return 2
    report["seconds"] = round(time.time() - started, 1)
    text = json.dumps(report, indent=1)
    if a.out:
        a.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
