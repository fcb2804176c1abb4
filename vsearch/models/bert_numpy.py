"""all-MiniLM-L6-v2 forward in numpy: a text query on a CPU without importing torch.

Why: importing torch is ~2 s of a cold `vsearch query --text`, more than the whole query's budget allows once
the interpreter, FAISS and the store are loaded. One query is a handful of tokens: numpy answers it in ~10 ms,
3 ms behind a loaded torch, which is why only one-shot processes use it. Same vectors as
`vsearch.models.bert.LeanBert` in fp32 (tests/models/test_text_lean.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from vsearch.models.bert_config import read_bert_folder


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf, and scipy's import costs more than it."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU that BERT uses."""
    return 0.5 * x * (1.0 + erf(x * np.float32(1 / np.sqrt(2.0))))


class NumpyBert:
    """BERT forward + mean pooling + L2 normalisation, as LeanBert, on numpy arrays (CPU, fp32)."""

    def __init__(self, model_dir: str | Path) -> None:
        self.shape, self.tokenizer, weights = read_bert_folder(model_dir)
        self.dim = self.shape.dim
        self.w = {k: np.ascontiguousarray(v, np.float32) for k, v in load_file(str(weights)).items()}

    def _ln(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.shape.eps) * self.w[f"{name}.weight"] + self.w[f"{name}.bias"]

    def _lin(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def _layer(self, x: np.ndarray, mask: np.ndarray, i: int) -> np.ndarray:
        p = f"encoder.layer.{i}."
        b, t, _ = x.shape
        h = self.shape.heads

        def split(y: np.ndarray) -> np.ndarray:
            return y.reshape(b, t, h, -1).transpose(0, 2, 1, 3)

        q, k, v = (split(self._lin(x, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(q.shape[-1])) + mask
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        ctx = (scores / scores.sum(-1, keepdims=True)) @ v
        ctx = ctx.transpose(0, 2, 1, 3).reshape(b, t, self.dim)
        x = self._ln(x + self._lin(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
        hidden = gelu(self._lin(x, p + "intermediate.dense"))
        return self._ln(x + self._lin(hidden, p + "output.dense"), p + "output.LayerNorm")

    def encode(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        """Texts -> float32 `[n, dim]` unit vectors (mean of the token states under the attention mask)."""
        out = []
        for start in range(0, len(texts), batch_size):
            enc = self.tokenizer.encode_batch(texts[start:start + batch_size])
            ids = np.array([e.ids for e in enc])
            types = np.array([e.type_ids for e in enc])
            keep = np.array([e.attention_mask for e in enc], np.float32)
            x = (self.w["embeddings.word_embeddings.weight"][ids] + self.w["embeddings.token_type_embeddings.weight"]
                 [types] + self.w["embeddings.position_embeddings.weight"][: ids.shape[1]][None])
            x = self._ln(x, "embeddings.LayerNorm")
            mask = ((1.0 - keep)[:, None, None, :] * np.float32(-1e30)).astype(np.float32)  # exp() gives 0, no overflow
            for i in range(self.shape.layers):
                x = self._layer(x, mask, i)
            pooled = (x * keep[..., None]).sum(1) / np.maximum(keep.sum(1, keepdims=True), 1e-9)
            out.append(pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12))
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)
