"""Style tags two ways on the same held-out products: the trained heads vs the zero-shot path (alignment head).

    PYTHONPATH=. python eval/profiles/zero_shot_styles.py INDEX LABELS ALIGN_PT HEADS_REPORT \
        --out eval/profiles/zero_shot_styles.json

Zero-shot: each tag's words (the vocabulary's variants) fill the title-shaped prompt templates of
`vsearch.tags.align`, are mapped into the image space by the alignment head and averaged; a photo's score is its
cosine with that vector. Both are judged by AP against the description-mined labels of the test split.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from vsearch.core.atomic import atomic_write_text
from vsearch.index.aligner import load_aligner, unit_rows
from vsearch.index.products import load_products
from vsearch.models import create_text_embedder
from vsearch.profiles.train import style_targets
from vsearch.profiles.vocab import STYLE_VOCAB, STYLE_VOCAB_VERSION
from vsearch.tags.align import prompt_texts


def words_of(alternatives: str) -> list[str]:
    """Plain words of a vocabulary entry: its top-level alternatives without a group, whitespace classes as spaces."""
    parts, depth, cur = [], 0, ""
    for ch in alternatives:
        depth += (ch == "(") - (ch == ")")
        if ch == "|" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [re.sub(r"\\s\*|\[\\s-\]", " ", w).strip() for w in parts if "(" not in w]


def main() -> None:
    from sklearn.metrics import average_precision_score

    ap = argparse.ArgumentParser()
    ap.add_argument("index")
    ap.add_argument("labels")
    ap.add_argument("align")
    ap.add_argument("heads_report")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    products = load_products(args.index, args.labels)
    aligner = load_aligner(args.index, args.align)
    text = create_text_embedder(device="cpu")
    heads = json.loads(Path(args.heads_report).read_text())["styles"]["tags"]
    mined = style_targets(products.column("description"))
    te = np.array([m is not None for m in mined]) & (products.split == "test")
    rows = np.flatnonzero(te)
    out = {"vocab": STYLE_VOCAB_VERSION, "test_products": int(te.sum()), "tags": {}}
    for tag, alternatives in STYLE_VOCAB.items():
        if tag not in heads:
            continue
        y = np.array([tag in mined[i] for i in rows])
        prompts = prompt_texts({tag: words_of(alternatives)})[tag]
        vec = unit_rows(aligner.map_texts(np.asarray(text.encode_texts(prompts))).mean(axis=0, keepdims=True))
        s = products.x[rows] @ vec[0]
        out["tags"][tag] = {"test_positives": int(y.sum()), "base_rate": round(float(y.mean()), 4),
                            "ap_heads": heads[tag]["ap"],
                            "ap_zero_shot": round(float(average_precision_score(y, s)), 4) if y.any() else None}
    atomic_write_text(Path(args.out), json.dumps(out, indent=1))
    for tag, r in sorted(out["tags"].items(), key=lambda kv: -kv[1]["test_positives"]):
        print(f"{tag:<14} n={r['test_positives']:<4} base {r['base_rate']:.3f}  heads AP {r['ap_heads']:.3f}  "
              f"zero-shot AP {r['ap_zero_shot']:.3f}")


if __name__ == "__main__":
    main()
