"""The text-line detector: model, training scenes, training loop and int8 export.

    python -m convert.train --model detector

A small fully-convolutional network maps a grey frame scaled to edge.detect.INPUT_SIZE to a
half-resolution map of each line's core (the middle half of its height, its ends pulled in),
as DB does; edge.detect takes boxes from the map with OpenCV and grows them back.
"""
from __future__ import annotations

import cv2
import numpy as np

from edge.detect import CORE_HEIGHT, CORE_INSET, INPUT_SIZE, OUTPUT_STRIDE

W, H = INPUT_SIZE
GRID_PAGE_SHARE = 0.12  # scenes with a printed grid of lone digits: the real sudoku photos alone taught them weakly
SMALL_PAGE_SHARE = 0.5  # pages with 6-20 px lines: a sudoku across a 640x480 view has 10-px digits here
PAGE_TILT = 8  # degrees a page turns at most, as a hand-held phone holds it
PAGE_SKEW = 0.04  # of the page's size each corner moves at most: a mild perspective


def build_model(fused_norm: bool = False, blocked_stem: bool = False):
    """Stride-2 stem, depthwise-separable blocks down to 1/16, a top-down path back to 1/4
    with additions, and a sub-pixel output: 4 sigmoid channels a 1/4 cell, laid out as its
    2x2 cells of the 1/2 map (a 1/2-resolution stage cost half the model's time). The input
    size is fixed: the layout is a reshape. `fused_norm`: TensorFlow's fused batch
    normalization, for training (convert.fused_norm); the weights are the same. `blocked_stem`:
    the export's form of the stem (convert.stem)."""
    import keras
    from keras import layers

    from convert.stem import strided_stem

    if fused_norm:
        from convert.fused_norm import FusedBatchNorm as norm
    else:
        norm = layers.BatchNormalization

    def sep(x, filters, stride=1):
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.ReLU()(norm()(x))
        x = layers.Conv2D(filters, 1, use_bias=False)(x)
        return layers.ReLU()(norm()(x))

    def lateral(x, filters):
        return norm()(layers.Conv2D(filters, 1, use_bias=False)(x))

    inputs = keras.Input((H, W, 1), name="frame")
    x = layers.Rescaling(1 / 255.0)(inputs)
    f2 = strided_stem(x, 8, norm, blocked_stem)  # 1/2
    f4 = sep(sep(f2, 24, 2), 24)  # 1/4
    f8 = sep(sep(f4, 48, 2), 48)  # 1/8
    f16 = sep(sep(sep(f8, 64, 2), 64), 64)  # 1/16
    x = layers.UpSampling2D()(lateral(f16, 32))
    x = sep(layers.ReLU()(layers.Add()([x, lateral(f8, 32)])), 32)
    x = layers.UpSampling2D()(x)
    x = sep(layers.ReLU()(layers.Add()([x, lateral(f4, 32)])), 24)
    x = sep(x, 16)
    x = layers.Conv2D(4, 3, padding="same")(x)  # a 1/4 cell's 2x2 cells of the 1/2 map, row by row
    h, w = H // 4, W // 4
    x = layers.Permute((1, 3, 2, 4))(layers.Reshape((h, w, 2, 2))(x))  # (h, 2, w, 2): rows, then columns
    x = layers.Reshape((2 * h, 2 * w, 1))(x)
    outputs = layers.Activation("sigmoid", name="core")(x)
    return keras.Model(inputs, outputs, name="detector")


# -- scenes -------------------------------------------------------------------------------
def core_polygon(box: np.ndarray) -> np.ndarray:
    """A line's four corners (tl, tr, br, bl, float) -> its core's corners: the middle
    CORE_HEIGHT of its height, its ends pulled in by CORE_INSET of its height."""
    tl, tr, br, bl = box
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    length = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    along = (tr - tl + br - bl) / max(2 * length, 1e-6)
    down = (bl - tl + br - tr) / max(2 * height, 1e-6)
    centre = box.mean(axis=0)
    half_l = max(length / 2 - CORE_INSET * height, min(length, height) * 0.25)
    half_h = CORE_HEIGHT * height / 2
    return np.array([centre - along * half_l - down * half_h, centre + along * half_l - down * half_h,
                     centre + along * half_l + down * half_h, centre - along * half_l + down * half_h])


def target_map(boxes: list[np.ndarray], ignore: list[np.ndarray], shape=(H, W)) -> tuple[np.ndarray, np.ndarray]:
    """(core map, weight) at the output's resolution, area-antialiased; lines too small to
    find are ignored rather than taught as background."""
    up = 4  # rasterize finer, then average down
    oh, ow = shape[0] // OUTPUT_STRIDE, shape[1] // OUTPUT_STRIDE
    canvas = np.zeros((oh * up, ow * up), np.uint8)
    skip = np.zeros_like(canvas)
    f = up / OUTPUT_STRIDE
    for box in boxes:
        cv2.fillPoly(canvas, [np.round(core_polygon(box) * f).astype(np.int32)], 255)
    for box in ignore:
        cv2.fillPoly(skip, [np.round(box * f).astype(np.int32)], 255)
    core = cv2.resize(canvas, (ow, oh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    weight = 1.0 - cv2.resize(skip, (ow, oh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    return core, np.maximum(weight, core > 0)


def _background(rng: np.random.Generator, pool) -> tuple[np.ndarray, list, list]:
    """A background (float32 H x W), the lines it holds, and regions to ignore: a texture
    with clutter, sometimes with a view of a page (a real sudoku or cheque, a printed grid) on it."""
    image = np.full((H, W), rng.uniform(20, 235), np.float32)
    gx, gy = np.meshgrid(np.linspace(-1, 1, W), np.linspace(-1, 1, H))
    image += rng.uniform(-60, 60) * gx + rng.uniform(-60, 60) * gy
    noise = cv2.resize(rng.normal(0, 1, (int(rng.integers(3, 30)), int(rng.integers(4, 40)))).astype(np.float32), (W, H))
    image += noise * rng.uniform(0, 40)
    for _ in range(int(rng.integers(0, 12))):  # clutter: edges, boxes, grids, blobs
        colour = float(rng.uniform(0, 255))
        p = (rng.uniform(0, 1, 2) * (W, H)).astype(int)
        q = (rng.uniform(0, 1, 2) * (W, H)).astype(int)
        shape = rng.integers(4)
        thick = int(rng.integers(1, 6))
        if shape == 0:
            cv2.line(image, tuple(map(int, p)), tuple(map(int, q)), colour, thick)
        elif shape == 1:
            cv2.rectangle(image, tuple(map(int, p)), tuple(map(int, q)), colour, thick if rng.random() < 0.6 else -1)
        elif shape == 2:
            cv2.circle(image, tuple(map(int, p)), int(rng.integers(3, 60)), colour, -1 if rng.random() < 0.5 else thick)
        else:
            step = int(rng.integers(10, 50))
            for k in range(0, W, step):
                cv2.line(image, (k, 0), (k, H), colour, 1)
            for k in range(0, H, step):
                cv2.line(image, (0, k), (W, k), colour, 1)
    kind = rng.random()
    if pool.get("sudoku") and kind < 0.25:
        square, boxes = pool["sudoku"][int(rng.integers(len(pool["sudoku"])))]
        return _place(image, square, boxes, rng)
    if 0.25 <= kind < 0.25 + GRID_PAGE_SHARE:
        return _place(image, *grid_page(rng), rng)
    if pool.get("orand") and kind < 0.4 + GRID_PAGE_SHARE:
        gray, (x, y, w, h) = pool["orand"][int(rng.integers(len(pool["orand"])))]
        return _place(image, gray, [np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)], rng)
    return image, [], []


def grid_page(rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """A ruled grid (a sudoku, a form, a calendar) with a digit or a short number in some of
    its cells, all in one font, and each number's ink box, clear of the rules: (page uint8, boxes)."""
    from convert import line_synth as ls

    rows, cols, cell = int(rng.integers(3, 10)), int(rng.integers(3, 10)), int(rng.integers(36, 72))
    fonts = ls.text_fonts()
    font = fonts[int(rng.integers(len(fonts)))]
    paper, ink_level = rng.uniform(160, 250), rng.uniform(0, 100)
    page = np.full((rows * cell + 3, cols * cell + 3), paper, np.float32)
    thin, thick = int(rng.integers(1, 3)), int(rng.integers(2, 5))
    every = 3 if rng.random() < 0.5 else 0  # a sudoku's heavier box lines
    ends = (cols * cell + 1, rows * cell + 1)
    for k in range(max(rows, cols) + 1):
        width = thick if every and k % every == 0 else thin
        if k <= rows:
            cv2.line(page, (0, k * cell + 1), (ends[0], k * cell + 1), ink_level, width)
        if k <= cols:
            cv2.line(page, (k * cell + 1, 0), (k * cell + 1, ends[1]), ink_level, width)
    clear = thick // 2 + 3  # px from a rule's centre to a digit: cv2.line draws a px wider than asked
    inner = cell - 2 * clear
    fill, share = rng.uniform(0.2, 0.7), rng.uniform(0.5, 0.8)  # cells written in; digits' height in a cell
    boxes = []
    for r in range(rows):
        for c in range(cols):
            if rng.random() > fill:
                continue
            text = str(int(rng.integers(1, 10))) if rng.random() < 0.85 else str(int(rng.integers(10, 100)))
            glyph = ls.render_text(text, font, cell)
            gh = min(inner, max(4, int(cell * share * rng.uniform(0.95, 1.05))))
            gw = max(1, min(inner, round(glyph.shape[1] * gh / glyph.shape[0])))
            glyph = cv2.resize(glyph, (gw, gh), interpolation=cv2.INTER_AREA)
            x = c * cell + 1 + clear + int(np.clip((inner - gw) // 2 + rng.integers(-2, 3), 0, inner - gw))
            y = r * cell + 1 + clear + int(np.clip((inner - gh) // 2 + rng.integers(-2, 3), 0, inner - gh))
            region = page[y:y + gh, x:x + gw]
            region += (ink_level - region) * glyph
            boxes.append(np.array([[x, y], [x + gw, y], [x + gw, y + gh], [x, y + gh]], np.float32))
    if rng.random() < 0.15:  # light digits on a dark grid
        page = 255 - page
    return np.clip(page, 0, 255).astype(np.uint8), boxes


def _place(image: np.ndarray, page: np.ndarray, boxes: list[np.ndarray], rng: np.random.Generator):
    """A real page with labelled lines laid on the background in a slight perspective, scaled
    so its lines are 6 to 90 px tall (often small), somewhere in the frame (partly outside it
    at times)."""
    tallest = max((_height(b) for b in boxes), default=page.shape[0])
    text_h = rng.uniform(6, 20) if rng.random() < SMALL_PAGE_SHARE else rng.uniform(6, 90)
    scale = min(text_h / max(tallest, 1), 2 * W / page.shape[1])
    ph, pw = page.shape[0] * scale, page.shape[1] * scale
    tx = rng.uniform(*sorted((-0.3 * pw, W - 0.7 * pw)))
    ty = rng.uniform(*sorted((-0.3 * ph, H - 0.7 * ph)))
    src = np.float32([[0, 0], [page.shape[1], 0], [page.shape[1], page.shape[0]], [0, page.shape[0]]])
    dst = src * scale + (tx, ty)
    angle = np.deg2rad(rng.uniform(-PAGE_TILT, PAGE_TILT))
    rot = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = dst.mean(axis=0)
    dst = (dst - centre) @ rot.T + centre + rng.uniform(-PAGE_SKEW, PAGE_SKEW, (4, 2)) * (pw, ph)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warp = m
    if scale < 1:  # warps ignore INTER_AREA: shrink by area first, or a small page aliases
        page = cv2.resize(page, (max(1, round(pw)), max(1, round(ph))), interpolation=cv2.INTER_AREA)
        warp = m @ np.diag([src[2, 0] / page.shape[1], src[2, 1] / page.shape[0], 1.0])
    view = cv2.warpPerspective(page.astype(np.float32), warp, (W, H), flags=cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.ones(page.shape, np.float32), warp, (W, H)) > 0.5
    image[inside] = view[inside]
    moved = [cv2.perspectiveTransform(b[None].astype(np.float32), m)[0] for b in boxes]
    # a line cut by the frame's edge is still a line; one mostly outside is left out
    kept = [b for b in moved if (b.mean(axis=0) > 0).all() and (b.mean(axis=0) < (W, H)).all()]
    cut = [b for b in moved if not ((b.mean(axis=0) > 0).all() and (b.mean(axis=0) < (W, H)).all())]
    return image, kept, cut


def _paste(image: np.ndarray, ink: np.ndarray, text_boxes: list, rng: np.random.Generator,
           taken: list) -> list[np.ndarray] | None:
    """Ink of one line (or of a row of them) into the image at a random place, size and slight
    angle; returns each line's corners there, or None when it would not fit beside the lines
    already placed."""
    x0, y0 = np.min([b[:2] for b in text_boxes], axis=0)
    x1, y1 = np.max([b[2:] for b in text_boxes], axis=0)
    text_h = rng.uniform(4, 80) if rng.random() < 0.5 else rng.uniform(8, 30)
    f = text_h / max(y1 - y0, 1)
    if (x1 - x0) * f > W * 0.95:
        f = W * 0.95 / max(x1 - x0, 1)
    ink = cv2.resize(ink, (max(1, int(ink.shape[1] * f)), max(1, int(ink.shape[0] * f))), interpolation=cv2.INTER_AREA)
    parts = [np.array([[a, b], [c, b], [c, d], [a, d]], np.float32) * f for a, b, c, d in text_boxes]
    box = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32) * f
    angle = rng.uniform(-6, 6) if rng.random() < 0.5 else 0.0
    c = np.array(ink.shape[::-1], np.float32) / 2
    rot = cv2.getRotationMatrix2D(tuple(map(float, c)), angle, 1.0)
    corners = np.array([[0, 0], [ink.shape[1], 0], [ink.shape[1], ink.shape[0]], [0, ink.shape[0]]], np.float32)
    moved = cv2.transform(corners[None], rot)[0]
    shift = -moved.min(axis=0)
    rot[:, 2] += shift
    size = np.ceil(moved.max(axis=0) - moved.min(axis=0)).astype(int) + 1
    if size[0] >= W or size[1] >= H:
        return None
    ink = cv2.warpAffine(ink, rot, (int(size[0]), int(size[1])))
    box = cv2.transform(box[None], rot)[0]
    px, py = rng.uniform(0, W - size[0]), rng.uniform(0, H - size[1])
    box = box + (px, py)
    parts = [cv2.transform(part[None], rot)[0] + (px, py) for part in parts]
    lo, hi = box.min(axis=0), box.max(axis=0)
    for other in taken:
        olo, ohi = other.min(axis=0), other.max(axis=0)
        margin = 0.3 * min(hi[1] - lo[1], ohi[1] - olo[1])
        if (lo < ohi + margin).all() and (olo < hi + margin).all():
            return None
    ix, iy = int(px), int(py)
    region = image[iy:iy + ink.shape[0], ix:ix + ink.shape[1]]
    ink = ink[:region.shape[0], :region.shape[1]]
    local = float(region.mean()) if region.size else 128.0
    if rng.random() < 0.3:  # a panel behind the line: a plate, a label, a display
        pad = int(text_h * rng.uniform(0.2, 0.6))
        plo, phi = np.maximum(lo - pad, 0).astype(int), np.minimum(hi + pad, (W, H)).astype(int)
        local = float(rng.uniform(0, 255))
        image[plo[1]:phi[1], plo[0]:phi[0]] = local + rng.normal(0, 3, (phi[1] - plo[1], phi[0] - plo[0]))
        region = image[iy:iy + ink.shape[0], ix:ix + ink.shape[1]]
    colour = local - rng.uniform(50, 200) if (local > 128) ^ (rng.random() < 0.1) else local + rng.uniform(50, 200)
    region += (np.clip(colour, 0, 255) - region) * ink
    return parts


def line_ink(rng: np.random.Generator, pool) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A line's ink and its text's extent [(x0, y0, x1, y1)] in it."""
    from convert import line_synth as ls

    kind = rng.random()
    if kind < 0.15:
        ink, _ = ls.plate_line(rng)
        return ink, [_text_extent(ink, plate=True)]
    if kind < 0.3 and pool.get("digits") is not None:
        ink, _ = ls.handwritten_line(rng, *pool["digits"])
    elif kind < 0.45:
        ink, _ = ls.segment_line(rng)
    elif kind < 0.55:
        ink, _ = ls.counter_line(rng)
    elif kind < 0.6:
        ink, _ = ls.price_line(rng)
    elif kind < 0.65:
        ink, _ = ls.dot_matrix_line(rng)
    else:
        ink, _ = ls.printed_line(rng)
    return ink, [_text_extent(ink)]


ROW_SHARE = 0.15  # pastes of two numbers side by side: the sub-pixel head bridged the demo's 0.9-height gap
LONE_SHARE = 0.12  # pastes of one character alone: a lone digit's core is short, so it was found late and small
ROW_GAP = (0.8, 2.0)  # of the text's height between the two, on one baseline, which random pastes rarely share


def row_of_lines(rng: np.random.Generator, pool) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Two lines' ink side by side on one baseline, their text of about one height, and each
    one's text extent: two numbers on a row, which must come out as two lines."""
    (a, (ea,)), (b, (eb,)) = line_ink(rng, pool), line_ink(rng, pool)
    if a.size == 0 or b.size == 0 or a.max() <= 0.3 or b.max() <= 0.3:  # a blank half would be taught as text
        return (a, [ea]) if a.size and a.max() > 0.3 else (b, [eb])
    f = (ea[3] - ea[1]) / max(eb[3] - eb[1], 1) * rng.uniform(0.8, 1.25)
    b = cv2.resize(b, (max(1, round(b.shape[1] * f)), max(1, round(b.shape[0] * f))), interpolation=cv2.INTER_AREA)
    eb = tuple(round(v * f) for v in eb)
    gap = round(rng.uniform(*ROW_GAP) * (ea[3] - ea[1]))
    dx = ea[2] + gap - eb[0]  # b's offset: its text starts gap after a's
    dy = ea[3] - eb[3]  # bottoms level
    top, left = min(0, dy), min(0, dx)
    ink = np.zeros((max(a.shape[0], dy + b.shape[0]) - top, max(a.shape[1], dx + b.shape[1]) - left), np.float32)
    ink[-top:-top + a.shape[0], -left:-left + a.shape[1]] = a
    part = ink[dy - top:dy - top + b.shape[0], dx - left:dx - left + b.shape[1]]
    np.maximum(part, b, out=part)
    return ink, [(ea[0] - left, ea[1] - top, ea[2] - left, ea[3] - top),
                 (eb[0] + dx - left, eb[1] + dy - top, eb[2] + dx - left, eb[3] + dy - top)]


def lone_glyph_ink(rng: np.random.Generator, pool) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """One character alone, handwritten or printed (a house number, a page number, a display's
    one digit), and its extent."""
    from convert import line_synth as ls
    from convert import synth

    if pool.get("digits") is not None and rng.random() < 0.35:
        images, _ = pool["digits"]
        image = images[int(rng.integers(len(images)))]
        ink = synth._trim(synth.mnist_ink(image, rng) if image.shape == (28, 28) else image.astype(np.float32) / 255.0)
    else:
        ink, _ = ls.printed_line(rng, str(rng.choice(list(ls.DIGITS * 3 + ls.LETTERS))))
    return ink, [_text_extent(ink)]


def _text_extent(ink: np.ndarray, plate: bool = False) -> tuple[int, int, int, int]:
    """The ink's extent; on a plate, the tallest run of rows (its characters, not the
    border or the state's name)."""
    rows = np.flatnonzero(ink.max(axis=1) > 0.3)
    cols = np.flatnonzero(ink.max(axis=0) > 0.3)
    if not rows.size:
        return 0, 0, ink.shape[1], ink.shape[0]
    if plate:
        inner = ink[3:-3, 3:-3] > 0.3 if min(ink.shape) > 8 else ink > 0.3
        filled = inner.sum(axis=1) > 0.08 * inner.shape[1]
        runs, start = [], None
        for i, v in enumerate(np.append(filled, False)):
            if v and start is None:
                start = i
            elif not v and start is not None:
                runs.append((i - start, start, i))
                start = None
        if runs:
            _, a, b = max(runs)
            band = inner[a:b]
            c = np.flatnonzero(band.any(axis=0))
            return int(c[0] + 3), int(a + 3), int(c[-1] + 4), int(b + 3)
    return int(cols[0]), int(rows[0]), int(cols[-1] + 1), int(rows[-1] + 1)


def scene(rng: np.random.Generator, pool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One training frame (H x W uint8), its core map and its weight map."""
    image, boxes, ignore = _background(rng, pool)
    for _ in range(int(rng.integers(0, 7))):
        kind = rng.random()
        ink, extents = (row_of_lines(rng, pool) if kind < ROW_SHARE else lone_glyph_ink(rng, pool)
                        if kind < ROW_SHARE + LONE_SHARE else line_ink(rng, pool))
        if ink.size == 0 or ink.max() <= 0:
            continue
        placed = _paste(image, np.clip(ink, 0, 1), extents, rng, boxes)
        if placed is not None:
            boxes.extend(placed)
    if rng.random() < LOW_CONTRAST_SHARE:  # dim light, haze, a faded plate: text barely off its ground
        mean = float(image.mean())
        image = mean + (image - mean) * rng.uniform(0.15, 0.5)
    sigma = rng.uniform(0, 1.2)
    if sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    image = np.clip(image + rng.normal(0, rng.uniform(0, 8), image.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        image = cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])[1],
                             cv2.IMREAD_GRAYSCALE)
    small = [b for b in boxes if _height(b) < MIN_LINE_HEIGHT]
    core, weight = target_map([b for b in boxes if _height(b) >= MIN_LINE_HEIGHT], small)
    return image, core, weight


LOW_CONTRAST_SHARE = 0.15  # scenes squeezed to 15-50% of their contrast: a faded plate on the tuning split was missed
MIN_LINE_HEIGHT = 5  # input pixels: smaller lines are neither taught as text nor as background


def _height(box: np.ndarray) -> float:
    return float((np.linalg.norm(box[3] - box[0]) + np.linalg.norm(box[2] - box[1])) / 2)


def scene_pool(split: str = "train", mnist=None) -> dict:
    """Real material for scenes: squared-up sudoku grids with their digits' boxes, orand
    cheque amounts with their digits' extent, and handwritten digits to compose lines."""
    from convert.datasets import find_dataset, load_orand, read_data_image, sudoku_square
    from convert.line_data import split3
    from convert.recognizer import handwritten_pool

    pool: dict = {"sudoku": [], "orand": []}
    for path in sorted(find_dataset("sudoku-train").glob("*.jpg")):
        if split3(path.name) != split:
            continue
        found = sudoku_square(path)
        if found is not None:
            square, boxes = found
            pool["sudoku"].append((square, [np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)
                                            for x, y, w, h, _ in boxes]))
    for im in load_orand():
        if split3(im.file.name) == split and im.boxes:
            b = np.array([bx[:4] for bx in im.boxes])
            x0, y0 = b[:, 0].min(), b[:, 1].min()
            extent = (x0, y0, (b[:, 0] + b[:, 2]).max() - x0, (b[:, 1] + b[:, 3]).max() - y0)
            pool["orand"].append((read_data_image(im.file, cv2.IMREAD_GRAYSCALE), extent))
    if mnist is not None:
        pool["digits"] = handwritten_pool(mnist[0], mnist[1], np.random.default_rng(0))
    return pool


def _scene_chunk(args):
    n, seed, pool = args
    rng = np.random.default_rng(seed)
    out = [scene(rng, pool) for _ in range(n)]
    return (np.stack([o[0] for o in out]), np.stack([o[1] for o in out]).astype(np.float16),
            np.stack([o[2] for o in out]).astype(np.float16))


def build_scenes(n: int, seed: int = 0, pool=None, log=print, workers: int = 2):
    import multiprocessing as mp
    chunks = [(n // 20 + (1 if i < n % 20 else 0), seed * 1000 + i, pool or {}) for i in range(20)]
    chunks = [c for c in chunks if c[0]]  # fewer than 20 scenes: no empty chunk
    xs, cores, weights = [], [], []
    with mp.get_context("fork").Pool(workers) as p:
        for x, c, w in p.imap(_scene_chunk, chunks):
            xs.append(x), cores.append(c), weights.append(w)
            log(f"  scenes: {sum(len(v) for v in xs)}/{n}")
    return np.concatenate(xs), np.concatenate(cores), np.concatenate(weights)


GRAFT_NOTE = ("this detector of the 1/2-resolution design grafted onto the sub-pixel head: its backbone copied, "
              "its last block moved to 1/4, its output kernel repeated for the 4 sub-pixels")


def start_from(model, keras_path) -> dict | str:
    """Copy a saved detector's weights into `model` to fine-tune it; one of the earlier design
    (a 1/2-resolution stage and one output channel) is grafted on: its backbone copied, its
    last block moved to 1/4 and its output kernel repeated for the 4 sub-pixels. Returns the
    saved model's training record, marked when grafted."""
    import keras

    from convert.train import training_info

    saved, info = keras.models.load_model(keras_path, compile=False), training_info(keras_path)
    source = [layer for layer in saved.layers if layer.weights]
    target = [layer for layer in model.layers if layer.weights]
    if len(source) == len(target):
        model.set_weights(saved.get_weights())
        return info
    if len(source) != len(target) + 2 or source[-1].get_weights()[0].shape[-1] != 1:
        raise ValueError(f"{keras_path} is not a detector of this design or the earlier one")
    pairs = list(zip(source[:-7], target[:-5], strict=True)) + list(zip(source[-5:-1], target[-5:-1], strict=True))
    for old, new in pairs:  # all but its 1/2-resolution lateral conv and norm
        new.set_weights(old.get_weights())
    kernel, bias = source[-1].get_weights()
    target[-1].set_weights([np.repeat(kernel, 4, axis=-1), np.repeat(bias, 4)])
    return {**info, "grafted": GRAFT_NOTE} if isinstance(info, dict) else {"model": info, "grafted": GRAFT_NOTE}


# -- training -----------------------------------------------------------------------------
def train(x, core, weight, epochs: int, batch: int = 32, lr: float = 2e-3, seed: int = 0, model=None, log=print,
          checkpoint=None):
    """Weighted binary cross-entropy plus a dice term on the core map, trained on a copy of
    `model` with the fused batch normalization; `checkpoint(model)` after each epoch."""
    import time

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = model or build_model()
    trained = build_model(fused_norm=True)
    trained.set_weights(model.get_weights())
    steps = max(1, len(x) // batch)
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(lr, epochs * steps, alpha=0.02))

    @tf.function(input_signature=[tf.TensorSpec([None, H, W, 1], tf.uint8), tf.TensorSpec([None, None, None], tf.float32),
                                  tf.TensorSpec([None, None, None], tf.float32)])
    def step(images, target, w):
        with tf.GradientTape() as tape:
            p = trained(tf.cast(images, tf.float32), training=True)[..., 0]
            bce = keras.ops.binary_crossentropy(target, tf.clip_by_value(p, 1e-6, 1 - 1e-6))
            bce = tf.reduce_sum(bce * w) / tf.maximum(tf.reduce_sum(w), 1.0)
            dice = 1 - 2 * tf.reduce_sum(p * target * w) / (tf.reduce_sum((p + target) * w) + 1.0)
            loss = bce + 0.5 * dice
        grads = tape.gradient(loss, trained.trainable_variables)
        optimizer.apply_gradients(zip(grads, trained.trainable_variables))
        return loss

    rng = np.random.default_rng(seed)
    history = {"loss": []}
    for epoch in range(epochs):
        started, losses = time.time(), []
        order = rng.permutation(len(x))
        for k in range(steps):
            idx = np.sort(order[k * batch:(k + 1) * batch])
            flip = rng.random() < 0.5  # mirror images: text reads the other way, its lines are still lines
            images, c, w = x[idx], core[idx].astype(np.float32), weight[idx].astype(np.float32)
            if flip:
                images, c, w = images[:, :, ::-1], c[:, :, ::-1], w[:, :, ::-1]
            losses.append(float(step(np.ascontiguousarray(images)[..., None], np.ascontiguousarray(c),
                                     np.ascontiguousarray(w))))
            if k % 100 == 0:
                log(f"  epoch {epoch + 1}/{epochs} batch {k}/{steps} loss {np.mean(losses[-100:]):.4f}")
        history["loss"].append(float(np.mean(losses)))
        model.set_weights(trained.get_weights())
        log(f"epoch {epoch + 1}/{epochs}: loss {history['loss'][-1]:.4f} ({time.time() - started:.0f} s)")
        if checkpoint:
            checkpoint(model)
    return model, history


def to_int8_tflite(model, samples: np.ndarray) -> bytes:
    from convert.export import full_int8
    from convert.stem import blocked_weights

    blocked = build_model(blocked_stem=True)
    blocked.set_weights(blocked_weights(model.get_weights(), strided=True))
    return full_int8(blocked, [image[None, :, :, None].astype(np.float32) for image in samples])


def main(argv=None) -> int:
    """python -m convert.train --model detector [--epochs N] [--scenes N]"""
    from convert.outputs import out_problem
    from convert.train import partial_path, seed
    import argparse
    import json
    import sys
    import time
    from pathlib import Path

    from convert.datasets import PROJECT_ROOT, DataError, load_mnist
    from convert.line_synth import font_counts, fonts_warning

    p = argparse.ArgumentParser(prog="python -m convert.train --model detector",
                                description="Train the text-line detector (edge.detect).")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--scenes", type=int, default=12_000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "models" / "detector.keras")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow threads (default: all cores)")
    p.add_argument("--init", type=Path, help="start from this Keras model's weights (fine-tuning)")
    a = p.parse_args(argv)
    if a.epochs < 1 or a.scenes < 1 or a.batch < 1 or a.threads < 0:
        p.error("--epochs, --scenes and --batch must be >= 1, --threads >= 0")
    if problem := out_problem(a.out):  # else found only when the model is saved, after an epoch
        p.error(problem)
    from convert.export import peek_keras
    log = lambda m: print(m, flush=True)  # noqa: E731
    started = time.time()
    try:
        if a.init:
            peek_keras(a.init, (INPUT_SIZE[1], INPUT_SIZE[0], 1), "detector")  # now, not after the scenes
        x, y, _, _ = load_mnist()
        pool = scene_pool("train", (x, y))
        warning = fonts_warning()
        if warning:
            log(warning)
        log(f"building {a.scenes} scenes ...")
        images, core, weight = build_scenes(a.scenes, a.seed, pool, log)
    except DataError as e:
        print(f"convert.train: error: {e}", file=sys.stderr)
        return 2
    if a.threads:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        tf.config.threading.set_inter_op_parallelism_threads(a.threads)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    model, before = None, None  # built inside train, after its seed, unless fine-tuning
    if a.init:
        model = build_model()
        try:
            before = start_from(model, a.init)
        except (OSError, ValueError) as e:
            print(f"convert.train: error: --init {a.init}: {str(e).splitlines()[0]}", file=sys.stderr)
            return 2
    model, history = train(images, core, weight, a.epochs, a.batch, a.lr, a.seed, model, log=log,
                           checkpoint=lambda m: m.save(partial_path(a.out)))
    model.save(a.out)
    partial_path(a.out).unlink(missing_ok=True)
    rng = np.random.default_rng(a.seed)
    np.save(a.out.with_suffix(".representative.npy"), images[rng.choice(len(images), min(300, len(images)), replace=False)])
    info = {"scenes": a.scenes, "epochs": a.epochs, "batch": a.batch, "lr": a.lr, "seed": a.seed,
            "init": a.init.name if a.init else None, "fonts": font_counts(),
            "weights": int(model.count_params()), "train_minutes": round((time.time() - started) / 60, 1),
            "history": history}
    if before is not None:
        info["fine_tuned_from"] = before
    a.out.with_suffix(".train.json").write_text(json.dumps(info, indent=1) + "\n")
    log(f"saved {a.out} ({info['train_minutes']} min)")
    return 0


# -- export and evaluation ----------------------------------------------------------------
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)  # tried on the tuning split


REPRESENTATIVE_SCENES = 300  # frames the int8 export calibrates on, as convert.train saves them


def representative_scenes(keras_path, log=print) -> np.ndarray:
    """The training scenes convert.train saved beside the model; else as many built again from
    the training split, seed 0 (a fresh clone has the model, not its training scenes)."""
    saved = keras_path.with_suffix(".representative.npy")
    if saved.is_file():
        return np.load(saved)
    from convert.datasets import load_mnist
    log(f"{saved.name} not found: calibrating on {REPRESENTATIVE_SCENES} training scenes built again")
    x, y, _, _ = load_mnist()
    return _scene_chunk((REPRESENTATIVE_SCENES, 0, scene_pool("train", (x, y))))[0]


def export(keras_path, tflite_path, threshold: float = 0.5, log=print) -> dict:
    import datetime
    import json

    from convert.export import _without_history, peek_keras, read_keras, tensor_metadata

    peek_keras(keras_path, (INPUT_SIZE[1], INPUT_SIZE[0], 1), "detector")
    samples = representative_scenes(keras_path, log)  # before TensorFlow starts its threads

    model = read_keras(keras_path, (INPUT_SIZE[1], INPUT_SIZE[0], 1), "detector")
    data = to_int8_tflite(model, samples)
    tflite_path.parent.mkdir(parents=True, exist_ok=True)
    tflite_path.write_bytes(data)
    _, out = tensor_metadata(data)
    meta = {"format": "edge-digits-detector/1", "model": tflite_path.name, "input_size": list(INPUT_SIZE),
            "output_stride": OUTPUT_STRIDE, "core_height": CORE_HEIGHT, "core_inset": CORE_INSET,
            "threshold": threshold, "output": {"scale": out["scale"], "zero_point": out["zero_point"]},
            "input": {"convention": f"grey frame (or ROI) scaled into {INPUT_SIZE[0]}x{INPUT_SIZE[1]}, aspect kept, "
                                    "padded right and below by its edge: edge.detect.letterbox"},
            "size_bytes": len(data), "created": datetime.date.today().isoformat()}
    info = keras_path.with_suffix(".train.json")
    if info.is_file():
        meta["training"] = _without_history(json.loads(info.read_text()))
    tflite_path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def end_to_end(reader_for, split: str) -> dict:
    """The learned reader on one split's whole images: orand exact digit strings, plates exact,
    and the digit F1 of the sudoku photos in a 640x480 view."""
    from convert.devsets import plate_read
    from convert.line_data import orand_lines, plate_lines
    from edge.types import Frame

    report = {}
    reader = reader_for("digits")
    lines = orand_lines(split)
    hits = 0
    for i, line in enumerate(lines):
        result = reader.process(Frame(line.gray, i, 0.0, f"orand-{i}"))
        read = "".join(str(int(d)) for d in result.digits.labels[np.argsort(result.digits.boxes[:, 0], kind="stable")])
        hits += read == line.text
    report["orand_exact"] = hits / max(len(lines), 1)
    reader = reader_for("alnum")
    plates = plate_lines(split)
    hits = 0
    for i, line in enumerate(plates):
        result = reader.process(Frame(line.gray, i, 0.0, f"plate-{i}"))
        hits += plate_read(result.numbers) == line.text
    report["plates_exact"] = hits / max(len(plates), 1)
    report["sudoku_f1"] = sudoku_view_f1(reader_for("digits"), split)
    return report


SUDOKU_VIEW = (640, 480)  # the tuning split's sudoku photos as a live camera sees a page


def sudoku_view_f1(reader, split: str) -> float:
    """Digit F1 (counts per photo inside the grid against it: convert.devsets.in_grid) on one
    split's sudoku photos scaled to SUDOKU_VIEW: small printed digits, which orand and plates lack."""
    from collections import Counter

    from convert.datasets import find_dataset, read_data_image
    from convert.devsets import count_matches, in_grid, sudoku_truth
    from convert.line_data import split3
    from edge.types import Frame

    tp = fp = fn = 0
    for i, path in enumerate(sorted(find_dataset("sudoku-train").glob("*.jpg"))):
        if split3(path.name) != split:
            continue
        photo = read_data_image(path)
        f = min(SUDOKU_VIEW[0] / photo.shape[1], SUDOKU_VIEW[1] / photo.shape[0])  # aspect kept: portraits too
        image = cv2.resize(photo, (round(photo.shape[1] * f), round(photo.shape[0] * f)), interpolation=cv2.INTER_AREA)
        digits = reader.process(Frame(image, i, 0.0, path.name)).digits
        read = Counter(int(d) for d in digits.labels[in_grid(photo, digits.boxes, f)])
        hits = count_matches(sudoku_truth(path), read)
        tp, fp, fn = tp + hits[0], fp + hits[1], fn + hits[2]
    return 2 * tp / max(1, 2 * tp + fp + fn)


EDGE_LEVELS = (0.0, 0.5, 0.6, 0.7, 0.8)  # trim_unsure's levels tried on the tuning split
MIN_CONFIDENCES = (0.2, 0.3, 0.4, 0.5)  # the reader's least line confidence, tried at the chosen pair; ties: higher
OBJECTIVE = ("orand_exact", "plates_exact", "sudoku_f1", "meter_digits", "small_text", "lone_digits")  # summed
SMALL_HEIGHTS, LONE_HEIGHTS = (14, 16), (24, 32, 48, 64)  # px at 640x480: where thresholds part small and lone text


def small_and_lone(detector, recognizer, tries: int = 20, **levels) -> dict:
    """Shares of synthetic numbers 14-16 px tall and of lone digits 24-64 px read exactly
    (convert.smallest_text) at the reader's `levels` (edge_confidence, min_confidence): the
    tuning sets hold few of either; a higher threshold loses both, a higher level small text."""
    from convert.smallest_text import lone_digits, smallest_text
    small = smallest_text(detector, recognizer, SMALL_HEIGHTS, tries, **levels)
    lone = lone_digits(detector, recognizer, LONE_HEIGHTS, tries, **levels)
    return {"small_text": sum(small.values()) / (tries * len(small)),
            "lone_digits": sum(lone.values()) / (tries * len(lone))}


def choose_settings(tflite_path, recognizer_path=None, log=print) -> tuple[dict, dict]:
    """The core threshold and trim_unsure level that read the tuning split best end to end
    (orand exact strings + plates exact + sudoku view F1, plus the recognizer's meter digits so
    the sum also ranks recognizers, plus synthetic small text and lone digits, each read at the
    settings tried), ties to the middle threshold, then the higher level; then, at those, the
    least line confidence (ties to the higher)."""
    from convert.export_lines import int8_predict
    from convert.recognizer import line_scores
    from edge.detect import TextDetector
    from edge.infer.recognizer import LineRecognizer
    from edge.line_reader import MIN_CONFIDENCE, LineReader

    recognizer = LineRecognizer(recognizer_path)
    meters = line_scores(int8_predict(recognizer), "tune", ("meters",))
    meters = meters["meters"]["whole_digit_accuracy"] if meters else 0.0

    def score(detector, level, least):
        s = end_to_end(lambda charset: LineReader(detector, recognizer, charset, keep_mask=False,
                                                  edge_confidence=level, min_confidence=least), "tune")
        s.update(meter_digits=meters, **small_and_lone(detector, recognizer, edge_confidence=level,
                                                       min_confidence=least))
        return s

    scores = {}
    for t in THRESHOLDS:
        detector = TextDetector(tflite_path, threshold=t)
        for level in EDGE_LEVELS:
            scores[(t, level)] = score(detector, level, MIN_CONFIDENCE)
            log(f"  threshold {t}, edge confidence {level}: {scores[(t, level)]}")
    best = max(scores, key=lambda k: (round(sum(scores[k][m] for m in OBJECTIVE), 6),
                                      -abs(k[0] - 0.5), k[1]))
    settings = {"threshold": best[0], "edge_confidence": best[1]}
    named = {f"threshold {t}, edge confidence {level}": v for (t, level), v in scores.items()}
    detector = TextDetector(tflite_path, threshold=best[0])
    sure = {MIN_CONFIDENCE: scores[best]}
    for least in MIN_CONFIDENCES:
        if least not in sure:
            sure[least] = score(detector, best[1], least)
            log(f"  at those, least line confidence {least}: {sure[least]}")
        named[f"threshold {best[0]}, edge confidence {best[1]}, least line confidence {least}"] = sure[least]
    settings["min_confidence"] = max(sure, key=lambda k: (round(sum(sure[k][m] for m in OBJECTIVE), 6), k))
    return settings, named


def export_main(argv=None) -> int:
    """python -m convert.export --model detector [--keras PATH] [--out PATH]"""
    import argparse
    import json
    import sys
    from pathlib import Path

    from convert.datasets import PROJECT_ROOT, DataError
    from edge.infer.runtime import ModelError

    p = argparse.ArgumentParser(prog="python -m convert.export --model detector",
                                description="Export the detector to int8 and choose its threshold on the tuning split.")
    p.add_argument("--keras", type=Path, default=PROJECT_ROOT / "models" / "detector.keras")
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "models" / "detector.tflite")
    p.add_argument("--recognizer", type=Path, help="the line model to tune with (default: the shipped one)")
    a = p.parse_args(argv)
    if not a.keras.is_file():
        print(f"convert.export: error: {a.keras} not found; train first with 'python -m convert.train --model "
              "detector'", file=sys.stderr)
        return 2
    from convert.outputs import export_problem
    if problem := export_problem(a.keras, a.out):
        p.error(problem)
    try:
        export(a.keras, a.out)
        settings, scores = choose_settings(a.out, a.recognizer)
    except (DataError, ModelError) as e:
        print(f"convert.export: error: {e}", file=sys.stderr)
        return 2
    meta_path = a.out.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta.update(settings)
    meta["tuning"] = {"split": "tune (convert.line_data.split3): orand-car-a, plates-train and sudoku-train "
                               "at 640x480, end to end; meters-train digits by the recognizer", "scores": scores}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {a.out} ({meta['size_bytes'] / 1024:.0f} KB), {settings}, and {meta_path}")
    return 0
