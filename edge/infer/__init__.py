"""Model runtime: the interpreter choice (`runtime`, TensorFlow only as a last resort), the line
recognizer on every frame (`recognizer`), and `DigitClassifier` for single-digit crops (not on the frame path)."""
from edge.infer.classifier import DigitClassifier, default_model_path
from edge.infer.runtime import ModelError

__all__ = ["DigitClassifier", "ModelError", "default_model_path"]
