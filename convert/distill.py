"""Knowledge distillation: a model learns from an ensemble of earlier runs as well as the labels.

Reruns of one training recipe differ by about half a point on real handwritten crops, and
their errors differ: the geometric mean of seven runs reads held-out orand crops at 97.1% and
MNIST at 99.57% where the single runs read 96.3-97.2% and 99.30-99.43%. Seven models cost
seven times the 18 us per digit; one model of the same size trained to match the ensemble's
probabilities keeps most of its gain at the cost of one (Hinton et al. 2015).

The teachers read the training mix once, before training, not each jittered batch: with the
default per-batch shift (+-6%) a sample's soft target stays valid for its shifted copies.
The larger jitter of `--augment affine` would stretch that.
"""
from __future__ import annotations

import numpy as np

EPSILON = 1e-7  # a probability floor, so that a log of a float32 zero stays finite
CHUNK = 50_000
TEMPERATURE = 2.0  # the measured run's settings (README "Tried")
SOFT_WEIGHT = 0.7


def ensemble_log_probs(teachers, x: np.ndarray, batch: int = 2048, log=print) -> np.ndarray:
    """Mean log-probabilities of the `teachers` (Keras models) on uint8 images (N, 28, 28):
    the log of the ensemble's renormalized geometric mean, up to a constant per image."""
    total = None
    for i, model in enumerate(teachers):
        for start in range(0, len(x), CHUNK):  # float32 copies a chunk at a time, not the whole mix
            chunk = x[start:start + CHUNK, ..., None].astype(np.float32)
            logp = np.log(np.clip(model.predict(chunk, batch_size=batch, verbose=0), EPSILON, 1.0))
            if total is None:
                total = np.zeros((len(x), logp.shape[1]), np.float32)
            total[start:start + CHUNK] += logp
        log(f"teacher {i + 1}/{len(teachers)} read the mix")
    return total / len(teachers)


def soften(log_probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities at `temperature`: softmax(log p / T), so T > 1 shows which wrong classes
    the teachers found likely (a 4 that could be a 9), T = 1 is the ensemble itself."""
    z = log_probs / temperature
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def distillation_targets(soft: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Soft and hard targets side by side, (N, 2 * classes), for `distillation_loss`."""
    return np.concatenate([soft.astype(np.float32), np.eye(classes, dtype=np.float32)[labels]], axis=1)


def distillation_loss(temperature: float, soft_weight: float, classes: int):
    """soft_weight x T^2 x cross-entropy between the teachers and the student, both at T, plus
    (1 - soft_weight) x the usual cross-entropy with the labels. The student outputs
    probabilities; its log-probabilities divided by T and renormalized are its output at T."""
    import tensorflow as tf

    def loss(targets, probs):
        soft, hard = targets[:, :classes], targets[:, classes:]
        logp = tf.math.log(tf.clip_by_value(probs, EPSILON, 1.0))
        student_soft = tf.nn.log_softmax(logp / temperature)
        kd = -tf.reduce_sum(soft * student_soft, axis=1) * temperature ** 2
        ce = -tf.reduce_sum(hard * logp, axis=1)
        return soft_weight * kd + (1.0 - soft_weight) * ce

    return loss


def label_accuracy(classes: int):
    """Accuracy against the hard labels, for targets packed by `distillation_targets`. The inner
    function's name is the metric's name: the history keeps "accuracy" and "val_accuracy"."""
    import tensorflow as tf

    def accuracy(targets, probs):
        return tf.cast(tf.equal(tf.argmax(targets[:, classes:], 1), tf.argmax(probs, 1)), tf.float32)

    return accuracy
