"""Batch normalization for training only: TensorFlow's fused kernel in place of Keras 3's.

Keras 3 normalizes with separate moments and arithmetic ops. On this 2-core CPU that was
about a third of the CPU time of a training step of our small CNN (45 ms a batch of 128
against 31 ms with the fused kernel). `convert.train` trains with this layer and saves its
weights into the plain Keras model (same weights in the same order: gamma, beta, moving
mean, moving variance), so the saved model, the export and the app never see it.
"""
from __future__ import annotations

import keras
import tensorflow as tf


class FusedBatchNorm(keras.layers.Layer):
    """keras.layers.BatchNormalization(momentum, epsilon) over the last axis of NHWC input.
    One difference: TensorFlow's kernel hands back the unbiased batch variance (times
    n / (n - 1), n the values per channel: over 1,000 in a batch of 128 here) for the
    moving variance; Keras uses the biased one."""

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = momentum, epsilon

    def build(self, input_shape):
        channels = (input_shape[-1],)
        self.gamma = self.add_weight(shape=channels, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=channels, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=channels, initializer="zeros", name="moving_mean",
                                           trainable=False)
        self.moving_variance = self.add_weight(shape=channels, initializer="ones", name="moving_variance",
                                               trainable=False)

    def call(self, x, training=False):
        if not training:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(x, self.gamma, self.beta, self.moving_mean,
                                                       self.moving_variance, self.epsilon, is_training=False)
            return y
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(x, self.gamma, self.beta, epsilon=self.epsilon,
                                                             is_training=True)
        keep = self.momentum
        self.moving_mean.assign(self.moving_mean * keep + mean * (1 - keep))
        self.moving_variance.assign(self.moving_variance * keep + variance * (1 - keep))
        return y

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}
