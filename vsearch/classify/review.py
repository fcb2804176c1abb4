"""Likely mislabelled rows: where a cross-validated model confidently disagrees with the given label.

Every row is scored by a title model that never saw it (k folds by a hash of the id, so the folds are
the same every run), optionally fused with the photo head the same way. Rows are ranked by how little
probability the model leaves for the label they carry; the top of that list goes to a person.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.classify.calibrate import fit_temperature, log_softmax
from vsearch.classify.data import LabelSet
from vsearch.classify.errors import ClassifyError
from vsearch.classify.title import TitleModel
from vsearch.core.log import Progress, no_progress


def fold_of(pid: str, folds: int) -> int:
    return int.from_bytes(hashlib.sha256(f"vsearch-review:{pid}".encode()).digest()[:8], "big") % folds


def out_of_fold(data: LabelSet, level: str, folds: int = 5, C: float = 1.0,
                progress: Progress = no_progress) -> tuple[np.ndarray, list[str]]:
    """`[n, C]` out-of-fold probabilities of `level` for every row, and the class names."""
    if level not in data.levels:
        raise ClassifyError(f"unknown level '{level}': the training set has {','.join(data.levels)}")
    if folds < 2 or len(data) < folds:
        raise ClassifyError(f"cross-validation needs at least 2 folds and as many rows (have {len(data)})")
    classes = sorted(set(data.labels[level]))
    col = {c: i for i, c in enumerate(classes)}
    y = np.array([col[v] for v in data.labels[level]])
    fold = np.array([fold_of(pid, folds) for pid in data.ids])
    scores = np.zeros((len(data), len(classes)), np.float32)
    for f in range(folds):
        progress("cross-validate", f, folds)
        test = np.flatnonzero(fold == f)
        train = np.flatnonzero(fold != f)
        model = TitleModel(C=C).fit([data.titles[i] for i in train], {level: y[train]}, {level: len(classes)})
        scores[test] = model.scores([data.titles[i] for i in test])[level]
    progress("cross-validate", folds, folds)
    temp = fit_temperature(scores, y)
    return np.exp(log_softmax(scores, temp)), classes


def _given(data: LabelSet, level: str, folds: int, C: float,
           progress: Progress) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Out-of-fold probabilities, the given label's class index per row, and the class names."""
    proba, classes = out_of_fold(data, level, folds, C, progress)
    col = {c: i for i, c in enumerate(classes)}
    return proba, np.array([col[v] for v in data.labels[level]]), classes


def suspects(data: LabelSet, level: str | None = None, folds: int = 5, C: float = 1.0,
             progress: Progress = no_progress) -> list[dict[str, Any]]:
    """Every row whose model-predicted label differs from its own, most suspicious first.

    Suspicion is `1 - p(given label)` under the cross-validated model; each entry has the given and
    predicted label with their probabilities.
    """
    level = level or data.levels[-1]
    proba, given, classes = _given(data, level, folds, C, progress)
    p_given = proba[np.arange(len(data)), given]
    pred = proba.argmax(axis=1)
    out = []
    for i in np.argsort(p_given, kind="stable"):
        if pred[i] == given[i]:
            continue
        out.append({"id": data.ids[i], "title": data.titles[i], "image": data.images[i], "level": level,
                    "label": classes[given[i]], "p_label": round(float(p_given[i]), 4),
                    "predicted": classes[pred[i]], "p_predicted": round(float(proba[i, pred[i]]), 4),
                    "suspicion": round(float(1.0 - p_given[i]), 4)})
    return out


def ranked_ids(data: LabelSet, level: str | None = None, folds: int = 5, C: float = 1.0) -> list[str]:
    """All row ids, most suspicious first (to measure how well review finds flipped labels)."""
    proba, given, _ = _given(data, level or data.levels[-1], folds, C, no_progress)
    return [data.ids[i] for i in np.argsort(proba[np.arange(len(data)), given], kind="stable")]


def thumbnail_uri(path: str | Path, size: int = 96) -> str | None:
    """A small JPEG of the photo as a data URI (None when there is no readable photo)."""
    import base64
    import io

    from vsearch.catalog.images import load_image
    from vsearch.core.errors import BadImageError

    if not path or not Path(path).is_file():
        return None
    try:
        img = load_image(path)
    except BadImageError:
        return None
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def html_report(entries: list[dict[str, Any]], title: str) -> str:
    """A self-contained HTML table of suspects with thumbnails (photos embedded as data URIs)."""
    from html import escape

    rows = []
    for rank, e in enumerate(entries, start=1):
        uri = thumbnail_uri(e.get("image", ""))
        img = f'<img src="{uri}" alt="{escape(e["id"])}">' if uri else "<span>no photo</span>"
        rows.append(f"<tr><td>{rank}</td><td>{img}</td><td>{escape(e['id'])}</td><td>{escape(e['title'])}</td>"
                    f"<td>{escape(e['label'])} ({e['p_label']:.2f})</td>"
                    f"<td><b>{escape(e['predicted'])}</b> ({e['p_predicted']:.2f})</td>"
                    f"<td><code>vsearch trainset relabel {escape(e['id'])} '{escape(e['predicted'])}' "
                    f"--reason review</code></td></tr>")
    return ("<!doctype html><meta charset='utf-8'><title>" + escape(title) + "</title><style>body{font:14px sans-serif}"
            "td{border-bottom:1px solid #ddd;padding:4px;vertical-align:middle}img{max-height:96px}</style>"
            f"<h1>{escape(title)}</h1><p>{len(entries)} rows whose label the cross-validated model disagrees "
            "with, most suspicious first.</p><table><tr><th>#</th><th>photo</th><th>id</th><th>title</th>"
            "<th>label (p)</th><th>model says (p)</th><th>fix</th></tr>" + "".join(rows) + "</table>")
