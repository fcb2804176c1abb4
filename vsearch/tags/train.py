"""Training loops for heads on cached embeddings, and the metrics they are judged by.

Pure arrays in, a trained `Head` and numbers out: no store, no files (reading an index and saving
heads is `vsearch.tags.train_heads`). Deterministic: every run seeds its own RNG inside
`torch.random.fork_rng()`, so global torch state is left as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vsearch.index.heads import Head, HeadSpec, build_head

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """How heads are trained.

    Attributes:
        hidden: hidden units of the MLP head; 0 trains a linear head.
        balance: class weight = (n / (classes * count)) ** balance; 0 ignores imbalance, 1 fully balances.
        min_count: classes with fewer training examples are left out of the head (too rare to learn).
    """

    hidden: int = 512
    dropout: float = 0.3
    epochs: int = 60
    patience: int = 8
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-3
    balance: float = 0.5
    min_count: int = 3
    seed: int = 0


Score = Callable[[np.ndarray, np.ndarray], float]
"""(outputs on validation, validation targets) -> higher is better; picks the epoch to keep."""


class EarlyStopping:
    """Keeps the head's best state by validation score and says when `patience` epochs brought no gain."""

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best, self.best_epoch, self.stale = -np.inf, 0, 0
        self.state: dict[str, torch.Tensor] | None = None

    def update(self, head: torch.nn.Module, value: float, epoch: int) -> bool:
        """Record this epoch's validation `value`; True when training should stop."""
        if value > self.best + self.min_delta:
            self.best, self.best_epoch, self.stale = value, epoch, 0
            self.state = {k: v.detach().clone() for k, v in head.state_dict().items()}
            return False
        self.stale += 1
        return self.stale >= self.patience

    def restore(self, head: torch.nn.Module) -> None:
        """Load the best state seen (if any) and switch the head to eval mode."""
        if self.state is not None:
            head.load_state_dict(self.state)
        head.eval()


def fit(head: Head, x_train: np.ndarray, t_train: np.ndarray, x_val: np.ndarray, t_val: np.ndarray,
        loss_fn: torch.nn.Module, score: Score, cfg: TrainConfig) -> tuple[Head, dict[str, float]]:
    """Mini-batch AdamW with early stopping on `score(val)`; returns the best epoch's head.

    Args:
        head: an untrained head (its standardisation is set here from `x_train`).
        x_train, x_val: `[n, in_dim]` features.
        t_train, t_val: targets (int64 `[n]` classes or float32 `[n, k]` multi-hot).
    """
    head.set_standardisation(x_train)
    xt = torch.from_numpy(np.ascontiguousarray(x_train, np.float32))
    tt = torch.from_numpy(t_train)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs))
        stopper = EarlyStopping(cfg.patience, min_delta=1e-4)
        for epoch in range(cfg.epochs):
            head.train()
            for idx in torch.randperm(len(xt)).split(cfg.batch_size):
                opt.zero_grad()
                loss = loss_fn(head(xt[idx]), tt[idx])
                loss.backward()
                opt.step()
            sched.step()
            value = score(head.predict(x_val), t_val) if len(x_val) else -float(loss)
            if stopper.update(head, value, epoch):
                break
    stopper.restore(head)
    return head, {"val_score": float(stopper.best), "best_epoch": stopper.best_epoch + 1, "epochs_run": epoch + 1}


def class_weights(y: np.ndarray, n_classes: int, balance: float) -> np.ndarray:
    """Tempered inverse-frequency weights, mean 1 over the training examples."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = (len(y) / (n_classes * np.maximum(counts, 1))) ** balance
    return (w / (w[y].mean())).astype(np.float32)


def train_multiclass(name: str, x: np.ndarray, labels: list[str], split: np.ndarray, inputs: list[str],
                     cfg: TrainConfig, source: str = "") -> tuple[HeadSpec, Head, dict[str, object]]:
    """One multi-class head from `[n, d]` features and a label per row ("" = unlabelled).

    Args:
        split: "train" / "val" / "test" per row.

    Returns:
        spec, head, and a report with test metrics (every labelled test row counts, including classes
        the head left out as too rare, which are always wrong).
    """
    labels_arr = np.asarray(labels, dtype=object)
    labelled = labels_arr != ""
    train = labelled & (split == "train")
    names, counts = np.unique(labels_arr[train].astype(str), return_counts=True)
    keep = sorted(str(n) for n, c in zip(names, counts) if c >= cfg.min_count)
    if len(keep) < 2:
        from vsearch.core.errors import BadQueryError

        raise BadQueryError(f"'{name}' has fewer than 2 classes with {cfg.min_count}+ training examples")
    index = {c: i for i, c in enumerate(keep)}
    y = np.array([index.get(str(v), -1) for v in labels_arr])
    tr = train & (y >= 0)
    va = labelled & (split == "val") & (y >= 0)
    spec = HeadSpec(name, "multiclass", keep, inputs, x.shape[1], len(keep), cfg.hidden, cfg.dropout, source)
    weights = torch.from_numpy(class_weights(y[tr], len(keep), cfg.balance))
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=0.05)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        head = build_head(spec)

    def score(out: np.ndarray, t: np.ndarray) -> float:
        return weighted_f1(t, out.argmax(axis=1))

    head, fit_info = fit(head, x[tr], y[tr], x[va], y[va], loss_fn, score, cfg)
    report = multiclass_report(spec, head, x, labels, split)
    report.update(fit_info)
    spec.metrics = {k: report[k] for k in ("accuracy", "weighted_f1", "macro_f1", "val_score", "train", "test")}
    return spec, head, report


def multiclass_report(spec: HeadSpec, head: Head, x: np.ndarray, labels: list[str],
                      split: np.ndarray) -> dict[str, object]:
    """Test-split metrics of a trained multi-class head, with the majority-class baseline and split sizes."""
    labels_arr = np.asarray(labels, dtype=object)
    labelled = labels_arr != ""
    train = labelled & (split == "train")
    names, counts = np.unique(labels_arr[train].astype(str), return_counts=True)
    known = np.isin(labels_arr.astype(str), spec.labels)
    te = labelled & (split == "test")
    pred = np.asarray(spec.labels)[head.predict(x[te]).argmax(axis=1)] if te.any() else np.zeros(0, str)
    truth = labels_arr[te].astype(str)
    report = classification_metrics(list(truth), list(pred))
    majority = str(names[counts.argmax()])
    report["majority_baseline"] = classification_metrics(list(truth), [majority] * len(truth), summary_only=True)
    report.update(train=int((train & known).sum()), val=int((labelled & (split == "val") & known).sum()),
                  test=int(te.sum()), classes=len(spec.labels),
                  dropped_rare_classes=sorted(set(map(str, names)) - set(spec.labels)))
    return report


def weighted_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="weighted", zero_division=0))


def classification_metrics(y_true: list[str], y_pred: list[str], summary_only: bool = False) -> dict[str, object]:
    """Accuracy, weighted and macro F1, per-class precision/recall/F1/support and the confusion matrix."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    if not y_true:
        return {"accuracy": 0.0, "weighted_f1": 0.0, "macro_f1": 0.0, "n": 0}
    labels = sorted(set(y_true) | set(y_pred))
    out: dict[str, object] = {
        "n": len(y_true),
        "accuracy": round(float(np.mean(np.asarray(y_true) == np.asarray(y_pred))), 4),
        "weighted_f1": round(float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro",
                                         zero_division=0)), 4)}
    if summary_only:
        return out
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    out["per_class"] = {c: {"precision": round(float(pi), 4), "recall": round(float(ri), 4), "f1": round(float(fi), 4),
                            "support": int(si)} for c, pi, ri, fi, si in zip(labels, p, r, f, s)}
    out["confusion"] = {"labels": labels, "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()}
    return out


def train_multilabel(name: str, x: np.ndarray, tags: list[set[str]], split: np.ndarray, inputs: list[str],
                     cfg: TrainConfig, source: str = "") -> tuple[HeadSpec, Head, dict[str, object]]:
    """A multi-label head (sigmoid per tag) with per-tag thresholds that maximise F1 on validation."""
    train = split == "train"
    counts: dict[str, int] = {}
    for row in np.flatnonzero(train):
        for tag in tags[row]:
            counts[tag] = counts.get(tag, 0) + 1
    keep = sorted(t for t, c in counts.items() if c >= cfg.min_count)
    if not keep:
        from vsearch.core.errors import BadQueryError

        raise BadQueryError(f"no tag has {cfg.min_count}+ training examples")
    y = np.array([[t in row for t in keep] for row in tags], dtype=np.float32)
    pos = y[train].sum(axis=0)
    pos_weight = torch.from_numpy(np.clip(((train.sum() - pos) / np.maximum(pos, 1)) ** 0.5, 1.0, 30.0)
                                  .astype(np.float32))
    spec = HeadSpec(name, "multilabel", keep, inputs, x.shape[1], len(keep), cfg.hidden, cfg.dropout, source)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        head = build_head(spec)
    va = split == "val"

    def score(out: np.ndarray, t: np.ndarray) -> float:
        return -float(torch.nn.functional.binary_cross_entropy_with_logits(torch.from_numpy(out), torch.from_numpy(t)))

    head, fit_info = fit(head, x[train], y[train], x[va], y[va], torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight),
                         score, cfg)
    spec.thresholds = calibrate_thresholds(sigmoid(head.predict(x[va])), y[va])
    te = split == "test"
    report = multilabel_metrics(sigmoid(head.predict(x[te])), y[te], keep, spec.thresholds)
    baseline = np.tile((y[train].mean(axis=0) > 0.5).astype(np.float32), (int(te.sum()), 1))
    report["majority_baseline"] = multilabel_metrics(baseline, y[te], keep, [0.5] * len(keep), summary_only=True)
    report.update(fit_info, train=int(train.sum()), val=int(va.sum()), test=int(te.sum()))
    spec.metrics = {k: report[k] for k in ("micro_f1", "macro_f1", "train", "test")}
    return spec, head, report


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def calibrate_thresholds(prob: np.ndarray, y: np.ndarray) -> list[float]:
    """Per tag, the threshold in 0.05..0.95 with the best validation F1 (0.5 for a tag without positives)."""
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
    out = []
    for j in range(y.shape[1]):
        if y[:, j].sum() == 0:
            out.append(0.5)
            continue
        pred = prob[:, j][None, :] >= grid[:, None]
        tp = (pred & (y[:, j] > 0)).sum(axis=1)
        f1 = 2 * tp / np.maximum(pred.sum(axis=1) + y[:, j].sum(), 1)
        out.append(float(grid[int(f1.argmax())]))
    return out


def multilabel_metrics(prob: np.ndarray, y: np.ndarray, tags: list[str], thresholds: list[float],
                       summary_only: bool = False) -> dict[str, object]:
    """Micro/macro F1 and per-tag precision/recall/F1/support at the given thresholds."""
    pred = prob >= np.asarray(thresholds)[None, :]
    truth = y > 0
    tp, fp, fn = (pred & truth).sum(0), (pred & ~truth).sum(0), (~pred & truth).sum(0)
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    out: dict[str, object] = {
        "n": int(len(y)),
        "micro_f1": round(float(2 * tp.sum() / max(2 * tp.sum() + fp.sum() + fn.sum(), 1)), 4),
        "macro_f1": round(float(f1[truth.sum(0) > 0].mean()) if truth.any() else 0.0, 4)}
    if not summary_only:
        out["per_tag"] = {t: {"precision": round(float(tp[j] / max(tp[j] + fp[j], 1)), 4),
                              "recall": round(float(tp[j] / max(tp[j] + fn[j], 1)), 4),
                              "f1": round(float(f1[j]), 4), "support": int(truth[:, j].sum()),
                              "threshold": thresholds[j]} for j, t in enumerate(tags)}
    return out
