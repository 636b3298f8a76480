"""The digit classifier: shared normalization + batched int8 TFLite calls."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from edge.infer.runtime import (MODELS_DIR, ModelError, check_metadata, chosen_by, interpreter_class,
                                native_stderr_silenced, read_tflite, same_value, tensor_summary)
from edge.normalize import SIZE, normalize_batch


DEFAULT_MODEL = MODELS_DIR / "digits.tflite"
BATCH_SIZES = (1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64)  # a batch is padded up to the next of these
MAX_BATCH = BATCH_SIZES[-1]
UNSURE, NOT_A_DIGIT = -1, -2  # labels of rejected crops
# The least digit confidence where a model's metadata has none. Checked for the five-view average
# on the tuning sets: 0.55 rejects 8 of 5,000 MNIST digits and 96.5% of clutter (0.50: 1, 95.9%).
DEFAULT_THRESHOLD = 0.55
# A crop is read as is and shifted 1 px each way, the probabilities averaged: MNIST tuning
# errors 20 -> 14 for 5x the model (classify is not on the frame path).
SHIFTS = ((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0))


def shifted_views(batch: np.ndarray, shifts=SHIFTS) -> np.ndarray:
    """(N, H, W, ...) -> (len(shifts) * N, H, W, ...): each shift (dy, dx) of the whole batch, zero-filled."""
    views = np.zeros((len(shifts),) + batch.shape, batch.dtype)
    h, w = batch.shape[1:3]
    for view, (dy, dx) in zip(views, shifts):
        view[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            batch[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return views.reshape((-1,) + batch.shape[1:])


def average_views(probs: np.ndarray, n: int) -> np.ndarray:
    """The probabilities of `shifted_views`' batch -> (N, classes), averaged over the views."""
    return probs.reshape(-1, n, probs.shape[-1]).mean(axis=0)


def default_model_path() -> Path:
    return Path(os.environ.get("EDGE_DIGITS_MODEL") or DEFAULT_MODEL)  # set but empty: the default


class DigitClassifier:
    """Classify digit crops with the shipped int8 model.

    >>> DigitClassifier().classify([crop1, crop2])          # [(7, 0.99), (None, 0.8)]
    >>> DigitClassifier().classify(crops, allow_reject=False)  # always a digit 0-9

    Crops are 2-D uint8 grey images of one digit each, any size, either polarity.
    All crops of a call go through the interpreter together; a batch is padded to one of
    a few sizes, each with its own interpreter made at start-up (no re-allocation per frame).
    """

    def __init__(self, model_path: str | os.PathLike | None = None, metadata_path=None,
                 num_threads: int = 1, threshold: float | None = None):
        self.model_path = Path(model_path) if model_path else default_model_path()
        self._env = chosen_by("EDGE_DIGITS_MODEL", model_path)
        self.metadata_path = Path(metadata_path) if metadata_path else self.model_path.with_suffix(".json")
        self.num_threads = num_threads
        self._model_bytes = self._read_model()
        self.metadata = self._read_metadata()
        self.classes = list(self.metadata["classes"])
        self.reject_class = self.metadata.get("reject_class")
        self.threshold = float(self.metadata.get("reject_threshold", DEFAULT_THRESHOLD) if threshold is None else threshold)
        self._interpreter_cls, self.runtime = interpreter_class()
        self._interpreters: dict[int, tuple] = {}
        with native_stderr_silenced():
            self._check_tensors(self._interpreter(1)[0])
        # Every batch size the app will use is made and run once now, so a model that
        # cannot be resized or run fails at start-up, never mid-run.
        with native_stderr_silenced():
            for size in BATCH_SIZES:
                self.probabilities(np.zeros((size, SIZE, SIZE, 1), np.uint8))

    # -- loading and checks: every problem is a ModelError at start-up, never mid-run --
    def _read_model(self) -> bytes:
        return read_tflite(self.model_path, "--model", "python -m convert.export", self._env)

    def _read_metadata(self) -> dict:
        p = self.metadata_path
        if not p.is_file():
            raise ModelError(f"model metadata {p} not found; it is written by 'python -m convert.export'")
        try:
            meta = json.loads(p.read_text())
            check_metadata(meta, levels=("reject_threshold",), kind="edge-digits/1")
            if not isinstance(meta.get("classes"), list) or len(meta["classes"]) < 10:
                raise ValueError("'classes' must list at least the ten digits")
            reject = meta.get("reject_class")
            if reject is not None and (not isinstance(reject, int) or not 0 <= reject < len(meta["classes"])):
                raise ValueError("'reject_class' must be the index of a class")
        except OSError as e:
            raise ModelError(f"cannot read model metadata {p}: {e.strerror or e}") from None
        except ValueError as e:
            raise ModelError(f"model metadata {p} is invalid: {e}") from None
        return meta

    def _interpreter(self, batch: int):
        if batch not in self._interpreters:
            try:
                it = self._interpreter_cls(model_content=self._model_bytes, num_threads=self.num_threads)
                inp = it.get_input_details()[0]
                if batch != 1:
                    it.resize_tensor_input(inp["index"], [batch, SIZE, SIZE, 1])
                it.allocate_tensors()
            except (ValueError, RuntimeError, IndexError) as e:
                raise ModelError(f"cannot load {self.model_path}: {str(e).splitlines()[0]}") from None
            self._interpreters[batch] = (it, it.get_input_details()[0], it.get_output_details()[0])
        return self._interpreters[batch]

    def _check_tensors(self, interpreter):
        inp = tensor_summary(interpreter.get_input_details()[0])
        out = tensor_summary(interpreter.get_output_details()[0])
        if inp["shape"] != [SIZE, SIZE, 1] or inp["dtype"] != "uint8":
            raise ModelError(f"{self.model_path} takes {inp['dtype']} {inp['shape']}; "
                             f"this app feeds uint8 [{SIZE}, {SIZE}, 1]")
        if out["shape"] != [len(self.classes)]:
            raise ModelError(f"{self.model_path} has {out['shape']} outputs but its metadata lists "
                             f"{len(self.classes)} classes")
        for name, actual in (("input", inp), ("output", out)):
            declared = self.metadata.get(name, {})
            for key in ("dtype", "scale", "zero_point"):
                if key in declared and not same_value(declared[key], actual[key]):
                    raise ModelError(f"metadata {self.metadata_path} says {name} {key} = {declared[key]}, "
                                     f"the model has {actual[key]}: re-export the model")
        self.output_quantization = (out["scale"], out["zero_point"])

    # -- inference --
    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(N, 28, 28, 1) uint8 normalized crops -> (N, classes) float32 probabilities."""
        n = len(batch)
        out = np.zeros((n, len(self.classes)), np.float32)
        for start in range(0, n, MAX_BATCH):
            part = batch[start:start + MAX_BATCH]
            size = next(b for b in BATCH_SIZES if b >= len(part))
            it, inp, outp = self._interpreter(size)
            padded = np.zeros((size, SIZE, SIZE, 1), np.uint8)
            padded[:len(part)] = part
            try:
                it.set_tensor(inp["index"], padded)
                it.invoke()
            except (ValueError, RuntimeError) as e:
                raise ModelError(f"{self.model_path} failed to run: {str(e).splitlines()[0]}") from None
            raw = it.get_tensor(outp["index"])[:len(part)]
            scale, zero_point = self.output_quantization
            out[start:start + len(part)] = (raw.astype(np.float32) - zero_point) * scale if scale else raw
        return out

    def averaged_probabilities(self, batch: np.ndarray) -> np.ndarray:
        """As `probabilities`, averaged over the crop and its shifts (SHIFTS): what classify reads."""
        if len(batch) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        return average_views(self.probabilities(shifted_views(batch)), len(batch))

    def predict(self, batch: np.ndarray, allow_reject: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Normalized batch -> (labels, confidences). Labels are 0-9, NOT_A_DIGIT where the
        "not a digit" class wins, or UNSURE where the best digit is below the threshold."""
        if len(batch) == 0:
            return np.zeros(0, np.int16), np.zeros(0, np.float32)
        return self.decide(self.averaged_probabilities(batch), allow_reject)

    def decide(self, probs: np.ndarray, allow_reject: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(N, classes) probabilities -> (labels, confidences), as `predict` gives them."""
        if not allow_reject:
            probs = probs[:, :10]
        labels = probs.argmax(axis=1).astype(np.int16)
        confidence = probs[np.arange(len(probs)), labels]
        if allow_reject:
            clutter = labels == self.reject_class if self.reject_class is not None else np.zeros(len(labels), bool)
            labels[(confidence < self.threshold) & ~clutter] = UNSURE
            labels[clutter] = NOT_A_DIGIT
        else:
            confidence = confidence / np.maximum(probs.sum(axis=1), 1e-6)
        return labels, confidence

    def classify(self, crops, allow_reject: bool = True, dark_ink=None) -> list[tuple[int | None, float]]:
        """Crops (2-D uint8, any size, either polarity) -> [(digit or None, confidence)].
        One reading per crop, as the digits model learned them (MNIST-like, centred by mass)."""
        labels, confidence = self.predict(normalize_batch(crops, dark_ink), allow_reject)
        return [(int(d) if d >= 0 else None, float(c)) for d, c in zip(labels, confidence)]
