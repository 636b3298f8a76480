"""The package as a user installs it: a wheel in a fresh virtual environment, run from
another directory (slow: the dependencies come from PyPI, or pip's cache)."""
import json
import os
import subprocess
import sys
import venv
import zipfile

import pytest

from tests.conftest import ROOT


def _wheel(out) -> "os.PathLike":
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=600)
    (wheel,) = out.glob("edge_digits-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return _wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_edge_and_the_models_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.startswith("edge_digits-")}
    assert top == {"edge"}, top  # no top-level `main` or `convert` to collide with
    records = (".train.json", ".eval.json")  # the app reads neither
    shipped = {p.name for p in (ROOT / "models").iterdir() if p.suffix in (".tflite", ".json")
               and not p.name.endswith(records)}
    assert {n.split("/")[-1] for n in names if n.startswith("edge/models/")} >= shipped | {"digits.tflite"}
    assert not [n for n in names if n.endswith((".keras", ".npy", ".png") + records)]
    assert [n for n in names if n.endswith("/licenses/LICENSE") or n.endswith("/LICENSE")]


@pytest.mark.slow
def test_the_installed_wheel_runs_the_demo_from_any_directory(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)],
                   check=True, timeout=1200, capture_output=True, text=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "PYTHONPATH")}
    run = subprocess.run([str(bin_dir / "edge-digits"), "--source", "demo", "--max-frames", "5", "--json", "-"],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["frame"] for r in records] == list(range(5))
    assert any(n["text"] == "4821" for r in records for n in r["numbers"]), run.stdout[:500]
    version = subprocess.run([str(bin_dir / "edge-digits"), "--version"], cwd=elsewhere, env=env,
                             capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == "edge-digits 0.1.0"
    module = subprocess.run([str(bin_dir / "python"), "-m", "edge", "--source", "demo", "--max-frames", "1",
                             "--json", "-", "-q"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert module.returncode == 0 and json.loads(module.stdout)["frame"] == 0, module.stderr
    assert list(elsewhere.iterdir()) == []  # nothing written where it was run (no snapshots/)
