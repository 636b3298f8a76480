"""The digit classifier: shared normalization + one batched int8 TFLite call per frame."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from edge.infer.runtime import ModelError, interpreter_class
from edge.normalize import SIZE, normalize_batch

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_MODEL = MODELS_DIR / "digits.tflite"
MAX_BATCH = 64


def default_model_path() -> Path:
    return Path(os.environ.get("EDGE_DIGITS_MODEL", DEFAULT_MODEL))


def _tensor_summary(detail: dict) -> dict:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return {"shape": [int(v) for v in detail["shape"][1:]], "dtype": np.dtype(detail["dtype"]).name,
            "scale": float(scale), "zero_point": int(zero_point)}


class DigitClassifier:
    """Classify digit crops with the shipped int8 model.

    >>> DigitClassifier().classify([crop1, crop2])          # [(7, 0.99), (None, 0.8)]
    >>> DigitClassifier().classify(crops, allow_reject=False)  # always a digit 0-9

    Crops are 2-D uint8 grey images of one digit each, any size, either polarity.
    All crops of a call go through the interpreter together; batches are padded to a
    power of two so each batch size keeps its own ready interpreter.
    """

    def __init__(self, model_path: str | os.PathLike | None = None, metadata_path=None,
                 num_threads: int = 1, threshold: float | None = None):
        self.model_path = Path(model_path) if model_path else default_model_path()
        self.metadata_path = Path(metadata_path) if metadata_path else self.model_path.with_suffix(".json")
        self.num_threads = num_threads
        self._model_bytes = self._read_model()
        self.metadata = self._read_metadata()
        self.classes = list(self.metadata["classes"])
        self.reject_class = self.metadata.get("reject_class")
        self.threshold = float(self.metadata.get("reject_threshold", 0.5) if threshold is None else threshold)
        self._interpreter_cls, self.runtime = interpreter_class()
        self._interpreters: dict[int, tuple] = {}
        self._check_tensors(self._interpreter(1)[0])

    # -- loading and checks: every problem is a ModelError at start-up, never mid-run --
    def _read_model(self) -> bytes:
        p = self.model_path
        if not p.is_file():
            raise ModelError(f"model file {p} not found; pass --model PATH or re-export with "
                             "'python -m convert.export'")
        data = p.read_bytes()
        if len(data) < 16 or data[4:8] != b"TFL3":
            raise ModelError(f"{p} is not a TFLite model (truncated or another format)")
        return data

    def _read_metadata(self) -> dict:
        p = self.metadata_path
        if not p.is_file():
            raise ModelError(f"model metadata {p} not found; it is written by 'python -m convert.export'")
        try:
            meta = json.loads(p.read_text())
            if not isinstance(meta.get("classes"), list) or len(meta["classes"]) < 10:
                raise ValueError("'classes' must list at least the ten digits")
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
            except (ValueError, RuntimeError) as e:
                raise ModelError(f"cannot load {self.model_path}: {str(e).splitlines()[0]}") from None
            self._interpreters[batch] = (it, it.get_input_details()[0], it.get_output_details()[0])
        return self._interpreters[batch]

    def _check_tensors(self, interpreter):
        inp = _tensor_summary(interpreter.get_input_details()[0])
        out = _tensor_summary(interpreter.get_output_details()[0])
        if inp["shape"] != [SIZE, SIZE, 1] or inp["dtype"] != "uint8":
            raise ModelError(f"{self.model_path} takes {inp['dtype']} {inp['shape']}; "
                             f"this app feeds uint8 [{SIZE}, {SIZE}, 1]")
        if out["shape"] != [len(self.classes)]:
            raise ModelError(f"{self.model_path} has {out['shape']} outputs but its metadata lists "
                             f"{len(self.classes)} classes")
        for name, actual in (("input", inp), ("output", out)):
            declared = self.metadata.get(name, {})
            for key in ("dtype", "scale", "zero_point"):
                if key in declared and not _same(declared[key], actual[key]):
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
            size = 1 << (len(part) - 1).bit_length()
            it, inp, outp = self._interpreter(size)
            padded = np.zeros((size, SIZE, SIZE, 1), np.uint8)
            padded[:len(part)] = part
            it.set_tensor(inp["index"], padded)
            it.invoke()
            raw = it.get_tensor(outp["index"])[:len(part)]
            scale, zero_point = self.output_quantization
            out[start:start + len(part)] = (raw.astype(np.float32) - zero_point) * scale if scale else raw
        return out

    def predict(self, batch: np.ndarray, allow_reject: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Normalized batch -> (labels with -1 for rejected, confidences)."""
        if len(batch) == 0:
            return np.zeros(0, np.int16), np.zeros(0, np.float32)
        probs = self.probabilities(batch)
        if not allow_reject:
            probs = probs[:, :10]
        labels = probs.argmax(axis=1).astype(np.int16)
        confidence = probs[np.arange(len(probs)), labels]
        if allow_reject:
            rejected = (confidence < self.threshold)
            if self.reject_class is not None:
                rejected |= labels == self.reject_class
            labels[rejected] = -1
        else:
            confidence = confidence / np.maximum(probs.sum(axis=1), 1e-6)
        return labels, confidence

    def classify(self, crops, allow_reject: bool = True, dark_ink=None) -> list[tuple[int | None, float]]:
        """Crops (2-D uint8, any size, either polarity) -> [(digit or None, confidence)]."""
        labels, confidence = self.predict(normalize_batch(crops, dark_ink), allow_reject)
        return [(int(d) if d >= 0 else None, float(c)) for d, c in zip(labels, confidence)]


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))
    return a == b
