"""Export and evaluate the CTC line recognizer.

    python -m convert.export --model recognizer      # models/lines.keras -> lines.tflite + .json
    python -m convert.evaluate --model recognizer    # held-out scores -> models/lines.eval.json

The figures are the held-out splits of convert.line_data (never trained on, never tuned on),
read by the int8 model the app ships, and by the float model for comparison.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np

from convert.datasets import PROJECT_ROOT, DataError
from edge.lines import CHARSET, HEIGHT, STEP, WIDTHS

DEFAULT_KERAS = PROJECT_ROOT / "models" / "lines.keras"
DEFAULT_TFLITE = PROJECT_ROOT / "models" / "lines.tflite"


REAL_SHARE = 0.3  # of the calibration lines built again: about the real lines' share of the training mix


def representative_lines(keras_path: Path, n: int = 500, log=print) -> list[np.ndarray]:
    """The training lines convert.train saved beside the model; else n built again, seed 0:
    synthetic lines and real training-split ones (a fresh clone has the model, not its lines)."""
    saved = keras_path.with_suffix(".representative.npz")
    if saved.is_file():
        with np.load(saved) as d:
            return [d[k] for k in sorted(d.files, key=lambda k: int(k.split("_")[1]))][:n]
    from convert.line_data import training_lines
    from convert.recognizer import _synthetic_chunk

    log(f"{saved.name} not found: calibrating on {n} training lines built again")
    rng = np.random.default_rng(0)
    real, _, _ = training_lines(rng, orand_copies=1, plate_copies=1, meter_copies=1, meter_strips=100)
    real = [real[i] for i in rng.choice(len(real), min(len(real), round(n * REAL_SHARE)), replace=False)]
    return _synthetic_chunk((n - len(real), 0, None))[0] + real


def export(keras_path: Path = DEFAULT_KERAS, tflite_path: Path = DEFAULT_TFLITE) -> dict:
    from convert.export import _without_history, read_keras, tensor_metadata
    from convert.recognizer import to_int8_tflite

    model = read_keras(keras_path, (HEIGHT, None, 1), "line recognizer")
    data = to_int8_tflite(model, representative_lines(keras_path))
    tflite_path.parent.mkdir(parents=True, exist_ok=True)
    tflite_path.write_bytes(data)
    inp, out = tensor_metadata(data)
    info_path = keras_path.with_suffix(".train.json")
    meta = {
        "format": "edge-digits-lines/1",
        "model": tflite_path.name,
        "charset": CHARSET,
        "blank": len(CHARSET),
        "height": HEIGHT,
        "step": STEP,
        "widths": list(WIDTHS),
        "input": {"scale": inp["scale"], "zero_point": inp["zero_point"], "dtype": inp["dtype"],
                  "convention": f"{HEIGHT} x W uint8 line, either polarity, contrast-stretched: "
                                "edge.lines.normalize_line, padded by its last column"},
        "output": {"scale": out["scale"], "zero_point": out["zero_point"], "dtype": out["dtype"],
                   "meaning": f"per {STEP}-px step probabilities of the charset's classes, CTC blank last"},
        "size_bytes": len(data),
        "created": datetime.date.today().isoformat(),
    }
    if info_path.is_file():
        meta["training"] = _without_history(json.loads(info_path.read_text()))
    tflite_path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def ms_per_line(recognizer, repeats: int = 100) -> dict:
    """Median interpreter time for one 128-px line and a batch of four, one thread."""
    from edge.lines import line_batch

    out = {}
    for n in (1, 4):
        batch = line_batch([np.zeros((HEIGHT, 128), np.uint8)] * n, 128)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            recognizer.run_batch(batch)
            times.append(time.perf_counter() - t)
        out[f"batch_{n}_width_128"] = round(float(np.median(times)) * 1000 / n, 3)
    return out


def int8_predict(recognizer):
    """The shipped interpreter as convert.recognizer.line_scores wants it: (B, HEIGHT, W, 1)
    -> (B, 1, steps, classes), as the Keras model gives it."""
    def predict(batch):
        return np.concatenate([recognizer.run_batch(batch[i:i + 16]) for i in range(0, len(batch), 16)])[:, None]
    return predict


def evaluate(tflite_path: Path = DEFAULT_TFLITE, keras_path: Path = DEFAULT_KERAS, splits=("heldout", "tune")) -> dict:
    from convert.recognizer import line_scores
    from edge.infer.recognizer import LineRecognizer

    from convert.export import peek_keras, read_keras

    recognizer = LineRecognizer(tflite_path)
    if keras_path.is_file():
        peek_keras(keras_path)  # a broken file is said at once, not after the int8 scores
    report = {"model": tflite_path.name, "runtime": recognizer.runtime, "size_bytes": tflite_path.stat().st_size,
              "ms_per_line_1_thread": ms_per_line(recognizer), "int8": {}, "float": {}}
    # timed before TensorFlow starts: its idle threads take CPU for a while
    model = read_keras(keras_path, (HEIGHT, None, 1), "line recognizer") if keras_path.is_file() else None

    int8 = int8_predict(recognizer)
    for split in splits:
        report["int8"][split] = line_scores(int8, split)
    if model is not None:
        for split in splits:
            report["float"][split] = line_scores(lambda b: model.predict(b, verbose=0), split)
    return report


def markdown(report: dict) -> str:
    rows = ["| split | set | measure | float | int8 |", "|---|---|---|---|---|"]
    for split, sets in report["int8"].items():
        for name, scores in sets.items():
            for key, value in scores.items():
                if isinstance(value, float):
                    f = report["float"].get(split, {}).get(name, {}).get(key)
                    rows.append(f"| {split} | {name} ({_count(scores)}) | {key} | "
                                f"{'-' if f is None else f'{f * 100:.1f}%'} | {value * 100:.1f}% |")
    t = report["ms_per_line_1_thread"]
    rows += ["", f"Model {report['model']}: {report['size_bytes'] / 1024:.0f} KB; {report['runtime']}, 1 thread: "
             f"{t['batch_1_width_128']} ms for one 128-px line, {t['batch_4_width_128']} ms a line in a batch of 4."]
    return "\n".join(rows) + "\n"


def _count(scores: dict) -> int:
    return next((v for v in scores.values() if isinstance(v, int)), 0)


def export_main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.export --model recognizer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--keras", type=Path, default=DEFAULT_KERAS)
    p.add_argument("--out", type=Path, default=DEFAULT_TFLITE)
    a = p.parse_args(argv)
    if not a.keras.is_file():
        print(f"convert.export: error: {a.keras} not found; train first with 'python -m convert.train "
              "--model recognizer'", file=sys.stderr)
        return 2
    from convert.outputs import export_problem
    if problem := export_problem(a.keras, a.out):
        p.error(problem)
    try:
        meta = export(a.keras, a.out)
    except DataError as e:
        print(f"convert.export: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.out} ({meta['size_bytes'] / 1024:.0f} KB) and {a.out.with_suffix('.json')}")
    return 0


def evaluate_main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.evaluate --model recognizer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tflite", type=Path, default=DEFAULT_TFLITE)
    p.add_argument("--keras", type=Path, help=f"the float model (default {DEFAULT_KERAS.name}, skipped when missing)")
    a = p.parse_args(argv)
    if a.keras is not None and not a.keras.is_file():  # asked for: not skipped quietly as the default is
        p.error(f"--keras {a.keras} not found")
    a.keras = a.keras or DEFAULT_KERAS
    if not a.tflite.is_file():  # said here: the runtime's own message names the app's --recognizer
        print(f"convert.evaluate: error: --tflite {a.tflite} not found; make it with 'python -m convert.export "
              "--model recognizer'", file=sys.stderr)
        return 2
    from edge.infer import ModelError
    try:
        report = evaluate(a.tflite, a.keras)
    except (DataError, ModelError) as e:
        print(f"convert.evaluate: error: {e}", file=sys.stderr)
        return 2
    stem = a.tflite.with_suffix("")
    Path(f"{stem}.eval.json").write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    Path(f"{stem}.eval.md").write_text(text)
    print(text)
    return 0
