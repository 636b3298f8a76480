"""docs/measurements.md and the README's results table say what the JSON reports say."""
import json
import shutil

import pytest

from convert import report
from tests.conftest import ROOT


def test_measurements_and_readme_table_match_the_reports():
    assert report.main(["--check"]) == 0, "run python -m convert.report and commit the result"


def test_check_fails_on_a_drifted_figure_and_a_rewrite_fixes_it(tmp_path):
    for rel in ["README.md", "docs/measurements.md", *report.REPORTS.values()]:
        if (ROOT / rel).exists():
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / rel, tmp_path / rel)
    bench = json.loads((tmp_path / "docs/bench.json").read_text())
    bench["runs"][0]["end_to_end_ms"]["median"] += 1.0
    (tmp_path / "docs/bench.json").write_text(json.dumps(bench))
    assert report.main(["--check", "--root", str(tmp_path)]) == 1
    assert report.main(["--root", str(tmp_path)]) == 0
    assert report.main(["--check", "--root", str(tmp_path)]) == 0


@pytest.mark.parametrize("rel, text, words", [("docs/devsets.json", '{"sudoku_train": {', "unreadable"),
                                               ("docs/bench.json", "{}", "lacks what the tables need"),
                                               ("README.md", "# no table\n", "needs one <!-- results:begin -->"),
                                               ("README.md", None, "cannot read")])  # were tracebacks
def test_a_broken_report_is_one_line(tmp_path, capsys, rel, text, words):
    for path in ["README.md", "docs/measurements.md", *report.REPORTS.values()]:
        if (ROOT / path).exists():
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / path, tmp_path / path)
    if text is None:
        (tmp_path / rel).unlink()
    else:
        (tmp_path / rel).write_text(text)
    assert report.main(["--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_missing_reports_leave_their_rows_out():
    reports = report.load()
    reports.pop("lines", None)
    text = report.measurements(reports)
    assert "Line recognizer" not in text and "meters" not in report.results_table(reports)
    assert "None" not in text and "nan" not in text
    del reports["bench"]
    table = report.results_table(reports)
    assert "ms" not in table and "start-up" not in table  # no speed rows at all, no placeholders


def test_a_reports_figures_land_in_their_rows_with_their_targets():
    reports = report.load()
    reports["devsets"] = {"orand_car_a_train": {"heldout": {"images": 251, "exact_match": 0.9, "precision": 0.97,
                                                            "recall": 0.96, "f1": 0.965, "string_f1": 0.93}},
                          "plates_train": {"heldout": {"plates": 40, "exact": 0.8, "digits_in_order": 0.95}}}
    reports["lines"] = {"model": "lines.tflite", "size_bytes": 300000,
                        "ms_per_line_1_thread": {"batch_1_width_128": 1.5, "batch_4_width_128": 4.0},
                        "int8": {"heldout": {"orand": {"lines": 251, "exact": 0.9, "digit_f1": 0.97},
                                             "meters": {"digits": 500, "whole_digit_accuracy": 0.96}}}}
    table = report.results_table(reports)
    assert "| orand-car-a held-out, exact strings | 90.0% | ≥ 85% |" in table
    assert "| orand-car-a held-out, digit F1, strings in order (matched by box: 0.965) | 0.930 (not met) | ≥ 0.95 |" in table
    assert "| plates held-out, exact | 80.0% (not met) | ≥ 85% |" in table
    assert "| meters held-out, whole digits (int8) | 96.0% | ≥ 95% |" in table
    assert "sudoku" not in table  # not in this report
    assert "Line recognizer" in report.measurements(reports)


def test_sudoku_rows_say_in_the_grid_and_show_the_whole_photo_beside_it():
    reports = report.load()
    grid = {"photos": 39, "precision": 0.98, "recall": 0.97, "f1": 0.975}
    reports["devsets"] = {"sudoku_train": {"heldout": {**grid, "whole_photo": {**grid, "precision": 0.8, "f1": 0.877}}}}
    table = report.results_table(reports)
    assert "| sudoku held-out photos, digit F1 in the grid (whole photo: 0.877) | 0.975 | ≥ 0.95 |" in table
    text = report.measurements(reports)
    assert "| sudoku-train, held-out photos, in the grid | 39 | 0.980 | 0.970 | 0.975 |" in text
    assert "| sudoku-train, held-out photos, whole photo | 39 | 0.800 | 0.970 | 0.877 |" in text


def test_a_percentage_is_never_rounded_to_all_or_nothing():
    from convert.report import pct
    assert pct(0.9995) == "99.95%" and pct(0.0004) == "0.04%"  # 1,999 of 2,000 frames is not 100%
    assert pct(1.0) == "100.0%" and pct(0.0) == "0.0%" and pct(0.717) == "71.7%"
