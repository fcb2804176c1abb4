"""Search-time and catalogue-side options on grocery phone -> product, on cached frozen Lite0 vectors.

Gallery products: the 31 shop products (chance R@1 1/31). Queries: the val split (100). Options:
  shop          the shop image alone (today's protocol)
  shop_aug      the shop image's mean vector over camera-like views (crops, flip, perspective, blur)
  +train        the product's real phone photos of the train split join its gallery entry (max or mean)
  aqe           alpha query expansion over the gallery (k=2, alpha=3)
  proj          a linear projection learnt on train photos vs shop images (softmax over products), on val
Writes eval/retrieval/search_time.json.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

from vsearch.catalog.images import load_image
from vsearch.models.registry import create_embedder
from vsearch.retrieval.projection import project, train_projection


def views(image: Image.Image, rng: np.random.Generator, n: int) -> list[Image.Image]:
    """Camera-like views: random crop, perspective, blur, colour cast, flip."""
    out = [image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    w, h = image.size
    for _ in range(n):
        s = rng.uniform(0.6, 0.95)
        cw, ch = int(w * s), int(h * s)
        x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        v = image.crop((x, y, x + cw, y + ch))
        d = rng.uniform(-0.12, 0.12, 8) * np.tile([cw, ch], 4)
        quad = np.array([0, 0, 0, ch, cw, ch, cw, 0], float) + d
        v = v.transform((cw, ch), Image.Transform.QUAD, tuple(quad), Image.Resampling.BICUBIC,
                        fillcolor=(200, 200, 200))
        if rng.random() < 0.5:
            v = v.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
        arr = np.asarray(v, np.float32) * rng.uniform(0.75, 1.2, 3)
        out.append(Image.fromarray(arr.clip(0, 255).astype(np.uint8)))
    return out


def enc(emb, images: list[Image.Image]) -> np.ndarray:
    vecs = [emb.encode_images(torch.stack([emb.transform(i) for i in images[s:s + 32]]))
            for s in range(0, len(images), 32)]
    return np.concatenate(vecs)


def r_at(scores: np.ndarray, q_lab: np.ndarray, g_lab: np.ndarray) -> dict[str, float]:
    order = np.argsort(-scores, 1)
    hits = g_lab[order] == q_lab[:, None]
    return {"R@1": round(float(hits[:, 0].mean()), 3), "R@5": round(float(hits[:, :5].any(1).mean()), 3)}


def product_scores(q: np.ndarray, g: np.ndarray, g_lab: np.ndarray, prods: np.ndarray, how: str) -> np.ndarray:
    s = q @ g.T
    out = np.full((len(q), len(prods)), -9.0, np.float32)
    for j, p in enumerate(prods):
        cols = s[:, g_lab == p]
        out[:, j] = cols.max(1) if how == "max" else np.sort(cols, 1)[:, -3:].mean(1)
    return out


def aqe(q: np.ndarray, g: np.ndarray, k: int = 2, alpha: float = 3.0) -> np.ndarray:
    s = q @ g.T
    top = np.argsort(-s, 1)[:, :k]
    w = np.take_along_axis(s, top, 1).clip(0) ** alpha
    q2 = q + (w[:, :, None] * g[top]).sum(1)
    return q2 / np.linalg.norm(q2, axis=1, keepdims=True)


def main() -> None:
    torch.set_num_threads(1)
    data = Path(sys.argv[1])
    resize = sys.argv[2] if len(sys.argv) > 2 else "squash"
    with (data / "labels.csv").open(encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    emb = create_embedder(precision="bf16", resize=resize, device="cpu")
    rng = np.random.default_rng(0)
    shop = [r for r in table if r["source"] == "shop"]
    prods = np.array([r["id"] for r in shop])
    tr = [r for r in table if r["source"] == "phone" and r["split"] == "train"]
    va = [r for r in table if r["source"] == "phone" and r["split"] == "val"]
    t0 = time.perf_counter()
    g = enc(emb, [load_image(data / r["image"]) for r in shop])
    g_aug = np.stack([enc(emb, views(load_image(data / r["image"]), rng, 14)).mean(0) for r in shop])
    g_aug /= np.linalg.norm(g_aug, axis=1, keepdims=True)
    xt = enc(emb, [load_image(data / r["image"]) for r in tr])
    xv = enc(emb, [load_image(data / r["image"]) for r in va])
    yt, yv = np.array([r["id"] for r in tr]), np.array([r["id"] for r in va])
    res: dict[str, object] = {"embed_seconds": round(time.perf_counter() - t0, 1), "resize": resize}
    res["shop"] = r_at(xv @ g.T, yv, prods)
    res["shop_aug"] = r_at(xv @ g_aug.T, yv, prods)
    res["shop+shop_aug"] = r_at(xv @ (g + g_aug).T, yv, prods)
    res["shop_aqe"] = r_at(aqe(xv, g) @ g.T, yv, prods)
    gal = np.concatenate([g_aug, xt])
    lab = np.concatenate([prods, yt])
    for how in ("max", "top3"):
        res[f"shop_aug+train_{how}"] = r_at(product_scores(xv, gal, lab, prods, how), yv, prods)
    # projection learnt on train photos only, evaluated on val (prototypes: shop + augmented shop)
    idx = {p: i for i, p in enumerate(prods)}
    w = train_projection(xt, np.array([idx[p] for p in yt]), g_aug)

    def pn(a: np.ndarray) -> np.ndarray:
        return project(a, w)

    res["proj_shop_aug"] = r_at(pn(xv) @ pn(g_aug).T, yv, prods)
    res["proj_shop_aug+train_max"] = r_at(product_scores(pn(xv), pn(gal), lab, prods, "max"), yv, prods)
    res["proj_shop_aug+train_top3"] = r_at(product_scores(pn(xv), pn(gal), lab, prods, "top3"), yv, prods)
    print(json.dumps(res, indent=1))
    np.savez(f"/tmp/retr_feats_{resize}.npz", g=g, g_aug=g_aug, xt=xt, xv=xv, yt=yt, yv=yv, prods=prods)
    Path(__file__).with_name(f"search_time_{resize}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
