"""Greedy CTC decoding with each character's confidence and x-span."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class DecodedChar:
    index: int  # class index (edge.lines.CHARSET)
    confidence: float  # the highest probability of this class over its time steps
    t0: int  # first time step where it wins
    t1: int  # one past the last


def greedy_decode(probs: np.ndarray, blank: int, length: int | None = None) -> list[DecodedChar]:
    """(T, C) per-step probabilities -> characters: the best class at each step, repeats
    merged, blanks dropped. `length` limits decoding to the first steps (the rest of the
    row is padding)."""
    probs = probs[:length] if length is not None else probs
    if len(probs) == 0:
        return []
    best = probs.argmax(axis=1).tolist()  # a plain loop: lines are a few dozen steps, numpy's calls cost more
    out = []
    t0 = 0
    for t in range(1, len(best) + 1):
        if t == len(best) or best[t] != best[t0]:
            if best[t0] != blank:
                out.append(DecodedChar(best[t0], float(probs[t0:t, best[t0]].max()), t0, t))
            t0 = t
    return out
