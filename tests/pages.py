"""Synthetic pages with known digit boxes, for segmentation, grouping and CLI tests."""
import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX


def render_page(numbers, size=(480, 640), dark_ink=True, thickness=4, spacing=0.25, font=FONT):
    """numbers: [(text, x, y_bottom, digit_height)]. Returns (grey image, [(box, digit)])."""
    h, w = size
    paper, ink = (235, 25) if dark_ink else (20, 235)
    page = np.full((h, w), paper, np.uint8)
    boxes = []
    for text, x, y, height in numbers:
        scale = cv2.getFontScaleFromHeight(font, height, thickness)
        for ch in text:
            glyph = np.zeros((h, w), np.uint8)
            cv2.putText(glyph, ch, (x, y), font, scale, 255, thickness, cv2.LINE_AA)
            ys, xs = np.nonzero(glyph > 128)
            boxes.append(((int(xs.min()), int(ys.min()), int(np.ptp(xs) + 1), int(np.ptp(ys) + 1)), int(ch)))
            page[glyph > 128] = ink
            x = int(xs.max()) + int(height * spacing)
    return page, boxes

