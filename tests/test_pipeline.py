import numpy as np
import pytest

from edge.capture.demo import DemoSource
from edge.pipeline import (
    DigitReader,
    lone_strokes,
    marks_beside_numbers,
    resolve_splits,
    second_look,
    suppress_overlaps,
)
from edge.types import Digits


def test_pieces_win_when_the_model_is_surer_of_them():
    # 0: a wide blob read as "8" (0.6); 1, 2: its two halves read as "0" (0.95, 0.9)
    d = Digits(np.array([[0, 0, 60, 40], [0, 0, 30, 40], [30, 0, 30, 40]]), labels=np.array([8, 0, 0]),
               confidence=np.array([0.6, 0.95, 0.9]), parent=np.array([-1, 0, 0]))
    assert list(resolve_splits(d)) == [False, True, True]


def test_the_whole_wins_when_a_piece_is_rejected_or_less_sure():
    d = Digits(np.array([[0, 0, 60, 40], [0, 0, 30, 40], [30, 0, 30, 40]]), labels=np.array([0, 0, -1]),
               confidence=np.array([0.8, 0.99, 0.7]), parent=np.array([-1, 0, 0]))
    assert list(resolve_splits(d)) == [True, False, False]
    d.labels[2], d.confidence[2] = 0, 0.7
    assert list(resolve_splits(d)) == [True, False, False]


def test_of_several_ways_to_cut_the_surest_wins():
    # a 90 px blob read as nothing; cut in 2 ("4" 0.9, "8" 0.5) or in 3 ("1" 0.9, "0" 0.8, "7" 0.85)
    boxes = [[0, 0, 90, 40], [0, 0, 45, 40], [45, 0, 45, 40], [0, 0, 30, 40], [30, 0, 30, 40], [60, 0, 30, 40]]
    d = Digits(np.array(boxes), labels=np.array([-2, 4, 8, 1, 0, 7]),
               confidence=np.array([0.9, 0.9, 0.5, 0.9, 0.8, 0.85]), parent=np.array([-1, 0, 0, 0, 0, 0]),
               cut=np.array([-1, 0, 0, 1, 1, 1]))
    assert list(resolve_splits(d)) == [False, False, False, True, True, True]
    d.labels[4] = -2  # the three-way cut has a non-digit: the two-way cut wins
    assert list(resolve_splits(d)) == [False, True, True, False, False, False]
    d.labels[0], d.confidence[0] = 3, 0.7  # the whole is a surer "3" than the 0.5 piece
    assert list(resolve_splits(d)) == [True, False, False, False, False, False]


def test_a_rejected_blob_no_way_cuts_cleanly_keeps_the_sure_digits_of_its_best_way():
    # touching zeros read as "not a digit"; the one way cuts them into "0", a piece
    # straddling two zeros (not a digit) and "0"
    boxes = [[0, 0, 90, 30], [0, 0, 30, 30], [30, 0, 30, 30], [60, 0, 30, 30]]
    d = Digits(np.array(boxes), labels=np.array([-2, 0, -2, 0]), confidence=np.array([0.99, 0.99, 0.9, 0.95]),
               parent=np.array([-1, 0, 0, 0]), cut=np.array([-1, 0, 0, 0]))
    assert list(resolve_splits(d)) == [False, True, False, True]
    d.confidence[3] = 0.6  # one sure digit of three pieces: too few, the whole stays
    assert list(resolve_splits(d)) == [True, False, False, False]
    d.confidence[3], d.labels[0] = 0.95, -1  # the whole is unsure, not "not a digit": it stays
    assert list(resolve_splits(d)) == [True, False, False, False]


def test_a_narrow_blob_is_cut_only_when_the_model_does_not_read_it_as_a_digit():
    # a blob 0.8 of its height wide read as "0" (0.6); its halves read as "1" (0.99, 0.95)
    boxes = [[0, 0, 32, 40], [0, 0, 16, 40], [16, 0, 16, 40]]
    d = Digits(np.array(boxes), labels=np.array([0, 1, 1]), confidence=np.array([0.6, 0.99, 0.95]),
               parent=np.array([-1, 0, 0]), cut=np.array([-1, 0, 0]))
    assert list(resolve_splits(d)) == [True, False, False]  # most such blobs are one digit
    d.labels[0] = -2  # not a digit: the halves are two
    assert list(resolve_splits(d)) == [False, True, True]
    d.confidence[2] = 0.8  # ... only if both are sure
    assert list(resolve_splits(d)) == [True, False, False]
    d.confidence[2], d.labels[0] = 0.95, -1  # unsure is not read as a digit either
    assert list(resolve_splits(d)) == [False, True, True]
    d.labels[2] = -2  # a half that is not a digit: the blob stays whole
    assert list(resolve_splits(d)) == [True, False, False]
    d.labels[0], d.labels[2] = 0, 1  # under a lower max_single_aspect the blob is wide: the surer reading wins
    assert list(resolve_splits(d, max_single_aspect=0.7)) == [False, True, True]


def test_overlaps_keep_the_most_confident():
    # a "0" (0.99), its hole read as "1" (0.7), and an unrelated digit
    d = Digits(np.array([[10, 10, 30, 40], [18, 18, 10, 20], [100, 10, 30, 40]]), labels=np.array([0, 1, 5]),
               confidence=np.array([0.99, 0.7, 0.8]))
    kept = suppress_overlaps(d)
    assert sorted(kept.labels.tolist()) == [0, 5]


def test_a_zero_inside_a_word_is_a_letter():
    from edge.infer.classifier import NOT_A_DIGIT
    from edge.pipeline import inside_words
    # "c o l" of a word: letters around an 'o' read as 0; then "7 0" of a number, far from letters
    boxes = np.array([[10, 10, 14, 20], [27, 10, 14, 20], [44, 4, 6, 26], [200, 10, 14, 26], [218, 10, 14, 26]])
    labels = np.array([NOT_A_DIGIT, 0, NOT_A_DIGIT, 7, 0])
    d = Digits(boxes, labels=labels, confidence=np.full(5, 0.9))
    assert list(inside_words(d)) == [False, True, False, False, False]
    d.labels[3] = 7  # a 7 is no lookalike: it is never dropped by this rule
    d.labels[1] = 7
    assert not inside_words(d).any()


def test_a_zero_beside_a_digit_and_a_unit_stays_a_digit():
    from edge.infer.classifier import NOT_A_DIGIT
    from edge.pipeline import inside_words
    # "1 0 k" of "10kg" on a price tag: the 0 has the 1 beside it, so the k does not make it a letter
    boxes = np.array([[10, 10, 12, 26], [26, 10, 16, 26], [46, 8, 14, 28]])
    d = Digits(boxes, labels=np.array([1, 0, NOT_A_DIGIT]), confidence=np.full(3, 0.9))
    assert not inside_words(d).any()
    d.labels[0] = NOT_A_DIGIT  # "o" between two letters: a letter
    assert list(inside_words(d)) == [False, True, False]


def test_a_letter_whose_cut_was_not_taken_is_still_a_letter():
    from edge.infer.classifier import NOT_A_DIGIT
    from edge.pipeline import inside_words
    # "n o" of a word: the 'n' (not a digit) was also cut in two, and an 'o' read as 0 beside it
    boxes = np.array([[10, 10, 16, 20], [30, 10, 14, 20], [10, 10, 8, 20], [18, 10, 8, 20]])
    d = Digits(boxes, labels=np.array([NOT_A_DIGIT, 0, 1, 1]), confidence=np.full(4, 0.95),
               parent=np.array([-1, -1, 0, 0]), cut=np.array([-1, -1, 0, 0]))
    taken = np.array([False, True, True, True])  # the cut read as "11" was taken: no letter left
    assert not inside_words(d, taken).any()
    not_taken = np.array([False, True, False, False])  # the whole stayed: still the letter beside the 'o'
    assert list(inside_words(d, not_taken)) == [False, True, False, False]


def test_lookalikes_in_a_word_do_not_vouch_for_each_other():
    from edge.infer.classifier import NOT_A_DIGIT
    from edge.pipeline import inside_words
    # "b o o k": two o's read as 0, each beside a letter; neither makes the other a digit
    boxes = np.array([[10, 4, 14, 26], [27, 10, 14, 20], [44, 10, 14, 20], [61, 4, 14, 26]])
    d = Digits(boxes, labels=np.array([NOT_A_DIGIT, 0, 0, NOT_A_DIGIT]), confidence=np.full(4, 0.9))
    assert list(inside_words(d)) == [False, True, True, False]


def test_a_lone_small_mark_beside_a_number_is_dropped_but_small_digits_in_pairs_stay():
    number = [[0, 0, 30, 40], [35, 0, 30, 40], [70, 0, 30, 40]]  # "445", 40 px high
    d = Digits(np.array(number + [[108, 20, 12, 14]]))  # a "/" at its end, 14 px high
    assert list(marks_beside_numbers(d)) == [False, False, False, True]
    d = Digits(np.array(number + [[108, 0, 12, 18], [122, 0, 12, 18]]))  # cents beside a price: a pair
    assert not marks_beside_numbers(d).any()
    d = Digits(np.array([[0, 0, 30, 40], [38, 20, 12, 14]]))  # a lone digit is no number: nothing to mark
    assert not marks_beside_numbers(d).any()
    d = Digits(np.array(number + [[150, 20, 12, 14]]))  # farther than a digit's height: its own thing
    assert not marks_beside_numbers(d).any()
    d = Digits(np.array(number + [[40, -12, 8, 14]]))  # a tick drawn apart above the 4's top: a mark
    assert list(marks_beside_numbers(d)) == [False, False, False, True]
    d = Digits(np.array(number + [[96, 38, 10, 10]]))  # a dot at the foot of the last digit: a mark
    assert list(marks_beside_numbers(d)) == [False, False, False, True]
    d = Digits(np.array(number + [[40, -40, 12, 14]]))  # a line above: no mark of this number's
    assert not marks_beside_numbers(d).any()


def test_a_lone_digit_across_the_polarity_from_a_number_it_overlaps_gives_way():
    # a display's lit "58" (light ink) and, beside the 8, the dark panel read as a surer "7"
    boxes = np.array([[0, 0, 30, 30], [36, 0, 30, 30], [58, 0, 30, 30]])
    d = Digits(boxes, dark_ink=np.array([False, False, True]), labels=np.array([5, 8, 7]),
               confidence=np.array([0.99, 0.8, 0.95]))
    assert suppress_overlaps(d).labels.tolist() == [5, 8]
    d.dark_ink[:] = True  # the same ink: a quarter of a box is no conflict, all stay
    assert suppress_overlaps(d).labels.tolist() == [5, 8, 7]
    d = d.take([1, 2])
    d.dark_ink[:] = [False, True]  # neither in a number: the usual rule (cover > 0.7) keeps both
    assert suppress_overlaps(d).labels.tolist() == [8, 7]


class RecordingClassifier:
    """Reads every crop it is given as `reading` and records the batches' sizes."""
    reject_class = 10

    def __init__(self, reading):
        self.reading, self.sizes = np.asarray(reading, np.float32), []

    def probabilities(self, batch):
        self.sizes.append(len(batch))
        return np.tile(self.reading, (len(batch), 1))


def candidates_and_first_readings():
    # 0: unsure dark "8" (0.6; "3" 0.3); 1: sure "5"; 2: unsure "8" in light ink (a display);
    # 3: "not a digit"; 4: unsure piece of 1, a sure whole, so it cannot win and is not looked at again
    d = Digits(np.array([[10, 10, 20, 40], [40, 10, 20, 40], [70, 10, 20, 40], [100, 10, 20, 40], [40, 10, 10, 40]]),
               dark_ink=np.array([True, True, False, True, True]), parent=np.array([-1, -1, -1, -1, 1]))
    first = np.zeros((5, 11), np.float32)
    first[[0, 1, 2, 3, 4], [8, 5, 8, 10, 2]] = [0.6, 0.99, 0.6, 0.7, 0.5]
    first[0, 3] = 0.3
    return d, first


def test_unsure_dark_digits_are_cut_again_and_a_digit_must_be_likely_in_every_cut():
    gray = np.full((100, 200), 255, np.uint8)
    d, first = candidates_and_first_readings()
    again = np.zeros(11, np.float32)
    again[[3, 8]] = [0.9, 0.05]  # the two new cuts: "3", and hardly "8"
    fake = RecordingClassifier(again)
    out = second_look(gray, d, first, fake)
    assert fake.sizes == [2]  # candidate 0, with no margin and with a wide one, in one batch
    # the geometric mean, renormalized: (0.3 * 0.9 * 0.9) ** (1/3) against (0.6 * 0.05 * 0.05) ** (1/3)
    # (the plain mean would give 0.75 and 0.25, the surest cut or the median 0.95 and 0.05)
    np.testing.assert_allclose(out[0, [3, 8]], [0.845, 0.155], atol=0.002)
    assert abs(out[0].sum() - 1) < 1e-5
    np.testing.assert_array_equal(out[1:], first[1:])

    agreeing = RecordingClassifier(first[0])  # every cut reads as the first: the reading stands
    np.testing.assert_allclose(second_look(gray, d, first, agreeing)[0], first[0] / first[0].sum(), atol=1e-4)

    fake.sizes.clear()
    unchanged = second_look(gray, d.take([1, 3]), first[[1, 3]], fake)
    assert fake.sizes == []  # nothing unsure: no second call
    np.testing.assert_array_equal(unchanged, first[[1, 3]])


def test_pieces_of_an_unsure_whole_are_looked_at_again_and_a_model_without_reject_class_works():
    gray = np.full((100, 200), 255, np.uint8)
    d, first = candidates_and_first_readings()
    first[1] = 0
    first[1, 5] = 0.7  # the whole of piece 4 is unsure now: the piece may win, so it is looked at again
    fake = RecordingClassifier(np.eye(11, dtype=np.float32)[3])
    second_look(gray, d, first, fake)
    assert fake.sizes == [6]  # candidates 0, 1 and 4, two cuts each
    fake.reject_class = None  # "not a digit" (class 10) is then just another class: 3 is looked at too
    second_look(gray, d, first, fake)
    assert fake.sizes[-1] == 8


class InkWidthClassifier:
    """Reads a normalized crop whose ink spans under 10 columns as "1", wider ink as "0"."""
    reject_class = 10

    def probabilities(self, batch):
        narrow = (batch[:, :, :, 0] > 0).any(axis=1).sum(axis=1) < 10
        out = np.full((len(batch), 11), 0.01, np.float32)
        out[narrow, 1] = out[~narrow, 0] = 0.9
        return out


def test_each_candidates_new_cuts_go_with_that_candidate():
    gray = np.full((100, 200), 255, np.uint8)
    gray[10:50, 12:16] = 0  # a bar
    gray[10:40, 60:90] = 0
    gray[14:36, 64:86] = 255  # a ring
    d = Digits(np.array([[12, 10, 4, 40], [60, 10, 30, 30]]))
    first = np.full((2, 11), 0.05, np.float32)
    first[:, 7] = 0.5  # both unsure, and wrong
    out = second_look(gray, d, first, InkWidthClassifier())
    assert out[0].argmax() == 1 and out[1].argmax() == 0


def test_at_most_the_largest_unsure_candidates_are_looked_at_again():
    gray = np.full((200, 400), 255, np.uint8)
    d = Digits(np.array([[20 * i, 10, 15, 20 + i] for i in range(10)]))  # taller and taller
    first = np.full((10, 11), 0.05, np.float32)
    first[:, 7] = 0.5
    fake = RecordingClassifier(np.eye(11, dtype=np.float32)[3])
    out = second_look(gray, d, first, fake, most=4)
    assert fake.sizes == [8]
    assert list(np.flatnonzero(out.argmax(axis=1) == 3)) == [6, 7, 8, 9]


def test_a_stroke_read_as_a_digit_needs_a_digit_of_its_height_beside_it():
    # 0: the edge of a sheet of paper read as "1" beside 1, a blob of its height read as "not a digit";
    # 2, 3: the "1" of "14"; 4, 5: a "1" beside a much smaller "2"; 6, 7: "11", two strokes;
    # 8: a "1" beside 9, a "4" of its height in the other ink; 10, 11: pieces of a blob cut in two, "11"
    d = Digits(np.array([[10, 30, 40, 380], [60, 30, 150, 380], [300, 100, 12, 60], [318, 100, 40, 60],
                         [600, 100, 12, 60], [618, 130, 20, 25], [700, 300, 12, 60], [720, 300, 12, 60],
                         [900, 100, 12, 60], [918, 100, 40, 60], [1000, 100, 40, 60], [1000, 100, 12, 60],
                         [1020, 100, 12, 60]]),
               dark_ink=np.array([True] * 9 + [False] + [True] * 3),
               labels=np.array([1, -2, 1, 4, 1, 2, 1, 1, 1, 4, -2, 1, 1]), parent=np.array([-1] * 11 + [10, 10]))
    counted = d.labels >= 0
    assert list(np.flatnonzero(lone_strokes(d, counted))) == [0, 4, 6, 7, 8]
    counted[3] = False  # the "4" not counted (a letter's neighbour, say): its "1" is alone
    assert 2 in np.flatnonzero(lone_strokes(d, counted))


def test_the_edge_of_the_demos_sheet_is_not_read_as_a_one(classifier):
    # frames 200-270 of the demo: the sheet's right edge beside a blob of the same height read
    # as "not a digit" was read as a frame-tall "1" in most of them before lone_strokes
    reader = DigitReader(classifier, keep_mask=False)
    results = [reader.process(f) for f in DemoSource(640, 480, fps=0, frames=271) if f.index >= 200]
    assert [(r.frame.index, n.text) for r in results for n in r.numbers if n.box[3] > 240] == []
    # and the rule costs none of the demo's own numbers (its "1"s included: 4821, 1258)
    assert all(set(DemoSource.truth) <= {n.text for n in r.numbers} for r in results)


def test_the_bench_frames_a_portrait_photo_whole_not_squashed(tmp_path):
    import cv2
    from edge.bench import photo_frames
    photo = np.zeros((200, 100, 3), np.uint8)
    photo[:, :50] = 255  # its left half white
    cv2.imwrite(str(tmp_path / "portrait.png"), photo)
    frame = next(photo_frames([tmp_path / "portrait.png"], 640, 480, 1)).image
    assert frame.shape == (480, 640, 3)
    assert (frame[:, :200] == 128).all() and (frame[:, 440:] == 128).all()  # grey either side of a 240-px page
    assert (frame[:, 200:320] == 255).all() and (frame[:, 320:440] == 0).all()


def test_the_bench_records_the_versions_its_times_depend_on():
    import cv2
    from edge.bench import package_versions
    from edge.infer.runtime import interpreter_class
    runtime = interpreter_class()[1]
    versions = package_versions(runtime)
    assert versions["opencv"] == cv2.__version__ and versions["numpy"] == np.__version__
    assert versions[runtime] and versions[runtime][0].isdigit()


@pytest.mark.parametrize("text, model, features", [
    ("processor\t: 0\nmodel\t\t: 2\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_vnni sse\n",
     "AMD EPYC", ["avx2", "avx512_vnni"]),
    ("processor\t: 0\nmodel name\t: ARMv7 Processor rev 4 (v7l)\nFeatures\t: half neon\n"
     "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 3 Model B\n", "Raspberry Pi 3 Model B", []),
    ("Hardware\t: BCM2835\nFeatures\t: fp asimd asimddp\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n",
     "Raspberry Pi 5 Model B Rev 1.0", ["asimddp"]),
])
def test_the_bench_names_the_processor_and_its_int8_features(tmp_path, text, model, features):
    from edge.bench import processor
    (tmp_path / "cpuinfo").write_text(text)
    assert processor(str(tmp_path / "cpuinfo")) == {"model": model, "int8_features": features}
    assert processor(str(tmp_path / "missing")) == {}
