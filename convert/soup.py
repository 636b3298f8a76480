"""A model soup: the weights of several fine-tunes of one model, averaged into one model.

    python -m convert.soup --out models/lines.keras A.keras B.keras C.keras

Fine-tunes from a common model lie in one basin, and their average often reads better than
any of them (Wortsman et al. 2022, "Model soups"); it costs no training and nothing at run
time. The soup's record lists its ingredients' records; its int8 calibration data (lines or
scenes) are the last ingredient's (convert.export reads them beside the model).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np


def average_weights(models) -> None:
    """Set the first model's weights (batch-norm statistics included) to the mean of all of them."""
    first = models[0]
    for model in models[1:]:
        if len(model.layers) != len(first.layers):
            raise ValueError(f"{model.name} and {first.name} differ in depth")
    for i, layer in enumerate(first.layers):
        weights = [model.layers[i].get_weights() for model in models]
        shapes = [[w.shape for w in ws] for ws in weights]
        if any(s != shapes[0] for s in shapes):
            raise ValueError(f"layer {layer.name} differs in shape between the models")
        if weights[0]:
            layer.set_weights([np.mean([ws[k] for ws in weights], axis=0) for k in range(len(weights[0]))])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.soup", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", type=Path, nargs="+", help="Keras models of one architecture (two or more)")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    if len(a.models) < 2:
        p.error("a soup needs two models or more")
    from convert.outputs import out_problem
    if problem := out_problem(a.out):  # one of the models may be written over: they are read first
        p.error(problem)
    import keras

    try:
        models = []
        for path in a.models:
            try:
                models.append(keras.models.load_model(path, compile=False))
            except Exception as e:  # Keras raises many kinds for a missing or broken file
                raise ValueError(f"{path} is not a readable Keras model ({type(e).__name__})") from None
        average_weights(models)
    except ValueError as e:
        print(f"convert.soup: error: {e}", file=sys.stderr)
        return 2
    a.out.parent.mkdir(parents=True, exist_ok=True)
    models[0].save(a.out)
    records = []
    for path in a.models:
        info = path.with_suffix(".train.json")
        records.append(json.loads(info.read_text()) if info.is_file() else {"model": path.name})
    a.out.with_suffix(".train.json").write_text(json.dumps({"soup_of": records}, indent=1) + "\n")
    for suffix in (".representative.npz", ".representative.npy"):  # the recognizer's, the detector's
        lines = a.models[-1].with_suffix(suffix)
        if lines.is_file() and lines != a.out.with_suffix(suffix):
            shutil.copy(lines, a.out.with_suffix(suffix))
    print(f"saved {a.out}, the mean of {len(models)} models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
