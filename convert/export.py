"""Convert the trained Keras model to a full-integer int8 TFLite model and write its metadata.

    python -m convert.export            # models/digits.keras -> models/digits.tflite + .json

Input is uint8 28x28x1 (raw pixel values, MNIST convention: white digit on black, as
edge.normalize.normalize_crop makes it); output is uint8 probabilities for 10 digits and
"not a digit". The representative dataset is drawn from the training mix.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np

from convert.datasets import CLASS_NAMES, PROJECT_ROOT, REJECT, DataError, MixSizes, training_mix
from convert.outputs import export_problem
from edge.infer.classifier import DEFAULT_THRESHOLD  # the app's minimum digit confidence, and why

DEFAULT_KERAS = PROJECT_ROOT / "models" / "digits.keras"
DEFAULT_TFLITE = PROJECT_ROOT / "models" / "digits.tflite"


def representative_samples(keras_path: Path, n: int = 1000, seed: int = 0) -> np.ndarray:
    """Samples of the training mix: those saved by convert.train, else a small fresh mix."""
    saved = keras_path.with_suffix(".representative.npy")
    if saved.is_file():
        x = np.load(saved)
    else:
        x, _, _ = training_mix(MixSizes().scaled(0.01), seed, log=lambda m: None)
    rng = np.random.default_rng(seed)
    return x[rng.choice(len(x), min(n, len(x)), replace=False)]


def full_int8(model, inputs) -> bytes:
    """A Keras model -> full-integer int8 TFLite (uint8 in, uint8 out), calibrated on
    `inputs`, an iterable of float32 input batches of one."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x] for x in inputs)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    return converter.convert()


def peek_keras(path: Path, inputs: tuple | None = None, what: str = ""):
    """DataError unless `path` looks like a saved Keras model (a .keras zip holding its config)
    taking `inputs` (as read_keras), checked without TensorFlow: before minutes of calibration
    data are built for it."""
    import zipfile

    if Path(path).suffix in (".h5", ".hdf5"):  # Keras's older format: no zip to look into
        return
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        raise DataError(f"{path} is not a readable Keras model") from None
    try:
        shape = tuple(config["config"]["layers"][0]["config"]["batch_shape"][1:])
    except (KeyError, IndexError, TypeError):
        return  # another layout: read_keras checks the loaded model
    _check_inputs(path, shape, inputs, what)


def _check_inputs(path, shape: tuple, inputs: tuple | None, what: str):
    if inputs is not None and (len(shape) != len(inputs)
                               or any(want is not None and got != want for got, want in zip(shape, inputs))):
        raise DataError(f"{path} takes {shape}, not the {what}'s {inputs}: another model?")


def read_keras(path: Path, inputs: tuple, what: str):
    """A saved Keras model taking `inputs` (None: any size there), or DataError saying what is
    wrong: a file that is no model, or another model's (a recognizer given for the digits)."""
    peek_keras(path, inputs, what)
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises many kinds for a missing, broken or foreign file
        raise DataError(f"{path} is not a readable Keras model ({type(e).__name__})") from None
    _check_inputs(path, tuple(model.input_shape[1:]), inputs, what)
    return model


def to_int8_tflite(model, samples: np.ndarray) -> bytes:
    return full_int8(model, [x.reshape(1, 28, 28, 1).astype(np.float32) for x in samples])


def tensor_metadata(tflite_bytes: bytes) -> tuple[dict, dict]:
    from edge.infer.runtime import interpreter_class, tensor_summary

    interpreter = interpreter_class()[0](model_content=tflite_bytes)
    return (tensor_summary(interpreter.get_input_details()[0]),
            tensor_summary(interpreter.get_output_details()[0]))


def write_metadata(tflite_path: Path, tflite_bytes: bytes, train_info: dict | None,
                   threshold: float = DEFAULT_THRESHOLD, extra: dict | None = None) -> dict:
    inp, out = tensor_metadata(tflite_bytes)
    meta = {
        "format": "edge-digits/1",
        "model": tflite_path.name,
        "classes": CLASS_NAMES,
        "reject_class": REJECT,
        "reject_threshold": threshold,
        "input": {**inp, "convention": "28x28 uint8, white digit on black, scaled into a 20x20 box and "
                  "centred by centre of mass: edge.normalize.normalize_crop"},
        "output": {**out, "meaning": "probabilities of classes, quantized"},
        "size_bytes": len(tflite_bytes),
        "created": datetime.date.today().isoformat(),
    }
    if train_info:
        meta["training"] = _without_history(train_info)
    if extra:
        meta.update(extra)
    tflite_path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def _without_history(info):
    """A training record and every record nested in it (the model it was fine-tuned from, its
    teachers), without the per-epoch curves."""
    if isinstance(info, dict):
        return {k: _without_history(v) for k, v in info.items() if k != "history"}
    if isinstance(info, list):
        return [_without_history(v) for v in info]
    return info


def export(keras_path: Path, tflite_path: Path, samples: np.ndarray | None = None,
           threshold: float = DEFAULT_THRESHOLD) -> dict:
    model = read_keras(keras_path, (28, 28, 1), "digit classifier")
    samples = representative_samples(keras_path) if samples is None else samples
    data = to_int8_tflite(model, samples)
    tflite_path.parent.mkdir(parents=True, exist_ok=True)
    tflite_path.write_bytes(data)
    info_path = keras_path.with_suffix(".train.json")
    info = json.loads(info_path.read_text()) if info_path.is_file() else None
    return write_metadata(tflite_path, data, info, threshold)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0].startswith("--model="):  # the = form, as argparse takes it elsewhere
        argv[:1] = argv[0].split("=", 1)
    if argv[:2] == ["--model", "recognizer"]:  # the CTC line recognizer: convert.export_lines
        from convert import export_lines
        return export_lines.export_main(argv[2:])
    if argv[:2] == ["--model", "detector"]:
        from convert import detector
        return detector.export_main(argv[2:])
    p = argparse.ArgumentParser(prog="python -m convert.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--keras", type=Path, default=DEFAULT_KERAS)
    p.add_argument("--out", type=Path, default=DEFAULT_TFLITE)
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help=f"minimum digit confidence the app uses (default {DEFAULT_THRESHOLD})")
    a = p.parse_args(argv)
    if not 0 <= a.threshold <= 1:
        p.error("--threshold must be in [0, 1]")
    if not a.keras.is_file():
        print(f"convert.export: error: {a.keras} not found; train first with 'python -m convert.train'",
              file=sys.stderr)
        return 2
    if problem := export_problem(a.keras, a.out):
        p.error(problem)
    try:
        meta = export(a.keras, a.out, threshold=a.threshold)
    except DataError as e:
        print(f"convert.export: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.out} ({meta['size_bytes'] / 1024:.0f} KB) and {a.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
