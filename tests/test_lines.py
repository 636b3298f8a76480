"""The line recognizer's pieces: normalize_line, CTC decoding, character spans, and a tiny
model trained and exported here whose int8 interpreter agrees with Keras."""
import cv2
import numpy as np
import pytest

from conftest import need_module, rendered, with_random_stem
from edge.ctc import greedy_decode
from edge.lines import (BLANK, CHARSET, HEIGHT, STEP, WIDTHS, bucket, encode, line_batch, normalize_line, pad_line,
                        percentiles_u8)


# -- normalize_line --------------------------------------------------------------------------
@pytest.mark.parametrize("dark_ink", [True, False])
def test_normalize_line_keeps_polarity_and_stretches(dark_ink):
    line = normalize_line(rendered("1258", dark_ink))
    assert line.shape[0] == HEIGHT and line.dtype == np.uint8
    assert line.min() == 0 and line.max() == 255
    border = np.concatenate([line[0], line[-1]]).mean()
    assert (border > 128) == dark_ink  # the paper stays the paper: the model reads both


def test_normalize_line_keeps_the_aspect_and_caps_the_width():
    assert normalize_line(np.tile(np.arange(100, dtype=np.uint8), (50, 1))).shape == (HEIGHT, 64)
    wide = normalize_line(np.random.default_rng(0).integers(0, 255, (20, 2000), np.uint8))
    assert wide.shape == (HEIGHT, WIDTHS[-1])


def test_a_line_a_little_wider_than_the_narrowest_bucket_is_squeezed_into_it():
    ramp = lambda w: np.tile(np.linspace(0, 255, w).astype(np.uint8), (64, 1))  # noqa: E731
    widths = {w: normalize_line(ramp(w)).shape[1] for w in (60, 64, 66, 68, 72, 74, 80, 100, 140)}
    assert widths == {60: 30, 64: 32, 66: 32, 68: 32, 72: 32, 74: 37, 80: 40, 100: 50, 140: 70}


@pytest.mark.parametrize("crop", [np.zeros((0, 10), np.uint8), np.zeros((1, 50), np.uint8), np.full((40, 90), 128, np.uint8),
                                  np.zeros((5, 5, 4), np.uint16), np.full((30, 60), np.nan, np.float32)])
def test_normalize_line_degenerate_inputs_are_black(crop):
    line = normalize_line(crop)
    assert line.shape[0] == HEIGHT and line.max() == 0


def test_normalize_line_colour_and_16_bit_read_like_grey():
    grey = rendered("42")
    assert np.array_equal(normalize_line(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)), normalize_line(grey))
    assert np.array_equal(normalize_line(grey.astype(np.uint16) << 8), normalize_line(grey))


def test_histogram_percentiles_are_numpys_to_the_last_bit():
    """normalize_line stretches by these: training lines were made with np.percentile."""
    rng = np.random.default_rng(0)
    for i in range(3000):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 300))
        image = [rng.integers(0, 256, (h, w)), rng.integers(100, 104, (h, w)),
                 np.where(rng.random((h, w)) < rng.random(), 200, 20)][i % 3].astype(np.uint8)
        percents = (2, 98) if i % 2 else (0, 37.5, 50, 100)
        assert percentiles_u8(image, percents) == np.percentile(image, percents).tolist(), (image.shape, percents)
    for image in (np.full((1, 1), 7, np.uint8), np.zeros((3, 1), np.uint8), np.full((32, 90), 255, np.uint8)):
        assert percentiles_u8(image, (0, 2, 98, 100)) == np.percentile(image, (0, 2, 98, 100)).tolist()


def test_padding_repeats_the_last_column_and_buckets_round_up():
    line = np.tile(np.arange(10, dtype=np.uint8), (HEIGHT, 1))
    padded = pad_line(line, 32)
    assert padded.shape == (HEIGHT, 32) and (padded[:, 10:] == 9).all()
    assert line_batch([line, line[:, :3]], 32).shape == (2, HEIGHT, 32, 1)
    assert [bucket(w) for w in (1, 32, 33, 49, 129, 193, 256)] == [32, 32, 48, 64, 192, 256, 256]


def test_encode_drops_what_the_charset_lacks():
    assert encode("abc 1·2") == [CHARSET.index(c) for c in "ABC12"]


# -- CTC decoding ----------------------------------------------------------------------------
def steps_of(*classes, sure=0.9):
    probs = np.full((len(classes), BLANK + 1), (1 - sure) / BLANK, np.float32)
    probs[np.arange(len(classes)), classes] = sure
    return probs


def test_greedy_decode_merges_repeats_and_blanks_separate_them():
    one, zero, b = CHARSET.index("1"), CHARSET.index("0"), BLANK
    chars = greedy_decode(steps_of(b, one, one, b, zero, zero, b, zero, b), BLANK)
    assert "".join(CHARSET[c.index] for c in chars) == "100"
    assert [(c.t0, c.t1) for c in chars] == [(1, 3), (4, 6), (7, 8)]


def test_greedy_decode_confidence_is_the_best_step_of_the_character():
    probs = steps_of(CHARSET.index("7"), CHARSET.index("7"), BLANK)
    probs[0, CHARSET.index("7")] = 0.6
    (seven,) = greedy_decode(probs, BLANK)
    assert seven.confidence == pytest.approx(0.9)


def test_greedy_decode_stops_at_the_line_length_and_handles_empty():
    probs = steps_of(CHARSET.index("5"), BLANK, CHARSET.index("6"))
    assert len(greedy_decode(probs, BLANK, length=2)) == 1
    assert greedy_decode(np.zeros((0, BLANK + 1), np.float32), BLANK) == []
    assert greedy_decode(steps_of(BLANK, BLANK), BLANK) == []


# -- a tiny model, trained and exported here -------------------------------------------------
def test_tiny_recognizer_trains_and_its_int8_model_agrees_with_keras(tmp_path):
    need_module("tensorflow")
    from convert.line_synth import synthetic_lines
    from convert.recognizer import SIZES, build_model, to_int8_tflite, train
    from edge.infer.runtime import interpreter_class

    lines, texts, _ = synthetic_lines(256, seed=3)
    start = build_model(**SIZES["tiny"])
    before = [w.copy() for w in start.get_weights()]
    model, history = train(lines, texts, epochs=2, batch=32, model=start, log=lambda m: None)
    assert history["loss"][1] < history["loss"][0]
    assert model is start and type(model.layers[3]).__name__ == "BatchNormalization"  # the plain model back
    assert all(np.abs(w - b).max() > 1e-4 for w, b in zip(model.get_weights(), before))  # every weight trained in
    data = to_int8_tflite(model, lines[:50])  # calibrated at 128 px; the runtime resizes it
    for width in (128, 48):
        it = interpreter_class()[0](model_content=data)
        batch = line_batch(lines[:8], width)
        it.resize_tensor_input(it.get_input_details()[0]["index"], list(batch.shape))
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], batch)
        it.invoke()
        out = it.get_output_details()[0]
        scale, zero = out["quantization"]
        int8 = (it.get_tensor(out["index"]).astype(np.float32) - zero) * scale
        floats = model.predict(batch, verbose=0)
        assert int8.shape == floats.shape == (8, 1, width // STEP, BLANK + 1)
        assert np.abs(int8 - floats).mean() < 0.02


def test_a_student_learns_its_teachers_probabilities():
    """With a teacher (distillation) a network ends nearer the teacher's per-step probabilities
    than the same training without one: the KL term is applied, and with its sign."""
    need_module("tensorflow")
    import keras
    from convert.line_synth import synthetic_lines
    from convert.recognizer import SIZES, build_model, divergence, train

    lines, texts, _ = synthetic_lines(192, seed=4)
    keras.utils.set_random_seed(2)
    teacher = build_model(**SIZES["tiny"])  # says "7" at every step: far from what CTC alone teaches
    kernel, bias = teacher.layers[-1].get_weights()
    bias[CHARSET.index("7")] = 10.0
    teacher.layers[-1].set_weights([kernel, bias])
    batch = line_batch(lines[:64], 128).astype(np.float32)
    gaps = {}
    for weight in (0.0, 1.0):
        keras.utils.set_random_seed(3)
        student = build_model(**SIZES["tiny"], stem_stride=2)
        model, _ = train(lines, texts, epochs=5, batch=32, model=student, log=lambda m: None,
                         teacher=teacher, teacher_weight=weight)
        gaps[weight] = float(np.mean(divergence(teacher(batch), model(batch))))
    assert gaps[1.0] < 0.95 * gaps[0.0], gaps  # the same training without the term stays where CTC leads


@pytest.mark.parametrize("stride", [1, 2])
def test_the_blocked_stem_computes_what_the_trained_stem_does(stride):
    """The export's first conv on blocks of pixels (convert.stem) is the trained conv and its
    max pool (stride 1) or the strided conv: a misplaced kernel tap would shift every line."""
    need_module("tensorflow")
    import keras
    from convert.recognizer import SIZES, build_model
    from convert.stem import blocked_weights
    rng = np.random.default_rng(5)
    plain = build_model(**SIZES["tiny"], stem_stride=stride)
    weights = with_random_stem(plain, rng)
    blocked = build_model(**SIZES["tiny"], stem_stride=stride, blocked_stem=True)
    blocked.set_weights(blocked_weights(weights, strided=stride == 2))
    first = lambda model, kind: next(layer for layer in model.layers if type(layer).__name__ == kind)  # noqa: E731
    ends = ((first(plain, "ReLU"), blocked.get_layer("cells")) if stride == 2 else
            (first(plain, "MaxPooling2D"), first(blocked, "Maximum")))
    stems = [keras.Model(model.input, end.output) for model, end in zip((plain, blocked), ends)]
    for width in (32, 72):
        lines = rng.uniform(0, 255, (2, HEIGHT, width, 1)).astype(np.float32)
        want = stems[0].predict(lines, verbose=0)
        assert want.shape == (2, HEIGHT // 2, width // 2, SIZES["tiny"]["widths"][0])
        assert np.allclose(stems[1].predict(lines, verbose=0), want, atol=1e-4)
        assert np.allclose(blocked.predict(lines, verbose=0), plain.predict(lines, verbose=0), atol=1e-5)


def test_character_spans_widen_to_their_neighbours():
    from edge.infer.recognizer import char_spans
    spans = char_spans([(2, 3), (6, 7), (10, 11)], 14)
    assert spans == [(0.5, 4.5), (4.5, 8.5), (8.5, 12.5)]
    assert char_spans([(3, 4)], 5) == [(1.0, 5.0)]
    assert char_spans([], 10) == []


@pytest.mark.parametrize("seed", range(8))
def test_a_panel_edge_stays_in_a_margin_and_leaves_the_ink_alone(seed):
    from convert.line_synth import _panel_edge
    rng = np.random.default_rng(seed)
    ink = np.zeros((30, 80), np.float32)
    ink[8:22, 12:66] = 1.0  # the text, with margins all round
    image = 200 - 150 * ink
    edged = _panel_edge(image, ink, rng)
    changed = edged != image
    assert not changed[ink > 0].any()  # the glyphs are untouched
    rows, cols = np.nonzero(changed)
    assert rows.size  # every side has room here, so an edge is always drawn
    assert (cols.max() < 12 or cols.min() > 65) or (rows.max() < 8 or rows.min() > 21)  # in one margin


def test_missing_font_packages_are_named_with_the_command_that_installs_them(tmp_path, monkeypatch):
    import convert.line_synth as ls
    (tmp_path / "here" / "sub").mkdir(parents=True)
    (tmp_path / "here" / "sub" / "A.ttf").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(ls, "FONT_PACKAGES", {"fonts-here": str(tmp_path / "here"), "fonts-empty": str(tmp_path / "empty"),
                                              "fonts-gone": str(tmp_path / "gone")})
    assert ls.missing_font_packages() == ["fonts-empty", "fonts-gone"]
    warning = ls.fonts_warning()
    assert "apt-get install fonts-empty fonts-gone" in warning and "fonts-here" not in warning
    monkeypatch.setattr(ls, "FONT_PACKAGES", {"fonts-here": str(tmp_path / "here")})
    assert ls.fonts_warning() is None


def test_word_lines_are_labelled_in_the_charset_upper_case_and_fit_their_line():
    from convert.line_synth import photograph_line, word_line
    from convert.recognizer import fits
    from edge.lines import CHARSET, normalize_line
    rng = np.random.default_rng(5)
    made = [word_line(rng) for _ in range(200)]
    texts = [t for _, t in made]
    assert all(t and set(t) <= set(CHARSET) for t in texts)
    assert 0 < sum(any(c.isdigit() for c in t) for t in texts) < 120  # some carry a number among the words
    assert all(fits(t, normalize_line(photograph_line(ink, rng)).shape[1]) for ink, t in made)  # CTC can read each
