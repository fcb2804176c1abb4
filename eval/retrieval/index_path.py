"""Score the grocery val photos through a built index (the `vsearch query` path: Searcher, FAISS, stamped head).

`PYTHONPATH=. OMP_NUM_THREADS=1 python eval/retrieval/index_path.py INDEX /work/shared/data/grocery-phone [ocr]`
With `ocr`, the hits are re-ranked as `vsearch query --ocr` does (catalogue text without titles written here
if the index has none). Prints R@1/R@5 of the 100 val photos against the index's 31 shop products (chance R@1 0.032).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import torch

from vsearch.index.search import Searcher


def main() -> None:
    torch.set_num_threads(1)
    index, data = Path(sys.argv[1]), Path(sys.argv[2])
    with (data / "labels.csv").open(encoding="utf-8") as fh:
        val = [r for r in csv.DictReader(fh) if r["source"] == "phone" and r["split"] == "val"]
    ocr = sys.argv[3:] == ["ocr"]
    reranker = None
    if ocr:
        from vsearch.catalog.reader import load_catalog
        from vsearch.retrieval.rerank import CATALOG_TEXT, OcrReranker, write_catalog_text

        if not (index / CATALOG_TEXT).is_file():  # `vsearch train retrieval --ocr` writes it (with titles)
            write_catalog_text(index, load_catalog(data / "shop", id_from="folder"))
        reranker = OcrReranker(index)
    r1 = r5 = 0
    with Searcher(index, device="cpu") as s:
        for r in val:
            photo = [data / r["image"]]
            hits = s.search_photos(photo, k=50)
            hits = reranker.rerank(photo, hits, 5) if reranker else hits[:5]
            ids = [h.id for h in hits]
            r1 += ids[0] == r["id"]
            r5 += r["id"] in ids
    print(json.dumps({"index": str(index), "weights_id": s.manifest.weights_id, "ocr": ocr, "queries": len(val),
                      "R@1": round(r1 / len(val), 3), "R@5": round(r5 / len(val), 3)}, indent=1))


if __name__ == "__main__":
    main()
