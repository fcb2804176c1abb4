"""Why vsearch trails a plain frozen-Lite0 script on grocery phone photos: resize mode x precision x flip TTA.

Gallery: the 31 shop images (chance R@1 1/31). Queries: the val split (100) and, since nothing here is
trained, the train split (864) as a second dev set. Writes eval/retrieval/preprocess_ablation.json.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vsearch.catalog.images import load_image
from vsearch.models.registry import create_embedder

DATA = Path(__file__).resolve().parents[2].parent.parent / "shared/data/grocery-phone"


def rows(data: Path) -> list[dict[str, str]]:
    with (data / "labels.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def embed(emb, paths: list[Path], flip: bool) -> np.ndarray:
    out = []
    for start in range(0, len(paths), 32):
        batch = torch.stack([emb.transform(load_image(p)) for p in paths[start:start + 32]])
        vec = emb.encode_images(batch)
        if flip:
            vec = vec + emb.encode_images(torch.flip(batch, dims=[3]))
            vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        out.append(vec)
    return np.concatenate(out)


def recall(q: np.ndarray, q_ids: list[str], g: np.ndarray, g_ids: list[str]) -> dict[str, float]:
    order = np.argsort(-(q @ g.T), axis=1)
    ranked = np.asarray(g_ids)[order]
    hits = ranked == np.asarray(q_ids)[:, None]
    return {"R@1": round(float(hits[:, :1].any(1).mean()), 3), "R@5": round(float(hits[:, :5].any(1).mean()), 3)}


def main() -> None:
    torch.set_num_threads(1)
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    table = rows(data)
    shop = [r for r in table if r["source"] == "shop"]
    splits = {s: [r for r in table if r["source"] == "phone" and r["split"] == s] for s in ("val", "train")}
    results = []
    for resize in ("squash", "crop", "pad"):
        for precision in ("fp32", "bf16"):
            emb = create_embedder(precision=precision, resize=resize, device="cpu")
            for flip in (False, True):
                t0 = time.perf_counter()
                g = embed(emb, [data / r["image"] for r in shop], flip)
                row = {"resize": resize, "precision": precision, "flip_tta": flip}
                for split, qs in splits.items():
                    q = embed(emb, [data / r["image"] for r in qs], flip)
                    row[split] = recall(q, [r["id"] for r in qs], g, [r["id"] for r in shop])
                row["seconds"] = round(time.perf_counter() - t0, 1)
                print(json.dumps(row), flush=True)
                results.append(row)
    out = Path(__file__).with_name("preprocess_ablation.json")
    out.write_text(json.dumps({"gallery": len(shop), "chance_R@1": round(1 / len(shop), 3),
                               "queries": {s: len(q) for s, q in splits.items()}, "results": results}, indent=1))


if __name__ == "__main__":
    main()
