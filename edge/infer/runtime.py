"""Pick a TFLite interpreter without importing TensorFlow unless nothing else is there.

Order: ai-edge-litert (maintained, numpy 2, fast), tflite_runtime, tensorflow.lite.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import sys
from pathlib import Path

import numpy as np


class ModelError(Exception):
    """The model (or its runtime) cannot be used; the message says why and what to do."""


MODEL_KINDS = {"edge-digits-detector/1": "a text-line detector (--detector)",  # metadata "format" -> what it is
               "edge-digits-lines/1": "a line recognizer (--recognizer)",
               "edge-digits/1": "a digit classifier"}


def check_metadata(meta, objects=("input", "output"), levels=(), kind: str | None = None) -> None:
    """ValueError unless a model's metadata is a JSON object whose `objects` keys, where given,
    hold objects and whose `levels` keys hold numbers from 0 to 1: said at load, not mid-run.
    `kind`: its "format"; metadata of another of the app's models is named for what it is."""
    if not isinstance(meta, dict):
        raise ValueError("expected a JSON object")
    made = meta.get("format")
    if kind and made != kind and isinstance(made, str) and made in MODEL_KINDS:
        raise ValueError(f"it describes {MODEL_KINDS[made]}, not {MODEL_KINDS[kind]}")
    for key in objects:
        if not isinstance(meta.get(key, {}), dict):
            raise ValueError(f"'{key}' must be an object")
    for key in levels:
        value = meta.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"'{key}' must be a number from 0 to 1")


def chosen_by(env: str, model_path) -> str | None:
    """`env` when it named the model (set, not empty, and no path given), for messages."""
    return env if not model_path and os.environ.get(env) else None


def read_tflite(p, option: str, make: str, env: str | None = None) -> bytes:
    """A TFLite model's bytes, or a one-line ModelError naming the option that sets it and
    the command that makes it; `env`: the variable p came from, when it did."""
    if p.is_dir():
        raise ModelError(f"{option} {p} is a folder; give the .tflite file (its .json beside it)")
    if not p.is_file() and env:
        raise ModelError(f"model file {p} not found (from ${env}); point it at a model, or unset it for the "
                         f"shipped one")
    if not p.is_file():
        raise ModelError(f"model file {p} not found; pass {option} PATH or make it with '{make}'")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ModelError(f"cannot read model {p}: {e.strerror or e}") from None
    if len(data) < 16 or data[4:8] != b"TFL3":
        raise ModelError(f"{p} is not a TFLite model (truncated or another format)")
    return data


def interpreter_class():
    """(Interpreter class, runtime name)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
        return Interpreter, "ai-edge-litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter
        return Interpreter, "tflite-runtime"
    except ImportError:
        pass
    try:  # the last resort, and the only place the runtime may load TensorFlow
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # its start-up chatter (CUDA, oneDNN) is no error
        with native_stderr_silenced():  # absl's first lines ignore that level
            tf = importlib.import_module("tensorflow")
        return tf.lite.Interpreter, "tensorflow.lite"
    except ImportError:
        raise ModelError("no TFLite runtime installed: pip install ai-edge-litert") from None


@contextlib.contextmanager
def native_stderr_silenced():
    """The runtime's C++ side prints an INFO line per interpreter (XNNPACK delegate) to
    file descriptor 2; hide it so the console shows only what the app says."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (pytest capture, IDEs)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _models_dir() -> Path:
    """Where the shipped models are: package data `edge.models` when installed (pip install . or
    a wheel; setup.cfg maps it to models/), else the checkout's models/ folder."""
    from importlib.resources import files
    try:
        return Path(str(files("edge.models")))
    except ModuleNotFoundError:  # a checkout, or an editable install that maps only `edge`
        return Path(__file__).resolve().parents[2] / "models"


MODELS_DIR = _models_dir()  # the one place that says where the shipped models are


def tensor_summary(detail: dict) -> dict:
    """A tensor's shape (without the batch), dtype and quantization, as metadata records them."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return {"shape": [int(v) for v in detail["shape"][1:]], "dtype": np.dtype(detail["dtype"]).name,
            "scale": float(scale), "zero_point": int(zero_point)}


def same_value(a, b) -> bool:
    """Metadata and model agree: numbers to a millionth, anything else exactly."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))
    return a == b
