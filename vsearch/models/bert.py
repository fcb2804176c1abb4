"""A lean BERT encoder (all-MiniLM-L6-v2) in plain torch: safetensors weights + a `tokenizers` tokenizer.

Why: importing sentence-transformers (and transformers' BERT) costs ~12 s of a cold `vsearch query
--text`; this path needs only torch, `tokenizers` and `safetensors` (well under a second beyond torch)
and gives the same vectors (checked against sentence-transformers in tests/models/test_text_lean.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from vsearch.models.bert_config import read_bert_folder


class LeanBert:
    """BERT forward + mean pooling + L2 normalisation, as the sentence-transformers pipeline of the model."""

    def __init__(self, model_dir: str | Path, device: str = "cpu") -> None:
        shape, self.tokenizer, weights = read_bert_folder(model_dir)
        self.heads, self.layers, self.eps, self.dim = shape.heads, shape.layers, shape.eps, shape.dim
        self.device = device
        self.w = {k: v.to(device) for k, v in load_file(str(weights)).items()}

    def _ln(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, (self.dim,), self.w[f"{name}.weight"], self.w[f"{name}.bias"], self.eps)

    def _lin(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"])

    def _layer(self, x: torch.Tensor, mask: torch.Tensor, i: int) -> torch.Tensor:
        p = f"encoder.layer.{i}."
        b, t, _ = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, -1).transpose(1, 2)

        q, k, v = (split(self._lin(x, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(b, t, self.dim)
        x = self._ln(x + self._lin(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
        hidden = F.gelu(self._lin(x, p + "intermediate.dense"))
        return self._ln(x + self._lin(hidden, p + "output.dense"), p + "output.LayerNorm")

    @torch.inference_mode()
    def encode(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        """Texts -> float32 `[n, dim]` unit vectors (mean of the token states under the attention mask)."""
        out = []
        for start in range(0, len(texts), batch_size):
            enc = self.tokenizer.encode_batch(texts[start:start + batch_size])
            ids = torch.tensor([e.ids for e in enc], device=self.device)
            types = torch.tensor([e.type_ids for e in enc], device=self.device)
            keep = torch.tensor([e.attention_mask for e in enc], device=self.device, dtype=torch.float32)
            pos = torch.arange(ids.shape[1], device=self.device)
            x = (self.w["embeddings.word_embeddings.weight"][ids] + self.w["embeddings.token_type_embeddings.weight"]
                 [types] + self.w["embeddings.position_embeddings.weight"][pos][None])
            x = self._ln(x, "embeddings.LayerNorm")
            mask = (1.0 - keep)[:, None, None, :] * torch.finfo(torch.float32).min
            for i in range(self.layers):
                x = self._layer(x, mask, i)
            pooled = (x * keep[..., None]).sum(1) / keep.sum(1, keepdim=True).clamp(min=1e-9)
            out.append(F.normalize(pooled, dim=1).cpu().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)
