import numpy as np
import pytest

from edge.group import reading_order
from edge.track import Tracker
from edge.types import Digits, Number


def number(text, box):
    digits = Digits(np.array([[box[0] + i * 10, box[1], 8, box[3]] for i in range(len(text))]),
                    labels=np.array([int(c) for c in text]), confidence=np.full(len(text), 0.9))
    return Number(text, 0.9, box, digits)


def test_reading_order_is_lines_from_the_top_each_left_to_right():
    """A number joins a line when its centre lies within half its height of the line's."""
    page = [number("890", (330, 120, 60, 30)), number("567", (120, 212, 40, 30)), number("1234", (120, 40, 50, 30)),
            number("42", (20, 220, 30, 30)), number("7", (200, 48, 20, 20))]
    assert [n.text for n in reading_order(page)] == ["1234", "7", "890", "42", "567"]
    assert reading_order([]) == []


def test_tracker_votes_and_marks_stable_once():
    tracker = Tracker(stable_hits=3)
    seen, events = [], []
    for i, text in enumerate(["1234", "1284", "1234", "1234", "1234", "1284", "1234"]):
        n = number(text, (100 + i, 50, 80, 30))  # drifting slightly
        events += tracker.update([n])
        seen.append((n.text, n.stable, n.track_id))
        assert "".join(map(str, n.digits.labels)) == n.read == text  # digits spell this frame's reading
    assert {tid for _, _, tid in seen} == {1}  # one track throughout
    assert [s for _, s, _ in seen] == [False, False, False, True, True, True, True]
    assert seen[5][0] == "1234"  # a one-frame misread is voted away
    assert [e.text for e in events] == ["1234"]  # one event for the reading


def test_tracker_separates_objects_and_forgets_lost_ones():
    tracker = Tracker(max_misses=2, recall=4)
    a, b = number("1", (0, 0, 20, 40)), number("2", (300, 0, 20, 40))
    tracker.update([a, b])
    assert a.track_id != b.track_id
    for _ in range(3 + 5):  # ended after 3 frames, past recall 5 frames later
        tracker.update([])
    c = number("1", (0, 0, 20, 40))
    tracker.update([c])
    assert c.track_id not in (a.track_id, b.track_id)
    assert tracker.ended == [] and [t.id for t in tracker.tracks] == [c.track_id]


def test_a_number_hidden_for_a_moment_comes_back_under_its_id_and_is_not_announced_again():
    """A hand passes in front for 0.3 s at 30 FPS: the reading is the same, so no second event."""
    tracker = Tracker(stable_hits=3, max_misses=5, recall=30)
    events, ids = [], []
    frames = [["4821"]] * 6 + [[]] * 10 + [["4821"]] * 6 + [[]] * 10 + [["4827"]] * 6
    for texts in frames:
        numbers = [number(t, (100, 50, 80, 30)) for t in texts]
        events += tracker.update(numbers)
        ids += [n.track_id for n in numbers]
    assert set(ids) == {1}
    assert [e.text for e in events] == ["4821", "4827"]  # a new reading at its place is announced
    other = number("55", (400, 300, 40, 30))  # elsewhere: a track of its own
    tracker.update([other])
    assert other.track_id == 2


def test_a_digit_missed_now_and_then_does_not_flip_the_reading():
    tracker = Tracker(stable_hits=3)
    texts = ["1258"] * 4 + ["125", "1258", "125", "125", "1258", "125", "1258"]
    events, seen = [], []
    for i, text in enumerate(texts):
        n = number(text, (100, 50, 80, 30))
        events += tracker.update([n])
        seen.append(n.text)
    assert [e.text for e in events] == ["1258"]  # one event, no flip-flopping
    assert set(seen[3:]) == {"1258"}


def test_a_number_is_tracked_by_its_line_so_a_dropped_end_digit_keeps_its_track():
    """'10' read as '1' in one frame: its own box shrinks to the '1' (IoU 0.1), its line's does not."""
    tracker = Tracker()
    ids = []
    for text, box in [("10", (100, 50, 44, 30)), ("1", (100, 50, 5, 30)), ("10", (100, 50, 44, 30))]:
        n = number(text, box)
        n.line_box = (96, 46, 52, 38)
        tracker.update([n])
        ids.append(n.track_id)
    assert len(set(ids)) == 1


def test_a_misread_frame_keeps_its_own_digits_box_and_confidence():
    """Issue 17.2: the voted text may differ from this frame's characters, but read, digits,
    box and confidence all describe this frame, and the JSON says which is which."""
    from edge.output import reading_record
    from edge.types import Frame, FrameResult
    tracker = Tracker(stable_hits=3)
    for _ in range(4):
        tracker.update([number("1258", (358, 254, 180, 82))])
    digits = Digits(np.array([[434, 256, 50, 80], [490, 256, 50, 80]]), labels=np.array([5, 8]),
                    confidence=np.array([0.625, 0.93]))
    misread = Number("58", 0.625, (434, 256, 106, 80), digits)
    tracker.update([misread])
    assert misread.stable and misread.text == "1258"  # the vote
    assert misread.read == "58" and misread.digits is digits  # this frame's
    assert misread.confidence == pytest.approx(float(digits.confidence.min()))
    x0 = digits.boxes[:, 0].min()
    x1 = (digits.boxes[:, 0] + digits.boxes[:, 2]).max()
    assert (x0, x1 - x0) == (misread.box[0], misread.box[2])
    rec = reading_record(FrameResult(Frame(np.zeros((480, 640), np.uint8), 34, 0.0, "demo"), digits,
                                     [misread], {}))
    (n,) = rec["numbers"]
    assert n["text"] == "1258" and n["read"] == "58"
    assert "".join(str(d["digit"]) for d in n["digits"]) == n["read"]
    assert n["confidence"] == min(d["confidence"] for d in n["digits"])


def test_a_number_joins_a_line_only_within_half_its_height_of_the_lines_centre():
    """The lower number sits left: joined, it comes first; one pixel further down, a line of its own."""
    top = number("11", (200, 40, 40, 30))  # centre 55
    assert [n.text for n in reading_order([top, number("22", (20, 55, 40, 30))])] == ["22", "11"]  # 15 px: half
    assert [n.text for n in reading_order([top, number("22", (20, 56, 40, 30))])] == ["11", "22"]  # 16 px


def test_a_stable_reading_gives_way_only_to_a_rival_two_votes_ahead():
    tracker = Tracker(stable_hits=3, window=8)
    for _ in range(3):
        tracker.update([number("1234", (100, 50, 80, 30))])
    seen, events = [], []
    for _ in range(5):  # the rival's votes: 1, 2, 3, 4 (one ahead of 1234's 3), 5 (two ahead)
        n = number("5678", (100, 50, 80, 30))
        events += tracker.update([n])
        seen.append((n.text, n.stable))
    assert seen == [("1234", True)] * 4 + [("5678", True)]
    assert [e.text for e in events] == ["5678"]


def test_a_stable_reading_whose_votes_left_the_window_is_no_longer_held():
    """Misreads that agree on nothing outvote no one, but once the last vote for the reading has
    left the window there is no reading to hold: each frame reports its own."""
    tracker = Tracker(stable_hits=3, window=4)
    for _ in range(3):
        tracker.update([number("1234", (100, 50, 80, 30))])
    seen = []
    for text in ("5", "6", "7", "8"):  # the window of 4 then holds one 1234, then none
        n = number(text, (100, 50, 80, 30))
        tracker.update([n])
        seen.append((n.text, n.stable))
    assert seen == [("1234", True)] * 3 + [("8", False)]


def test_a_reading_lost_past_its_recall_comes_back_as_a_new_track_and_is_announced_again():
    """max_misses 2: ended on the 3rd frame unseen; recall 4: a number at its place takes its id
    back up to 4 frames after that, not 5."""
    def comes_back_after(unseen):
        tracker = Tracker(stable_hits=3, max_misses=2, recall=4)
        events = []
        for _ in range(3):
            events += tracker.update([number("42", (100, 50, 40, 30))])
        first_id = events[0].track_id
        for _ in range(unseen):
            tracker.update([])
        again = []
        for _ in range(3):
            n = number("42", (100, 50, 40, 30))
            again += tracker.update([n])
        return n.track_id == first_id, [e.text for e in again]
    assert comes_back_after(3 + 3) == (True, [])  # back 4 frames after it ended: its id, not announced again
    assert comes_back_after(3 + 4) == (False, ["42"])  # 5 frames after: a new track, announced


def test_a_recalled_track_votes_anew_from_its_first_frame_back():
    tracker = Tracker(stable_hits=3, max_misses=2, recall=30)
    for _ in range(4):
        tracker.update([number("4821", (100, 50, 80, 30))])
    for _ in range(3):  # ended
        tracker.update([])
    seen = []
    for _ in range(3):
        n = number("4827", (100, 50, 80, 30))
        tracker.update([n])
        seen.append((n.text, n.stable, n.track_id))
    assert seen == [("4827", False, 1), ("4827", False, 1), ("4827", True, 1)]  # no vote for 4821 left


def test_a_track_overlapping_two_numbers_goes_to_the_better_match():
    tracker = Tracker(min_similarity=0.3)
    first = number("1234", (100, 50, 80, 30))
    tracker.update([first])
    worse, better = number("1234", (130, 50, 80, 30)), number("1234", (105, 50, 80, 30))  # IoU 0.45 and 0.88
    tracker.update([worse, better])  # the worse one listed first
    assert better.track_id == first.track_id and worse.track_id not in (first.track_id, None)


def test_a_number_overlapping_a_track_below_the_least_similarity_starts_its_own():
    tracker = Tracker(min_similarity=0.3)
    first = number("1234", (100, 50, 80, 30))
    tracker.update([first])
    moved = number("1234", (150, 50, 80, 30))  # IoU 30/130 = 0.23
    tracker.update([moved])
    assert moved.track_id != first.track_id


def test_a_similarity_of_ones_own_matches_numbers_that_do_not_overlap():
    """A panning camera: a number moved by more than its width keeps its track by its centre."""
    def near(a, b):  # 1 at the same centre, 0 two box widths away
        a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
        ca, cb = a[:, :2] + a[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2
        return 1 - np.linalg.norm(ca[:, None] - cb, axis=2) / np.maximum(2 * a[:, None, 2], 1)

    for tracker, same in ((Tracker(), False), (Tracker(similarity=near, min_similarity=0.0), True)):
        numbers = [number("1234", (100 + 70 * i, 50, 60, 30)) for i in range(4)]  # 70 px a frame: no overlap
        for n in numbers:
            tracker.update([n])
        assert (len({n.track_id for n in numbers}) == 1) == same
        assert numbers[-1].stable == same
