"""The CTC line recognizer: shared line normalization + batched int8 TFLite calls."""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.ctc import greedy_decode
from edge.infer.runtime import (MODELS_DIR, ModelError, check_metadata, chosen_by, interpreter_class,
                                native_stderr_silenced, read_tflite, same_value, tensor_summary)
from edge.lines import BLANK, CHARSET, HEIGHT, STEP, WIDTHS, by_bucket, line_batch, normalize_line

DEFAULT_LINES_MODEL = MODELS_DIR / "lines.tflite"
LINE_BATCHES = (1, 2, 3, 4, 6, 8, 12, 16)  # lines of one width go in batches of these sizes (exact_batches)
STARTUP_BATCHES = (1,)  # made at start-up (each width checked); the rest on first use: 23 MB for all
SPAN_LAG = 0.9  # steps a CTC peak comes after its glyph's centre (orand train split, both shipped widths)


@dataclass
class Char:
    char: str
    confidence: float
    x0: float  # its span in the crop's pixels, from the CTC alignment
    x1: float


@dataclass
class LineReading:
    text: str  # every character read, in CHARSET
    confidence: float  # the least sure character's (0 for an empty line)
    chars: list[Char] = field(default_factory=list)
    line: np.ndarray | None = None  # the normalized line it was read from: the character boxes are found on it
    probs: np.ndarray | None = field(default=None, repr=False, compare=False, kw_only=True)  # (steps, classes) it came from

    @property
    def score(self) -> float:
        """Mean log of each step's best probability: how likely the whole reading is. Worked
        out when asked (a picture's two cuts), not for every line of every video frame."""
        if getattr(self, "_score", None) is None:
            p = self.probs
            empty = p is None or not len(p)
            self._score = float("-inf") if empty else float(np.log(np.maximum(p.max(axis=1), 1e-6)).mean())
        return self._score

    @score.setter
    def score(self, value: float):
        self._score = value

    def digits(self) -> str:
        return "".join(c.char for c in self.chars if c.char.isdigit())


def default_lines_model_path() -> Path:
    return Path(os.environ.get("EDGE_DIGITS_LINES_MODEL") or DEFAULT_LINES_MODEL)  # set but empty: the default


class LineRecognizer:
    """Read text lines with the shipped int8 CTC model.

    >>> LineRecognizer().read([line_crop])   # [LineReading(text='1258', confidence=0.97, chars=[...])]

    Crops are grey or colour images of one line each, any size, either polarity. Lines are
    grouped by width bucket (edge.lines.WIDTHS) and each group goes through the interpreter in
    one call; the batch-1 interpreters are made (and the model checked) at start-up, the
    larger batches on first use.
    """

    def __init__(self, model_path: str | os.PathLike | None = None, num_threads: int = 1):
        self.model_path = Path(model_path) if model_path else default_lines_model_path()
        self.metadata_path = self.model_path.with_suffix(".json")
        self.num_threads = num_threads
        self._model_bytes = read_tflite(self.model_path, "--recognizer", "python -m convert.export --model recognizer",
                                        chosen_by("EDGE_DIGITS_LINES_MODEL", model_path))
        self.metadata = self._read_metadata()
        self._interpreter_cls, self.runtime = interpreter_class()
        self._interpreters: dict[tuple[int, int], tuple] = {}
        self._check_tensors()
        for width in WIDTHS:
            for size in STARTUP_BATCHES:
                self.run_batch(np.zeros((size, HEIGHT, width, 1), np.uint8))

    def _read_metadata(self) -> dict:
        p = self.metadata_path
        if not p.is_file():
            raise ModelError(f"line model metadata {p} not found; it is written by 'python -m convert.export "
                             "--model recognizer'")
        try:
            meta = json.loads(p.read_text())
            check_metadata(meta, kind="edge-digits-lines/1")
            if meta.get("charset") != CHARSET:
                raise ValueError(f"its charset {meta.get('charset')!r} is not this app's {CHARSET!r}")
            if meta.get("height") != HEIGHT or meta.get("step") != STEP:
                raise ValueError(f"it reads lines {meta.get('height')} px high in steps of {meta.get('step')} px; "
                                 f"this app cuts {HEIGHT} and {STEP}")
        except OSError as e:
            raise ModelError(f"cannot read line model metadata {p}: {e.strerror or e}") from None
        except ValueError as e:
            raise ModelError(f"line model metadata {p} is invalid: {e}") from None
        return meta

    def _interpreter(self, batch: int, width: int):
        key = (batch, width)
        if key not in self._interpreters:
            try:
                with native_stderr_silenced():
                    it = self._interpreter_cls(model_content=self._model_bytes, num_threads=self.num_threads)
                    native = tensor_summary(it.get_input_details()[0])  # before the resize, which fails cryptically
                    if len(native["shape"]) != 3 or native["shape"][0] != HEIGHT or native["shape"][2] != 1:
                        raise ModelError(f"{self.model_path} takes {native['dtype']} {native['shape']}, not lines of "
                                         f"uint8 [{HEIGHT}, W, 1]: is it a line recognizer?")
                    it.resize_tensor_input(it.get_input_details()[0]["index"], [batch, HEIGHT, width, 1])
                    it.allocate_tensors()
            except (ValueError, RuntimeError, IndexError, MemoryError) as e:
                raise ModelError(f"cannot load {self.model_path}: {(str(e) or type(e).__name__).splitlines()[0]}") from None
            self._interpreters[key] = (it, it.get_input_details()[0], it.get_output_details()[0])
        return self._interpreters[key]

    def _check_tensors(self):
        it, inp, out = self._interpreter(1, WIDTHS[-1])
        i, o = tensor_summary(inp), tensor_summary(out)
        if i["dtype"] != "uint8":  # its shape was checked as the interpreter was made
            raise ModelError(f"{self.model_path} takes {i['dtype']} {i['shape']}; this app feeds uint8 [{HEIGHT}, W, 1]")
        if o["shape"] != [1, WIDTHS[-1] // STEP, len(CHARSET) + 1]:
            raise ModelError(f"{self.model_path} gives {o['shape']} per line; this app expects "
                             f"[1, W/{STEP}, {len(CHARSET) + 1}]")
        for name, actual in (("input", i), ("output", o)):
            for key in ("scale", "zero_point"):
                declared = self.metadata.get(name, {}).get(key)
                if declared is not None and not same_value(declared, actual[key]):
                    raise ModelError(f"metadata {self.metadata_path} says {name} {key} = {declared}, "
                                     f"the model has {actual[key]}: re-export the model")
        self.output_quantization = (o["scale"], o["zero_point"])

    def run_batch(self, batch: np.ndarray) -> np.ndarray:
        """(N, HEIGHT, W, 1) uint8 lines of one width bucket, N <= LINE_BATCHES[-1] -> (N, W/STEP, classes)
        float32: the interpreter on one batch, as the evaluation feeds it."""
        n, width = len(batch), batch.shape[2]
        size = next(b for b in LINE_BATCHES if b >= n)
        it, inp, outp = self._interpreter(size, width)
        padded = np.zeros((size, HEIGHT, width, 1), np.uint8)
        padded[:n] = batch
        try:
            it.set_tensor(inp["index"], padded)
            it.invoke()
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{self.model_path} failed to run: {str(e).splitlines()[0]}") from None
        raw = it.get_tensor(outp["index"])[:n, 0]
        scale, zero_point = self.output_quantization
        return (raw.astype(np.float32) - zero_point) * scale if scale else raw.astype(np.float32)

    def probabilities(self, lines: list[np.ndarray]) -> list[np.ndarray]:
        """Normalized lines (edge.lines.normalize_line) -> each line's (steps, classes)
        probabilities over its own width (the padding's steps cut off)."""
        out: list[np.ndarray] = [np.zeros((0, BLANK + 1), np.float32)] * len(lines)
        for width, idx in by_bucket(lines).items():
            start = 0
            for size in exact_batches(len(idx)):
                part = idx[start:start + size]
                start += size
                probs = self.run_batch(line_batch([lines[i] for i in part], width))
                for i, p in zip(part, probs):
                    out[i] = p[:max(1, -(-lines[i].shape[1] // STEP))]
        return out

    def read(self, crops) -> list[LineReading]:
        """Line crops (any size, grey or colour, either polarity) -> one LineReading each,
        with every character's span in the crop's own pixels."""
        lines = [normalize_line(c) for c in crops]
        readings = []
        for crop, line, probs in zip(crops, lines, self.probabilities(lines)):
            width = np.shape(crop)[1] if np.ndim(crop) >= 2 else 0
            to_crop = width / max(line.shape[1], 1)  # normalized px -> crop px
            decoded = greedy_decode(probs, BLANK)
            spans = char_spans([(c.t0, c.t1) for c in decoded], len(probs))
            chars = [Char(CHARSET[c.index], c.confidence, max(0.0, x0 - SPAN_LAG) * STEP * to_crop,
                          min(width, max(0.5, x1 - SPAN_LAG) * STEP * to_crop)) for c, (x0, x1) in zip(decoded, spans)]
            readings.append(LineReading("".join(c.char for c in chars),
                                        min((c.confidence for c in chars), default=0.0), chars, line, probs=probs))
        return readings


def exact_batches(n: int) -> list[int]:
    """n lines as batches of LINE_BATCHES sizes, largest first, none padded: a padded line
    costs as much as a real one (~0.1 ms), another call ~0.01 ms."""
    sizes = []
    while n > 0:
        sizes.append(max(b for b in LINE_BATCHES if b <= n))
        n -= sizes[-1]
    return sizes


def char_spans(peaks: list[tuple[int, int]], steps: int) -> list[tuple[float, float]]:
    """CTC places a character on a step or two of its width; widen each to the midpoints
    between it and its neighbours, and the outer ones by half the median pitch, so each
    character's box covers its glyph. In time steps."""
    if not peaks:
        return []
    centres = [(a + b) / 2 for a, b in peaks]
    lone = 2.5  # steps a side of a lone character: ~20 px at a height of 32
    half = statistics.median(b - a for a, b in zip(centres, centres[1:])) / 2 if len(peaks) > 1 else lone
    bounds = [max(0.0, centres[0] - half)] + [(peaks[i][1] + peaks[i + 1][0]) / 2 for i in range(len(peaks) - 1)]
    bounds.append(min(float(steps), centres[-1] + half))
    return [(max(bounds[i], 0.0), max(bounds[i + 1], bounds[i] + 0.5)) for i in range(len(peaks))]
