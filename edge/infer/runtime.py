"""Pick a TFLite interpreter without importing TensorFlow unless nothing else is there.

Order: ai-edge-litert (maintained, numpy 2, fast), tflite_runtime, tensorflow.lite.
"""
from __future__ import annotations


class ModelError(Exception):
    """The model (or its runtime) cannot be used; the message says why and what to do."""


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
    try:
        import tensorflow as tf
        return tf.lite.Interpreter, "tensorflow.lite"
    except ImportError:
        raise ModelError("no TFLite runtime installed: pip install ai-edge-litert") from None
