"""Export forms of a first 3x3 conv on a one-channel image, the same sums on blocks of pixels.

XNNPACK's int8 conv of a one-channel image costs several times as much per pixel as a conv of
the same image cut into 2x2 or 4x4 blocks (space to depth) with a kernel spread to match:
a recognizer's stem 0.55 -> 0.35 ms a batch of 8 lines, the detector's 0.88 -> 0.34 ms.
Training keeps the plain conv; `convert.recognizer` and `convert.detector` export these.
"""
from __future__ import annotations

import numpy as np


def pooled_stem(x, c: int, norm, blocked: bool):
    """A 3x3 'same' conv of c channels, normalization, ReLU and a 2x2 max pool; `blocked`:
    the export's form, one conv on 2x2 blocks and a max over the pool's positions (pooled_kernel)."""
    from keras import layers

    if not blocked:
        return layers.MaxPooling2D(2)(layers.ReLU()(norm()(layers.Conv2D(c, 3, padding="same", use_bias=False)(x))))
    x = space_to_depth(x, 2, "blocks")
    x = layers.ReLU()(norm()(layers.Conv2D(4 * c, 3, padding="same", use_bias=False)(x)))
    return layers.Maximum()([x[..., k * c:(k + 1) * c] for k in range(4)])


def strided_stem(x, c: int, norm, blocked: bool):
    """A 3x3 'same' conv of stride 2 and c channels, normalization and ReLU; `blocked`: the
    export's form, one conv on 4x4 blocks giving each block's 2x2 outputs (strided_kernel)."""
    from keras import layers

    if not blocked:
        return layers.ReLU()(norm()(layers.Conv2D(c, 3, strides=2, padding="same", use_bias=False)(x)))
    x = space_to_depth(x, 4, "blocks")
    x = layers.ReLU()(norm()(layers.Conv2D(4 * c, 2, padding="same", use_bias=False)(x)))
    return depth_to_space(x, 2, "cells")


def space_to_depth(x, block: int, name: str):
    """Each block x block square of pixels as the channels of one cell (TensorFlow's order)."""
    from keras import layers
    import tensorflow as tf

    return layers.Lambda(lambda t: tf.nn.space_to_depth(t, block), name=name)(x)


def depth_to_space(x, block: int, name: str):
    """The inverse: each cell's channels laid out as a block x block square of pixels."""
    from keras import layers
    import tensorflow as tf

    return layers.Lambda(lambda t: tf.nn.depth_to_space(t, block), name=name)(x)


def pooled_kernel(kernel: np.ndarray) -> np.ndarray:
    """A 3x3 'same' conv followed by a 2x2 max pool -> a 3x3 conv on 2x2 blocks (4 channels)
    giving the conv at each of the pool's four positions: (3, 3, 1, c) -> (3, 3, 4, 4c); the max
    over the four groups of c channels is the pool (their order does not matter)."""
    c = kernel.shape[3]
    blocked = np.zeros((3, 3, 4, 4 * c), kernel.dtype)
    for p in range(2):
        for q in range(2):
            out = slice((2 * p + q) * c, (2 * p + q + 1) * c)
            for a in range(-1, 2):  # the kernel's offset
                for b in range(-1, 2):
                    (bi, dy), (bj, dx) = divmod(p + a, 2), divmod(q + b, 2)  # block offset, pixel in it
                    blocked[bi + 1, bj + 1, 2 * dy + dx, out] = kernel[a + 1, b + 1, 0]
    return blocked


def strided_kernel(kernel: np.ndarray) -> np.ndarray:
    """A 3x3 'same' conv of stride 2 (TensorFlow pads it at the bottom and right only) -> a
    2x2 conv on 4x4 blocks (16 channels) giving each block's 2x2 outputs in depth_to_space's
    order: (3, 3, 1, c) -> (2, 2, 16, 4c)."""
    c = kernel.shape[3]
    blocked = np.zeros((2, 2, 16, 4 * c), kernel.dtype)
    for p in range(2):  # the output's position in its block
        for q in range(2):
            out = slice((2 * p + q) * c, (2 * p + q + 1) * c)
            for a in range(3):
                for b in range(3):
                    (bi, dy), (bj, dx) = divmod(2 * p + a, 4), divmod(2 * q + b, 4)  # block offset, pixel in it
                    blocked[bi, bj, 4 * dy + dx, out] = kernel[a, b, 0]
    return blocked


def blocked_weights(weights: list[np.ndarray], strided: bool) -> list[np.ndarray]:
    """A model's weights, its stem's kernel then that conv's batch normalization first, ->
    those of its blocked export: the kernel spread, the normalization repeated per position."""
    c = weights[0].shape[3]
    if weights[0].shape != (3, 3, 1, c) or any(w.shape != (c,) for w in weights[1:5]):
        raise ValueError("the first weights are not a one-channel 3x3 conv and its batch normalization")
    kernel = strided_kernel(weights[0]) if strided else pooled_kernel(weights[0])
    return [kernel] + [np.tile(w, 4) for w in weights[1:5]] + list(weights[5:])
