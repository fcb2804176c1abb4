"""Recall@K of products-small photos (60x80, unsquashed) against an index of products-224.

The same product photo at another resolution and crop: a real "same product, other rendition"
check. Usage: python scripts/rendition_recall.py --index indexes/default [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from vsearch.index.search import Searcher

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", default="indexes/default")
    parser.add_argument("--small", default=str(ROOT.parent / "shared" / "data" / "products-small" / "images"))
    parser.add_argument("--out")
    args = parser.parse_args()
    ks = (1, 5, 10)
    with Searcher(args.index) as searcher:
        photos = sorted(p for p in Path(args.small).glob("*.jpg") if searcher.store.get_product(p.stem) is not None)
        ranks = []
        for photo in photos:
            hits = searcher.search_photos([photo], k=max(ks))
            ids = [h.id for h in hits]
            ranks.append(ids.index(photo.stem) if photo.stem in ids else max(ks))
        ranks_arr = np.asarray(ranks)
        result = {"index": args.index, "model": searcher.manifest.model, "pairs": len(photos),
                  **{f"recall@{k}": round(float((ranks_arr < k).mean()), 4) for k in ks}}
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
