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
    best = probs.argmax(axis=1)
    change = np.flatnonzero(np.diff(best)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(best)]])
    out = []
    for t0, t1 in zip(starts.tolist(), ends.tolist()):
        c = int(best[t0])
        if c != blank:
            out.append(DecodedChar(c, float(probs[t0:t1, c].max()), t0, t1))
    return out
