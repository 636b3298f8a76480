"""Train the digit classifier (10 digits + "not a digit") on the camera-style mix.

    python -m convert.train                  # the first of the four steps in README, ~24 min on 2 cores
    python -m convert.train --scale 0.05 --epochs 2 --out runs/tiny.keras   # smoke run
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from convert.datasets import CLASS_NAMES, PROJECT_ROOT, DataError, MixSizes, training_mix

DEFAULT_OUT = PROJECT_ROOT / "models" / "digits.keras"


def build_model(width: int = 16, dense: int = 128):
    """Four conv layers (16, 32 at full and half size; 64, 64 unpadded at quarter size) and a
    small head: 136k weights, ~19 us per digit as int8 on one x86 core (convert.evaluate). Input is the raw
    uint8 pixel range 0..255 so the int8 model takes camera bytes with no scaling."""
    import keras
    from keras import layers

    def conv(x, filters, padding="same"):
        x = layers.Conv2D(filters, 3, padding=padding, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
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


def random_affine(images, generator, degrees: float = 10.0, zoom: float = 0.1, shear: float = 0.15,
                  shift: float = 1.7):
    """A fresh small rotation, zoom, shear and shift (pixels) for every image of a batch,
    in one resampling."""
    import tensorflow as tf

    n = tf.shape(images)[0]
    u = lambda lim: generator.uniform([n], -lim, lim)  # noqa: E731
    angle = u(degrees * np.pi / 180)
    scale = 1.0 + u(zoom)
    k = u(shear)
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
          verbose: int | None = None, width: int = 16, lr: float = 2e-3, init=None, augment: str = "shift"):
    """Fit the model (from `init`'s weights to fine-tune); returns (model, history dict)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_val = max(1, int(len(x) * val_fraction))
    val, tr = order[:n_val], order[n_val:]
    model = build_model(width)
    if init is not None:
        model.set_weights(keras.models.load_model(init, compile=False).get_weights())
    steps = max(1, int(np.ceil(len(tr) / batch))) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(lr, steps, alpha=0.02, warmup_target=None)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    generator = tf.random.Generator.from_seed(seed)

    def batches():
        ds = tf.data.Dataset.from_tensor_slices((x[tr][..., None], y[tr]))
        ds = ds.shuffle(min(len(tr), 200_000), seed=seed, reshuffle_each_iteration=True).batch(batch)
        jitter = AUGMENTATIONS[augment]
        return ds.map(lambda a, b: (random_affine(tf.cast(a, tf.float32), generator, **jitter), b),
                      num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    if verbose is None:  # a progress bar on a terminal, a line per epoch in a log
        verbose = 1 if sys.stdout.isatty() else 2
    history = model.fit(batches(), epochs=epochs, verbose=verbose,
                        validation_data=(x[val][..., None].astype(np.float32), y[val]))
    return model, {k: [float(v) for v in vs] for k, vs in history.history.items()}


def save_model(model, path: Path, width: int = 16):
    """Save weights and architecture without the optimizer state (smaller, loads anywhere)."""
    clean = build_model(width)
    clean.set_weights(model.get_weights())
    path.parent.mkdir(parents=True, exist_ok=True)
    clean.save(path)


def plot_curves(history: dict, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("loss", "val_loss"):
        a.plot(history.get(key, []), label=key)
    for key in ("accuracy", "val_accuracy"):
        b.plot(history.get(key, []), label=key)
    a.set_xlabel("epoch"), b.set_xlabel("epoch"), a.legend(), b.legend()
    a.set_title("loss"), b.set_title("accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=18)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the full training mix")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mnist", help="path to mnist.npz (default: ../shared/data, then ~/.keras/datasets)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the Keras model to write")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (cosine decay)")
    p.add_argument("--init", type=Path, help="start from this Keras model's weights (fine-tuning)")
    p.add_argument("--mnist-copies", type=int, default=MixSizes().mnist_raw_copies,
                   help="how many times MNIST train (as is) enters the mix")
    p.add_argument("--orand-copies", type=int,
                   help=f"jittered cuts of each real handwritten training crop (default {MixSizes().orand_copies})")
    p.add_argument("--augment", choices=sorted(AUGMENTATIONS), default="shift",
                   help="per-batch jitter: shift (the shipped model) or affine (rotation, zoom, shear too)")
    a = p.parse_args(argv)
    if a.epochs < 1 or not 0 < a.scale <= 10:
        p.error("--epochs must be >= 1 and --scale in (0, 10]")
    if a.mnist_copies < 1 or (a.orand_copies is not None and a.orand_copies < 1):
        p.error("--mnist-copies and --orand-copies must be >= 1")
    started = time.time()
    try:
        from convert.datasets import load_mnist
        mnist = load_mnist(a.mnist)
        sizes = MixSizes() if a.scale == 1.0 else MixSizes().scaled(a.scale)
        sizes.mnist_raw_copies = a.mnist_copies
        if a.orand_copies is not None:
            sizes.orand_copies = max(1, round(a.orand_copies * a.scale))
        print("building the training mix ...", flush=True)
        x, y, counts = training_mix(sizes, a.seed, mnist, log=lambda m: print("  " + m, flush=True))
    except DataError as e:
        print(f"convert.train: error: {e}", file=sys.stderr)
        return 2
    print(f"{len(x)} samples in {time.time() - started:.0f} s; training ...", flush=True)
    if a.init is not None and not a.init.is_file():
        print(f"convert.train: error: {a.init} not found", file=sys.stderr)
        return 2
    model, history = train(x, y, a.epochs, a.batch, a.seed, lr=a.lr, init=a.init, augment=a.augment)
    save_model(model, a.out)
    rng = np.random.default_rng(a.seed)
    representative = x[rng.choice(len(x), min(2000, len(x)), replace=False)]
    np.save(a.out.with_suffix(".representative.npy"), representative)
    minutes = (time.time() - started) / 60
    info = {"mix": counts, "mnist_copies": a.mnist_copies, "augment": a.augment, "epochs": a.epochs, "batch": a.batch, "seed": a.seed, "scale": a.scale,
            "lr": a.lr, "train_minutes": round(minutes, 1), "history": history}
    if a.init is not None:
        previous = a.init.with_suffix(".train.json")
        info["fine_tuned_from"] = json.loads(previous.read_text()) if previous.is_file() else str(a.init)
    a.out.with_suffix(".train.json").write_text(json.dumps(info, indent=1))
    plot_curves(history, a.out.with_suffix(".curves.png"))
    print(f"saved {a.out} (+ .train.json, .curves.png) after {minutes:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
