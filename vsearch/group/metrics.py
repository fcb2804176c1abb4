"""Grouping metrics, pure functions of two labellings: pairwise precision/recall/F1, B-cubed, ARI."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from math import comb


def _pairs(counts: Counter) -> int:
    return sum(comb(v, 2) for v in counts.values())


def pairwise(pred: Sequence[str], truth: Sequence[str]) -> dict[str, float]:
    """Over all offer pairs: precision = same-truth share of same-group pairs; recall the reverse."""
    both = _pairs(Counter(zip(pred, truth)))
    p_pairs, t_pairs = _pairs(Counter(pred)), _pairs(Counter(truth))
    precision = both / p_pairs if p_pairs else 1.0
    recall = both / t_pairs if t_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_pairs": t_pairs, "predicted_pairs": p_pairs,
            "correct_pairs": both}


def bcubed(pred: Sequence[str], truth: Sequence[str]) -> dict[str, float]:
    """Per-offer precision (share of its group in its truth cluster) and recall (the reverse), averaged."""
    n = len(pred)
    if n == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    both = Counter(zip(pred, truth))
    p_size, t_size = Counter(pred), Counter(truth)
    precision = sum(both[(p, t)] / p_size[p] for p, t in zip(pred, truth)) / n
    recall = sum(both[(p, t)] / t_size[t] for p, t in zip(pred, truth)) / n
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall)}


def adjusted_rand(pred: Sequence[str], truth: Sequence[str]) -> float:
    """Adjusted Rand index (Hubert & Arabie): 1 identical, ~0 chance."""
    n = len(pred)
    if n < 2:
        return 1.0
    index = _pairs(Counter(zip(pred, truth)))
    a, b = _pairs(Counter(pred)), _pairs(Counter(truth))
    expected = a * b / comb(n, 2)
    best = (a + b) / 2
    return 1.0 if best == expected else (index - expected) / (best - expected)
