"""Which bundled backbone and pooling make the best default? One pass per model, three poolings.

Measures, on real photos in ../shared/data:
- rendition: products-small photos (60x80) -> products-224 gallery (the 203 paired ids plus every
  8th other product, ~1.2k), exact-item Recall@1/5/10;
- grocery: real in-store phone photos -> the 31 web-shop packshots, Recall@1/5;
- category: leave-one-out nearest neighbour articleType P@1 over every 10th products-224 photo.
Usage: python scripts/compare_backbones.py [--models timm:tf_efficientnet_lite0 ...] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"


def pooled(embedder: object, paths: list[Path]) -> dict[str, np.ndarray]:
    """avg / max / GeM(p=3) pooled unit vectors of the backbone's last feature map."""
    from vsearch.models.embed import PhotoDataset, _collate

    loader = torch.utils.data.DataLoader(PhotoDataset(paths, embedder.transform), batch_size=64,  # type: ignore[attr-defined]
                                         collate_fn=_collate)
    out: dict[str, list[np.ndarray]] = {}
    for _, x, failures in loader:
        assert not failures, failures
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            fm = embedder.model.forward_features(x.contiguous(memory_format=torch.channels_last)).float()  # type: ignore[attr-defined]
        for name, vec in {"avg": fm.mean((2, 3)), "max": fm.amax((2, 3)),
                          "gem3": fm.clamp(min=1e-6).pow(3).mean((2, 3)).pow(1 / 3)}.items():
            out.setdefault(name, []).append(torch.nn.functional.normalize(vec, dim=1).numpy())
    return {name: np.concatenate(chunks) for name, chunks in out.items()}


def recall(sim: np.ndarray, gallery_ids: np.ndarray, query_ids: np.ndarray, ks: tuple[int, ...]) -> dict[str, float]:
    hit = gallery_ids[np.argsort(-sim, axis=1)] == query_ids[:, None]
    return {f"R@{k}": round(float(hit[:, :k].any(1).mean()), 3) for k in ks}


def main() -> None:
    from vsearch.models import create_embedder

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["timm:tf_efficientnet_lite0", "timm:tf_efficientnet_lite1",
                                                         "timm:tf_efficientnet_lite2"])
    parser.add_argument("--out")
    args = parser.parse_args()
    rows = list(csv.DictReader((DATA / "products-224" / "labels.csv").open()))
    small = {p.stem for p in (DATA / "products-small" / "images").glob("*.jpg")}
    gallery = [r for n, r in enumerate(rows) if r["id"] in small or n % 8 == 0]
    pairs = [r["id"] for r in gallery if r["id"] in small]
    category = rows[::10]
    grocery = list(csv.DictReader((DATA / "grocery-phone" / "labels.csv").open()))
    shop = [r for r in grocery if r["source"] == "shop"]
    phone = [r for r in grocery if r["source"] == "phone"]
    results = []
    for model in args.models:
        emb = create_embedder(model, device="cpu", precision="bf16")
        gal = pooled(emb, [DATA / "products-224" / r["image"] for r in gallery])
        qry = pooled(emb, [DATA / "products-small" / "images" / f"{pid}.jpg" for pid in pairs])
        shp = pooled(emb, [DATA / "grocery-phone" / r["image"] for r in shop])
        phn = pooled(emb, [DATA / "grocery-phone" / r["image"] for r in phone])
        cat = pooled(emb, [DATA / "products-224" / r["image"] for r in category])
        types = np.array([r["articleType"] for r in category])
        for pool in ("avg", "max", "gem3"):
            loo = cat[pool] @ cat[pool].T
            np.fill_diagonal(loo, -np.inf)
            result = {"model": model, "pool": pool,
                      "rendition": recall(qry[pool] @ gal[pool].T, np.array([r["id"] for r in gallery]),
                                          np.array(pairs), (1, 5, 10)),
                      "grocery_phone_to_shop": recall(phn[pool] @ shp[pool].T, np.array([r["id"] for r in shop]),
                                                      np.array([r["id"] for r in phone]), (1, 5)),
                      "category_loo_p@1": round(float((types[loo.argmax(1)] == types).mean()), 3)}
            results.append(result)
            print(json.dumps(result), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
