"""The CTC line recognizer: model, training loop and int8 export.

    python -m convert.train --model recognizer     # the usual entry point

Input: (HEIGHT, W) uint8 lines from edge.lines.normalize_line, W any multiple of 4; output
(1, W/4, classes) probabilities per time step, CTC's blank last. Fully convolutional, so one
int8 model serves every width bucket (the runtime resizes its input).
"""
from __future__ import annotations

import numpy as np

from edge.lines import BLANK, CHARSET, HEIGHT, STEP, WIDTHS

CLASSES = len(CHARSET) + 1
SIZES = {  # build_model arguments; the "tiny" ones are for tests
    "narrow": {"widths": (16, 32, 128, 192), "head": 256},  # the first shipped one's, widened since
    "wide": {"widths": (32, 64, 160, 256), "head": 256},  # the shipped one's
    "wide-strided": {"widths": (32, 64, 160, 256), "head": 256, "stem_stride": 2},  # stem at 1/3 the cost; not shipped
    "tiny": {"widths": (8, 8, 16, 16), "head": 16},
    "tiny-wide": {"widths": (12, 16, 24, 24), "head": 24},
}


def build_model(widths=(16, 32, 64, 96), head: int = 128, input_width: int | None = None,
                fused_norm: bool = False, stem_stride: int = 1, blocked_stem: bool = False):
    """A 3x3 conv and depthwise-separable blocks pool the height to 1 and the width by 4;
    two 1-D (1x5) separable convs read the sequence; a 1x1 conv gives the classes.
    `stem_stride`: 1, the first conv then a 2x2 max pool; 2, the first conv strided instead.
    `input_width`: a fixed width, for the int8 converter (the weights are the same).
    `fused_norm`: TensorFlow's fused batch normalization, for training (convert.fused_norm).
    `blocked_stem`: the export's form of the first conv (convert.stem), the same sums."""
    import keras
    from keras import layers

    from convert.stem import pooled_stem, strided_stem

    if fused_norm:
        from convert.fused_norm import FusedBatchNorm as norm
    else:
        norm = layers.BatchNormalization

    def sep(x, filters, kernel=(3, 3)):
        x = layers.DepthwiseConv2D(kernel, padding="same", use_bias=False)(x)
        x = norm()(x)
        x = layers.ReLU()(x)
        x = layers.Conv2D(filters, 1, use_bias=False)(x)
        x = norm()(x)
        return layers.ReLU()(x)

    if stem_stride not in (1, 2):
        raise ValueError(f"stem_stride {stem_stride}: 1 or 2")
    c1, c2, c3, c4 = widths
    inputs = keras.Input((HEIGHT, input_width, 1), name="line")
    x = layers.Rescaling(1 / 255.0)(inputs)
    stem = strided_stem if stem_stride == 2 else pooled_stem
    x = stem(x, c1, norm, blocked_stem)  # 16 x W/2
    x = sep(x, c2)
    x = layers.MaxPooling2D(2)(x)  # 8 x W/4
    x = sep(x, c3)
    x = sep(x, c3)
    x = layers.MaxPooling2D((2, 1))(x)  # 4 x W/4
    x = sep(x, c4)
    x = sep(x, c4)
    x = layers.MaxPooling2D((4, 1))(x)  # 1 x W/4
    x = sep(x, head, (1, 5))
    x = layers.Dropout(0.1)(x)
    x = sep(x, head, (1, 5))
    outputs = layers.Conv2D(CLASSES, 1, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="recognizer")


def widen(model, source) -> None:
    """Copy `source`'s weights into `model`, the same network with as many channels or more,
    so that it computes the same function: new channels start fresh, and what they feed into
    the old channels starts at zero (Net2Net's idea; a wider net trained on from a narrow one)."""
    if len(model.layers) != len(source.layers):
        raise ValueError("the two networks differ in depth")
    for new, old in zip(model.layers, source.layers):
        fresh, weights = new.get_weights(), old.get_weights()
        if type(new) is not type(old) or len(fresh) != len(weights):
            raise ValueError(f"layer {new.name} differs from {old.name}")
        if any(w.ndim != f.ndim or any(a > b for a, b in zip(w.shape, f.shape)) for w, f in zip(weights, fresh)):
            raise ValueError(f"layer {old.name} is wider than {new.name}")
        if any(w.ndim == 4 and w.shape[:2] != f.shape[:2] for w, f in zip(weights, fresh)):
            raise ValueError(f"layer {old.name}'s kernel differs in size from {new.name}'s")
        merged = []
        for w, f in zip(weights, fresh):
            f = f.copy()
            if new.__class__.__name__ == "Conv2D" and w.ndim == 4:  # (kh, kw, inputs, outputs)
                f[:, :, w.shape[2]:, :w.shape[3]] = 0
            f[tuple(slice(0, n) for n in w.shape)] = w
            merged.append(f)
        new.set_weights(merged)


def steps(width: int) -> int:
    return width // STEP


def ctc_loss(labels, label_lengths, probs, logit_lengths):
    import tensorflow as tf

    log_probs = tf.math.log(tf.maximum(tf.squeeze(probs, 1), 1e-7))
    return tf.nn.ctc_loss(labels, log_probs, label_lengths, logit_lengths, logits_time_major=False,
                          blank_index=BLANK)


def divergence(teacher_probs, probs):
    """KL(teacher || model) of per-step probabilities (N, 1, T, classes), summed over a line's steps."""
    import tensorflow as tf

    p = tf.maximum(teacher_probs, 1e-7)
    return tf.reduce_sum(p * (tf.math.log(p) - tf.math.log(tf.maximum(probs, 1e-7))), axis=[1, 2, 3])


# -- data ---------------------------------------------------------------------------------
def _synthetic_chunk(args):
    n, seed, pool = args
    from convert.line_synth import synthetic_lines
    return synthetic_lines(n, seed, *pool) if pool else synthetic_lines(n, seed)


def handwritten_pool(mnist_images, mnist_labels, rng: np.random.Generator, orand_split: str = "train"):
    """Handwritten digits to compose lines from: MNIST train, and the real cheque digits of
    orand-car-a's training split (as white ink on black, like MNIST)."""
    from convert.datasets import load_orand, read_data_image
    from convert.line_data import split3
    import cv2

    images, labels = list(mnist_images), list(mnist_labels)
    for im in load_orand():
        if split3(im.file.name) != orand_split:
            continue
        gray = read_data_image(im.file, cv2.IMREAD_GRAYSCALE)
        for x, y, w, h, digit in im.boxes:
            crop = gray[max(0, y):y + h, max(0, x):x + w]
            if crop.size < 16:
                continue
            lo, hi = np.percentile(crop, (2, 98))
            ink = np.clip((hi - crop.astype(np.float32)) / max(hi - lo, 1) * 255, 0, 255).astype(np.uint8)
            images.append(ink)
            labels.append(digit)
    return images, np.array(labels)


def build_training_set(synthetic: int, seed: int = 0, real_copies: float = 1.0, log=print, workers: int = 2,
                       detector=None, orand_splices: int = 0, orand_warp: float = 0.0, orand_cut: float = 0.0):
    """(lines, texts, kinds): synthetic lines made in `workers` processes, and jittered copies
    of the real training lines (plates cut around `detector`'s line when given, else whole;
    `orand_splices` spliced amounts per orand line at real_copies 1; `orand_warp` the share of
    orand copies restroked; `orand_cut` the share cut as the app cuts them)."""
    import multiprocessing as mp

    from convert.datasets import load_mnist
    from convert.line_data import training_lines

    rng = np.random.default_rng(seed)
    x, y, _, _ = load_mnist()
    pool = handwritten_pool(x, y, rng)
    chunks = [(synthetic // 20 + (1 if i < synthetic % 20 else 0), seed * 1000 + i, pool) for i in range(20)]
    lines, texts, kinds = [], [], []
    if synthetic:
        with mp.get_context("fork").Pool(workers) as p:
            for i, (l, t, k) in enumerate(p.imap(_synthetic_chunk, chunks)):
                lines += l
                texts += t
                kinds += k
                log(f"  synthetic lines: {len(lines)}/{synthetic}")
    c = lambda k: max(1, round(k * real_copies))  # noqa: E731
    l, t, k = training_lines(rng, orand_copies=c(16), plate_copies=c(8), meter_copies=1,
                             meter_strips=int(4000 * real_copies), detector=detector,
                             orand_splices=c(orand_splices) if orand_splices else 0, orand_warp=orand_warp,
                             orand_cut=orand_cut)
    log(f"  real lines: {len(l)}")
    return lines + l, texts + t, kinds + k


def save_lines(path, lines, texts, kinds) -> None:
    """Lines of many widths in one .npz: concatenated columns and each line's width."""
    np.savez(path, pixels=np.concatenate(lines, axis=1), widths=np.array([l.shape[1] for l in lines]),
             texts=np.array(texts, dtype=object), kinds=np.array(kinds, dtype=object))


def load_lines(path):
    with np.load(path, allow_pickle=True) as d:
        pixels, widths = d["pixels"], d["widths"]
        ends = np.cumsum(widths)
        lines = [pixels[:, e - w:e] for e, w in zip(ends, widths)]
        return lines, list(d["texts"]), list(d["kinds"])


def batches(lines, texts, batch: int, rng: np.random.Generator, widths: tuple[int, ...] | None = None):
    """Shuffled batches of one width bucket each (`widths`, default edge.lines.WIDTHS): (images
    (B, H, W, 1) uint8, labels (B, L) int32 padded with -1, label lengths)."""
    from edge.lines import by_bucket, encode, line_batch

    order = []
    for width, idx in by_bucket(lines, widths).items():
        idx = np.array(idx)[rng.permutation(len(idx))]
        order += [(width, idx[s:s + batch]) for s in range(0, len(idx), batch)]
    for j in rng.permutation(len(order)):
        width, idx = order[j]
        codes = [encode(texts[i]) for i in idx]
        labels = np.full((len(idx), max(1, max(len(c) for c in codes))), -1, np.int32)
        for r, c in enumerate(codes):
            labels[r, :len(c)] = c
        yield line_batch([lines[i] for i in idx], width), labels, np.array([len(c) for c in codes], np.int32)


def fits(text: str, width: int, widths: tuple[int, ...] | None = None) -> bool:
    """CTC needs a time step per character and a blank between repeats."""
    from edge.lines import bucket, encode
    codes = encode(text)
    repeats = sum(1 for a, b in zip(codes, codes[1:]) if a == b)
    return len(codes) + repeats <= steps(bucket(width, widths))


# -- evaluation ---------------------------------------------------------------------------
def read_texts(predict, lines: list[np.ndarray], batch: int = 64) -> list[tuple[str, float]]:
    """Greedy readings of normalized lines by `predict` ((B, H, W, 1) uint8 -> (B, 1, T, C))."""
    from edge.ctc import greedy_decode
    from edge.lines import by_bucket, line_batch

    out = [("", 0.0)] * len(lines)
    for width, idx in by_bucket(lines).items():
        for s in range(0, len(idx), batch):
            part = idx[s:s + batch]
            probs = predict(line_batch([lines[i] for i in part], width))[:, 0]
            for i, p in zip(part, probs):
                chars = greedy_decode(p, BLANK, steps(lines[i].shape[1] + STEP - 1))
                text = "".join(CHARSET[c.index] for c in chars)
                out[i] = (text, min((c.confidence for c in chars), default=0.0))
    return out


def digits_of(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def line_scores(predict, split: str, sets=("orand", "plates", "meters")) -> dict:
    """The recognizer on one split of the real sets: orand exact digit strings and digit F1
    (an edit-distance match), plates exact and digits in order, meter digits read right."""
    from convert.devsets import lcs_matches
    from convert.line_data import meter_digits, mid_roll, neighbours, orand_lines, plate_lines
    from edge.lines import normalize_line

    report = {}
    orand = orand_lines(split) if "orand" in sets else []
    if orand:
        read = read_texts(predict, [normalize_line(l.gray) for l in orand])
        tp = fp = fn = exact = 0
        for line, (text, _) in zip(orand, read):
            got, want = digits_of(text), line.text
            exact += got == want
            m = lcs_matches(got, want)
            tp, fp, fn = tp + m, fp + len(got) - m, fn + len(want) - m
        report["orand"] = {"lines": len(orand), "exact": exact / len(orand),
                           "digit_f1": 2 * tp / max(1, 2 * tp + fp + fn)}
    plates = plate_lines(split) if "plates" in sets else []
    if plates:
        read = read_texts(predict, [normalize_line(l.gray) for l in plates])
        report["plates"] = {"plates": len(plates),
                            "exact": float(np.mean([t == l.text for l, (t, _) in zip(plates, read)])),
                            "digits_in_order": float(np.mean([digits_of(t) == digits_of(l.text)
                                                              for l, (t, _) in zip(plates, read)]))}
    meters = meter_digits(split) if "meters" in sets else []
    if meters:
        read = read_texts(predict, [normalize_line(l.gray) for l in meters])
        whole = [t == l.text for l, (t, _) in zip(meters, read) if not mid_roll(l)]
        rolling = [t in neighbours(l) for l, (t, _) in zip(meters, read) if mid_roll(l)]
        report["meters"] = {"digits": len(whole), "whole_digit_accuracy": float(np.mean(whole)),
                            "mid_roll": len(rolling), "mid_roll_neighbour": float(np.mean(rolling)),
                            "devices": len({l.key for l in meters})}
    return report


# -- training -----------------------------------------------------------------------------
def train(lines, texts, epochs: int, batch: int = 64, lr: float = 2e-3, seed: int = 0, model=None,
          log=print, evaluate=None, checkpoint=None, teacher=None, teacher_weight: float = 1.0,
          pad_widths: tuple[int, ...] | None = None):
    """CTC training with Adam and a cosine schedule, on a copy of `model` with the fused batch
    normalization. `evaluate(predict) -> dict` runs after each epoch (the tuning split), then
    `checkpoint(model)`. `teacher`: a recognizer whose per-step probabilities the model learns
    too (KL divergence summed over a line's steps, x `teacher_weight`), so that a cheaper
    network keeps what a trained one reads. `pad_widths`: the widths lines are padded to in
    training (default edge.lines.WIDTHS). Returns (model, history): the plain Keras model."""
    import tensorflow as tf
    import keras

    keep = [i for i, (l, t) in enumerate(zip(lines, texts)) if fits(t, l.shape[1], pad_widths)]
    if len(keep) < len(lines):
        log(f"  {len(lines) - len(keep)} lines too long for their width left out")
        lines, texts = [lines[i] for i in keep], [texts[i] for i in keep]
    keras.utils.set_random_seed(seed)
    model = model or build_model()
    trained = build_model(**model_config(model), fused_norm=True)
    trained.set_weights(model.get_weights())
    steps_per_epoch = sum(1 for _ in batches(lines, texts, batch, np.random.default_rng(0), pad_widths))
    schedule = keras.optimizers.schedules.CosineDecay(lr * 0.1, epochs * steps_per_epoch, alpha=0.02,
                                                      warmup_target=lr, warmup_steps=min(500, steps_per_epoch))
    optimizer = keras.optimizers.Adam(schedule)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 1], tf.uint8),
                                  tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None], tf.int32)])
    def step(images, labels, lengths):
        x = tf.cast(images, tf.float32)
        target = teacher(x, training=False) if teacher is not None else None
        with tf.GradientTape() as tape:
            probs = trained(x, training=True)
            t = tf.fill([tf.shape(images)[0]], tf.shape(probs)[2])
            loss = tf.reduce_mean(ctc_loss(labels, lengths, probs, t))
            if target is not None:
                loss += teacher_weight * tf.reduce_mean(divergence(target, probs))
        grads = tape.gradient(loss, trained.trainable_variables)
        grads, _ = tf.clip_by_global_norm(grads, 5.0)
        optimizer.apply_gradients(zip(grads, trained.trainable_variables))
        return loss

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 1], tf.uint8)])
    def infer(images):
        return model(tf.cast(images, tf.float32), training=False)

    rng = np.random.default_rng(seed)
    history: dict[str, list] = {"loss": []}
    import time
    for epoch in range(epochs):
        started, losses = time.time(), []
        for k, (images, labels, lengths) in enumerate(batches(lines, texts, batch, rng, pad_widths)):
            losses.append(float(step(images, labels, lengths)))
            if k % 200 == 0:
                log(f"  epoch {epoch + 1}/{epochs} batch {k}/{steps_per_epoch} loss {np.mean(losses[-200:]):.3f}")
        history["loss"].append(float(np.mean(losses)))
        model.set_weights(trained.get_weights())
        line = f"epoch {epoch + 1}/{epochs}: loss {history['loss'][-1]:.3f} ({time.time() - started:.0f} s)"
        if evaluate:
            scores = evaluate(lambda x: infer(x).numpy())
            for name, value in _flat(scores).items():
                history.setdefault(name, []).append(value)
            line += " " + " ".join(f"{k} {v:.3f}" for k, v in _flat(scores).items() if isinstance(v, float))
        log(line)
        if checkpoint:
            checkpoint(model)
    return model, history


def _flat(scores: dict) -> dict:
    return {f"{k}.{kk}": vv for k, v in scores.items() for kk, vv in v.items()}


def to_int8_tflite(model, samples: list[np.ndarray], width: int = 128) -> bytes:
    """Full-integer int8: uint8 lines in, uint8 probabilities out, calibrated on `samples`
    (normalized lines) at one width; the runtime resizes the input to each bucket."""
    from convert.export import full_int8
    from convert.stem import blocked_weights
    from edge.lines import line_batch

    config = model_config(model)
    fixed = build_model(**config, input_width=width, blocked_stem=True)
    fixed.set_weights(blocked_weights(model.get_weights(), strided=config["stem_stride"] == 2))
    return full_int8(fixed, [line_batch([line], width).astype(np.float32) for line in samples])


def model_config(model) -> dict:
    """The build_model arguments a built model was made with (read off its layers)."""
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    filters = [layer.filters for layer in convs]  # first conv, then the pointwise convs, then the classes
    return {"widths": (filters[0], filters[1], filters[2], filters[4]), "head": filters[6],
            "stem_stride": convs[0].strides[0]}


# -- command line -------------------------------------------------------------------------
DEFAULT_KERAS = "models/lines.keras"


def load_teacher(path):
    """A saved recognizer to learn from; ValueError with a one-line reason otherwise."""
    import keras

    try:
        teacher = keras.models.load_model(path, compile=False)
        model_config(teacher)
    except Exception as e:  # a missing file, a zip that is no model, a model of another kind
        raise ValueError(f"--teacher {path} is not a readable recognizer ({type(e).__name__})") from e
    teacher.trainable = False
    return teacher


def initial_model(size: str, init=None, seed: int = 0):
    """(model, {"fine_tuned_from" or "widened_from": the --init model's training record}):
    SIZES[size] built with seeded weights, then `init`'s weights copied in (a stem of the other
    stride keeps its kernel), or widened in from a narrower recognizer. ValueError with a
    one-line reason for a file that is no recognizer or does not fit."""
    from pathlib import Path

    import keras

    from convert.train import start_from, training_info

    keras.utils.set_random_seed(seed)
    model = build_model(**SIZES[size])
    if init is None:
        return model, {}
    try:
        source = keras.models.load_model(init, compile=False)
        config = model_config(source)
    except Exception as e:  # a missing file, a zip that is no model, a model of another kind
        raise ValueError(f"--init {init} is not a readable recognizer ({type(e).__name__})") from e
    try:
        mine = model_config(model)
        if (config["widths"], config["head"]) == (mine["widths"], mine["head"]):  # the stem's stride may differ
            return model, {"fine_tuned_from": start_from(model, Path(init))}
        widen(model, source)
    except ValueError as e:
        raise ValueError(f"--init {init} ({config['widths']}, head {config['head']}) does not fit --size {size}: "
                         f"{e}") from e
    return model, {"widened_from": training_info(Path(init))}


def _pad_widths(text: str) -> tuple[int, ...]:
    """--pad-widths: ascending multiples of STEP ending at the widest line (normalize_line's cap)."""
    import argparse
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths, got {text!r}") from None
    if any(w <= 0 or w % STEP for w in widths) or list(widths) != sorted(set(widths)) or widths[-1] != WIDTHS[-1]:
        raise argparse.ArgumentTypeError(f"widths must be ascending multiples of {STEP} ending at {WIDTHS[-1]}, "
                                         f"got {text!r}")
    return widths


def main(argv=None) -> int:
    """python -m convert.train --model recognizer [--epochs N] [--synthetic N] ..."""
    from convert.outputs import out_problem
    from convert.train import partial_path, seed
    import argparse
    import json
    import sys
    import time
    from pathlib import Path

    from convert.datasets import PROJECT_ROOT, DataError
    from convert.line_synth import font_counts, fonts_warning
    from edge.infer.runtime import ModelError

    p = argparse.ArgumentParser(prog="python -m convert.train --model recognizer",
                                description="Train the CTC line recognizer (edge.lines, edge.infer.recognizer).")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--synthetic", type=int, default=100_000, help="synthetic lines in the mix (default 100000)")
    p.add_argument("--real-copies", type=float, default=1.0,
                   help="scale of the jittered copies of the real training lines (default 1: orand x16, plates x8)")
    p.add_argument("--orand-splices", type=int, default=0,
                   help="new amounts spliced from each real orand line's digits, scaled as --real-copies "
                        "(convert.line_data.spliced_line; default 0)")
    p.add_argument("--orand-warp", type=float, default=0.0,
                   help="share of the real orand copies restroked first: bent and drawn thinner or thicker "
                        "(convert.line_data.restroke; default 0)")
    p.add_argument("--orand-cut", type=float, default=0.0,
                   help="share of the real orand copies cut around the exported detector's line, as the app "
                        "cuts them (convert.line_data.app_cut; default 0)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--size", choices=sorted(SIZES), default="wide",
                   help="the network's widths and stem (default: wide, as shipped)")
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / DEFAULT_KERAS)
    p.add_argument("--threads", type=int, default=0, help="TensorFlow threads (default: all cores)")
    p.add_argument("--init", type=Path, help="start from this Keras model's weights (fine-tuning); a "
                   "narrower one is widened to --size (convert.recognizer.widen)")
    p.add_argument("--teacher", type=Path, help="also learn this Keras recognizer's per-step probabilities "
                   "(distillation: a cheaper --size from the shipped model)")
    p.add_argument("--teacher-weight", type=float, default=1.0, help="the teacher term's weight (default 1)")
    p.add_argument("--cache", type=Path, help="keep the built training lines in this .npz and reuse them as they are")
    p.add_argument("--plate-cut", choices=["detector", "whole"], default="detector",
                   help="cut plate copies around the exported detector's line (default; models/detector.tflite "
                        "or $EDGE_DIGITS_DETECTOR), or use the whole crop, as the recognizer's runs up to seed 12 were")
    p.add_argument("--pad-widths", type=_pad_widths, metavar="W,W,...",
                   help="widths lines are padded to in training, ascending multiples of "
                        f"{STEP} ending at {WIDTHS[-1]} (default: the app's, {','.join(map(str, WIDTHS))})")
    a = p.parse_args(argv)
    if a.epochs < 1 or a.synthetic < 0 or a.real_copies <= 0 or a.batch < 1 or a.orand_splices < 0 \
            or not 0 <= a.orand_warp <= 1 or not 0 <= a.orand_cut <= 1 or a.teacher_weight < 0 or a.threads < 0:
        p.error("--epochs and --batch must be >= 1, --synthetic, --orand-splices, --teacher-weight and --threads "
                ">= 0, --real-copies > 0, --orand-warp and --orand-cut in 0..1")
    if problem := out_problem(a.out):  # else found only when the model is saved, after an epoch
        p.error(problem)
    if a.orand_cut and a.plate_cut == "whole":  # one detector cuts both (line_data.training_lines)
        p.error("--orand-cut cuts around the detector's lines: it needs --plate-cut detector")
    log = lambda m: print(m, flush=True)  # noqa: E731
    started = time.time()
    if a.threads:  # before any model is built: TensorFlow fixes its threads at its first use
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    try:
        model, before = initial_model(a.size, a.init, a.seed)
        teacher = load_teacher(a.teacher) if a.teacher else None
        detector = None
        if a.plate_cut == "detector":
            from edge.detect import TextDetector
            detector = TextDetector()
    except (ValueError, ModelError) as e:
        print(f"convert.train: error: {e}", file=sys.stderr)
        return 2
    try:
        plate_cut = f"detector {detector.model_path.name}, threshold {detector.threshold:g}" if detector else "whole"
        orand_cut = a.orand_cut
        fonts = None  # as the cache was built, unknown
        splices, warp = a.orand_splices, a.orand_warp
        if a.cache and a.cache.is_file():
            plate_cut = splices = warp = orand_cut = f"as cached in {a.cache.name}"
            lines, texts, kinds = load_lines(a.cache)
            log(f"read {len(lines)} lines from {a.cache}")
        else:
            warning = fonts_warning() if a.synthetic else None
            if warning:
                log(warning)
            fonts = font_counts()
            log("building the training lines ...")
            lines, texts, kinds = build_training_set(a.synthetic, a.seed, a.real_copies, log, detector=detector,
                                                       orand_splices=a.orand_splices, orand_warp=a.orand_warp,
                                                       orand_cut=a.orand_cut)
            log(f"built {len(lines)} lines in {time.time() - started:.0f} s")
            if a.cache:
                save_lines(a.cache, lines, texts, kinds)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        model, history = train(lines, texts, a.epochs, a.batch, a.lr, a.seed, model, log,
                               evaluate=lambda predict: line_scores(predict, "tune"), checkpoint=lambda m: m.save(partial_path(a.out)),
                               teacher=teacher, teacher_weight=a.teacher_weight, pad_widths=a.pad_widths)
    except DataError as e:
        print(f"convert.train: error: {e}", file=sys.stderr)
        return 2
    a.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(a.out)
    partial_path(a.out).unlink(missing_ok=True)
    rng = np.random.default_rng(a.seed)
    representative = [lines[i] for i in rng.choice(len(lines), min(500, len(lines)), replace=False)]
    np.savez_compressed(a.out.with_suffix(".representative.npz"), *representative)
    from collections import Counter
    info = {"mix": dict(Counter(kinds)), "epochs": a.epochs, "batch": a.batch, "lr": a.lr, "seed": a.seed,
            "size": a.size, "init": a.init.name if a.init else None,
            "teacher": a.teacher.name if a.teacher else None, "teacher_weight": a.teacher_weight if a.teacher else None,
            "pad_widths": list(a.pad_widths or WIDTHS),
            "orand_splices": splices, "orand_warp": warp, "orand_cut": orand_cut,
            "plate_cut": plate_cut, "fonts": fonts,
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in SIZES[a.size].items()},
            "weights": int(model.count_params()), "train_minutes": round((time.time() - started) / 60, 1),
            "history": history}
    info.update(before)
    a.out.with_suffix(".train.json").write_text(json.dumps(info, indent=1) + "\n")
    plot_history(history, a.out.with_suffix(".curves.png"))
    log(f"saved {a.out} ({info['train_minutes']} min)")
    return 0


def plot_history(history: dict, path) -> None:
    """The CTC loss and the tuning split's scores, epoch by epoch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(range(1, len(history["loss"]) + 1), history["loss"], label="CTC loss")
    for key, values in history.items():
        if key != "loss" and all(isinstance(v, float) for v in values) and max(values, default=2) <= 1:
            b.plot(range(1, len(values) + 1), values, label=key)
    a.set_xlabel("epoch"), b.set_xlabel("epoch"), a.legend(), b.legend(fontsize=7)
    a.set_title("training loss"), b.set_title("tuning split")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
