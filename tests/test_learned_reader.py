"""The shipped learned reader: its two models load and match their metadata, read rendered
lines and plates, keep the held-out orand rate above a guard, and run end to end in the app."""
import json
import re

import cv2
import numpy as np
import pytest

from conftest import ROOT, need, rendered, run_app
from edge.lines import CHARSET, HEIGHT, STEP, bucket, line_batch, normalize_line

LINES_MODEL = ROOT / "models" / "lines.tflite"
DETECTOR_MODEL = ROOT / "models" / "detector.tflite"


# -- the shipped model -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def recognizer():
    from edge.infer.recognizer import LineRecognizer
    return LineRecognizer()


def test_shipped_line_model_metadata_matches(recognizer):
    meta = json.loads(LINES_MODEL.with_suffix(".json").read_text())
    assert meta["charset"] == CHARSET and meta["height"] == HEIGHT and meta["step"] == STEP
    assert LINES_MODEL.stat().st_size <= 400 * 1024  # the budget for the recognizer


@pytest.mark.parametrize("text", ["1258", "90210", "2024", "ABC1234", "7301"])
@pytest.mark.parametrize("dark_ink", [True, False])
def test_shipped_model_reads_rendered_lines(recognizer, text, dark_ink):
    (reading,) = recognizer.read([rendered(text, dark_ink)])
    assert reading.text == text
    xs = [(c.x0, c.x1) for c in reading.chars]
    assert all(a < b for a, b in xs) and all(xs[i][1] <= xs[i + 1][0] + 1e-6 for i in range(len(xs) - 1))


def test_character_spans_are_in_the_crop_pixels(recognizer):
    crop = rendered("88", height=60)
    (reading,) = recognizer.read([crop])
    assert reading.text == "88"
    first, second = reading.chars
    ink_cols = np.flatnonzero((crop < 128).any(axis=0))
    middle = (ink_cols[0] + ink_cols[-1]) / 2
    assert first.x0 < middle < second.x1 and second.x1 <= crop.shape[1]


def test_many_lines_of_mixed_widths_in_one_call(recognizer):
    crops = [rendered(t) for t in ["1", "23", "456", "7890", "12345678"] * 5]
    readings = recognizer.read(crops)
    assert [r.text for r in readings] == ["1", "23", "456", "7890", "12345678"] * 5


def test_only_batch_1_interpreters_at_start_up_the_rest_on_first_use():
    from edge.infer.recognizer import LineRecognizer
    from edge.lines import WIDTHS
    fresh = LineRecognizer()
    assert set(fresh._interpreters) == {(1, w) for w in WIDTHS}
    fresh.read([rendered(str(100 + k)) for k in range(11)])
    assert any(batch == 8 for batch, _ in fresh._interpreters)


def test_lines_go_in_exact_batches_none_padded():
    from edge.infer.recognizer import LINE_BATCHES, exact_batches
    assert exact_batches(11) == [8, 3] and exact_batches(16) == [16] and exact_batches(0) == []
    for n in range(1, 40):
        sizes = exact_batches(n)
        assert sum(sizes) == n and all(s in LINE_BATCHES for s in sizes)


@pytest.mark.parametrize("count", [3, 5, 7, 11])
def test_lines_read_in_batches_read_as_one_line_at_a_time(recognizer, count):
    crops = [rendered(str(1000 + 137 * k)) for k in range(count)]
    lines = [normalize_line(c) for c in crops]
    together = recognizer.probabilities(lines)
    for line, probs in zip(lines, together):
        np.testing.assert_array_equal(recognizer.probabilities([line])[0], probs)
    batch = line_batch(lines, bucket(max(ln.shape[1] for ln in lines)))
    padded = recognizer.run_batch(batch)  # count lines padded up to a batch size
    single = np.concatenate([recognizer.run_batch(batch[i:i + 1]) for i in range(count)])
    np.testing.assert_array_equal(padded, single)


def test_orand_heldout_exact_rate_stays_above_its_guard(recognizer):
    from convert.datasets import data_roots
    from convert.line_data import orand_lines
    need(data_roots()[-1] / "orand-car-a-train", "orand-car-a-train")
    lines = orand_lines("heldout")
    readings = recognizer.read([line.gray for line in lines])
    exact = np.mean([r.digits() == line.text for r, line in zip(readings, lines)])
    assert exact >= GUARD_ORAND_EXACT, f"held-out orand exact strings {exact:.3f}"


GUARD_ORAND_EXACT = 0.6  # under the shipped model's held-out figure in models/lines.eval.json


def test_a_line_model_that_does_not_match_is_one_clear_error(tmp_path):
    from edge.infer import ModelError
    from edge.infer.recognizer import LineRecognizer
    model = tmp_path / "lines.tflite"
    model.write_bytes(LINES_MODEL.read_bytes())
    meta = json.loads(LINES_MODEL.with_suffix(".json").read_text())
    model.with_suffix(".json").write_text(json.dumps({**meta, "charset": "0123456789"}))
    with pytest.raises(ModelError, match="charset"):
        LineRecognizer(model)
    with pytest.raises(ModelError, match="folder"):
        LineRecognizer(tmp_path)
    (tmp_path / "bad.tflite").write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match="not a TFLite model"):
        LineRecognizer(tmp_path / "bad.tflite")


def test_shipped_detector_metadata_matches():
    from edge.detect import INPUT_SIZE, TextDetector
    meta = json.loads(DETECTOR_MODEL.with_suffix(".json").read_text())
    assert meta["input_size"] == list(INPUT_SIZE) and 0 < meta["threshold"] < 1
    assert DETECTOR_MODEL.stat().st_size <= 150 * 1024  # the budget for the detector
    assert TextDetector().threshold == meta["threshold"]


def test_detector_metadata_that_does_not_match_is_one_clear_error(tmp_path):
    from edge.detect import TextDetector
    from edge.infer import ModelError
    model = tmp_path / "detector.tflite"
    model.write_bytes(DETECTOR_MODEL.read_bytes())
    meta = json.loads(DETECTOR_MODEL.with_suffix(".json").read_text())
    model.with_suffix(".json").write_text(json.dumps({**meta, "input_size": [640, 480]}))
    with pytest.raises(ModelError, match="640"):
        TextDetector(model)
    model.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="not found"):
        TextDetector(model)


@pytest.mark.parametrize("change,words", [
    ({"threshold": "high"}, "'threshold' must be a number from 0 to 1"),
    ({"threshold": None}, "'threshold' must be"),
    ({"threshold": 1.5}, "'threshold' must be"),  # would read nothing, silently
    ({"min_confidence": "x"}, "'min_confidence' must be"),
    ({"edge_confidence": [1]}, "'edge_confidence' must be"),
    ({"output": "scale"}, "'output' must be an object"),
    ({"input_size": 5}, "made for 5"),
])
def test_detector_metadata_of_the_wrong_types_is_one_clear_error(tmp_path, change, words):
    from edge.detect import TextDetector
    from edge.infer import ModelError
    model = tmp_path / "detector.tflite"
    model.write_bytes(DETECTOR_MODEL.read_bytes())
    meta = json.loads(DETECTOR_MODEL.with_suffix(".json").read_text())
    model.with_suffix(".json").write_text(json.dumps({**meta, **change}))
    with pytest.raises(ModelError, match=re.escape(words)):
        TextDetector(model)


def test_line_model_metadata_of_the_wrong_types_is_one_clear_error(tmp_path):
    from edge.infer import ModelError
    from edge.infer.recognizer import LineRecognizer
    model = tmp_path / "lines.tflite"
    model.write_bytes(LINES_MODEL.read_bytes())
    meta = json.loads(LINES_MODEL.with_suffix(".json").read_text())
    for bad, words in (({**meta, "input": [1]}, "'input' must be an object"), ([1], "expected a JSON object")):
        model.with_suffix(".json").write_text(json.dumps(bad))
        with pytest.raises(ModelError, match=re.escape(words)):
            LineRecognizer(model)


def test_the_edge_of_the_demos_sheet_is_not_read():
    """Frames 200-270 of the demo: the sheet's right edge stands beside the panel, frame-tall
    (the classic reader read it as a '1' before a rule of its own); every number still read."""
    from edge.capture.demo import DemoSource
    from edge.line_reader import LineReader
    reader = LineReader(keep_mask=False)
    results = [reader.process(f) for f in DemoSource(640, 480, fps=0, frames=271) if f.index >= 200]
    assert [(r.frame.index, n.text) for r in results for n in r.numbers if n.box[3] > 240] == []
    assert all(set(DemoSource.truth) <= {n.text for n in r.numbers} for r in results)


def test_the_reader_takes_its_settings_from_the_detectors_metadata_unless_given(tmp_path, recognizer):
    """The trim level and the least line confidence are chosen with the detector on the tuning
    split (convert.detector.choose_settings) and kept in its metadata, as its threshold is."""
    from edge.detect import TextDetector
    from edge.line_reader import EDGE_CONFIDENCE, MIN_CONFIDENCE, LineReader
    model = tmp_path / "detector.tflite"
    model.write_bytes(DETECTOR_MODEL.read_bytes())
    meta = json.loads(DETECTOR_MODEL.with_suffix(".json").read_text())
    model.with_suffix(".json").write_text(json.dumps({**meta, "edge_confidence": 0.7, "min_confidence": 0.3}))
    reader = LineReader(TextDetector(model), recognizer)
    assert (reader.edge_confidence, reader.min_confidence) == (0.7, 0.3)
    assert LineReader(TextDetector(model), recognizer, min_confidence=0.6).min_confidence == 0.6
    bare = {k: v for k, v in meta.items() if k not in ("edge_confidence", "min_confidence")}
    model.with_suffix(".json").write_text(json.dumps(bare))
    reader = LineReader(TextDetector(model), recognizer)
    assert (reader.edge_confidence, reader.min_confidence) == (EDGE_CONFIDENCE, MIN_CONFIDENCE)


def test_the_learned_reader_in_the_app_writes_characters_with_boxes():
    r = run_app("--source", "demo", "--max-frames", "20", "--fps", "0", "--json", "-", "-q")
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(records) == 20
    numbers = [n for rec in records for n in rec["numbers"]]
    assert numbers and all(n["chars"] for n in numbers)
    from edge.capture.demo import DemoSource
    demo = DemoSource(640, 480, fps=0)  # the frames the app read, rendered again
    for rec in records:
        gray = cv2.cvtColor(demo.render(rec["frame"]), cv2.COLOR_BGR2GRAY)
        for n in rec["numbers"]:
            boxes = [c["box"] for c in n["chars"]]
            assert all(a[0] < b[0] for a, b in zip(boxes, boxes[1:])), boxes  # one glyph each, left to right
            for (cx, cy, cw, ch), c in zip(boxes, n["chars"]):
                patch = gray[cy:cy + ch, cx:cx + cw].astype(int)
                assert ch >= n["box"][3] / 2 and patch.max() - patch.min() >= 60, (rec["frame"], n["read"], boxes)
                assert 0 < c["confidence"] <= 1
            assert [d["digit"] for d in n["digits"]] == [int(c["char"]) for c in n["chars"] if c["char"].isdigit()]
    texts = {n["text"] for n in numbers}
    assert {"4821", "3705", "96", "1258"} & texts


def test_the_learned_reader_reads_a_plate_photo_with_letters(tmp_path):
    image = np.full((240, 320), 90, np.uint8)
    plate = rendered("ABC1234", height=40)
    image[80:80 + plate.shape[0], 20:20 + plate.shape[1]] = plate[:, :300]
    path = tmp_path / "plate.png"
    cv2.imwrite(str(path), image)
    r = run_app("--source", path, "--charset", "alnum", "--json", "-", "-q")
    assert r.returncode == 0, r.stderr
    (record,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert "ABC1234" in [n["read"] for n in record["numbers"]]
    r = run_app("--source", path, "--json", "-", "-q")
    (record,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert "1234" in [n["read"] for n in record["numbers"]]  # digits: letters read and dropped


def test_the_classic_readers_options_are_gone_in_one_line():
    """One reader ships: the blob reader's options are unknown, said in one line."""
    for option in (["--reader", "classic"], ["--polarity", "dark"], ["--min-height", "20"], ["--model", "m.tflite"]):
        r = run_app("--source", "demo", "--max-frames", "1", *option)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and option[0] in r.stderr, r.stderr


@pytest.mark.parametrize("image", [np.zeros((0, 0), np.uint8), np.zeros((1, 1, 3), np.uint8),
                                   np.full((7, 900), 255, np.uint8), np.zeros((480, 640, 4), np.uint16),
                                   np.full((200, 300), np.nan, np.float32), np.zeros((3000, 20), bool),
                                   np.full((2, 1000), 255, np.uint8), np.full((1000, 2), 255, np.uint8),
                                   np.array(7), np.zeros(640, np.uint8), np.zeros((2, 48, 64, 3), np.uint8),
                                   np.array([["a", "b"]]), np.zeros((48, 64), complex), [[0, 255], [255, 0]]])
def test_frames_of_any_shape_and_type_never_raise(image):
    """A scalar, a row, a batch of two and text raised ValueError; they read as nothing (a row as a row)."""
    from edge.line_reader import LineReader
    from edge.types import Frame
    result = LineReader(keep_mask=True, tiles=3).process(Frame(image, 0, 0.0, "odd"))
    assert result.numbers == [] or all(n.chars for n in result.numbers)
    from edge.draw import draw_result
    drawn = draw_result(LineReader().process(image), fps=30.0, debug=True)  # a bare image, as in the README's API
    assert drawn.dtype == np.uint8 and drawn.ndim == 3 and drawn.shape[2] == 3


def test_none_for_a_frame_says_what_likely_gave_it():
    from edge.line_reader import LineReader
    with pytest.raises(TypeError, match="cv2.imread gives None"):
        LineReader().process(None)


def test_boxes_of_a_tilted_line_at_the_frames_edge_stay_inside_the_frame():
    from edge.capture.demo import DemoSource
    from edge.line_reader import LineReader
    from edge.types import Frame
    turn = cv2.getRotationMatrix2D((320, 240), -6, 1)
    turn[0, 2] -= 110  # the demo's first number pushed against the left edge, tilted
    image = cv2.warpAffine(DemoSource().render(0), turn, (640, 480), borderMode=cv2.BORDER_REPLICATE)
    numbers = LineReader().process(Frame(image, 0, 0.0, "x")).numbers
    boxes = [n.box for n in numbers] + [n.line_box for n in numbers] + [c.box for n in numbers for c in n.chars]
    assert numbers and min(x for x, *_ in boxes) == 0  # read up to the edge
    assert all(x >= 0 and y >= 0 and x + w <= 640 and y + h <= 480 for x, y, w, h in boxes), boxes


def test_votes_count_frames_not_seconds_so_frames_10_s_apart_settle_a_reading():
    """A guard against time-based voting (the tracker reads no Frame.t): a slow camera's frames vote as at 30 FPS."""
    from edge.line_reader import LineReader
    from edge.types import Frame
    reader = LineReader()
    stable = [[n.stable for n in reader.process(Frame(rendered("4821", height=60), i, 10.0 * i, "cam")).numbers]
              for i in range(4)]
    assert stable == [[False], [False], [True], [True]]


def test_a_bare_image_is_read_as_a_picture_of_its_own():
    """Not voted with the images before it (a review found one photo's reading carried into the next)."""
    from edge.line_reader import LineReader
    reader = LineReader()
    results = [reader.process(rendered(text, height=60)) for text in ("4821", "4821", "4821", "4827")]
    assert [[(n.text, n.read, n.stable) for n in r.numbers] for r in results] == [[(t, t, True)] for t in
                                                                                  ("4821", "4821", "4821", "4827")]
    assert [(r.frame.index, r.frame.source) for r in results][:2] == [(0, "image"), (1, "image")]
    assert [[n.text for n in r.events] for r in results][-1] == ["4827"]


def test_no_tiles_asked_through_the_api_is_one_look():
    """A video frame with tiles 0 or None is one look of the detector, as with 1; 2 adds a 2x2 grid."""
    from edge.line_reader import LineReader
    from edge.types import Frame
    frame = Frame(np.full((480, 640), 200, np.uint8), 0, 0.0, "t")  # large enough to be tiled

    def looks(tiles):
        reader, seen = LineReader(tiles=tiles, keep_mask=False), []
        core_map = reader.detector.core_map
        reader.detector.core_map = lambda small: seen.append(small.shape) or core_map(small)
        assert reader.process(frame).numbers == []
        return reader.closer_look(False), len(seen)
    assert looks(0) == looks(None) == looks(1) == ((1, None), 1)
    assert looks(2) == ((2, None), 5)


def test_lines_read_per_frame_are_capped_the_surest_first(monkeypatch):
    from edge.detect import MAX_LINES, TextDetector
    detector = TextDetector()
    core = np.zeros((120, 160), np.float32)
    for k in range(60):  # 60 separate line cores, each surer than the one before
        row, col = divmod(k, 6)
        core[4 + 11 * row:7 + 11 * row, 3 + 26 * col:20 + 26 * col] = 0.5 + k / 150
    monkeypatch.setattr(detector, "core_map", lambda small: core)
    lines = detector.detect(np.zeros((240, 320), np.uint8))
    assert len(lines) == MAX_LINES
    assert [ln.score for ln in lines] == sorted((ln.score for ln in lines), reverse=True)
    assert min(ln.score for ln in lines) > 0.5 + (60 - MAX_LINES - 1) / 150
    fewer = TextDetector(max_lines=50)
    monkeypatch.setattr(fewer, "core_map", lambda small: core)
    assert len(fewer.detect(np.zeros((240, 320), np.uint8))) == 50


def test_character_boxes_follow_their_spans_on_level_and_turned_lines():
    """A character's span in the cut (crop pixels, the margin included) -> its box in the frame."""
    from edge.detect import Line
    from edge.line_reader import LINE_MARGIN, _char_boxes
    level = Line(np.float32([[100, 50], [200, 50], [200, 70], [100, 70]]), 1.0)  # 20 px tall: the cut starts 3 px left
    crop = np.zeros((26, 106), np.uint8)
    assert LINE_MARGIN * 20 == 3
    assert _char_boxes(level, crop, [(3, 13), (50, 60), (100, 130)]) == [(100, 50, 10, 20), (147, 50, 10, 20),
                                                                        (197, 50, 3, 20)]  # cut to the line's box
    # 45 degrees, 28.3 px tall: the cut starts 4.24 px (3 and 3) before the top-left corner, at (97, 47);
    # a 14.1-px span runs to (107, 57), and down the line's height to (87, 77) and (77, 67)
    turned = Line(np.float32([[100, 50], [200, 150], [180, 170], [80, 70]]), 1.0)
    # so x 77-107, y 47-77, cut to the line's box
    assert _char_boxes(turned, np.zeros((36, 150), np.uint8), [(0, 10 * np.sqrt(2))]) == [(80, 50, 27, 27)]


def test_a_decimal_point_is_boxed_by_its_dot():
    """The point of '37.05' was boxed by the ink of its span's columns: the line's height, over the 7 and the 0."""
    from edge.line_reader import LineReader
    image = np.full((480, 640), 255, np.uint8)
    cv2.putText(image, "37.05", (100, 380), cv2.FONT_HERSHEY_SIMPLEX, 2, 0, 4)
    ink = image[330:390, 175:195] < 128  # the point alone: the 7 ends before 175, the 0 starts after 195
    ys, xs = np.nonzero(ink)
    dot = (175 + xs.min(), 330 + ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    (number,) = LineReader().process(image).numbers
    assert number.read == "37.05"
    (point,) = [c.box for c in number.chars if c.char == "."]
    assert within_a_pixel([point], [dot]), (point, dot)


def within_a_pixel(boxes, expected) -> bool:
    """Boxes are found on the cut scaled to the recognizer's height: a pixel either way."""
    return len(boxes) == len(expected) and np.abs(np.subtract(boxes, expected)).max() <= 1


def test_a_character_box_is_its_glyphs_ink_inside_its_span():
    from edge.detect import Line
    from edge.line_reader import _char_boxes
    level = Line(np.float32([[100, 50], [200, 50], [200, 70], [100, 70]]), 1.0)  # the cut starts 3 px left and up
    crop = np.full((26, 106), 220, np.uint8)
    crop[8:20, 20:28] = 30  # a short glyph: 12 rows, 8 columns
    crop[6, 60] = 30  # a speck beside an empty span's edge
    assert within_a_pixel(_char_boxes(level, crop, [(15, 35), (50, 70)]), [(117, 55, 8, 12), (147, 50, 20, 20)])


def test_touching_glyphs_are_parted_at_their_spans_and_a_neighbours_blob_is_not_taken():
    from edge.detect import Line
    from edge.line_reader import _char_boxes
    level = Line(np.float32([[100, 50], [200, 50], [200, 70], [100, 70]]), 1.0)  # the cut starts 3 px left and up
    crop = np.full((26, 106), 220, np.uint8)
    crop[4:24, 10:29] = crop[4:24, 31:50] = 30  # two rings joined at mid-height: one blob
    crop[7:21, 13:26] = crop[7:21, 34:47] = 220
    crop[12:16, 29:31] = 30
    crop[4:24, 75:95] = 30  # a glyph centred right of the third span
    boxes = _char_boxes(level, crop, [(10, 30), (30, 50), (60, 70)])
    assert within_a_pixel(boxes, [(107, 51, 20, 19), (127, 51, 20, 19), (157, 50, 10, 20)])  # cut to the line's box


def test_a_rule_under_the_glyphs_joins_no_blobs():
    """An underline (a cheque's printed line, a plate's frame) touching the glyphs is not ink of them."""
    from edge.detect import Line
    from edge.line_reader import _char_boxes
    level = Line(np.float32([[100, 50], [200, 50], [200, 70], [100, 70]]), 1.0)  # the cut starts 3 px left and up
    crop = np.full((26, 106), 220, np.uint8)
    crop[4:21, 14:26] = crop[4:21, 44:56] = 30  # two glyphs, narrower than their spans
    crop[7:18, 17:23] = crop[7:18, 47:53] = 220
    crop[20:22, 2:104] = 30  # the rule they stand on
    assert within_a_pixel(_char_boxes(level, crop, [(10, 35), (35, 60)]), [(111, 51, 12, 16), (141, 51, 12, 16)])


def test_line_polarity_follows_the_ink_not_the_border():
    """A cut line's margin holds what is around it (white paper around a dark panel, a dark
    frame around a light plate): inside the margin the ink decides, either way, in both."""
    from edge.line_reader import _inside_margin
    from edge.lines import line_ink_is_dark

    def cut(around, ground, ink):  # 32 x 200, the margin (4 px) around a ground with 4 strokes
        line = np.full((32, 200), around, np.uint8)
        line[4:28, 4:196] = ground
        for x in range(20, 180, 40):
            line[8:24, x:x + 5] = ink
        return line

    assert not line_ink_is_dark(_inside_margin(cut(245, 30, 200)))  # lit segments on a panel, paper around
    assert line_ink_is_dark(_inside_margin(cut(245, 30, 5)))  # the same panel with darker marks
    assert line_ink_is_dark(_inside_margin(cut(40, 190, 20)))  # dark letters on a plate, a frame around
    assert not line_ink_is_dark(_inside_margin(cut(40, 190, 250)))  # light letters on it
    assert line_ink_is_dark(np.full((8, 8), 128, np.uint8)) and line_ink_is_dark(np.zeros((0, 5), np.uint8))


def test_a_turned_lines_glyph_is_boxed_by_its_ink_mapped_back_to_the_frame():
    from edge.detect import Line
    from edge.line_reader import _char_boxes
    # 45 degrees, 28.3 px tall: the straightened cut starts at (100, 44), its u axis (1, 1)/sqrt 2 and v (-1, 1)/sqrt 2
    turned = Line(np.float32([[100, 50], [200, 150], [180, 170], [80, 70]]), 1.0)
    crop = np.full((36, 150), 220, np.uint8)
    crop[8:20, 10:20] = 30  # u 10-20, v 8-20: corners at x 92.9-108.5, y 56.7-72.3
    assert _char_boxes(turned, crop, [(5, 25)]) == [(92, 56, 16, 16)]


def test_character_boxes_sit_on_their_glyphs_in_a_frame():
    """CTC peaks come late: the spans are moved back by SPAN_LAG, and boxes cut to the ink."""
    from edge.boxes import iou_matrix
    from edge.line_reader import LineReader
    from edge.types import Frame
    frame = np.full((240, 320), 230, np.uint8)
    text = rendered("40968", height=36)
    frame[90:90 + text.shape[0], 40:40 + text.shape[1]] = text
    ink = (frame < 128).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink)
    glyphs = sorted((tuple(int(v) for v in s[:4]) for s in stats[1:] if s[4] > 20), key=lambda b: b[0])
    (number,) = LineReader(keep_mask=False).process(Frame(frame, 0, 0.0, "t")).numbers
    assert number.read == "40968" and len(glyphs) == 5
    overlaps = [float(iou_matrix([c.box], [g])[0, 0]) for c, g in zip(number.chars, glyphs)]
    assert min(overlaps) > 0.6, overlaps


def test_a_plates_text_is_its_big_rows_top_first_each_left_to_right():
    from convert.devsets import plate_read
    from edge.types import Digits, Number

    def number(text, x, y, h):
        return Number(text, 1.0, (x, y, 10 * len(text), h), Digits())
    two_rows = [number("5HFA", 5, 50, 30), number("SAO PAULO", 0, 0, 9), number("A03", 10, 12, 28)]
    assert plate_read(two_rows) == "A035HFA"  # the state name, a third of their height, is not read
    assert plate_read([number("1234", 60, 22, 30), number("ABC", 0, 20, 32)]) == "ABC1234"
    tilted_in_pieces = [number("1234", 40, 0, 30), number("ABC", 0, 20, 30)]  # middles 20 px apart, side by side
    assert plate_read(tilted_in_pieces) == "ABC1234"
    assert plate_read([]) == ""


def test_sudoku_scoring_keeps_the_readings_inside_the_grid_its_truth_labels():
    from convert.devsets import in_grid
    page = np.full((400, 600, 3), 235, np.uint8)
    cv2.rectangle(page, (150, 60), (450, 360), (20, 20, 20), 4)  # the grid's outline
    for k in range(1, 9):  # its ruled cells
        cv2.line(page, (150 + k * 300 // 9, 60), (150 + k * 300 // 9, 360), (60, 60, 60), 1)
        cv2.line(page, (150, 60 + k * 300 // 9), (450, 60 + k * 300 // 9), (60, 60, 60), 1)
    boxes = np.array([[160, 70, 20, 25], [420, 320, 20, 25], [20, 20, 60, 20], [470, 200, 40, 20]])
    assert in_grid(page, boxes).tolist() == [True, True, False, False]
    assert in_grid(cv2.resize(page, (300, 200)), boxes // 2).tolist() == [True, True, False, False]
    assert in_grid(page, boxes // 2, scale=0.5).tolist() == [True, True, False, False]  # found large, boxes small
    blank = np.full((400, 600), 235, np.uint8)  # no grid found: every reading counts, as before
    assert in_grid(blank, boxes).tolist() == [True] * 4
    assert in_grid(page, np.zeros((0, 4))).tolist() == []


def test_the_smallest_text_check_reads_plain_numbers_and_not_specks():
    from convert.smallest_text import smallest_text
    from edge.detect import TextDetector
    from edge.infer.recognizer import LineRecognizer
    found = smallest_text(TextDetector(), LineRecognizer(), heights=(4, 32), tries=3)
    assert found == {4: 0, 32: 3}  # 2 px in the detector's view is below any line it learned


def test_the_lone_digit_check_counts_lone_digits_read():
    from convert.smallest_text import lone_digits
    from edge.detect import TextDetector
    from edge.infer.recognizer import LineRecognizer
    found = lone_digits(TextDetector(), LineRecognizer(), heights=(4, 96), tries=3)
    assert found[4] == 0 and 1 <= found[96] <= 3 and list(found) == [4, 96]  # none at 4 px, most at 96


def test_the_settings_choice_weighs_small_text_and_lone_digits_as_shares():
    """choose_settings adds these two to the tuning sum: a higher threshold loses both."""
    from convert.detector import small_and_lone
    from edge.detect import TextDetector
    from edge.infer.recognizer import LineRecognizer
    recognizer = LineRecognizer()
    low, high = (small_and_lone(TextDetector(threshold=t), recognizer, tries=4) for t in (0.3, 0.9))
    assert set(low) == {"small_text", "lone_digits"} and all(0 <= v <= 1 for v in low.values())
    assert low["small_text"] >= 0.5 and high["small_text"] < low["small_text"]


def test_the_settings_choice_reads_the_synthetic_text_at_the_levels_it_tries():
    """A level no reading reaches (least line confidence, or the trim at a line's ends) reads
    nothing: the shares follow the levels."""
    from convert.detector import small_and_lone
    from edge.detect import TextDetector
    from edge.infer.recognizer import LineRecognizer
    detector, recognizer = TextDetector(threshold=0.3), LineRecognizer()
    nothing = {"small_text": 0, "lone_digits": 0}
    assert small_and_lone(detector, recognizer, tries=3, min_confidence=1.01) == nothing
    assert small_and_lone(detector, recognizer, tries=3, edge_confidence=1.01, min_confidence=0.0) == nothing
    assert small_and_lone(detector, recognizer, tries=3, edge_confidence=0.0, min_confidence=0.0)["small_text"] > 0


def test_the_settings_choice_scores_each_setting_with_its_own_synthetic_text(monkeypatch):
    """Every (threshold, level, least confidence) tried reads the synthetic text at that setting,
    once, and the best sum wins (the models and the tuning sets are stood in for)."""
    import convert.detector as cd
    import convert.export_lines as el
    import convert.recognizer as cr
    import edge.detect as ed
    import edge.infer.recognizer as er

    class Detector:
        def __init__(self, path=None, threshold=0.5):
            self.threshold, self.metadata = threshold, {}

    read = []

    def shares(detector, recognizer, tries=20, **levels):
        read.append((detector.threshold, levels["edge_confidence"], levels["min_confidence"]))
        hits = (detector.threshold == 0.4) + (levels["edge_confidence"] == 0.6) + (levels["min_confidence"] == 0.2)
        return {"small_text": hits / 3, "lone_digits": 0.0}  # best at 0.4, 0.6 and 0.2 only

    monkeypatch.setattr(ed, "TextDetector", Detector)
    monkeypatch.setattr(er, "LineRecognizer", lambda path=None: None)
    monkeypatch.setattr(el, "int8_predict", lambda recognizer: None)
    monkeypatch.setattr(cr, "line_scores", lambda *a, **k: {})
    monkeypatch.setattr(cd, "end_to_end", lambda make, split: {"orand_exact": 0.5, "plates_exact": 0.5, "sudoku_f1": 0.5})
    monkeypatch.setattr(cd, "small_and_lone", shares)
    settings, _ = cd.choose_settings("detector.tflite", log=lambda *a: None)
    assert settings == {"threshold": 0.4, "edge_confidence": 0.6, "min_confidence": 0.2}
    assert len(set(read)) == len(read) == len(cd.THRESHOLDS) * len(cd.EDGE_LEVELS) + len(cd.MIN_CONFIDENCES) - 1


def test_numbers_side_by_side_come_left_to_right_though_the_right_one_sits_higher():
    from edge.line_reader import LineReader
    from edge.types import Frame
    frame = np.full((240, 320), 230, np.uint8)
    left, right = rendered("3705", height=30), rendered("4821", height=30)
    frame[100:100 + left.shape[0], 20:20 + left.shape[1]] = left
    frame[97:97 + right.shape[0], 180:180 + right.shape[1]] = right  # 3 px higher
    numbers = LineReader(keep_mask=False).process(Frame(frame, 0, 0.0, "t")).numbers
    assert [n.read for n in numbers] == ["3705", "4821"]


def test_uploaded_photos_get_the_closer_look_live_video_does_not():
    from edge.cli import build_parser, make_reader
    from edge.detect import MAX_LINES
    from edge.line_reader import PICTURE_MAX_LINES, PICTURE_TILES
    args = build_parser().parse_args([])
    picture, video = make_reader(args, pictures=True)[0], make_reader(args)[0]
    assert picture.closer_look(picture.still) == (PICTURE_TILES, PICTURE_MAX_LINES)
    assert video.closer_look(video.still) == (1, None) and video.detector.max_lines == MAX_LINES < PICTURE_MAX_LINES
    args = build_parser().parse_args(["--tiles", "2"])
    picture, video = make_reader(args, pictures=True)[0], make_reader(args)[0]
    assert picture.closer_look(picture.still) == (2, PICTURE_MAX_LINES)
    assert video.closer_look(video.still) == (2, None)  # a tiled video still reads at most MAX_LINES a frame
    args = build_parser().parse_args(["--roi", "0,0,320,240"])
    assert make_reader(args)[0].roi == make_reader(args, pictures=True)[0].roi == (0, 0, 320, 240)
    upload = make_reader(args, uploads=True)[0]  # a photo sent to the web view is read whole
    assert upload.roi is None and upload.closer_look(upload.still)[0] == PICTURE_TILES
    for option in ("--min-confidence", "--threshold"):  # the option and its old name
        assert make_reader(build_parser().parse_args([option, "0.7"]))[0].min_confidence == 0.7


def test_a_numbers_box_is_around_its_characters_not_its_line():
    """With --charset digits the letters of 'KWH 4821' are read and dropped; the number's box
    (JSON, MQTT, the overlay) surrounds the digits kept."""
    from edge.line_reader import LineReader
    from edge.types import Frame
    image = np.full((240, 320), 90, np.uint8)
    line = rendered("KWH 4821", height=36)
    image[90:90 + line.shape[0], 10:10 + min(300, line.shape[1])] = line[:, :300]
    numbers = LineReader(keep_mask=False).process(Frame(image, 0, 0.0, "meter")).numbers
    (number,) = [n for n in numbers if n.read == "4821"]
    x, y, w, h = number.box
    left = min(c.box[0] for c in number.chars)
    assert (x, y, x + w, y + h) == (left, min(c.box[1] for c in number.chars),
                                    max(c.box[0] + c.box[2] for c in number.chars),
                                    max(c.box[1] + c.box[3] for c in number.chars))
    assert x > 10 + line.shape[1] * 0.3  # right of 'KWH'


class _Likelier:
    """The shipped recognizer, its readings' scores set so that a picture's tight cuts (the
    second half of its crops) are likelier than its usual ones, or less likely; a tight cut's
    first character is read as '7', so the reading kept shows which cut it came from."""

    def __init__(self, tight_wins: bool):
        from edge.infer.recognizer import LineRecognizer
        self.inner, self.tight_wins, self.batches = LineRecognizer(), tight_wins, []

    def read(self, crops):
        self.batches.append([c.shape for c in crops])
        readings = self.inner.read(crops)
        for i, r in enumerate(readings):
            tight = len(crops) > 1 and i >= len(readings) // 2
            r.score = float(tight == self.tight_wins)
            if tight:
                r.chars[0].char = "7"
        return readings


def _picture_of_4821():
    frame = np.full((240, 320), 230, np.uint8)
    line = rendered("4821", height=30)
    frame[100:100 + line.shape[0], 40:40 + line.shape[1]] = line
    return frame


def test_a_picture_reads_each_line_at_two_cuts_and_keeps_the_likelier_reading():
    """Video reads a line once; a picture also reads it cut tight (PICTURE_MARGIN), in the
    same call, and keeps the reading whose probability is higher. Its boxes land on the glyphs
    either way: they are mapped back with the margin the line was cut with."""
    from edge.line_reader import LineReader
    from edge.types import Frame
    frame = _picture_of_4821()
    video_rec = _Likelier(True)
    usual = LineReader(recognizer=video_rec, keep_mask=False).process(Frame(frame, 0, 0.0, "t"))
    assert len(video_rec.batches) == 1 and len(video_rec.batches[0]) == 1
    tight_rec = _Likelier(True)
    tight = LineReader(recognizer=tight_rec, keep_mask=False, still=True).process(Frame(frame, 0, 0.0, "t"))
    (normal_cut, tight_cut), = tight_rec.batches
    assert tight_cut[0] < normal_cut[0] and tight_cut[1] < normal_cut[1]  # the second crop is the tight one
    assert [n.read for n in usual.numbers] == ["4821"] and [n.read for n in tight.numbers] == ["7821"]
    for a, b in zip(usual.digits.boxes.tolist(), tight.digits.boxes.tolist()):
        assert max(abs(p - q) for p, q in zip(a, b)) <= 1, (a, b)
    kept_usual = LineReader(recognizer=_Likelier(False), keep_mask=False, still=True).process(Frame(frame, 0, 0.0, "t"))
    assert [n.read for n in kept_usual.numbers] == ["4821"]
    assert kept_usual.digits.boxes.tolist() == usual.digits.boxes.tolist()


def test_a_bare_image_gets_a_pictures_closer_look():
    """`process(image)` reads as the app reads a picture file: tiles and PICTURE_MAX_LINES."""
    from edge.line_reader import LineReader
    from edge.types import Frame
    image = np.full((1500, 2000), 230, np.uint8)
    for k in range(6):
        cv2.putText(image, "4711", (150 + 300 * k, 200 + 200 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 20, 2)
    reader = LineReader(keep_mask=False)
    assert reader.process(Frame(image, 0, 0.0, "video")).numbers == []  # 3 px tall in the detector's view
    assert [n.read for n in reader.process(image).numbers].count("4711") >= 5


def test_a_readings_score_is_the_mean_log_of_its_steps_best_probabilities(recognizer):
    from edge.lines import normalize_line
    crop = rendered("3705", height=30)
    probs, = recognizer.probabilities([normalize_line(crop)])
    reading, = recognizer.read([crop])
    assert reading.text == "3705"
    assert reading.score == pytest.approx(float(np.log(probs.max(axis=1)).mean()), abs=1e-6)
    assert reading.score < 0


def test_an_roi_limits_what_is_read_and_its_boxes_are_in_frame_pixels():
    """Only the number inside the ROI is read, boxed on its glyphs in the frame's pixels (lines
    found in the ROI's own pixels would be cut 100 px up and left of it, from blank paper)."""
    from edge.line_reader import LineReader
    from edge.types import Frame
    frame = np.full((480, 640), 230, np.uint8)
    left, right = rendered("3705", height=40), rendered("4821", height=40)
    frame[10:10 + left.shape[0], 30:30 + left.shape[1]] = left
    frame[340:340 + right.shape[0], 400:400 + right.shape[1]] = right
    ink = np.argwhere(frame[200:, 300:] < 128) + (200, 300)  # the right number's glyphs (row, column)
    whole = LineReader(keep_mask=False).process(Frame(frame, 0, 0.0, "t")).numbers
    assert [n.read for n in whole] == ["3705", "4821"]
    numbers = LineReader(roi=(100, 100, 540, 380), keep_mask=False).process(Frame(frame, 0, 0.0, "t")).numbers
    assert [n.read for n in numbers] == ["4821"]
    x, y, w, h = numbers[0].box
    assert np.abs(np.subtract((y, x, y + h - 1, x + w - 1), [*ink.min(axis=0), *ink.max(axis=0)])).max() <= 2, \
        (numbers[0].box, ink.min(axis=0), ink.max(axis=0))


def test_one_place_read_twice_keeps_the_surer_number():
    """A picture's tiles and its whole view can each read one place: the surer reading stays."""
    from edge.line_reader import _one_per_place
    from edge.types import Digits, Number
    a = Number("2", 0.8, (637, 370, 50, 59), Digits())
    b = Number("2", 0.9, (646, 374, 33, 49), Digits())  # inside a: one place
    c = Number("9", 0.7, (672, 374, 33, 49), Digits())  # 15 of its 33 columns inside a: under half
    d = Number("0", 0.95, (565, 508, 39, 33), Digits())
    e = Number("9", 0.6, (568, 508, 31, 50), Digits())  # over half of d's box
    assert _one_per_place([a, b, c, d, e]) == [b, c, d]
    assert _one_per_place([c, a]) == [c, a]


def test_a_sudoku_photo_reads_each_place_once(data_root):
    """image1000.jpg read a cell's 2 twice, once in the whole view and once in a tile."""
    from edge.line_reader import LineReader
    path = need(data_root / "sudoku-train" / "image1000.jpg", "sudoku-train")
    numbers = LineReader(keep_mask=False, still=True).process(cv2.imread(str(path))).numbers
    boxes = [n.box for n in numbers]
    shared = [(i, j) for i, p in enumerate(boxes) for j, q in enumerate(boxes[:i])
              if max(0, min(p[0] + p[2], q[0] + q[2]) - max(p[0], q[0]))
              * max(0, min(p[1] + p[3], q[1] + q[3]) - max(p[1], q[1])) > 0.5 * min(p[2] * p[3], q[2] * q[3])]
    assert len(numbers) >= 20 and shared == []


def test_boxes_stay_inside_the_roi_when_a_number_crosses_its_edge():
    """--roi reads only inside it: a number whose glyphs reach past its edge is boxed up to the edge."""
    from edge.line_reader import LineReader
    from edge.types import Frame
    frame = np.full((480, 640), 230, np.uint8)
    number = rendered("4821", height=40)
    frame[300:300 + number.shape[0], 200:200 + number.shape[1]] = number
    top = int(np.argwhere(frame < 128)[:, 0].min()) + 4  # through the glyphs' tops
    roi = (150, top, 400, 150)
    numbers = LineReader(roi=roi, keep_mask=False).process(Frame(frame, 0, 0.0, "t")).numbers
    assert [n.read for n in numbers] == ["4821"]
    boxes = [numbers[0].box, *(c.box for c in numbers[0].chars), *numbers[0].digits.boxes.tolist()]
    assert all(x >= roi[0] and y >= roi[1] and x + w <= roi[0] + roi[2] and y + h <= roi[1] + roi[3]
               for x, y, w, h in boxes), (roi, boxes)


def test_a_frames_time_is_told_by_stage():
    """The bench's columns: characters' boxes were counted as tracking ('group_track')."""
    from edge.line_reader import LineReader
    from edge.types import Frame
    result = LineReader(keep_mask=False).process(Frame(rendered("4821"), 0, 0.0, "t"))
    assert list(result.timings_ms) == ["detect", "cut", "recognize", "chars", "track"]
    assert all(v >= 0 for v in result.timings_ms.values()) and result.latency_ms == sum(result.timings_ms.values())
