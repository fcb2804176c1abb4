"""Choose `vsearch query --like`'s title weight on val, then report it on test once.

Same-articleType P@1, leave-one-out over every indexed product (the protocol-1 relevance), for photo cosine
fused with title cosine: `(1 - w) * photo + w * title`. The weight with the best val P@1 is the shipped default
(`vsearch.index.search.LIKE_TITLE_WEIGHT`); test is scored for photos only and that weight.

    python eval/retrieval/like_title_weight.py --index indexes/default --out eval/retrieval/like_fusion.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from vsearch.core.split import split_of
from vsearch.evaluate.context import EvalContext

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--column", default="articleType")
    ap.add_argument("--salt", default="vsearch-split-v1")
    ap.add_argument("--out", type=Path, default=Path("eval/retrieval/like_fusion.json"))
    args = ap.parse_args()
    with EvalContext(args.index) as ctx:
        photo = ctx.product_vectors()
        tids, tvecs = ctx.vectors("title")
        labels = {pid: meta.get(args.column, "") for pid, meta in ctx.store.iter_products()}
    title = dict(zip(tids, tvecs))
    ids = sorted(set(photo) & set(title))
    img = np.stack([photo[p] for p in ids])
    txt = np.stack([title[p] for p in ids])
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    lab = np.array([labels[p] for p in ids])
    split = np.array([split_of(p, args.salt) for p in ids])

    def p_at_1(which: str, w: float) -> tuple[float, int]:
        q = np.flatnonzero(split == which)
        s = (1 - w) * (img[q] @ img.T) + w * (txt[q] @ txt.T)
        s[np.arange(len(q)), q] = -np.inf  # leave the query product out
        return float((lab[s.argmax(1)] == lab[q]).mean()), len(q)

    val = {str(w): round(p_at_1("val", w)[0], 4) for w in WEIGHTS}
    best = max(WEIGHTS, key=lambda w: (val[str(w)], -w))
    test = {str(w): round(p_at_1("test", w)[0], 4) for w in (0.0, best)}
    doc = {"command": "python " + " ".join(sys.argv), "index": str(args.index), "gallery": len(ids),
           "relevance": f"same {args.column}", "val_queries": p_at_1("val", 0)[1],
           "test_queries": p_at_1("test", 0)[1], "val_p_at_1": val, "chosen_weight": best, "test_p_at_1": test}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
