"""Model runtime: `DigitClassifier` on ai-edge-litert (TensorFlow is never imported)."""
from edge.infer.classifier import DigitClassifier, default_model_path
from edge.infer.runtime import ModelError

__all__ = ["DigitClassifier", "ModelError", "default_model_path"]
