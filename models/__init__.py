"""The shipped models and their metadata, installed as the package data of `edge.models`
(setup.cfg's package_dir); found through importlib.resources (edge/infer/classifier.py)."""
