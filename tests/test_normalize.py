import cv2
import numpy as np
import pytest

from edge.normalize import as_gray_u8, normalize_crop


def glyph(text="7", size=(60, 40), dark_ink=True, thickness=4):
    """A crop of one printed digit: dark on light paper, or light on dark."""
    h, w = size
    paper, ink = (230, 20) if dark_ink else (15, 240)
    img = np.full((h, w), paper, np.uint8)
    scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, int(h * 0.7), thickness)
    cv2.putText(img, text, (w // 6, int(h * 0.85)), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, thickness, cv2.LINE_AA)
    return img


def test_output_is_28x28_white_on_black():
    out = normalize_crop(glyph())
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() == 255
    assert out[0].max() == 0 and out[-1].max() == 0  # background is black


def test_both_polarities_give_the_same_image():
    a = normalize_crop(glyph(dark_ink=True)).astype(int)
    b = normalize_crop(glyph(dark_ink=False)).astype(int)
    assert np.abs(a - b).mean() < 6


def test_explicit_polarity_overrides_detection():
    img = glyph("0", dark_ink=True)
    right = normalize_crop(img, dark_ink=True).astype(int)
    assert np.abs(right - normalize_crop(img).astype(int)).max() == 0  # detection agrees
    wrong = normalize_crop(img, dark_ink=False).astype(int)  # the paper inside the 0 is "ink"
    assert np.abs(right - wrong).mean() > 30


@pytest.mark.parametrize("dark_ink", [True, False])
def test_a_bold_stroke_stays_solid(dark_ink):
    """A stroke a third of the crop wide (a marker's '1') is ink, not background: the
    background window is wider than it."""
    paper, ink = (230, 20) if dark_ink else (15, 240)
    img = np.full((40, 40), paper, np.uint8)
    img[5:35, 13:27] = ink  # 14 px wide
    out = normalize_crop(img, dark_ink)
    assert out.max() == 255  # at a window under 14 px the bar was taken for background: a blank crop
    rows, cols = np.flatnonzero(out.max(1)), np.flatnonzero(out.max(0))
    bar = out[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    assert (bar > 128).mean() > 0.9


def test_longest_side_is_20_and_aspect_is_kept():
    wide = np.full((30, 90), 255, np.uint8)
    wide[10:20, 10:80] = 0  # a 70x10 bar
    out = normalize_crop(wide)
    rows, cols = np.flatnonzero(out.max(1)), np.flatnonzero(out.max(0))
    assert cols[-1] - cols[0] + 1 == 20
    assert 2 <= rows[-1] - rows[0] + 1 <= 4  # 10/70*20 ~ 3


def test_a_big_crop_reads_like_a_small_one():
    """Crops over 64 px are halved before anything else (the cheap resize); the result
    must still be nearer the same digit at a small size than any other digit."""
    small = {d: normalize_crop(glyph(d, (60, 40), thickness=4)).astype(int) for d in "0123456789"}
    for digit in "2568":
        for factor in (3, 7):  # 180 px (halved twice), 420 px (three times)
            big = normalize_crop(glyph(digit, (60 * factor, 40 * factor), thickness=4 * factor)).astype(int)
            distance = {d: np.abs(big - s).mean() for d, s in small.items()}
            assert min(distance, key=distance.get) == digit, distance


def test_centre_of_mass_is_centred():
    img = np.full((100, 100), 255, np.uint8)
    cv2.circle(img, (20, 25), 12, 0, -1)  # a blob far off-centre
    out = normalize_crop(img).astype(float)
    ys, xs = np.indices(out.shape)
    cy, cx = (ys * out).sum() / out.sum(), (xs * out).sum() / out.sum()
    assert abs(cy - 14) < 1 and abs(cx - 14) < 1


def test_uneven_light_is_removed():
    img = glyph("3", (80, 60)).astype(np.float32)
    ramp = np.linspace(0.55, 1.0, img.shape[1])[None, :]
    lit = (img * ramp).astype(np.uint8)  # the left side is in shadow
    a, b = normalize_crop(glyph("3", (80, 60))).astype(int), normalize_crop(lit).astype(int)
    assert np.abs(a - b).mean() < 12
    assert (b[:, :6] > 100).mean() < 0.05  # the shadow did not turn into ink


@pytest.mark.parametrize("crop", [
    np.zeros((0, 0), np.uint8), np.zeros((0, 5), np.uint8), np.zeros((1, 1), np.uint8),
    np.full((1, 1), 255, np.uint8), np.full((40, 30), 128, np.uint8), np.zeros((3, 200), np.uint8),
    np.full((50, 50), 7, np.uint16),
])
def test_degenerate_crops_give_black(crop):
    out = normalize_crop(crop)
    assert out.shape == (28, 28) and out.dtype == np.uint8 and out.max() == 0


def test_single_dot_is_defined():
    img = np.full((9, 9), 255, np.uint8)
    img[4, 4] = 0
    out = normalize_crop(img)
    assert out.shape == (28, 28) and out.dtype == np.uint8


@pytest.mark.parametrize("image", [
    np.zeros((4, 5, 3), np.uint8), np.zeros((4, 5, 4), np.uint8), np.zeros((4, 5, 1), np.uint8),
    np.zeros((4, 5), np.uint16), np.zeros((4, 5), np.float32), np.zeros((4, 5), bool),
    np.zeros((4, 5), np.int32), np.zeros((4, 5, 2), np.uint8), np.zeros((1, 4, 5, 3), np.uint8),
    np.zeros((4, 5), np.int64), np.zeros((4, 5), np.uint64), np.zeros((0, 5), np.uint16),
])
def test_as_gray_u8_accepts_any_frame(image):
    out = as_gray_u8(image)
    assert out.shape == ((0, 5) if image.size == 0 else (4, 5)) and out.dtype == np.uint8


def test_as_gray_u8_scales_16_bit_and_float():
    assert as_gray_u8(np.full((2, 2), 65535, np.uint16)).max() == 255
    assert as_gray_u8(np.full((2, 2), 1.0, np.float32)).max() == 255
    assert as_gray_u8(np.full((2, 2), np.nan, np.float32)).max() == 0


def test_as_gray_u8_keeps_the_contrast_of_12_bit_signed_and_overshooting_data():
    ramp = np.arange(0, 4096, 16, dtype=np.uint16).reshape(16, 16)  # 12-bit data in uint16
    assert as_gray_u8(ramp).max() == 255 and as_gray_u8(ramp).min() == 0
    assert as_gray_u8(np.array([[-1000, 0, 1000]], np.int16)).tolist() == [[0, 125, 250]]
    unit = np.array([[0.0, 0.5, 1.02]], np.float32)  # 0..1 with one pixel a little over
    assert as_gray_u8(unit).tolist() == [[0, 127, 255]]
    assert as_gray_u8(np.array([[0.0, 510.0]])).tolist() == [[0, 255]]


def test_a_16_bit_colour_frame_is_drawn_in_its_colours():
    """One scale for the three channels: a blue 16-bit pixel stays blue (each channel scaled alone
    made (4000, 4000, 60000) nearly white)."""
    from edge.draw import to_bgr
    assert to_bgr(np.array([[[4000, 4000, 60000]]], np.uint16)).tolist() == [[[15, 15, 234]]]
