"""Measure the float and the int8 model on MNIST train's tuning part (choices are made there)
and MNIST test, held-out real handwritten crops
(orand-car-a, split by image) and held-out clutter; write a JSON + markdown report, a
confusion-matrix PNG, and the accuracy figures into the model's metadata.

    python -m convert.evaluate
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from convert.datasets import (CLASS_NAMES, REJECT, DataError, heldout_clutter, load_mnist, mnist_part,
                              orand_heldout_crops)
from convert.export import DEFAULT_KERAS, DEFAULT_TFLITE, peek_keras, read_keras
from edge.infer.classifier import SHIFTS, average_views, shifted_views
from edge.normalize import normalize_crop


def int8_probabilities(classifier, x: np.ndarray) -> np.ndarray:
    """What classify reads: the crops and their shifts, averaged."""
    return classifier.averaged_probabilities(x.reshape(-1, 28, 28, 1))


def float_probabilities(model, x: np.ndarray) -> np.ndarray | None:
    """The Keras model's probabilities (None when there is no float model to compare)."""
    if model is None:
        return None
    views = shifted_views(x.reshape(-1, 28, 28, 1).astype(np.float32))
    return average_views(model.predict(views, batch_size=512, verbose=0), len(x))


def scores(probs: np.ndarray, y: np.ndarray, threshold: float) -> dict:
    """accuracy: best of the ten digits vs the label (the standard figure);
    rejected: share the app would drop (reject class wins, or confidence < threshold)."""
    digit = probs[:, :10].argmax(axis=1)
    top = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    rejected = (top == REJECT) | (conf < threshold)
    return {"n": int(len(y)), "accuracy": float((digit == y).mean()), "rejected": float(rejected.mean()),
            "accepted_accuracy": float((digit[~rejected] == y[~rejected]).mean()) if (~rejected).any() else 0.0}


def clutter_scores(probs: np.ndarray, threshold: float) -> dict:
    rejected = (probs.argmax(axis=1) == REJECT) | (probs.max(axis=1) < threshold)
    return {"n": int(len(probs)), "rejected": float(rejected.mean())}


def timing_us_per_digit(classifier, batch: int = 64, repeats: int = 200, blocks: int = 5) -> dict:
    """Microseconds per digit alone and in a batch: the median of `repeats` calls, in the
    least disturbed of `blocks` blocks (a shared VM has slow spells; edge.bench does the same)."""
    x = np.random.default_rng(0).integers(0, 255, (batch, 28, 28, 1), dtype=np.uint8)
    sizes = (1, batch)
    medians = {n: [] for n in sizes}
    for n in sizes:
        classifier.averaged_probabilities(x[:n])
    for _ in range(blocks):
        for n in sizes:  # in turn, so that a slow spell does not fall on one size only
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                classifier.averaged_probabilities(x[:n])
                times.append(time.perf_counter() - t)
            medians[n].append(float(np.median(times)))
    return {f"batch_{n}": round(min(medians[n]) / n * 1e6, 2) for n in sizes}


def confusion(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    m = np.zeros((10, len(CLASS_NAMES)), np.int64)
    np.add.at(m, (y, probs.argmax(axis=1)), 1)
    return m


def plot_confusions(matrices: dict, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(matrices), figsize=(6 * len(matrices), 5))
    for ax, (title, m) in zip(np.atleast_1d(axes), matrices.items()):
        shown = np.log1p(m)
        ax.imshow(shown, cmap="Blues")
        for (i, j), v in np.ndenumerate(m):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > shown.max() * 0.6 else "black")
        ax.set_xticks(range(m.shape[1]), [c if c != "not-a-digit" else "rej" for c in CLASS_NAMES])
        ax.set_yticks(range(10))
        ax.set_xlabel("predicted (int8)"), ax.set_ylabel("true")
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


CONFUSION_SETS = ("mnist_test", "orand_heldout")  # plotted; MNIST as distributed would repeat the first


def evaluate(tflite_path: Path = DEFAULT_TFLITE, keras_path: Path = DEFAULT_KERAS, mnist=None,
             limit: int | None = None) -> dict:
    from edge.infer import DigitClassifier

    classifier = DigitClassifier(tflite_path)
    if keras_path.is_file():
        peek_keras(keras_path)  # before the timing: a broken file is said at once
    threshold = classifier.threshold
    # timed first: once TensorFlow has run, its idle worker threads still take CPU for a while
    us_per_digit = timing_us_per_digit(classifier)
    float_model = None
    if keras_path.is_file():
        float_model = read_keras(keras_path, (28, 28, 1), "digit classifier")
    x_train, y_train, x_test, y_test = mnist if mnist is not None else load_mnist()
    x_tune, y_tune = (a[:limit] for a in mnist_part(x_train, y_train, "tune"))
    x_test, y_test = x_test[:limit], y_test[:limit]
    sets = {
        # MNIST train's tuning part (never trained on since 2026-12-03), as the app reads it: choices are made here
        "mnist_tune": (np.stack([normalize_crop(x, False) for x in x_tune]), y_tune.astype(np.int64)),
        # as the app sees a digit: through normalize_crop (the headline figure)
        "mnist_test": (np.stack([normalize_crop(x, False) for x in x_test]), y_test.astype(np.int64)),
        # the images as distributed, already in the model's input convention (the usual protocol)
        "mnist_test_as_distributed": (x_test, y_test.astype(np.int64)),
        "orand_heldout": orand_heldout_crops(),
    }
    clutter_x, _ = heldout_clutter(3000 if limit is None else min(limit, 3000))
    report = {"model": str(tflite_path.name), "runtime": classifier.runtime, "threshold": threshold,
              "size_bytes": tflite_path.stat().st_size, "int8": {}, "float": {}}
    matrices = {}
    for name, (x, y) in sets.items():
        p8 = int8_probabilities(classifier, x)
        report["int8"][name] = scores(p8, y, threshold)
        if name in CONFUSION_SETS:
            matrices[f"{name} ({len(y)})"] = confusion(p8, y)
        pf = float_probabilities(float_model, x)
        if pf is not None:
            report["float"][name] = scores(pf, y, threshold)
    report["int8"]["clutter_heldout"] = clutter_scores(int8_probabilities(classifier, clutter_x), threshold)
    pf = float_probabilities(float_model, clutter_x)
    if pf is not None:
        report["float"]["clutter_heldout"] = clutter_scores(pf, threshold)
    report["us_per_digit_1_thread"] = us_per_digit
    report["matrices"] = {k: v.tolist() for k, v in matrices.items()}
    return report


def markdown(report: dict) -> str:
    rows = ["| set | n | float accuracy | int8 accuracy | int8 rejected |", "|---|---|---|---|---|"]
    for name, s8 in report["int8"].items():
        sf = report["float"].get(name, {})
        if "accuracy" in s8:
            fa = f"{sf['accuracy'] * 100:.2f}%" if sf else "-"
            rows.append(f"| {name} | {s8['n']} | {fa} | {s8['accuracy'] * 100:.2f}% | {s8['rejected'] * 100:.2f}% |")
        else:
            fr = f" (float {sf['rejected'] * 100:.1f}%)" if sf else ""
            rows.append(f"| {name} (should be rejected) | {s8['n']} | - | - | {s8['rejected'] * 100:.2f}%{fr} |")
    t = report["us_per_digit_1_thread"]
    rows += ["", f"Model {report['model']}: {report['size_bytes'] / 1024:.0f} KB; reject threshold "
             f"{report['threshold']}; {report['runtime']}, 1 thread: {t['batch_64']} us/digit in a batch of 64, "
             f"{t['batch_1']} us for a single digit (each read with its {len(SHIFTS)} shifted views, as classify reads it)."]
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0].startswith("--model="):  # the = form, as argparse takes it elsewhere
        argv[:1] = argv[0].split("=", 1)
    if argv[:2] == ["--model", "recognizer"]:  # the CTC line recognizer: convert.export_lines
        from convert import export_lines
        return export_lines.evaluate_main(argv[2:])
    p = argparse.ArgumentParser(prog="python -m convert.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=DEFAULT_TFLITE)
    p.add_argument("--keras", type=Path, help=f"the float model beside it (default {DEFAULT_KERAS.name}, "
                   "skipped when missing)")
    p.add_argument("--mnist", help="path to mnist.npz (default: ../shared/data, then ~/.keras/datasets)")
    p.add_argument("--limit", type=int, help="only the first N images of each MNIST part and of the clutter "
                                             "(a quick check: printed only, no report files written)")
    p.add_argument("--no-metadata", action="store_true", help="do not write the figures into the model's .json")
    a = p.parse_args(argv)
    if a.limit is not None and a.limit < 1:
        p.error("--limit must be >= 1")
    if a.keras is not None and not a.keras.is_file():  # asked for: not skipped quietly as the default is
        p.error(f"--keras {a.keras} not found")
    from edge.infer import ModelError
    try:
        report = evaluate(a.model, a.keras or DEFAULT_KERAS, mnist=load_mnist(a.mnist), limit=a.limit)
    except (DataError, ModelError) as e:
        print(f"convert.evaluate: error: {e}", file=sys.stderr)
        return 2
    if a.limit is not None:  # a part of the sets: the report files (read by convert.report) keep the whole run's
        report.pop("matrices")
        print(markdown(report))
        return 0
    stem = a.model.with_suffix("")
    plot_confusions({k: np.array(v) for k, v in report.pop("matrices").items()}, Path(f"{stem}.confusion.png"))
    Path(f"{stem}.eval.json").write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    Path(f"{stem}.eval.md").write_text(text)
    if not a.no_metadata and a.limit is None:
        meta_path = a.model.with_suffix(".json")
        meta = json.loads(meta_path.read_text())
        meta["evaluation"] = {k: report[k] for k in ("int8", "float", "us_per_digit_1_thread")}
        meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
