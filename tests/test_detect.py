"""The learned reader's geometry: core maps to lines, lines cut straight, characters kept by
charset, and the detector's training targets read back by the runtime's own decoding."""
import numpy as np
import pytest

from conftest import need_module, with_random_stem
from edge.detect import INPUT_SIZE, OUTPUT_STRIDE, Line, cut_line, letterbox, lines_from_map
from edge.infer.recognizer import Char, LineReading
from edge.line_reader import keep_chars


def box(x, y, w, h):
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def test_a_core_map_grows_back_into_its_line():
    from convert.detector import target_map
    line = box(40, 60, 120, 24)  # input pixels
    core, weight = target_map([line], [])
    assert core.shape == (INPUT_SIZE[1] // OUTPUT_STRIDE, INPUT_SIZE[0] // OUTPUT_STRIDE)
    (found,) = lines_from_map(core, 0.5)
    assert np.abs(found.corners - line).max() <= 3  # within a cell and a half of the truth


@pytest.mark.parametrize("height", [10, 16, 24, 40])
@pytest.mark.parametrize("aspect", [0.6, 4.0])
def test_small_lines_and_single_digits_come_back_their_own_size(height, aspect):
    """A core is a few cells tall: decoding around its cells, not through their centres, keeps
    a 10-px digit 10 px tall (through the centres it came back 6 px)."""
    from convert.detector import target_map
    core, _ = target_map([box(41.3, 60.7, aspect * height, height)], [])
    (found,) = lines_from_map(core, 0.5)
    assert abs(found.height - height) <= OUTPUT_STRIDE
    assert found.box[2] >= aspect * height - OUTPUT_STRIDE


def test_lines_apart_stay_apart_and_specks_are_dropped():
    from convert.detector import target_map
    core, _ = target_map([box(20, 20, 100, 20), box(20, 48, 100, 20), box(150, 20, 60, 20)], [])
    core[100, 100] = 1.0  # a single cell: noise
    found = lines_from_map(core, 0.5)
    assert len(found) == 3


def test_a_digit_standing_apart_joins_its_line_but_lines_side_by_side_stay_apart():
    """A seven-segment '1' sits at the right of its cell: its core splits from the rest of the
    number and grew into a line read '1' of its own. Lines spaced as the scenes space them
    (0.3 of their height) stay two."""
    from convert.detector import target_map
    core, _ = target_map([box(40, 60, 12, 40), box(56, 60, 80, 40)], [])
    (found,) = lines_from_map(core, 0.5)
    assert found.box[0] <= 42 and found.box[0] + found.box[2] >= 134
    core, _ = target_map([box(40, 60, 80, 40), box(132, 60, 80, 40)], [])
    assert len(lines_from_map(core, 0.5)) == 2


def test_long_tilted_lines_stacked_on_a_page_stay_apart():
    """Their cores' upright boxes overlap one another: only pieces side by side may join."""
    import cv2
    from convert.detector import target_map
    rot = cv2.getRotationMatrix2D((160, 120), 8, 1.0)
    lines = [cv2.transform(box(60, 100 + 16 * k, 200, 12)[None], rot)[0] for k in range(3)]
    core, _ = target_map(lines, [])
    found = lines_from_map(core, 0.5)
    assert len(found) == 3 and all(ln.height < 20 for ln in found)


def test_a_lone_characters_core_is_boxed_level():
    """A few cells in a plus: their tightest rectangle stands at 45 degrees, and the digit
    would be cut as a diamond."""
    core = np.zeros((INPUT_SIZE[1] // OUTPUT_STRIDE, INPUT_SIZE[0] // OUTPUT_STRIDE), np.float32)
    for y, x in [(50, 61), (51, 60), (51, 61), (51, 62), (52, 61)]:
        core[y, x] = 1.0
    (found,) = lines_from_map(core, 0.5)
    tl, tr, br, bl = found.corners
    assert tl[1] == tr[1] and bl[1] == br[1] and tl[0] == bl[0]
    assert abs(found.corners[:, 0].mean() / OUTPUT_STRIDE - 61.5) < 0.01


def test_a_tilted_line_is_found_tilted_and_cut_straight():
    from convert.detector import target_map
    import cv2
    rot = cv2.getRotationMatrix2D((150, 100), 10, 1.0)
    tilted = cv2.transform(box(80, 85, 140, 30)[None], rot)[0]
    core, _ = target_map([tilted], [])
    (found,) = lines_from_map(core, 0.5)
    direction = found.corners[1] - found.corners[0]
    assert np.degrees(np.arctan2(-direction[1], direction[0])) == pytest.approx(10, abs=3)
    frame = np.full((INPUT_SIZE[1], INPUT_SIZE[0]), 200, np.uint8)
    cv2.fillPoly(frame, [np.round(tilted).astype(np.int32)], 30)
    crop = cut_line(frame, found, margin=0.0)
    assert abs(crop.shape[1] / crop.shape[0] - 140 / 30) < 0.8
    assert (crop[crop.shape[0] // 2, crop.shape[1] // 4: 3 * crop.shape[1] // 4] < 100).all()


def test_ignored_regions_weigh_nothing():
    from convert.detector import target_map
    core, weight = target_map([], [box(0, 0, 40, 40)])
    assert core.max() == 0 and weight[:10, :10].max() == 0 and weight[-1, -1] == 1


def test_a_level_line_is_a_plain_slice_with_its_margin():
    frame = np.arange(200 * 300, dtype=np.int64).reshape(200, 300).astype(np.uint8)
    crop = cut_line(frame, Line(box(50, 40, 100, 20), 1.0), margin=0.1)
    assert crop.shape == (24, 104)
    assert np.array_equal(crop, frame[38:62, 48:152])


def test_letterbox_keeps_the_aspect():
    small, scale = letterbox(np.zeros((720, 1280), np.uint8))
    assert small.shape == (INPUT_SIZE[1], INPUT_SIZE[0]) and scale == pytest.approx(0.25)


def test_letterbox_never_enlarges_a_small_image():
    """The detector learned lines up to a third of its input's height: an 80x60 image stays 80x60."""
    image = np.random.default_rng(0).integers(0, 256, (60, 80), dtype=np.uint8)
    small, scale = letterbox(image)
    assert scale == 1.0 and small.shape == (INPUT_SIZE[1], INPUT_SIZE[0])
    assert np.array_equal(small[:60, :80], image)  # its own pixels, padded right and below


def reading(text, conf=0.9):
    return LineReading(text, conf, [Char(c, conf, 10 * i, 10 * i + 8) for i, c in enumerate(text)])


@pytest.mark.parametrize("text, digits, alnum", [
    ("ABC1234", "1234", "ABC1234"),
    ("12.50", "12.50", "12.50"),
    ("-40", "-40", "-40"),
    ("5-", "5", "5-"),
    ("KG", "", "KG"),
    ("1/2A", "1/2", "1/2A"),
    ("AB-1234", "1234", "AB-1234"),
])
def test_charsets_keep_what_they_promise(text, digits, alnum):
    r = reading(text)
    assert "".join(r.chars[i].char for i in keep_chars(r, "digits")) == digits
    assert "".join(r.chars[i].char for i in keep_chars(r, "alnum")) == alnum


def test_unsure_symbols_and_ends_are_trimmed_but_not_the_middle():
    from edge.line_reader import trim_unsure
    chars = [Char(c, p, 10 * i, 10 * i + 8) for i, (c, p) in enumerate(zip("112.581", [0.6, .9, .9, .5, .9, .4, .6]))]
    r = LineReading("112.581", 0.4, chars)
    kept = trim_unsure(r, list(range(7)), 0.7)
    assert "".join(chars[i].char for i in kept) == "1258"  # '1' at each end and the '.' go; the unsure '8' stays


def test_tiles_add_lines_the_whole_view_missed_and_drop_covered_ones():
    from edge.detect import _without_covered
    whole = Line(box(0, 0, 200, 40), 0.9)
    part_of_it = Line(box(100, 5, 80, 30), 0.95)
    elsewhere = Line(box(300, 300, 30, 12), 0.8)
    kept = _without_covered([whole, part_of_it, elsewhere])
    assert kept == [whole, elsewhere]


def test_a_line_tiny_in_the_whole_view_is_left_to_a_tile_that_holds_it(monkeypatch):
    """The whole view's outline of a line a few pixels tall is rough; a tile's is not. A tiny
    line no tile holds whole stays, or the tiles would cut it in pieces."""
    from edge import detect
    detector = detect.TextDetector()
    big = np.zeros((1500, 2000), np.uint8)  # the whole view sees it at 0.16; tiles start at x 0, 583, 1166

    def lines_in(gray, ox, oy):
        if gray.shape == big.shape:  # 30-px lines (5 px there): one inside the first tile, one across two
            return [Line(box(100, 100, 300, 30), 0.9), Line(box(500, 1200, 400, 30), 0.9),
                    Line(box(800, 700, 900, 200), 0.9)]
        return [Line(box(100, 102, 300, 26), 0.8)] if (ox, oy) == (0, 0) else []
    monkeypatch.setattr(detector, "_lines_in", lines_in)
    found = sorted(ln.box for ln in detector.detect(big, tiles=3))
    assert found == [(100, 102, 300, 26), (500, 1200, 400, 30), (800, 700, 900, 200)]
    assert len(detector.detect(big, tiles=1)) == 3  # without tiles, the whole view is all there is


def test_small_text_in_a_large_picture_needs_tiles(tmp_path):
    """A 2000x1500 picture with 19-px digits (3 px in the detector's 320x240 view)."""
    import cv2
    from conftest import ROOT
    if not (ROOT / "models" / "detector.tflite").exists():
        pytest.fail("the shipped detector is missing")
    from edge.detect import TextDetector
    image = np.full((1500, 2000), 230, np.uint8)
    places = [(150 + 300 * k, 200 + 200 * k) for k in range(6)]
    for x, y in places:
        cv2.putText(image, "4711", (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.7, 20, 2)
    detector = TextDetector()
    found = detector.detect(image, tiles=3)
    hits = sum(any(x - 10 < ln.corners[:, 0].mean() < x + 63 and y - 25 < ln.corners[:, 1].mean() < y + 5
                   for ln in found) for x, y in places)
    assert hits >= 5 and detector.detect(image, tiles=1) == []


def test_tiny_detector_trains_exports_and_its_int8_model_agrees_with_keras(tmp_path):
    need_module("tensorflow")
    from convert.detector import _scene_chunk, export, train
    from edge.detect import TextDetector

    from convert.detector import build_model
    images, core, weight = _scene_chunk((48, 1, {}))  # in this process: no fork after TensorFlow's threads
    start = build_model()
    before = [w.copy() for w in start.get_weights()]
    model, history = train(images, core, weight, epochs=2, batch=16, model=start, log=lambda m: None)
    assert history["loss"][1] < history["loss"][0]
    assert model is start and all(type(layer).__name__ != "FusedBatchNorm" for layer in model.layers)
    assert all(np.abs(w - b).max() > 1e-5 for w, b in zip(model.get_weights(), before))  # trained weights back
    keras_path = tmp_path / "detector.keras"
    model.save(keras_path)
    np.save(tmp_path / "detector.representative.npy", images[:16])
    export(keras_path, tmp_path / "detector.tflite")
    detector = TextDetector(tmp_path / "detector.tflite")  # the app's own loader accepts it
    floats = model.predict(images[:4, :, :, None], verbose=0)[..., 0]
    int8 = np.stack([detector.core_map(image) for image in images[:4]])
    assert int8.shape == floats.shape == (4, INPUT_SIZE[1] // OUTPUT_STRIDE, INPUT_SIZE[0] // OUTPUT_STRIDE)
    assert np.abs(int8 - floats).mean() < 0.02


def test_the_sub_pixel_output_lays_each_quarter_cell_out_as_its_two_by_two_cells():
    """The last conv's 4 channels are a 1/4 cell's top-left, top-right, bottom-left and
    bottom-right cells of the 1/2 map: a mix-up would shift every core by a cell."""
    need_module("tensorflow")
    import keras
    from convert.detector import build_model
    model = build_model()
    last = [layer for layer in model.layers if layer.weights][-1]
    frame = np.random.default_rng(0).uniform(0, 255, (1, INPUT_SIZE[1], INPUT_SIZE[0], 1)).astype(np.float32)
    logits = keras.Model(model.input, last.output).predict(frame, verbose=0)[0]
    core = model.predict(frame, verbose=0)[0, :, :, 0]
    assert core.shape == (INPUT_SIZE[1] // OUTPUT_STRIDE, INPUT_SIZE[0] // OUTPUT_STRIDE)
    for dy in (0, 1):
        for dx in (0, 1):
            want = 1 / (1 + np.exp(-logits[:, :, 2 * dy + dx]))
            assert np.allclose(core[dy::2, dx::2], want, atol=1e-5), (dy, dx)


def test_the_blocked_stem_computes_what_the_trained_stem_does():
    """The export's stem, one conv on 4x4 blocks of pixels giving each block's 2x2 outputs, is
    the trained stride-2 conv (padded at the bottom and right): a misplaced tap shifts the map."""
    need_module("tensorflow")
    import keras
    from convert.detector import build_model
    from convert.stem import blocked_weights
    rng = np.random.default_rng(6)
    plain, blocked = build_model(), build_model(blocked_stem=True)
    weights = with_random_stem(plain, rng)
    blocked.set_weights(blocked_weights(weights, strided=True))
    frame = rng.uniform(0, 255, (1, INPUT_SIZE[1], INPUT_SIZE[0], 1)).astype(np.float32)
    first_relu = next(layer for layer in plain.layers if type(layer).__name__ == "ReLU")
    want = keras.Model(plain.input, first_relu.output).predict(frame, verbose=0)  # the 1/2 features
    cells = keras.Model(blocked.input, blocked.get_layer("cells").output).predict(frame, verbose=0)
    assert cells.shape == want.shape and np.allclose(cells, want, atol=1e-4)
    assert np.allclose(blocked.predict(frame, verbose=0), plain.predict(frame, verbose=0), atol=1e-4)


def _half_resolution_detector():
    """The detector's earlier design (a 1/2-resolution stage, one output channel), untrained."""
    import keras
    from keras import layers

    def sep(x, filters, stride=1):
        x = layers.ReLU()(layers.BatchNormalization()(layers.DepthwiseConv2D(3, stride, "same", use_bias=False)(x)))
        return layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(filters, 1, use_bias=False)(x)))

    def lateral(x, filters):
        return layers.BatchNormalization()(layers.Conv2D(filters, 1, use_bias=False)(x))

    inputs = keras.Input((INPUT_SIZE[1], INPUT_SIZE[0], 1))
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(layers.Rescaling(1 / 255.0)(inputs))
    f2 = layers.ReLU()(layers.BatchNormalization()(x))
    f4 = sep(sep(f2, 24, 2), 24)
    f8 = sep(sep(f4, 48, 2), 48)
    f16 = sep(sep(sep(f8, 64, 2), 64), 64)
    x = sep(layers.ReLU()(layers.Add()([layers.UpSampling2D()(lateral(f16, 32)), lateral(f8, 32)])), 32)
    x = sep(layers.ReLU()(layers.Add()([layers.UpSampling2D()(x), lateral(f4, 32)])), 24)
    x = sep(layers.ReLU()(layers.Add()([layers.UpSampling2D()(x), lateral(f2, 24)])), 16)
    return keras.Model(inputs, layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x))


def test_a_detector_of_the_earlier_design_is_grafted_onto_the_sub_pixel_head(tmp_path):
    """--init with a 1/2-resolution detector: its backbone and last block copied, its 1/2
    lateral left out, its output kernel repeated for each sub-pixel; a model of neither design refused."""
    need_module("tensorflow")
    import keras
    from convert.detector import build_model, start_from
    old = _half_resolution_detector()
    rng = np.random.default_rng(0)
    old.set_weights([rng.normal(0, 1, w.shape).astype(np.float32) for w in old.get_weights()])
    old.save(tmp_path / "old.keras")
    new = build_model()
    assert start_from(new, tmp_path / "old.keras")["grafted"]
    source = [layer.get_weights() for layer in old.layers if layer.weights]
    target = [layer.get_weights() for layer in new.layers if layer.weights]
    assert all(np.array_equal(a, b) for s, t in zip(source[:-7], target[:-5]) for a, b in zip(s, t))
    assert all(np.array_equal(a, b) for s, t in zip(source[-5:-1], target[-5:-1]) for a, b in zip(s, t))
    kernel, bias = target[-1]
    assert all(np.array_equal(kernel[..., k], source[-1][0][..., 0]) and bias[k] == source[-1][1][0] for k in range(4))
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]).save(tmp_path / "other.keras")
    with pytest.raises(ValueError, match="not a detector"):
        start_from(build_model(), tmp_path / "other.keras")


def test_a_row_of_two_numbers_is_two_lines_apart_on_one_baseline():
    """Rows teach the detector that numbers about a height apart are two lines: each extent
    must hold its own ink, the two a gap apart on one baseline (a plate's border may lie in it)."""
    from convert.detector import ROW_GAP, row_of_lines
    for seed in range(12):
        ink, (a, b) = row_of_lines(np.random.default_rng(seed), {})
        assert 0 <= a[0] < a[2] <= b[0] < b[2] <= ink.shape[1] and max(a[3], b[3]) <= ink.shape[0]
        assert a[3] == b[3]
        assert ROW_GAP[0] * (a[3] - a[1]) - 1 <= b[0] - a[2] <= ROW_GAP[1] * (a[3] - a[1]) + 1
        for x0, y0, x1, y1 in (a, b):
            assert ink[y0:y1, x0:x1].max() > 0.3


def test_a_pasted_row_comes_back_as_two_lines_each_on_its_ink():
    import cv2
    from convert.detector import H, W, _paste, row_of_lines
    pasted = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        ink, extents = row_of_lines(rng, {})
        image = np.full((H, W), 128, np.float32)
        parts = _paste(image, np.clip(ink, 0, 1), extents, rng, [])
        if parts is None:  # too big for the frame at the size drawn
            continue
        pasted += 1
        assert len(parts) == 2
        area, _ = cv2.intersectConvexConvex(parts[0].astype(np.float32), parts[1].astype(np.float32))
        assert area < 1.0
        for part in parts:
            mask = np.zeros((H, W), np.uint8)
            cv2.fillPoly(mask, [np.round(part).astype(np.int32)], 1)
            inside = image[mask > 0]
            assert inside.size and np.abs(inside - np.median(inside)).max() > 15  # ink may be clipped at 0 or 255
    assert pasted >= 10


def test_a_placed_page_carries_its_line_boxes_onto_its_ink():
    """Pages go into scenes turned and in perspective: each labelled box must still sit on its ink."""
    import cv2
    from convert.detector import _height, _place
    page = np.full((300, 300), 220, np.float32)
    boxes = [box(40 + 80 * k, 60 + 70 * k, 40, 50) for k in range(3)]
    for b in boxes:
        cv2.fillPoly(page, [b.astype(np.int32)], 10)
    for seed in range(20):
        image = np.full((INPUT_SIZE[1], INPUT_SIZE[0]), 128, np.float32)
        image, kept, cut = _place(image, page, boxes, np.random.default_rng(seed))
        for b in kept:
            for corner in b.mean(axis=0) + 0.7 * (b - b.mean(axis=0)):  # each corner, pulled in a little
                x, y = int(corner[0]), int(corner[1])
                if 0 <= x < image.shape[1] and 0 <= y < image.shape[0] and _height(b) >= 8:
                    assert image[y, x] < 60, (seed, b)


def test_a_page_shrunk_into_a_scene_is_averaged_not_aliased():
    """Warps ignore INTER_AREA: a fine pattern shrunk fivefold must come out grey, not as noise."""
    from convert.detector import _place
    page = np.random.default_rng(0).uniform(0, 255, (400, 400)).astype(np.float32)
    tall = [np.array([[0, 0], [40, 0], [40, 300], [0, 300]], np.float32)]  # lines 300 px tall: shrunk to 6-90
    spreads = []
    for seed in range(10):
        image, _, _ = _place(np.full((INPUT_SIZE[1], INPUT_SIZE[0]), -1, np.float32), page, tall,
                             np.random.default_rng(seed))
        spreads.append(image[image >= 0].std())
    assert np.median(spreads) < 25  # aliased: about 60


def test_a_grid_page_boxes_each_number_tight_on_its_ink_and_off_the_rules():
    """The printed-grid pages teach lone digits in cells: each box must hold ink at all four
    of its sides, and no ruled line may run through or along a box."""
    from convert.detector import grid_page
    for seed in range(60):
        page, boxes = grid_page(np.random.default_rng(seed))
        away = np.abs(page.astype(np.float32) - np.median(page))
        ink = away > 0.15 * away.max()
        rule_rows = np.flatnonzero(ink.mean(axis=1) > 0.9)  # a rule crosses the whole page
        rule_cols = np.flatnonzero(ink.mean(axis=0) > 0.9)
        assert len(rule_rows) >= 4 and len(rule_cols) >= 4, seed
        for b in boxes:
            x0, y0 = b.min(axis=0).astype(int)
            x1, y1 = b.max(axis=0).astype(int)
            inside = ink[y0:y1, x0:x1]
            edges = inside[:2], inside[-2:], inside[:, :2], inside[:, -2:]  # a resized glyph's edge is faint
            assert all(e.any() for e in edges), (seed, b)
            assert not any(y0 - 1 <= r <= y1 for r in rule_rows), (seed, b)
            assert not any(x0 - 1 <= c <= x1 for c in rule_cols), (seed, b)


def _one_line_reader(read, width: int, pitch: int, charset: str = "digits"):
    """A LineReader whose detector finds one line at x 20 and whose recognizer reads `read()` ->
    (text, confidences) in it, a character every `pitch` px."""
    from edge.line_reader import LineReader

    class Detector:
        max_lines, metadata = 32, {}

        def detect(self, gray, roi=None, tiles=1, max_lines=None):
            return [Line(box(20, 40, width, 20), 0.9)]

    class Recognizer:
        def read(self, crops):
            text, confidences = read()
            chars = [Char(c, p, pitch * i, pitch * i + 0.8 * pitch) for i, (c, p) in enumerate(zip(text, confidences))]
            return [LineReading(text, min(confidences), chars) for _ in crops]

    return LineReader(Detector(), Recognizer(), charset, keep_mask=False, edge_confidence=0.5, min_confidence=0.5)


@pytest.mark.parametrize("text,confidences,digits,alnum", [
    ("A1B2", None, ["1", "2"], ["A1B2"]),  # a letter between digits parts them: no '12' read
    ("KWH4821", None, ["4821"], ["KWH4821"]),
    ("SN12A34", None, ["12", "34"], ["SN12A34"]),
    ("12A-34", None, ["12", "34"], ["12A-34"]),  # no minus sign after a letter
    ("12.58", [.9, .9, .3, .9, .9], ["1258"], ["1258"]),  # an unsure symbol dropped parts nothing
    ("12X55", [.9, .9, .9, .3, .9], ["12"], []),  # the unsure part alone falls below the least confidence
])
def test_a_lines_numbers_are_parted_where_a_dropped_letter_stood(text, confidences, digits, alnum):
    from edge.types import Frame
    confidences = confidences or [0.9] * len(text)
    frame = Frame(np.full((120, 160), 200, np.uint8), 0, 0.0, "t")
    for charset, want in (("digits", digits), ("alnum", alnum)):
        reader = _one_line_reader(lambda: (text, confidences), 10 * len(text), 10, charset)
        numbers = reader.process(frame).numbers
        assert [n.read for n in numbers] == want, charset
        assert all(n.box[0] >= 20 and n.box[0] + n.box[2] <= 20 + 10 * len(text) for n in numbers)


def test_numbers_parted_in_one_line_keep_their_own_tracks_in_video():
    """'A1B2' with its '1' unsure at first: the '2' settles alone, then the '1' joins; neither
    takes the other's votes, and the '2' is announced once."""
    from edge.types import Frame
    confidences = {"unsure": [.9, .2, .9, .9], "sure": [.9] * 4}
    state = {"now": "unsure"}
    reader = _one_line_reader(lambda: ("A1B2", confidences[state["now"]]), 80, 20)
    image, tracks, events = np.full((120, 160), 200, np.uint8), {}, []
    for i in range(8):
        state["now"] = "unsure" if i < 3 else "sure"
        result = reader.process(Frame(image, i, float(i), "video"))
        for n in result.numbers:
            tracks.setdefault(n.track_id, set()).add(n.read)
        events += [e.text for e in result.events]
    assert sorted(map(sorted, tracks.values())) == [["1"], ["2"]]
    assert sorted(events) == ["1", "2"]


def test_a_unit_read_in_some_frames_only_does_not_start_a_new_track():
    """'12KWHXYZ' then '12': the number keeps its track and is announced once."""
    from edge.types import Frame
    state = {"text": "12KWHXYZ"}
    reader = _one_line_reader(lambda: (state["text"], [0.9] * len(state["text"])), 160, 20)
    image, ids, events = np.full((120, 240), 200, np.uint8), set(), []
    for i in range(8):
        state["text"] = "12KWHXYZ" if i < 4 else "12"
        result = reader.process(Frame(image, i, float(i), "video"))
        ids |= {n.track_id for n in result.numbers}
        events += [e.text for e in result.events]
    assert len(ids) == 1 and events == ["12"]
