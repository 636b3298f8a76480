"""Issue 17: what a new user met trying the app (one test, or a few, per item)."""
import json

import pytest

from tests.conftest import ROOT, run_app


def lines_of(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# 1. a display variable that is set but unusable: headless, with one line saying why
@pytest.mark.parametrize("env", [{"DISPLAY": ":99"}, {"WAYLAND_DISPLAY": "bogus-wayland-0"}])
def test_unusable_display_runs_headless_and_says_why(env):
    r = run_app("--source", "demo", "--fps", "0", "--max-frames", "5", "--json", "-", env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    why = [line for line in r.stderr.splitlines() if "headless" in line]
    assert len(why) == 1, r.stderr
    assert "display" in why[0] and list(env.values())[0] in why[0], why[0]
    assert len(lines_of(r.stdout)) == 5
