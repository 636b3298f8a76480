"""Where the data lives, how it is read, and the training mix built from it.

Looks for data in `$EDGE_DIGITS_DATA` when it is set (only there: never a silent substitute),
else `../shared/data` beside the project, then (MNIST only) the standard Keras cache
`~/.keras/datasets/mnist.npz`.
"""
from __future__ import annotations

import csv
import json
import os
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from convert import synth
from edge.normalize import normalize_crop

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REJECT = 10  # class index of "not a digit"
CLASS_NAMES = [str(d) for d in range(10)] + ["not-a-digit"]


class DataError(Exception):
    """Data missing or unreadable; the message says where we looked and how to get it."""


def data_roots() -> list[Path]:
    if os.environ.get("EDGE_DIGITS_DATA"):  # asked for: that folder or an error, not the default beside it
        return [Path(os.environ["EDGE_DIGITS_DATA"]).expanduser()]
    return [PROJECT_ROOT.parent / "shared" / "data"]


def find_dataset(name: str) -> Path:
    """The folder of one data set (e.g. 'sudoku-train'), or DataError."""
    for root in data_roots():
        if (root / name).is_dir():
            return root / name
    looked = ", ".join(str(r / name) for r in data_roots())
    raise DataError(f"data set '{name}' not found (looked in {looked}); "
                    f"set EDGE_DIGITS_DATA to the folder that holds '{name}/'")


def mnist_path(path: str | os.PathLike | None = None) -> Path:
    if path:  # asked for one file: that one or an error, never a silent substitute
        candidates = [Path(path).expanduser()]
    else:
        candidates = [r / "mnist" / "mnist.npz" for r in data_roots()]
        candidates.append(Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz")
    for c in candidates:
        if c.is_file():
            return c
    raise DataError("MNIST not found (looked in " + ", ".join(map(str, candidates)) + "); "
                    "get it with: python -c \"import keras; keras.datasets.mnist.load_data()\" "
                    "(downloads to ~/.keras/datasets/mnist.npz), or pass --mnist PATH")


def load_mnist(path=None):
    """(x_train, y_train, x_test, y_test) from the Keras-layout npz."""
    p = mnist_path(path)
    try:
        with np.load(p) as d:
            out = d["x_train"], d["y_train"], d["x_test"], d["y_test"]
    except Exception as e:  # zip errors, missing keys, truncation
        fetched = path is None  # found where a download puts it, not a file the user named
        raise DataError(f"MNIST file {p} is unreadable ({e.__class__.__name__}: {e})"
                        + ("; delete it and fetch it again" if fetched else "; --mnist takes Keras's mnist.npz")) from None
    if out[0].shape[1:] != (28, 28) or len(out[0]) != len(out[1]):
        raise DataError(f"MNIST file {p} has unexpected shapes {out[0].shape}, {out[1].shape}")
    return out


MNIST_TUNE_EVERY = 12  # every 12th MNIST train image (5,000) is the digit model's tuning part, never trained on


def mnist_part(x: np.ndarray, y: np.ndarray, part: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST train's 'train' or 'tune' part (MNIST test is the held-out set)."""
    tune = np.arange(len(x)) % MNIST_TUNE_EVERY == 0
    keep = tune if part == "tune" else ~tune
    return x[keep], y[keep]


def split_of(file_name: str, held_out_percent: int = 20) -> str:
    """'train' or 'heldout', fixed per image (a hash of its name), so crops of one
    image never land on both sides."""
    return "heldout" if zlib.crc32(file_name.encode()) % 100 < held_out_percent else "train"


@dataclass
class OrandImage:
    file: Path
    digits: str  # left to right
    boxes: list = field(default_factory=list)  # [(x, y, w, h, digit)] left to right


def load_orand(root: Path | None = None) -> list[OrandImage]:
    root = root or find_dataset("orand-car-a-train")
    try:
        coco = json.loads((root / "annotations.json").read_text())
        with open(root / "labels.csv", newline="") as f:
            labels = {row["file_name"]: row["digits_left_to_right"] for row in csv.DictReader(f)}
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"orand-car-a annotations in {root} are unreadable: {e}") from None
    by_id = {im["id"]: OrandImage(root / "images" / im["file_name"], labels.get(im["file_name"], ""))
             for im in coco["images"]}
    for a in coco["annotations"]:
        x, y, w, h = (int(round(v)) for v in a["bbox"])
        by_id[a["image_id"]].boxes.append((x, y, w, h, int(a["category_id"])))
    images = sorted(by_id.values(), key=lambda im: im.file.name)
    for im in images:
        im.boxes.sort(key=lambda b: b[0])
    return images


def orand_crops(split: str, rng: np.random.Generator, copies: int = 1, root=None):
    """Normalized crops of real handwritten digits from one split, `copies` jittered cuts each."""
    xs, ys = [], []
    for im in load_orand(root):
        if split_of(im.file.name) != split:
            continue
        gray = read_data_image(im.file, cv2.IMREAD_GRAYSCALE)
        for x, y, w, h, digit in im.boxes:
            if w < 2 or h < 2:
                continue
            for _ in range(copies):
                crop, dark = synth.jitter_real_crop(gray, (x, y, w, h), rng)
                xs.append(normalize_crop(crop, dark))
                ys.append(digit)
    return np.array(xs, np.uint8).reshape(-1, 28, 28), np.array(ys, np.int64)


def read_data_image(path: Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """An image of a data set as its pixels are stored, or DataError. The ground truth is
    given for the stored pixels: seven sudoku-train photos carry an EXIF orientation tag
    (rotate by 90 or 180 degrees) that contradicts their content, the grid and the size on
    line 2 of their .dat file; honouring it (OpenCV's default) turns the digits on their side."""
    image = cv2.imread(str(path), flags | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise DataError(f"cannot decode {path}")
    return image


def read_sudoku_grid(path: Path) -> list[list[int]]:
    """The 9x9 ground truth of a sudoku-train photo (0 = empty cell)."""
    lines = path.read_text().split("\n")[2:11]
    grid = [[int(v) for v in line.split()] for line in lines]
    if len(grid) != 9 or any(len(row) != 9 for row in grid):
        raise DataError(f"{path}: expected a 9x9 grid after two header lines")
    return grid


def find_sudoku_grid(gray: np.ndarray) -> np.ndarray | None:
    """Corners (tl, tr, br, bl) of the largest four-sided outline, if it is big enough."""
    binary = cv2.adaptiveThreshold(cv2.GaussianBlur(gray, (5, 5), 0), 255, cv2.ADAPTIVE_THRESH_MEAN_C,
                                   cv2.THRESH_BINARY_INV, 31, 7)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    outline = max(contours, key=cv2.contourArea)
    quad = cv2.approxPolyDP(outline, 0.02 * cv2.arcLength(outline, True), True)
    if len(quad) != 4 or cv2.contourArea(quad) < 0.15 * gray.size:
        return None
    pts = quad.reshape(4, 2).astype(np.float32)
    total, diff = pts.sum(1), np.diff(pts, axis=1).ravel()
    return np.array([pts[total.argmin()], pts[diff.argmin()], pts[total.argmax()], pts[diff.argmax()]], np.float32)


SUDOKU_CELL = 48  # pixels a cell of the squared-up grid


def sudoku_square(path: Path) -> tuple[np.ndarray, list[tuple[int, int, int, int, int]]] | None:
    """A sudoku-train photo's grid, found and squared up (9 x SUDOKU_CELL a side), and the box
    (x, y, w, h, digit) of each filled cell's digit in it; None when no grid is found."""
    gray = read_data_image(path, cv2.IMREAD_GRAYSCALE)
    corners = find_sudoku_grid(gray)
    if corners is None:
        return None
    cell = SUDOKU_CELL
    side = cell * 9
    warp = cv2.getPerspectiveTransform(corners, np.float32([[0, 0], [side, 0], [side, side], [0, side]]))
    square = cv2.warpPerspective(gray, warp, (side, side), flags=cv2.INTER_AREA)
    boxes = []
    for r, row in enumerate(read_sudoku_grid(path.with_suffix(".dat"))):
        for c, digit in enumerate(row):
            if not digit:
                continue
            inner = square[r * cell + 5:(r + 1) * cell - 5, c * cell + 5:(c + 1) * cell - 5]
            _, ink = cv2.threshold(inner, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
            n, _, stats, _ = cv2.connectedComponentsWithStats(ink)
            if n < 2:
                continue
            x, y, w, h, _ = stats[1 + int(np.argmax(stats[1:, 4]))]
            boxes.append((c * cell + 5 + int(x), r * cell + 5 + int(y), int(w), int(h), digit))
    return square, boxes


def sudoku_crops(split: str, rng: np.random.Generator, copies: int = 1, root=None):
    """Real printed digits from the phone photos of one split: the grid is found and
    squared up, and each filled cell's digit is cut out with a random margin."""
    root = root or find_dataset("sudoku-train")
    xs, ys = [], []
    for path in sorted(root.glob("*.jpg")):
        if split_of(path.name) != split:
            continue
        found = sudoku_square(path)
        if found is None:
            continue
        square, boxes = found
        for x, y, w, h, digit in boxes:
            if h < 8:
                continue
            for _ in range(copies):
                crop, dark = synth.jitter_real_crop(square, (x, y, w, h), rng)
                xs.append(normalize_crop(crop, dark))
                ys.append(digit)
    return np.array(xs, np.uint8).reshape(-1, 28, 28), np.array(ys, np.int64)


def orand_heldout_crops(root=None):
    """Held-out real crops cut with a fixed 10% margin, no noise: the evaluation set."""
    xs, ys = [], []
    for im in load_orand(root):
        if split_of(im.file.name) != "heldout":
            continue
        gray = read_data_image(im.file, cv2.IMREAD_GRAYSCALE)
        H, W = gray.shape
        for x, y, w, h, digit in im.boxes:
            m = max(1, int(0.1 * max(w, h)))
            crop = gray[max(0, y - m):min(H, y + h + m), max(0, x - m):min(W, x + w + m)]
            xs.append(normalize_crop(crop, True))
            ys.append(digit)
    return np.array(xs, np.uint8).reshape(-1, 28, 28), np.array(ys, np.int64)


CHUNK = 2000


def synthetic(kind: str, n: int, seed: int, mnist_images=None, mnist_labels=None):
    """n normalized samples of one synthetic kind: 'mnist-camera', 'printed',
    'segments' or 'clutter'. Fixed seed -> identical samples, in any number of processes."""
    chunks = [(kind, min(CHUNK, n - i), seed, i // CHUNK) for i in range(0, n, CHUNK)]
    global _MNIST
    _MNIST = (mnist_images, mnist_labels)
    workers = min(len(chunks), os.cpu_count() or 1)
    if workers > 1 and "tensorflow" not in sys.modules:  # forking a process that runs TF can hang
        import multiprocessing as mp
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_synthetic_chunk, chunks)
    else:
        parts = [_synthetic_chunk(c) for c in chunks]
    if not parts:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


_MNIST = (None, None)


def _synthetic_chunk(args):
    kind, n, seed, chunk = args
    rng = np.random.default_rng([seed, chunk])
    mnist_images, mnist_labels = _MNIST
    xs = np.zeros((n, 28, 28), np.uint8)
    ys = np.zeros(n, np.int64)
    for i in range(n):
        if kind == "mnist-camera":
            j = int(rng.integers(len(mnist_images)))
            ink, label = synth.mnist_ink(mnist_images[j], rng), int(mnist_labels[j])
        elif kind == "printed":
            label = int(rng.integers(10))
            ink = synth.printed_digit_ink(label, rng)
        elif kind == "segments":
            label = int(rng.integers(10))
            ink = synth.seven_segment_ink(label, rng, int(rng.integers(40, 90)))
        elif kind == "clutter":
            label = REJECT
            ink = synth.not_digit_ink(rng, mnist_images)
        else:
            raise ValueError(kind)
        xs[i], ys[i] = synth.sample(ink, rng), label
    return xs, ys


@dataclass
class MixSizes:
    mnist_camera: int = 60000
    printed: int = 45000
    segments: int = 12000
    clutter: int = 50000
    orand_copies: int = 16  # cuts of each real handwritten crop (convert.train stages use 8, then 16)
    sudoku_copies: int = 3
    mnist_raw: int | None = None  # None: all of MNIST train's training part as is (mnist_part)
    mnist_raw_copies: int = 3  # MNIST as is, three times (the per-batch jitter makes the copies differ)

    def scaled(self, f: float) -> "MixSizes":
        return MixSizes(int(self.mnist_camera * f), int(self.printed * f), int(self.segments * f),
                        int(self.clutter * f), max(1, int(round(self.orand_copies * f))),
                        max(1, int(round(self.sudoku_copies * f))), int(60000 * f), 1)


def training_mix(sizes: MixSizes = MixSizes(), seed: int = 0, mnist=None, orand_root=None,
                 log=print):
    """The whole training set as (x (N,28,28) uint8, y (N,), counts by source)."""
    return assemble_mix(mix_parts(sizes, seed, mnist, orand_root, log), sizes.mnist_raw_copies, sizes.orand_copies)


def mix_parts(sizes: MixSizes | None = None, seed: int = 0, mnist=None, orand_root=None, log=print) -> dict:
    """Every source of the training mix, built once: {source: (x, y)}. MNIST as is comes
    once and the real handwritten crops as (crops, cuts, 28, 28), sizes.orand_copies cuts
    each, so that `assemble_mix` can weight both up or down without building anything again."""
    sizes = sizes or MixSizes()
    x_train, y_train, _, _ = mnist if mnist is not None else load_mnist()
    x_train, y_train = mnist_part(x_train, y_train, "train")
    rng = np.random.default_rng(seed)
    n_raw = len(x_train) if sizes.mnist_raw is None else min(sizes.mnist_raw, len(x_train))
    pick = rng.permutation(len(x_train))[:n_raw]
    raw = (np.stack([normalize_crop(x, False) for x in x_train[pick]]) if n_raw
           else np.zeros((0, 28, 28), np.uint8))
    parts = {"mnist": (raw, y_train[pick].astype(np.int64))}
    log(f"mnist: {n_raw}")
    for i, (kind, n) in enumerate([("mnist-camera", sizes.mnist_camera), ("printed", sizes.printed),
                                   ("segments", sizes.segments), ("clutter", sizes.clutter)]):
        parts[kind] = synthetic(kind, n, seed + 1 + i, x_train, y_train)
        log(f"{kind}: {n}")
    cuts = sizes.orand_copies
    x, y = orand_crops("train", np.random.default_rng(seed + 9), cuts, orand_root)
    parts["orand"] = (x.reshape(-1, cuts, 28, 28), y[::cuts])
    log(f"orand: {len(y) // cuts} crops x {cuts} cuts")
    parts["sudoku"] = sudoku_crops("train", np.random.default_rng(seed + 10), sizes.sudoku_copies)
    log(f"sudoku: {len(parts['sudoku'][1])}")
    return parts


def assemble_mix(parts: dict, mnist_copies: int, orand_copies: int):
    """(x, y, counts by source) from `mix_parts`: MNIST as is `mnist_copies` times, the
    first `orand_copies` cuts of each real handwritten crop, everything else once."""
    xs, ys, counts = [], [], {}
    for name, (x, y) in parts.items():
        if name == "mnist":
            x, y = np.concatenate([x] * mnist_copies), np.tile(y, mnist_copies)
        elif name == "orand":
            if orand_copies > x.shape[1]:
                raise ValueError(f"{orand_copies} cuts asked, {x.shape[1]} built")
            x, y = x[:, :orand_copies].reshape(-1, 28, 28), np.repeat(y, orand_copies)
        xs.append(x)
        ys.append(y)
        counts[name] = len(y)
    return np.concatenate(xs), np.concatenate(ys), counts


def heldout_clutter(n: int = 3000, seed: int = 12345):
    """Clutter crops from a seed the training mix never uses."""
    return synthetic("clutter", n, seed)
