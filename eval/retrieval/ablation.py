"""Ablation of `vsearch train retrieval` (head, camera views, real photos, margin, mix, OCR) on cached features.

Grocery (phone photo -> 31 shop images, chance R@1 1/31): settings are chosen on the published train split only
(a session split: per product the first 60% of its train photos by file name fit, the rest tune; and 5 product
folds: the fold's products get no real photos), then val (100 photos) is scored once. Held-out products: 5 folds
over the 31 products; queries are all phone photos of the fold's products, the head is trained on the other
products' train photos, with ("catalogue known") or without ("added later") camera views of the fold's shop image.
Renditions (products-small -> products-224, gallery 8,146): heads trained on camera views of products-224
photos only; the query photos are never seen. Needs the caches of grocery_features.py, rendition_features.py
and ocr_cache.py.

`PYTHONPATH=. OMP_NUM_THREADS=1 python eval/retrieval/ablation.py /work/shared/data > eval/retrieval/ablation.json`
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from vsearch.models.registry import create_embedder
from vsearch.models.retrieval_head import RetrievalHead
from vsearch.retrieval.features import FeatureCache, photo_key
from vsearch.retrieval.metric import MetricConfig, train_metric_head
from vsearch.retrieval.ocr import OcrCache, text_scores, words_text

CACHE = Path("/work/cache/retrieval")
GROCERY_VIEWS = 32


def recall(scores: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    order = np.argsort(-scores, 1)
    hits = order == truth[:, None]
    return {"R@1": round(float(hits[:, 0].mean()), 3), "R@5": round(float(hits[:, :5].any(1).mean()), 3)}


def head_of(anchors: np.ndarray, views: np.ndarray, labels: np.ndarray, cfg: MetricConfig, mix: float) -> RetrievalHead:
    return RetrievalHead(train_metric_head(anchors, views, labels, cfg), mix, {})


class Grocery:
    """Cached vectors and OCR text of the grocery photos."""

    def __init__(self, data: Path, cache: FeatureCache, ocr: OcrCache) -> None:
        with (data / "labels.csv").open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        shop = [r for r in rows if r["source"] == "shop"]
        self.products = [r["id"] for r in shop]
        pid = {p: i for i, p in enumerate(self.products)}
        vec = lambda r: cache.vectors[photo_key(data / r["image"])]  # noqa: E731
        self.shop = np.stack([vec(r) for r in shop])
        self.views = np.stack([cache.vectors[photo_key(data / r["image"], v, 0)] for r in shop
                               for v in range(GROCERY_VIEWS)])
        self.view_labels = np.repeat(np.arange(len(shop)), GROCERY_VIEWS)
        self.phone = {s: [r for r in rows if r["source"] == "phone" and r["split"] == s] for s in ("train", "val")}
        self.x = {s: np.stack([vec(r) for r in rs]) for s, rs in self.phone.items()}
        self.y = {s: np.array([pid[r["id"]] for r in rs]) for s, rs in self.phone.items()}
        self.names = {s: [r["image"] for r in rs] for s, rs in self.phone.items()}
        text = lambda r: words_text(ocr.entries[str(data / r["image"])]["words"])  # noqa: E731
        self.text = {s: [text(r) for r in rs] for s, rs in self.phone.items()}
        self.shop_text = [text(r) + " " + r["title"] for r in shop]
        self.shop_ocr_only = [text(r) for r in shop]


def score(g: Grocery, q: np.ndarray, q_text: list[str], head: RetrievalHead | None, ocr_w: float,
          gallery_photos: tuple[np.ndarray, np.ndarray] | None = None, titles: bool = True) -> np.ndarray:
    """`[n, 31]` product scores: image cosine (through the head), + real photos in the gallery, + OCR text."""
    f = head.apply if head is not None else (lambda v: v)
    qv = f(q)
    s = qv @ f(g.shop).T
    if gallery_photos is not None:
        gx, gy = gallery_photos
        ps = qv @ f(gx).T
        for j in range(len(g.products)):
            cols = ps[:, gy == j]
            if cols.shape[1]:
                s[:, j] = np.maximum(s[:, j], np.sort(cols, 1)[:, -3:].mean(1))
    if ocr_w:
        s = s + ocr_w * text_scores(q_text, g.shop_text if titles else g.shop_ocr_only)
    return s


def session_split(g: Grocery) -> tuple[np.ndarray, np.ndarray]:
    """Train-split rows: the first 60% of each product's photos by file name fit, the rest tune."""
    fit, tune = [], []
    for j in range(len(g.products)):
        rows = sorted(np.flatnonzero(g.y["train"] == j), key=lambda i: g.names["train"][i])
        cut = int(round(len(rows) * 0.6))
        fit += rows[:cut]
        tune += rows[cut:]
    return np.array(fit), np.array(tune)


def product_folds(n: int, k: int = 5, seed: int = 0) -> list[np.ndarray]:
    return np.array_split(np.random.default_rng(seed).permutation(n), k)


def train_on(g: Grocery, fit_x: np.ndarray, fit_y: np.ndarray, cfg: MetricConfig, mix: float, views: bool,
             real: bool, drop: np.ndarray | None = None) -> RetrievalHead:
    parts, labels = [], []
    if views:
        keep = np.ones(len(g.view_labels), bool) if drop is None else ~np.isin(g.view_labels, drop)
        parts.append(g.views[keep])
        labels.append(g.view_labels[keep])
    if real and len(fit_x):
        parts.append(fit_x)
        labels.append(fit_y)
    return head_of(g.shop, np.concatenate(parts), np.concatenate(labels), cfg, mix)


def tune_grocery(g: Grocery, log: Callable[[str], None]) -> dict:
    """Grid over mix, margin, views/real on train only; returns every cell and the choice."""
    fit, tune = session_split(g)
    xt, yt, tt = g.x["train"], g.y["train"], g.text["train"]
    folds = product_folds(len(g.products))
    cells = []
    frozen_s = recall(score(g, xt[tune], [tt[i] for i in tune], None, 0), yt[tune])
    fold_rows = [np.flatnonzero(np.isin(yt, f)) for f in folds]
    frozen_f = recall(np.concatenate([score(g, xt[r], [tt[i] for i in r], None, 0) for r in fold_rows]),
                      np.concatenate([yt[r] for r in fold_rows]))
    for views, real in ((True, True), (True, False), (False, True)):
        for margin in (0.0, 0.2):
            for steps in (400,):
                cfg = MetricConfig(margin=margin, steps=steps)
                hs = train_on(g, xt[fit], yt[fit], cfg, 1.0, views, real)
                hf = [train_on(g, xt[~np.isin(yt, f)], yt[~np.isin(yt, f)], cfg, 1.0, views, real) for f in folds]
                for mix in (0.25, 0.5, 0.75, 1.0):
                    s = recall(score(g, xt[tune], [], replace(hs, mix=mix), 0), yt[tune])
                    f = recall(np.concatenate([score(g, xt[r], [], replace(h, mix=mix), 0)
                                               for h, r in zip(hf, fold_rows)]),
                               np.concatenate([yt[r] for r in fold_rows]))
                    cells.append({"views": views, "real": real, "margin": margin, "steps": steps, "mix": mix,
                                  "session": s, "product_folds": f})
        log(f"tuned views={views} real={real}")
    # rule: best session-split R@1 among cells that keep product-fold R@1 within 0.02 of frozen
    ok = [c for c in cells if c["product_folds"]["R@1"] >= frozen_f["R@1"] - 0.02] or cells
    best = max(ok, key=lambda c: (c["session"]["R@1"], c["session"]["R@5"]))
    best_any = max(cells, key=lambda c: (c["session"]["R@1"], c["session"]["R@5"]))
    ocr = []
    cfg = MetricConfig(margin=best["margin"], steps=best["steps"])
    hs = train_on(g, xt[fit], yt[fit], cfg, best["mix"], best["views"], best["real"])
    for w in (0.0, 0.1, 0.2, 0.3, 0.5, 0.8):
        ocr.append({"weight": w, "frozen": recall(score(g, xt[tune], [tt[i] for i in tune], None, w), yt[tune]),
                    "head": recall(score(g, xt[tune], [tt[i] for i in tune], hs, w), yt[tune])})
    best_w = max(ocr, key=lambda c: (c["head"]["R@1"], c["head"]["R@5"]))["weight"]
    best_w_frozen = max(ocr, key=lambda c: (c["frozen"]["R@1"], c["frozen"]["R@5"]))["weight"]
    return {"frozen": {"session": frozen_s, "product_folds": frozen_f}, "cells": cells, "chosen": best,
            "best_ignoring_unseen": best_any, "ocr": ocr, "ocr_weight": best_w, "ocr_weight_frozen": best_w_frozen}


def grocery_report(g: Grocery, tuned: dict) -> dict:
    c = tuned["chosen"]
    cfg = MetricConfig(margin=c["margin"], steps=c["steps"])
    xt, yt, xv, yv, tv = g.x["train"], g.y["train"], g.x["val"], g.y["val"], g.text["val"]
    w, wf = tuned["ocr_weight"], tuned["ocr_weight_frozen"]
    heads = {
        "views only": train_on(g, xt[:0], yt[:0], cfg, c["mix"], True, False),
        "real only": train_on(g, xt, yt, cfg, c["mix"], False, True),
        "views + real": train_on(g, xt, yt, cfg, c["mix"], True, True),
    }
    pure = replace(heads["views + real"], mix=1.0)
    nomargin = train_on(g, xt, yt, replace(cfg, margin=0.0), c["mix"], True, True)
    gal = (xt, yt)
    rows = {
        "frozen Lite0 (today)": score(g, xv, tv, None, 0),
        "frozen + OCR (shop OCR + title)": score(g, xv, tv, None, wf),
        "frozen + OCR (shop OCR only, no title)": score(g, xv, tv, None, wf, titles=False),
        "frozen + train photos in gallery": score(g, xv, tv, None, 0, gal),
        "head: camera views only (no real photos)": score(g, xv, tv, heads["views only"], 0),
        "head: real photos only": score(g, xv, tv, heads["real only"], 0),
        "head: views + real": score(g, xv, tv, heads["views + real"], 0),
        "head: views + real, margin 0": score(g, xv, tv, nomargin, 0),
        "head: views + real, mix 1 (head alone)": score(g, xv, tv, pure, 0),
        "head: views + real + OCR": score(g, xv, tv, heads["views + real"], w),
        "head: views + real + OCR + train photos in gallery": score(g, xv, tv, heads["views + real"], w, gal),
    }
    val = {k: recall(s, yv) for k, s in rows.items()}
    # two photos of the query product taken together (mean vector), each val photo with the next of its product
    pair = np.array([next((j for j in np.flatnonzero(yv == yv[i]) if j != i), i) for i in range(len(yv))])
    q2 = xv + xv[pair]
    q2 /= np.linalg.norm(q2, axis=1, keepdims=True)
    t2 = [tv[i] + " " + tv[pair[i]] for i in range(len(yv))]
    val["head: views + real + OCR, 2 photos per query"] = recall(score(g, q2, t2, heads["views + real"], w), yv)
    val["frozen, 2 photos per query"] = recall(score(g, q2, t2, None, 0), yv)

    # held-out products
    folds = product_folds(len(g.products))
    xa = np.concatenate([xt, xv])
    ya = np.concatenate([yt, yv])
    ta = g.text["train"] + tv
    held: dict[str, list[np.ndarray]] = {}
    truth = []
    for f in folds:
        q = np.isin(ya, f)
        other = ~np.isin(yt, f)
        truth.append(ya[q])
        qt = [ta[i] for i in np.flatnonzero(q)]
        known = train_on(g, xt[other], yt[other], cfg, c["mix"], True, True)
        later = train_on(g, xt[other], yt[other], cfg, c["mix"], True, True, drop=f)
        for name, s in (("frozen", score(g, xa[q], qt, None, 0)),
                        ("frozen + OCR", score(g, xa[q], qt, None, wf)),
                        ("head, catalogue known (views of all shop images)", score(g, xa[q], qt, known, 0)),
                        ("head, product added later (no views of it)", score(g, xa[q], qt, later, 0)),
                        ("head alone (mix 1), catalogue known", score(g, xa[q], qt, replace(known, mix=1.0), 0)),
                        ("head + OCR, catalogue known", score(g, xa[q], qt, known, w))):
            held.setdefault(name, []).append(s)
    y = np.concatenate(truth)
    return {"val": val, "held_out_products": {k: recall(np.concatenate(v), y) for k, v in held.items()},
            "held_out_queries": int(len(y)), "val_queries": int(len(yv)), "heads": {
                "views + real": heads["views + real"]}}


def renditions(data: Path, cache: FeatureCache, grocery_head: RetrievalHead) -> tuple[dict, RetrievalHead]:
    meta = json.loads((CACHE / "renditions.json").read_text())
    with np.load(CACHE / "p224-gallery.npz") as raw:
        gids, gvecs, sources = raw["ids"].tolist(), raw["vectors"], raw["sources"].tolist()
    row = {p: i for i, p in enumerate(gids)}
    src = dict(zip(gids, sources))
    q = np.stack([cache.vectors[photo_key(p)] for _, p in meta["queries"]])
    qy = np.array([row[i] for i, _ in meta["queries"]])
    views = meta["views"]

    def fit(ids: list[str], cfg: MetricConfig, mix: float) -> RetrievalHead:
        ids = sorted(ids)
        vv = np.stack([cache.vectors[photo_key(Path(src[i]), v, 0)] for i in ids for v in range(views)])
        return head_of(gvecs[[row[i] for i in ids]], vv, np.repeat(np.arange(len(ids)), views), cfg, mix)

    with (data / "products-224" / "labels.csv").open(encoding="utf-8") as fh:
        art = {r["id"]: r["articleType"] for r in csv.DictReader(fh)}
    types = np.array([art.get(i, "") for i in gids])

    def similar_p1(vecs: np.ndarray) -> float:
        hits = []
        for s in range(0, len(vecs), 2048):
            sim = vecs[s:s + 2048] @ vecs.T
            sim[np.arange(len(sim)), np.arange(s, s + len(sim))] = -9
            hits.append(types[sim.argmax(1)] == types[s:s + len(sim)])
        return round(float(np.concatenate(hits).mean()), 3)

    out: dict = {"queries": int(len(q)), "gallery": len(gids), "train_products": len(meta["train_products"]),
                 "views_per_product": views, "rows": {}}
    # settings for renditions: tuned on a split of the training products' own views (held-out views as queries)
    tr = meta["train_products"]
    cfg_r = MetricConfig(steps=200, products=64, per_product=2)
    half = tr[: len(tr) // 2]
    tune_rows = {}
    rest = tr[len(tr) // 2:]
    qq = np.stack([cache.vectors[photo_key(Path(src[i]), 0, 0)] for i in rest])
    yy = np.array([row[i] for i in rest])
    for margin in (0.0, 0.1):
        h = fit(half, replace(cfg_r, margin=margin), 1.0)
        for mix in (0.25, 0.5, 1.0):
            hm = replace(h, mix=mix)
            tune_rows[f"margin {margin}, mix {mix}"] = recall(hm.apply(qq) @ hm.apply(gvecs).T, yy)
    out["tuning (views of other products as queries, gallery 8,146)"] = tune_rows
    out["tuning_frozen"] = recall(np.stack([cache.vectors[photo_key(Path(src[i]), 0, 0)] for i in tr[len(tr) // 2:]])
                                  @ gvecs.T, np.array([row[i] for i in tr[len(tr) // 2:]]))
    best = max(tune_rows, key=lambda k: tune_rows[k]["R@1"])
    margin, mix = float(best.split(",")[0].split()[1]), float(best.split("mix ")[1])
    cfg = replace(cfg_r, margin=margin)
    strict = fit(tr, cfg, mix)
    known = fit(tr + meta["query_products"], cfg, mix)
    out["chosen"] = {"margin": margin, "mix": mix}
    for name, h in (("frozen Lite0 (today)", None), ("head, query products not in training", strict),
                    ("head, catalogue incl. query products' shop photos", known),
                    ("head alone (mix 1), catalogue incl. query products", replace(known, mix=1.0)),
                    ("grocery head (cross-domain)", grocery_head)):
        f = h.apply if h is not None else (lambda v: v)
        out["rows"][name] = {**recall(f(q) @ f(gvecs).T, qy), "similar_P@1_articleType": similar_p1(f(gvecs))}
    return out, known


def main() -> None:
    torch.set_num_threads(1)
    data = Path(sys.argv[1])
    t0 = time.perf_counter()
    log = lambda m: print(f"{time.perf_counter() - t0:.0f}s {m}", file=sys.stderr, flush=True)  # noqa: E731
    cache = FeatureCache(CACHE, create_embedder(device="cpu"))
    g = Grocery(data / "grocery-phone", cache, OcrCache(CACHE / "ocr-grocery.json"))
    tuned = tune_grocery(g, log)
    report = grocery_report(g, tuned)
    log("grocery done")
    (CACHE / "ablation-grocery.json").write_text(json.dumps({k: v for k, v in report.items() if k != "heads"},
                                                            indent=1))
    rend, p224_head = renditions(data, cache, report["heads"].pop("views + real"))
    xv, yv = g.x["val"], g.y["val"]
    report["val"]["products-224 head (cross-domain)"] = recall(p224_head.apply(xv) @ p224_head.apply(g.shop).T, yv)
    log("renditions done")
    print(json.dumps({"grocery": {"protocol": "phone photo -> 31 shop images, chance R@1 0.032", **report,
                                  "tuning": {k: v for k, v in tuned.items() if k != "cells"},
                                  "tuning_cells": tuned["cells"]},
                      "renditions": rend, "seconds": round(time.perf_counter() - t0)}, indent=1))


if __name__ == "__main__":
    main()
