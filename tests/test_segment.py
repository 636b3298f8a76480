from collections import Counter

import cv2
import numpy as np

from edge.segment import SegmentParams, crops_for, segment, split_touching
from edge.boxes import iou_matrix
from tests.pages import render_page

NUMBERS = [("1234", 40, 120, 50), ("567", 360, 120, 40), ("890", 120, 330, 60)]


def found(truth, boxes, min_iou=0.6):
    if not len(boxes):
        return [False] * len(truth)
    return list((iou_matrix([t for t, _ in truth], boxes) >= min_iou).any(axis=1))


def test_finds_every_printed_digit_dark_on_light():
    page, truth = render_page(NUMBERS)
    digits, mask = segment(page)
    assert all(found(truth, digits.boxes))
    assert mask.shape == page.shape and mask.dtype == np.uint8
    # every dark-ink candidate sits on a real digit; the other polarity finds only holes/paper
    dark_boxes = digits.boxes[digits.dark_ink]
    assert len(dark_boxes) == len(truth)


def test_finds_light_digits_on_dark():
    page, truth = render_page(NUMBERS, dark_ink=False)
    digits, _ = segment(page, SegmentParams(polarity="light"))
    assert all(found(truth, digits.boxes)) and len(digits) == len(truth)
    assert not digits.dark_ink.any()


def test_uneven_light_and_noise():
    page, truth = render_page(NUMBERS)
    h, w = page.shape
    light = np.linspace(0.45, 1.1, w)[None, :] * np.linspace(0.8, 1.0, h)[:, None]
    rng = np.random.default_rng(0)
    lit = np.clip(page * light + rng.normal(0, 6, page.shape), 0, 255).astype(np.uint8)
    digits, _ = segment(cv2.GaussianBlur(lit, (3, 3), 0), SegmentParams(polarity="dark"))
    assert all(found(truth, digits.boxes))


def test_broken_strokes_are_merged():
    page = np.full((200, 200), 230, np.uint8)
    # a seven-segment "1" (two vertical bars with a gap) beside a "0" (four bars)
    cv2.rectangle(page, (40, 40), (48, 95), 20, -1)
    cv2.rectangle(page, (40, 101), (48, 156), 20, -1)
    for x0, y0, x1, y1 in ((70, 40, 78, 95), (70, 101, 78, 156), (112, 40, 120, 95), (112, 101, 120, 156),
                           (81, 36, 109, 43), (81, 153, 109, 160)):
        cv2.rectangle(page, (x0, y0), (x1, y1), 20, -1)
    digits, _ = segment(page, SegmentParams(polarity="dark"))
    boxes = sorted(map(tuple, digits.boxes))
    assert boxes == [(40, 40, 9, 117), (70, 36, 51, 125)]


def test_a_digit_written_in_two_strokes_of_unequal_size_is_merged():
    # an "8" drawn as a big upper loop and a small lower loop that do not touch (the lower
    # part is a third of the height, 5 px below), and a "0" beside it, separate
    page = np.full((200, 240), 230, np.uint8)
    cv2.ellipse(page, (70, 80), (24, 36), 0, 0, 360, 20, 4)
    cv2.ellipse(page, (70, 143), (14, 18), 0, 0, 360, 20, 4)
    cv2.ellipse(page, (160, 105), (24, 52), 0, 0, 360, 20, 4)
    digits, _ = segment(page, SegmentParams(polarity="dark"))
    boxes = sorted(map(tuple, digits.boxes))
    assert len(boxes) == 2 and boxes[0][1] <= 45 and boxes[0][1] + boxes[0][3] >= 160  # one box, top to bottom


def test_without_the_mask_the_candidates_are_the_same():
    page, _ = render_page(NUMBERS)
    with_mask, mask = segment(page)
    without, none = segment(page, with_mask=False)
    assert none is None and mask.max() == 255
    assert np.array_equal(with_mask.boxes, without.boxes) and np.array_equal(with_mask.parent, without.parent)


def test_underlined_number_is_cut_free_of_its_line():
    """A rule under a number is removed, so the digits are not glued into one blob."""
    page, truth = render_page([("4072", 100, 200, 60)])
    ys = [y + h for (_, y, _, h), _ in truth]
    cv2.line(page, (60, max(ys) + 1), (520, max(ys) + 1), 20, 3)  # touches the digits
    digits, _ = segment(page, SegmentParams(polarity="dark"))
    assert all(found(truth, digits.boxes, 0.5))


def test_wide_frames_are_analysed_halved_and_boxes_come_back_in_frame_pixels():
    page, truth = render_page(NUMBERS)
    for factor in (2, 3):  # 1280 (halved twice) and 1920 px wide
        big = cv2.resize(page, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
        digits, mask = segment(big)
        assert mask.shape == big.shape[:2]
        scaled = [((x * factor, y * factor, w * factor, h * factor), d) for (x, y, w, h), d in truth]
        assert all(found(scaled, digits.boxes, 0.5))


def test_small_digits_survive_the_analysis_downscale_of_a_720p_frame():
    # 1280x720 is analysed at a third of its size (a quarter would lose these ~12 px digits)
    page, truth = render_page([("4072", 100, 200, 16), ("1395", 400, 400, 16), ("86", 700, 500, 16)],
                              size=(720, 1280), thickness=1)
    digits, _ = segment(page)
    assert all(found(truth, digits.boxes, 0.5))


def test_a_lone_line_is_not_a_one():
    page = np.full((300, 300), 230, np.uint8)
    cv2.line(page, (150, 20), (150, 260), 20, 3)  # a rule, a frame, the edge of a box
    digits, _ = segment(page, SegmentParams(polarity="dark"))
    assert len(digits) == 0


def test_touching_digits_are_split():
    page, truth = render_page([("00", 100, 200, 80)], spacing=-0.02, thickness=6)
    digits, _ = segment(page, SegmentParams(polarity="dark"))
    assert len(digits) == 2
    assert all(found(truth, digits.boxes, 0.5))


def test_two_narrow_joined_digits_are_cut_but_one_bold_wide_digit_is_not():
    # two narrow handwritten zeros joined by a pen stroke: the blob is ~1.1 of its height wide
    page = np.full((240, 320), 235, np.uint8)
    cv2.ellipse(page, (110, 120), (18, 40), 0, 0, 360, 20, 3)
    cv2.ellipse(page, (160, 120), (18, 40), 0, 0, 360, 20, 3)
    cv2.line(page, (127, 150), (143, 150), 20, 2)
    digits, _ = segment(page, SegmentParams(polarity="dark"))
    pieces = digits.boxes[digits.parent >= 0]
    assert len(pieces) == 2 and 127 <= pieces[0, 0] + pieces[0, 2] <= 143  # cut on the joining stroke
    bold = np.full((240, 320), 235, np.uint8)
    cv2.ellipse(bold, (160, 120), (42, 40), 0, 0, 360, 20, 16)  # one fat 0, as wide as the pair
    digits, _ = segment(bold, SegmentParams(polarity="dark"))
    assert len(digits) >= 1 and not (digits.parent >= 0).any()


def test_a_narrow_blob_of_thin_ink_is_also_cut_in_two_but_a_bold_digit_is_not():
    # "11" written narrow and joined at the foot: the blob is 0.7 of its height wide
    page = np.full((240, 320), 235, np.uint8)
    cv2.line(page, (134, 90), (134, 150), 20, 3)
    cv2.line(page, (176, 90), (176, 150), 20, 3)
    cv2.line(page, (134, 150), (176, 150), 20, 2)
    cv2.line(page, (134, 90), (146, 90), 20, 2)  # a flag on the first 1
    digits, _ = segment(page, SegmentParams(polarity="dark"))
    pieces = digits.boxes[digits.parent >= 0]
    assert len(pieces) == 2 and 137 <= pieces[0, 0] + pieces[0, 2] <= 174
    _, _, w, h = digits.boxes[digits.parent[digits.parent >= 0][0]]
    assert 0.6 <= w / h <= 1.0
    bold = np.full((240, 320), 235, np.uint8)
    cv2.ellipse(bold, (160, 120), (18, 26), 0, 0, 360, 20, 12)  # one fat 0 of the same shape
    digits, _ = segment(bold, SegmentParams(polarity="dark"))
    assert len(digits) >= 1 and not (digits.parent >= 0).any()
    digits, _ = segment(255 - page, SegmentParams(polarity="light"))  # light ink: never
    assert len(digits) >= 1 and not (digits.parent >= 0).any()
    digits, _ = segment(page, SegmentParams(polarity="dark", min_pair_aspect=0.8))  # narrower than asked: never
    assert len(digits) >= 1 and not (digits.parent >= 0).any()


def test_a_run_of_flat_touching_zeros_is_cut_where_they_touch():
    # "000" written flat and joined, as at the end of a cheque amount: 4.5 heights wide;
    # each zero has the least ink in its middle, so only the even cut finds them
    page = np.full((200, 360), 235, np.uint8)
    truth = []
    for cx in (110, 160, 210):
        cv2.ellipse(page, (cx, 100), (27, 16), 0, 0, 360, 20, 3)
        truth.append((cx - 28, 83, 57, 35))
    assert some_way_finds(page, truth, 0.6)


def test_a_run_of_narrow_touching_digits_is_also_cut_one_piece_per_half_height():
    # "0000" written narrow (each half as wide as high) and touching: 1.8 heights wide, so
    # the cuts by the usual width (2, 3) are too few; only the narrow count finds four
    page = np.full((200, 300), 235, np.uint8)
    truth = []
    for cx in (110, 130, 150, 170):
        cv2.ellipse(page, (cx, 100), (10, 22), 0, 0, 360, 20, 2)
        truth.append((cx - 11, 77, 23, 47))
    assert some_way_finds(page, truth, 0.5)


def some_way_finds(page, truth, min_iou):
    """Does one way of cutting one blob give exactly the true digits?"""
    digits, _ = segment(page, SegmentParams(polarity="dark"))
    ways = {}
    for i in np.flatnonzero(digits.parent >= 0):
        ways.setdefault((digits.parent[i], digits.cut[i]), []).append(digits.boxes[i])
    return any(len(boxes) == len(truth) and (iou_matrix(truth, boxes).max(axis=1) >= min_iou).all()
               for boxes in ways.values())


def test_even_cuts_are_not_offered_where_they_repeat_or_cannot_be_searched():
    # two blocks joined by a long thin bridge: every column of the bridge is as thin as
    # any, so an even cut there is the same way as the least-ink one
    mask = np.zeros((20, 60), np.uint8)
    mask[:, :18] = mask[:, 42:] = 255
    mask[10, 18:42] = 255
    assert [len(pieces) for _, pieces in split_touching((0, 0, 60, 20), mask, [2])] == [2]
    # a blob too narrow to look for three or four cuts is not cut evenly into that many
    tiny = np.full((10, 8), 255, np.uint8)
    assert [len(pieces) for _, pieces in split_touching((0, 0, 8, 10), tiny, [3, 2, 4])] == [2]


def test_under_the_cap_each_blob_gets_its_likeliest_cut_first():
    # three blobs of three touching zeros: each may be cut in 3 (likeliest), 2 or 4 pieces
    page, _ = render_page([("000", 40, 150, 70), ("000", 340, 150, 70), ("000", 40, 350, 70)],
                          spacing=-0.1, thickness=6)
    everything, _ = segment(page, SegmentParams(polarity="dark"))
    is_piece = everything.parent >= 0
    ways = Counter(zip(everything.parent[is_piece], everything.cut[is_piece]))
    for whole in set(everything.parent[is_piece]):
        assert {3, 2, 4} <= {n for (p, _), n in ways.items() if p == whole}
    wholes = everything.parent < 0
    capped, _ = segment(page, SegmentParams(polarity="dark", max_regions=int(wholes.sum()) + 9))
    pieces_per_cut = Counter(zip(capped.parent[capped.parent >= 0], capped.cut[capped.parent >= 0]))
    assert sorted(pieces_per_cut.values()) == [3, 3, 3]  # each blob cut in three; no 2- or 4-way cut


def test_roi_limits_the_search_and_keeps_frame_coordinates():
    page, truth = render_page(NUMBERS)
    digits, _ = segment(page, SegmentParams(roi=(340, 40, 280, 120), polarity="dark"))
    expected = [t for t in truth if t[0][0] >= 340 and t[0][1] < 160]
    assert len(expected) == 3 and len(digits) == 3
    assert all(found(expected, digits.boxes))


def test_candidate_cap_bounds_a_cluttered_frame():
    rng = np.random.default_rng(1)
    noise = (rng.random((480, 640)) > 0.5).astype(np.uint8) * 255
    noise = cv2.resize(cv2.resize(noise, (160, 120)), (640, 480), interpolation=cv2.INTER_NEAREST)
    digits, _ = segment(noise, SegmentParams(max_regions=20))
    assert len(digits) <= 20


def test_blank_and_tiny_frames_give_nothing():
    for frame in (np.zeros((480, 640), np.uint8), np.full((5, 5), 200, np.uint8), np.zeros((0, 0), np.uint8)):
        digits, mask = segment(frame)
        assert len(digits) == 0 and mask.shape == frame.shape[:2]


def test_crops_have_a_margin_and_stay_inside_the_frame():
    page, truth = render_page([("7", 2, 60, 50)])
    digits, _ = segment(page, SegmentParams(polarity="dark"))
    (crop,) = crops_for(page, digits)
    x, y, w, h = digits.boxes[0]
    assert crop.shape[0] > h and crop.shape[1] > w


def test_largest_boxes_come_first_equal_areas_in_their_order_and_big_areas_do_not_overflow():
    from edge.boxes import largest

    boxes = [(0, 0, 2, 2), (5, 0, 3, 3), (9, 0, 4, 1), (0, 9, 1, 4), (0, 0, 60000, 60000)]
    assert largest(boxes, 3).tolist() == [4, 1, 0]  # 60000^2 overflows int32
    assert largest(boxes, 10).tolist() == [4, 1, 0, 2, 3]  # areas 4, 4, 4 keep their order
    assert largest(np.zeros((0, 4)), 5).tolist() == []
