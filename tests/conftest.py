import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(path: Path, what: str) -> Path:
    """Skip a data-dependent test on a machine without the data; fail in CI."""
    if not path.exists():
        message = f"{what} not found at {path}"
        if IN_CI:
            pytest.fail(message + " (CI must have ../shared/data)")
        pytest.skip(message)
    return path


def need_module(name: str):
    """The module, or a skip where the extra that brings it is not installed; in CI (which
    installs every extra) its absence fails."""
    if IN_CI:
        import importlib
        return importlib.import_module(name)
    return pytest.importorskip(name, reason=f"{name} is not installed (pip install -e '.[train,dev]')")


@pytest.fixture(scope="session")
def data_root() -> Path:
    from convert.datasets import data_roots
    for root in data_roots():
        if root.is_dir():
            return root
    return need(data_roots()[-1], "the data folder")


@pytest.fixture(scope="session")
def mnist(data_root):
    from convert.datasets import load_mnist
    need(data_root / "mnist" / "mnist.npz", "MNIST")
    return load_mnist()


@pytest.fixture(scope="session")
def classifier():
    from edge.infer import DigitClassifier
    return DigitClassifier()


def run_app(*args, timeout=120, **kw):
    """Run main.py in a subprocess with no display, as a user would."""
    import subprocess
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(kw.pop("env", {}))
    kw.setdefault("stdout", subprocess.PIPE)  # or a file of the test's
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], cwd=kw.pop("cwd", ROOT),
                          stderr=subprocess.PIPE, text=True, timeout=timeout, env=env, **kw)


def rendered(text: str, dark_ink: bool = True, height: int = 48):
    """A clean printed line as a camera crop: text with a margin of a third of its height."""
    import cv2
    import numpy as np
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = cv2.getFontScaleFromHeight(font, height, 3)
    (w, h), base = cv2.getTextSize(text, font, scale, 3)
    image = np.full((h + base + height, w + height), 235 if dark_ink else 20, np.uint8)
    cv2.putText(image, text, (height // 2, h + height // 2), font, scale, 25 if dark_ink else 240, 3, cv2.LINE_AA)
    return image


def with_random_stem(model, rng):
    """The model's weights with its stem's kernel and batch normalization drawn at random (a
    positive moving variance), set on it and returned: a blocked export must match any of them."""
    import numpy as np
    weights = model.get_weights()
    weights[:4] = [rng.normal(0, 1, w.shape).astype(np.float32) for w in weights[:4]]
    weights[4] = rng.uniform(0.5, 2, weights[4].shape).astype(np.float32)
    model.set_weights(weights)
    return weights
