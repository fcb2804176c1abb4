"""Calibration on the validation split: softmax temperatures, the fusion weight, the review threshold."""

from __future__ import annotations

import numpy as np

TEMPERATURES = np.geomspace(0.25, 64.0, 41)


def log_softmax(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = scores * temperature
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def fit_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    """The scale of `[n, C]` scores that minimises the negative log-likelihood of `truth` (class indices;
    rows with -1, a class unknown to the model, are left out). 1.0 when there is nothing to fit on."""
    keep = truth >= 0
    if not keep.any() or scores.shape[1] < 2:
        return 1.0
    s, t = scores[keep], truth[keep]
    nll = [-log_softmax(s, float(temp))[np.arange(len(t)), t].mean() for temp in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(nll))])


def review_threshold(confidence: np.ndarray, correct: np.ndarray, target_error: float) -> float:
    """The lowest confidence threshold whose accepted predictions (confidence >= threshold) have an error
    rate <= `target_error`; everything below it goes to review. 0.0 when every prediction may pass."""
    order = np.argsort(-confidence, kind="stable")
    conf, ok = confidence[order], correct[order].astype(np.float64)
    if not len(conf):
        return 0.0
    err_rate = np.cumsum(1.0 - ok) / np.arange(1, len(ok) + 1)
    passing = np.flatnonzero(err_rate <= target_error)
    if not len(passing):
        return float(np.nextafter(conf[0], np.inf))  # not even the most confident is safe: review all
    last = int(passing[-1])
    return 0.0 if last == len(conf) - 1 else float(conf[last])


def review_figures(flagged: np.ndarray, correct: np.ndarray) -> dict[str, float]:
    """Share of predictions flagged, share of the errors among them, and the error rate of the rest."""
    flagged = np.asarray(flagged, bool)
    errors = ~np.asarray(correct, bool)
    n_err = int(errors.sum())
    kept = ~flagged
    return {"flagged": float(flagged.mean()) if len(flagged) else 0.0,
            "errors_caught": float((flagged & errors).sum() / n_err) if n_err else float("nan"),
            "error_rate": float(errors.mean()) if len(errors) else 0.0,
            "error_rate_unflagged": float(errors[kept].mean()) if kept.any() else 0.0,
            "errors": n_err, "samples": int(len(errors))}
