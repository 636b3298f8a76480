"""Digits -> numbers: same line, similar height, small gap; in reading order."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.boxes import side_by_side
from edge.segment import components
from edge.types import Digits, Number


@dataclass(frozen=True)
class GroupParams:
    min_vertical_overlap: float = 0.5  # of the shorter digit's height
    max_height_ratio: float = 1.8
    max_gap: float = 0.8  # horizontal gap, in heights of the taller digit


def _links(boxes: np.ndarray, dark: np.ndarray, p: GroupParams) -> np.ndarray:
    _, h, overlap_y, gap = side_by_side(boxes)
    shorter = np.minimum(h[:, None], h)
    taller = np.maximum(h[:, None], h)
    return ((overlap_y >= p.min_vertical_overlap * shorter) & (taller <= p.max_height_ratio * shorter)
            & (gap <= p.max_gap * taller) & (dark[:, None] == dark))


def group_numbers(digits: Digits, params: GroupParams = GroupParams()) -> list[Number]:
    """Accepted digits (labels >= 0) -> numbers, top to bottom, left to right."""
    n = len(digits)
    if n == 0:
        return []
    group = components(_links(digits.boxes, digits.dark_ink, params))
    by_group = np.lexsort((digits.boxes[:, 0], group))  # each group's digits together, left to right
    starts = np.flatnonzero(np.diff(group[by_group], prepend=-1))
    x, y, w, h = digits.boxes[by_group].T
    x0, y0 = np.minimum.reduceat(x, starts).tolist(), np.minimum.reduceat(y, starts).tolist()
    x1, y1 = np.maximum.reduceat(x + w, starts).tolist(), np.maximum.reduceat(y + h, starts).tolist()
    least_sure = np.minimum.reduceat(digits.confidence[by_group], starts).tolist()
    labels = list(map(str, digits.labels[by_group].tolist()))
    ends = [*starts.tolist()[1:], n]
    numbers = []
    for k, (start, end) in enumerate(zip(starts.tolist(), ends)):
        numbers.append(Number("".join(labels[start:end]), least_sure[k], (x0[k], y0[k], x1[k] - x0[k], y1[k] - y0[k]),
                              digits.take(by_group[start:end])))
    return reading_order(numbers)


def reading_order(numbers: list[Number]) -> list[Number]:
    """Lines from the top (a number joins a line when its centre is within half its
    height of the line's centre), each line left to right."""
    lines: list[list[Number]] = []
    for num in sorted(numbers, key=lambda m: m.box[1] + m.box[3] / 2):
        centre = num.box[1] + num.box[3] / 2
        if lines:
            last = lines[-1]
            line_centre = sum(m.box[1] + m.box[3] / 2 for m in last) / len(last)
            if abs(centre - line_centre) <= 0.5 * num.box[3]:
                last.append(num)
                continue
        lines.append([num])
    return [m for line in lines for m in sorted(line, key=lambda m: m.box[0])]
