"""Train the digit classifier (10 digits + "not a digit") on the camera-style mix.

    python -m convert.train                  # the shipped model's whole schedule, 43 min on this 2-core VM
    python -m convert.train --model detector|recognizer [...]   # the line reader's models (their own options)
    python -m convert.train --model all      # the detector, the recognizer, then the digit classifier
    python -m convert.train --scale 0.05 --epochs 2 --out runs/tiny.keras   # smoke run: one stage
    python -m convert.train --init models/digits.keras --epochs 3 --lr 2e-4   # fine-tune
    python -m convert.train --teachers runs/a.keras runs/b.keras ...           # distil (convert.distill)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from convert import distill
from convert.datasets import CLASS_NAMES, PROJECT_ROOT, DataError, MixSizes, assemble_mix, mix_parts
from convert.export import peek_keras
from convert.outputs import out_problem

DEFAULT_OUT = PROJECT_ROOT / "models" / "digits.keras"


@dataclass(frozen=True)
class Stage:
    """Part of a training schedule: `epochs` of cosine decay from `lr`, on the mix with MNIST
    as is `mnist_copies` times and `orand_copies` cuts of each real handwritten crop."""
    epochs: int
    lr: float = 2e-3
    mnist_copies: int = 2
    orand_copies: int = 8


# The shipped model's recipe: trained from scratch, then warm restarts at lower rates, the
# last two with MNIST, then the real handwritten crops, weighted up. The mix is built once.
# 42.8 min on this 2-core VM with the fused batch normalization (epochs 62-102 s; 57-59 min
# before it). 15 + 6 + the last 3 epochs took 36 min but read orand strings worse (README "Tried").
SCHEDULE = (Stage(18, 2e-3), Stage(8, 4e-4), Stage(3, 2e-4, mnist_copies=4),
            Stage(3, 2e-4, mnist_copies=3, orand_copies=16))
# With --teachers: one stage from scratch on the last stage's mix.
DISTILLED = (Stage(28, 2e-3, mnist_copies=3, orand_copies=16),)


def build_model(width: int = 16, dense: int = 128, fused_norm: bool = False):
    """Four conv layers (16, 32 at full and half size; 64, 64 unpadded at quarter size) and a
    small head: 136k weights, 18-20 us per digit as int8 on one x86 core (convert.evaluate). Input is the raw
    uint8 pixel range 0..255 so the int8 model takes camera bytes with no scaling.

    `fused_norm`: the same model with TensorFlow's fused batch normalization, for training
    (convert.fused_norm); its weights load into the plain model unchanged."""
    import keras
    from keras import layers

    if fused_norm:
        from convert.fused_norm import FusedBatchNorm as norm
    else:
        norm = layers.BatchNormalization

    def conv(x, filters, padding="same"):
        x = layers.Conv2D(filters, 3, padding=padding, use_bias=False)(x)
        x = norm()(x)
        return layers.ReLU()(x)

    inputs = keras.Input((28, 28, 1), name="pixels")
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = layers.MaxPooling2D()(conv(x, width))  # 14x14
    x = layers.MaxPooling2D()(conv(x, width * 2))  # 7x7
    x = conv(x, width * 4, "valid")  # 5x5
    x = conv(x, width * 4, "valid")  # 3x3
    x = layers.Flatten()(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(dense, activation="relu")(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(len(CLASS_NAMES), activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="digits")


AUGMENTATIONS = {  # per-batch pose jitter on top of the mix's own augmentation
    "shift": dict(degrees=0.0, zoom=0.0, shear=0.0, shift=1.7),  # +-6%: the segmenter's boxes are never exact
    "affine": dict(degrees=10.0, zoom=0.1, shear=0.15, shift=1.7),  # see README "Tried"
}
# "handwritten": affine for the sources with no pose augmentation of their own (MNIST as is,
# the real handwritten crops), shift for the rest: rotating the rendered seven-segment digits
# and clutter again made them worse (README "Tried").
POSE_SOURCES = ("mnist", "orand")
AUGMENT_CHOICES = ("shift", "affine", "handwritten")


def pose_weights(counts: dict) -> np.ndarray:
    """Per sample of a training mix (counts by source, in the mix's order): 1 where the
    "handwritten" augment rotates, zooms and shears, else 0."""
    return np.repeat([float(k in POSE_SOURCES) for k in counts], list(counts.values())).astype(np.float32)


def random_affine(images, generator, degrees: float = 10.0, zoom: float = 0.1, shear: float = 0.15,
                  shift: float = 1.7, pose=None):
    """A fresh small rotation, zoom, shear and shift (pixels) for every image of a batch,
    in one resampling. `pose` (per image, 0..1) scales the rotation, zoom and shear."""
    import tensorflow as tf

    n = tf.shape(images)[0]
    u = lambda lim: generator.uniform([n], -lim, lim)  # noqa: E731
    amount = tf.ones([n]) if pose is None else tf.cast(pose, tf.float32)
    angle = u(degrees * np.pi / 180) * amount
    scale = 1.0 + u(zoom) * amount
    k = u(shear) * amount
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    # output pixel (x, y) samples input  A @ ((x, y) - c) + c + t
    a0, a1, b0, b1 = cos, cos * k - sin, sin, sin * k + cos
    c = (images.shape[1] - 1) / 2.0
    a2 = c - a0 * c - a1 * c + u(shift)
    b2 = c - b0 * c - b1 * c + u(shift)
    zeros = tf.zeros([n])
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")


def train(x, y, epochs: int, batch: int = 128, seed: int = 0, val_fraction: float = 0.03,
          verbose: int | None = None, width: int = 16, lr: float = 2e-3, init=None, augment: str = "shift",
          pose=None, soft=None, temperature: float = distill.TEMPERATURE,
          soft_weight: float = distill.SOFT_WEIGHT):
    """Fit the model (from `init`'s weights, a path or a model, to fine-tune); returns
    (model, history dict). It trains with the fused batch normalization and returns the
    plain Keras model.

    augment "handwritten" needs `pose`: per sample, 1 where the rotation, zoom and shear
    apply and 0 where only the shift does. `soft`: the teachers' probabilities at
    `temperature` per sample (convert.distill); the loss then weighs them by `soft_weight`
    against the labels."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_val = max(1, int(len(x) * val_fraction))
    val, tr = order[:n_val], order[n_val:]
    model = build_model(width, fused_norm=True)
    if init is not None:  # a saved model's path, or a model (the previous stage of a schedule)
        source = init if isinstance(init, keras.Model) else keras.models.load_model(init, compile=False)
        model.set_weights(source.get_weights())
    steps = max(1, int(np.ceil(len(tr) / batch))) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(lr, steps, alpha=0.02, warmup_target=None)
    if soft is None:
        targets, loss, metric = y, "sparse_categorical_crossentropy", "accuracy"
    else:
        classes = len(CLASS_NAMES)
        targets = distill.distillation_targets(soft, y, classes)
        loss = distill.distillation_loss(temperature, soft_weight, classes)
        metric = distill.label_accuracy(classes)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=[metric])
    generator = tf.random.Generator.from_seed(seed)

    if augment == "handwritten":
        if pose is None or len(pose) != len(x):
            raise ValueError("augment='handwritten' needs a pose weight per sample")
        jitter, weights = AUGMENTATIONS["affine"], np.asarray(pose, np.float32)
    else:
        jitter, weights = AUGMENTATIONS[augment], np.ones(len(x), np.float32)

    def batches():
        ds = tf.data.Dataset.from_tensor_slices((x[tr][..., None], targets[tr], weights[tr]))
        ds = ds.shuffle(min(len(tr), 200_000), seed=seed, reshuffle_each_iteration=True).batch(batch)
        return ds.map(lambda a, b, w: (random_affine(tf.cast(a, tf.float32), generator, pose=w, **jitter), b),
                      num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    if verbose is None:  # a progress bar on a terminal, a line per epoch in a log
        verbose = 1 if sys.stdout.isatty() else 2
    history = model.fit(batches(), epochs=epochs, verbose=verbose,
                        validation_data=(x[val][..., None].astype(np.float32), targets[val]))
    return plain_copy(model, width), {k: [float(v) for v in vs] for k, vs in history.history.items()}


def plain_copy(model, width: int = 16):
    """A fresh plain model (Keras's batch normalization, no optimizer state) with `model`'s weights."""
    plain = build_model(width)
    plain.set_weights(model.get_weights())
    return plain


def save_model(model, path: Path, width: int = 16):
    """Save weights and architecture without the optimizer state (smaller, loads anywhere)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    plain_copy(model, width).save(path)


def plot_curves(history: dict, path: Path, stage_epochs=()):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("loss", "val_loss"):
        a.plot(history.get(key, []), label=key)
    for key in ("accuracy", "val_accuracy"):
        b.plot(history.get(key, []), label=key)
    for end in np.cumsum(stage_epochs)[:-1]:  # a warm restart begins after each boundary
        a.axvline(end - 0.5, color="grey", lw=0.5), b.axvline(end - 0.5, color="grey", lw=0.5)
    a.set_xlabel("epoch"), b.set_xlabel("epoch"), a.legend(), b.legend()
    a.set_title("loss"), b.set_title("accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def training_info(keras_path: Path):
    """What convert.train wrote beside a model (its .train.json), else the model's file name."""
    saved = keras_path.with_suffix(".train.json")
    return json.loads(saved.read_text()) if saved.is_file() else str(keras_path)


def start_from(model, keras_path: Path):
    """Copy a saved model's weights into `model` (the same network) to fine-tune it; returns
    the saved model's training record (training_info)."""
    import keras

    model.set_weights(keras.models.load_model(keras_path, compile=False).get_weights())
    return training_info(keras_path)


def load_teacher(path: Path):
    """(model, its training record); ValueError with the reason for anything else."""
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # a zip that is no model, a model of another Keras
        raise ValueError(f"{path} is not a readable Keras model ({type(e).__name__})") from e
    if tuple(model.input_shape[1:]) != (28, 28, 1) or model.output_shape[-1] != len(CLASS_NAMES):
        raise ValueError(f"{path} maps {model.input_shape[1:]} to {model.output_shape[-1]} classes, "
                         f"not (28, 28, 1) to {len(CLASS_NAMES)}")
    try:
        return model, training_info(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path.with_suffix('.train.json')} is unreadable ({type(e).__name__})") from e


def train_all(rest: list[str]) -> int:
    """Each model's default recipe, each in its own process (TensorFlow's state stays apart):
    the detector, the recognizer (its plate copies cut by the exported detector, as shipped),
    then the digit classifier. The Keras models go to models/; export them after."""
    import subprocess
    if rest:
        print("convert.train: error: --model all takes no other options (train one model to set them)",
              file=sys.stderr)
        return 2
    for name in ("detector", "recognizer", "digits"):
        print(f"== python -m convert.train --model {name}", flush=True)
        code = subprocess.run([sys.executable, "-m", "convert.train", "--model", name], cwd=PROJECT_ROOT).returncode
        if code:
            return code
    return 0


def seed(text: str) -> int:
    """--seed: numpy's generators take no negative seed."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def partial_path(out: Path) -> Path:
    """Where a training's per-epoch checkpoint goes: --out holds only a finished model."""
    return out.with_name(out.stem + ".partial.keras")


def main(argv=None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback; --out was not written
        print("convert.train: interrupted; --out is as it was (a detector's or recognizer's finished "
              "epochs are in its .partial.keras)", file=sys.stderr)
        return 130


def _main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0].startswith("--model="):
        argv = ["--model", argv[0].split("=", 1)[1], *argv[1:]]
    if argv[:2] == ["--model", "recognizer"]:  # the CTC line recognizer has its own options
        from convert import recognizer
        return recognizer.main(argv[2:])
    if argv[:2] == ["--model", "detector"]:  # so has the text-line detector
        from convert import detector
        return detector.main(argv[2:])
    if argv[:2] == ["--model", "all"]:
        return train_all(argv[2:])
    if argv[:2] == ["--model", "digits"]:
        argv = argv[2:]
    p = argparse.ArgumentParser(prog="python -m convert.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int,
                   help="train one stage of this many epochs instead of the schedule: " +
                        ", then ".join(f"{t.epochs} epochs at {t.lr:g} (MNIST x{t.mnist_copies}, {t.orand_copies} cuts)"
                                       for t in SCHEDULE))
    p.add_argument("--lr", type=float, help=f"one stage: peak learning rate (cosine decay; default {Stage(1).lr:g})")
    p.add_argument("--mnist-copies", type=int,
                   help=f"one stage: how many times MNIST train (as is) enters the mix (default {Stage(1).mnist_copies})")
    p.add_argument("--orand-copies", type=int,
                   help=f"one stage: jittered cuts of each real handwritten training crop (default {Stage(1).orand_copies})")
    p.add_argument("--init", type=Path, help="start from this Keras model's weights (fine-tuning)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the full training mix")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--mnist", help="path to mnist.npz (default: ../shared/data, then ~/.keras/datasets)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the Keras model to write")
    p.add_argument("--teachers", type=Path, nargs="+", metavar="KERAS",
                   help="distil (convert.distill): learn the geometric mean of these models' probabilities "
                        f"as well as the labels; the default schedule is then {DISTILLED[0].epochs} epochs "
                        f"at {DISTILLED[0].lr:g} from scratch")
    p.add_argument("--temperature", type=float, help=f"distillation temperature (default {distill.TEMPERATURE:g})")
    p.add_argument("--soft-weight", type=float,
                   help=f"weight of the teachers against the labels, 0..1 (default {distill.SOFT_WEIGHT:g})")
    p.add_argument("--augment", choices=AUGMENT_CHOICES, default="shift",
                   help="per-batch jitter: a shift (the shipped model); rotation, zoom and shear too, for all "
                        "(affine) or for MNIST as is and the real handwritten crops only (handwritten)")
    p.add_argument("--model", choices=["digits", "detector", "recognizer", "all"],
                   help="which model (default digits); the others take their own options: give --model first")
    a = p.parse_args(argv)
    if a.model not in (None, "digits"):
        p.error(f"--model {a.model} comes first: python -m convert.train --model {a.model}"
                + ("" if a.model == "all" else " [its options]"))
    if (a.epochs is not None and a.epochs < 1) or not 0 < a.scale <= 10:
        p.error("--epochs must be >= 1 and --scale in (0, 10]")
    one_stage = {"lr": a.lr, "mnist_copies": a.mnist_copies, "orand_copies": a.orand_copies}
    if a.epochs is None and any(v is not None for v in one_stage.values()):
        p.error("--lr, --mnist-copies and --orand-copies shape one stage: give --epochs too")
    if any(v is not None and v < 1 for v in (a.mnist_copies, a.orand_copies)) or a.batch < 1:
        p.error("--mnist-copies, --orand-copies and --batch must be >= 1")
    if problem := out_problem(a.out):  # else found only when the model is saved, after the training
        p.error(problem)
    if not a.teachers and (a.temperature is not None or a.soft_weight is not None):
        p.error("--temperature and --soft-weight shape distillation: give --teachers too")
    a.temperature = distill.TEMPERATURE if a.temperature is None else a.temperature
    a.soft_weight = distill.SOFT_WEIGHT if a.soft_weight is None else a.soft_weight
    if a.temperature <= 0 or not 0 <= a.soft_weight <= 1:
        p.error("--temperature must be > 0 and --soft-weight in [0, 1]")
    for path in [a.init, *(a.teachers or [])]:
        if path is not None and not path.is_file():
            print(f"convert.train: error: {path} not found", file=sys.stderr)
            return 2
    try:
        for path in [a.init, *(a.teachers or [])]:
            if path is not None:
                peek_keras(path)  # a broken file is said now, not after the training mix is built
    except DataError as e:
        print(f"convert.train: error: {e}", file=sys.stderr)
        return 2
    try:
        teachers, teacher_infos = zip(*[load_teacher(path) for path in a.teachers]) if a.teachers else ((), ())
        start = load_teacher(a.init)[0] if a.init is not None else None  # a digit classifier, not another model
    except ValueError as e:
        print(f"convert.train: error: {e}", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in one_stage.items() if v is not None}
    if teachers:  # one stage of the distillation recipe, changed where asked
        stages = DISTILLED if a.epochs is None else (replace(DISTILLED[0], epochs=a.epochs, **overrides),)
    else:
        stages = SCHEDULE if a.epochs is None else (Stage(a.epochs, **overrides),)

    def cuts(stage: Stage) -> int:  # --scale shrinks the real crops' cuts too
        return max(1, round(stage.orand_copies * a.scale))

    started = time.time()
    try:
        from convert.datasets import load_mnist
        mnist = load_mnist(a.mnist)
        sizes = MixSizes() if a.scale == 1.0 else MixSizes().scaled(a.scale)
        sizes.orand_copies = max(cuts(t) for t in stages)
        print("building the training mix ...", flush=True)
        parts = mix_parts(sizes, a.seed, mnist, log=lambda m: print("  " + m, flush=True))
    except DataError as e:
        print(f"convert.train: error: {e}", file=sys.stderr)
        return 2
    print(f"built in {time.time() - started:.0f} s", flush=True)
    model, history, mixes = start, {}, []
    for i, stage in enumerate(stages):
        x, y, counts = assemble_mix(parts, stage.mnist_copies, cuts(stage))
        mixes.append(counts)
        print(f"stage {i + 1}/{len(stages)}: {stage.epochs} epochs from lr {stage.lr:g} on {len(x)} samples",
              flush=True)
        soft = None
        if teachers:
            log_probs = distill.ensemble_log_probs(teachers, x, log=lambda m: print("  " + m, flush=True))
            soft = distill.soften(log_probs, a.temperature)
        model, stage_history = train(x, y, stage.epochs, a.batch, a.seed, lr=stage.lr, init=model,
                                     augment=a.augment, pose=pose_weights(counts), soft=soft,
                                     temperature=a.temperature, soft_weight=a.soft_weight)
        for key, values in stage_history.items():
            history.setdefault(key, []).extend(values)
    save_model(model, a.out)
    rng = np.random.default_rng(a.seed)
    representative = x[rng.choice(len(x), min(2000, len(x)), replace=False)]
    np.save(a.out.with_suffix(".representative.npy"), representative)
    minutes = (time.time() - started) / 60
    info = {"mix": counts, "stages": [{**asdict(t), "mix": m} for t, m in zip(stages, mixes)],
            "augment": a.augment, "batch": a.batch, "seed": a.seed, "scale": a.scale,
            "train_minutes": round(minutes, 1), "history": history}
    if a.init is not None:
        info["fine_tuned_from"] = training_info(a.init)
    if a.teachers:
        info["distilled_from"] = {"temperature": a.temperature, "soft_weight": a.soft_weight,
                                  "teachers": list(teacher_infos)}
    a.out.with_suffix(".train.json").write_text(json.dumps(info, indent=1))
    plot_curves(history, a.out.with_suffix(".curves.png"), [t.epochs for t in stages])
    print(f"saved {a.out} (+ .train.json, .curves.png) after {minutes:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
