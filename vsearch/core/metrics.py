"""Pure metric functions: arrays in, numbers out. No models, no I/O.

Retrieval conventions (each is tested against hand-computed cases and a brute-force reference):
- Ties count against the query: among gallery items with equal scores the non-relevant ones rank
  first, so a collapsed model (all scores equal) cannot score well by the luck of the order.
- A query with no relevant gallery item has no defined recall/AP/nDCG: its metrics are NaN and it is
  left out of the means (`summarize` reports how many were left out).
- K larger than the gallery ranks the whole gallery; precision@K still divides by K (missing
  results count as non-relevant, as trec_eval does).
- recall@K is the share of the relevant items found in the top K; hit@K is 1 when any is (the
  "Recall@K" of metric-learning papers). They are equal when each query has one relevant item.
- AP@K divides by min(K, #relevant), so a perfect top K scores 1; nDCG@K uses binary gains.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

_CHUNK = 256


def rank_hits(scores: np.ndarray, relevant: np.ndarray, k: int,
              valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Relevance of the top-`k` ranked gallery items of each query.

    Args:
        scores: `[q, n]` similarity of each query to each gallery item (higher is closer).
        relevant: `[q, n]` bool, True where the gallery item is relevant to the query.
        k: how many ranks to keep.
        valid: optional `[q, n]` bool; False removes an item from that query's gallery (e.g. itself).

    Returns:
        hits `[q, k]` bool (False past the end of a query's gallery) and n_relevant `[q]` int.
    """
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    if scores.ndim != 2 or scores.shape != relevant.shape:
        raise ValueError(f"scores {scores.shape} and relevant {relevant.shape} must be equal 2-d shapes")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        relevant = relevant & valid
    n_q, n = scores.shape
    hits = np.zeros((n_q, k), dtype=bool)
    width = min(k, n)
    for start in range(0, n_q, _CHUNK):
        s = scores[start:start + _CHUNK]
        r = relevant[start:start + _CHUNK]
        if valid is not None:
            s = np.where(valid[start:start + _CHUNK], s, -np.inf)
        # lexsort: last key is primary. Score descending, then non-relevant before relevant (ties count against).
        order = np.lexsort((r, -s), axis=1)[:, :width]
        top = np.take_along_axis(r, order, axis=1)
        if valid is not None:
            n_valid = valid[start:start + _CHUNK].sum(axis=1)
            top &= np.arange(width)[None, :] < n_valid[:, None]
        hits[start:start + _CHUNK, :width] = top
    return hits, relevant.sum(axis=1).astype(np.int64)


def per_query_metrics(hits: np.ndarray, n_relevant: np.ndarray, ks: Sequence[int]) -> dict[str, np.ndarray]:
    """Per-query precision@K, recall@K, hit@K, AP@K, nDCG@K (NaN for queries with nothing relevant).

    Args:
        hits: `[q, >= max(ks)]` bool from `rank_hits`.
        n_relevant: `[q]` relevant items per query in its gallery.
        ks: cut-offs.
    """
    hits = np.asarray(hits, dtype=bool)
    n_rel = np.asarray(n_relevant, dtype=np.float64)
    if max(ks) > hits.shape[1]:
        raise ValueError(f"hits has {hits.shape[1]} ranks, fewer than K={max(ks)}")
    empty = n_rel == 0
    cum = np.cumsum(hits, axis=1, dtype=np.float64)
    ranks = np.arange(1, hits.shape[1] + 1, dtype=np.float64)
    prec_at_i = cum / ranks[None, :]
    discount = 1.0 / np.log2(ranks + 1.0)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in ks:
            found = cum[:, k - 1]
            cap = np.minimum(n_rel, k)
            out[f"precision@{k}"] = found / k
            out[f"recall@{k}"] = found / n_rel
            out[f"hit@{k}"] = (found > 0).astype(np.float64)
            out[f"map@{k}"] = (prec_at_i[:, :k] * hits[:, :k]).sum(axis=1) / cap
            ideal = np.array([discount[:int(c)].sum() for c in cap])
            out[f"ndcg@{k}"] = (hits[:, :k] * discount[None, :k]).sum(axis=1) / ideal
    for values in out.values():
        values[empty] = np.nan
    return out


def summarize(per_query: dict[str, np.ndarray], mask: np.ndarray | None = None) -> dict[str, float]:
    """Means over the queries that have a relevant item (optionally only where `mask` is True)."""
    some = next(iter(per_query.values()))
    mask = np.ones(len(some), bool) if mask is None else np.asarray(mask, bool)
    defined = mask & ~np.isnan(some)
    out = {name: float(np.mean(values[defined])) if defined.any() else float("nan")
           for name, values in per_query.items()}
    out["queries"] = int(defined.sum())
    out["queries_without_relevant"] = int((mask & np.isnan(some)).sum())
    return out


def retrieval_metrics(scores: np.ndarray, relevant: np.ndarray, ks: Sequence[int],
                      valid: np.ndarray | None = None) -> dict[str, float]:
    """Mean precision/recall/hit/mAP/nDCG at each K over the queries of a `[q, n]` score matrix."""
    hits, n_rel = rank_hits(scores, relevant, max(ks), valid)
    return summarize(per_query_metrics(hits, n_rel, ks))


def group_max(scores: np.ndarray, groups: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """`[q, n]` scores of vectors -> `[q, g]` scores of groups (products), each its best vector's score.

    Ranking products by their best-matching photo is what `Searcher` does, so metrics on these
    scores measure what a user sees.
    """
    names = sorted(set(groups))
    col = {name: i for i, name in enumerate(names)}
    idx = np.array([col[g] for g in groups], dtype=np.int64)
    order = np.argsort(idx, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(idx[order]) != 0])
    scores = np.asarray(scores, dtype=np.float32)
    if not len(names):
        return np.zeros((scores.shape[0], 0), np.float32), names
    return np.maximum.reduceat(scores[:, order], starts, axis=1), names


# -- classification -------------------------------------------------------------------------------

def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str],
                           labels: Sequence[str] | None = None) -> dict[str, object]:
    """Accuracy, macro and weighted F1, per-class precision/recall/F1/support and the confusion matrix.

    Classes with no prediction get precision 0 (sklearn `zero_division=0`), the pessimistic choice.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items, y_pred {len(y_pred)}")
    if not len(y_true):
        raise ValueError("no samples to evaluate")
    labels = list(labels) if labels is not None else sorted(set(y_true) | set(y_pred))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    present = [lab for lab in labels if lab in set(y_true)]  # macro over classes that occur in the truth
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "f1_weighted": float(f1_score(y_true, y_pred, labels=present, average="weighted", zero_division=0)),
        "samples": len(y_true),
        "per_class": {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                      for i, lab in enumerate(labels)},
        "confusion": {"labels": labels, "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()},
    }


def average_precisions(y_true: np.ndarray, y_score: np.ndarray) -> np.ndarray:
    """Per-column average precision of `[n, t]` binary truth vs `[n, t]` scores; NaN for a column with no positive."""
    from sklearn.metrics import average_precision_score

    y_true = np.asarray(y_true, dtype=bool)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.shape != y_score.shape or y_true.ndim != 2:
        raise ValueError(f"y_true {y_true.shape} and y_score {y_score.shape} must be equal 2-d shapes")
    out = np.full(y_true.shape[1], np.nan)
    for j in range(y_true.shape[1]):
        if y_true[:, j].any():
            out[j] = average_precision_score(y_true[:, j], y_score[:, j])
    return out


def tag_report(y_true: Sequence[str], y_pred: Sequence[str], y_score: np.ndarray | None,
               labels: Sequence[str]) -> dict[str, object]:
    """Single-label attribute metrics; with `[n, len(labels)]` scores also top-5 accuracy and one-vs-rest mAP."""
    report = classification_metrics(y_true, y_pred, labels)
    if y_score is not None:
        y_score = np.asarray(y_score, dtype=np.float64)
        if y_score.shape != (len(y_true), len(labels)):
            raise ValueError(f"y_score must be [{len(y_true)}, {len(labels)}], got {list(y_score.shape)}")
        col = {lab: i for i, lab in enumerate(labels)}
        truth = np.zeros(y_score.shape, bool)
        for row, lab in enumerate(y_true):
            if lab in col:
                truth[row, col[lab]] = True
        aps = average_precisions(truth, y_score)
        top5 = np.argsort(-y_score, axis=1, kind="stable")[:, :5]
        top5_hit = np.take_along_axis(truth, top5, axis=1).any(axis=1).mean()
        report["top5_accuracy"] = float(top5_hit) if len(labels) > 5 else float("nan")  # trivially 1 otherwise
        report["map"] = float(np.nanmean(aps)) if not np.isnan(aps).all() else float("nan")
        for lab, ap in zip(labels, aps):
            report["per_class"][lab]["ap"] = None if np.isnan(ap) else float(ap)  # type: ignore[index]
    return report


def multilabel_report(y_true: np.ndarray, y_score: np.ndarray, tag_names: Iterable[str],
                      threshold: float = 0.5) -> dict[str, object]:
    """Multi-label tag metrics: per-tag AP, macro mAP (tags with a positive), micro AP, F1 at `threshold`."""
    from sklearn.metrics import average_precision_score, f1_score

    names = list(tag_names)
    y_true = np.asarray(y_true, dtype=bool)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.shape[1] != len(names):
        raise ValueError(f"{y_true.shape[1]} tag columns but {len(names)} tag names")
    aps = average_precisions(y_true, y_score)
    pred = y_score >= threshold
    return {
        "map": float(np.nanmean(aps)) if not np.isnan(aps).all() else float("nan"),
        "micro_ap": float(average_precision_score(y_true.ravel(), y_score.ravel())) if y_true.any() else float("nan"),
        "f1_micro": float(f1_score(y_true, pred, average="micro", zero_division=0)),
        "f1_macro": float(f1_score(y_true, pred, average="macro", zero_division=0)),
        "samples": int(y_true.shape[0]),
        "tags_with_positives": int((~np.isnan(aps)).sum()),
        "per_tag": {name: {"ap": None if np.isnan(ap) else float(ap), "support": int(y_true[:, j].sum())}
                    for j, (name, ap) in enumerate(zip(names, aps))},
    }
