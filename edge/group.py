"""Numbers in reading order: lines from the top, each left to right."""
from __future__ import annotations

from edge.types import Number


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
