"""open_clip models: one object that embeds both photos and text into one space.

Hub weights need network access; offline, give `weights=PATH` (a local open_clip checkpoint).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vsearch.core.errors import UnknownModelError, WeightsUnavailableError
from vsearch.models.base import PreprocessCfg, ResizeMode
from vsearch.models.timm_backend import VisionEmbedder, file_identity


class _ImageTower(torch.nn.Module):
    def __init__(self, clip: torch.nn.Module) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(x)


class OpenClipEmbedder(VisionEmbedder):
    """Image and text embedder sharing one CLIP space."""

    def __init__(self, clip: torch.nn.Module, tokenizer: object, name: str, weights_id: str, cfg: PreprocessCfg,
                 device: str, precision: str) -> None:
        super().__init__(_ImageTower(clip), name, weights_id, cfg, device, precision)
        self.clip = clip
        self.tokenizer = tokenizer
        self.dim = int(clip.text_projection.shape[1]) if hasattr(clip, "text_projection") else self._probe_dim()

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> float32 `[n, dim]` unit vectors in the image space."""
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), 256):
                tokens = self.tokenizer(texts[start:start + 256]).to(self.device)  # type: ignore[operator]
                feats = self.clip.encode_text(tokens).float()
                out.append(torch.nn.functional.normalize(feats, dim=1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


def parse_open_clip_name(spec: str) -> tuple[str, str | None]:
    """"ViT-B-32/laion2b_s34b_b79k" -> ("ViT-B-32", "laion2b_s34b_b79k"); no tag means random init."""
    arch, _, tag = spec.partition("/")
    return arch, tag or None


def create_open_clip_embedder(spec: str, *, weights: str | None, device: str, precision: str,
                              resize: ResizeMode = "squash") -> OpenClipEmbedder:
    import open_clip

    arch, tag = parse_open_clip_name(spec)
    if arch not in open_clip.list_models():
        raise UnknownModelError(f"unknown open_clip architecture '{arch}'; e.g. ViT-B-32, ViT-B-16, ViT-L-14 "
                                f"({len(open_clip.list_models())} known: open_clip.list_models())")
    pretrained: str | None = None
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(f"weights file not found: {path}")
        pretrained, weights_id = str(path), file_identity(path)
    elif tag:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        if tag not in tags:
            raise UnknownModelError(f"unknown pretrained tag '{tag}' for {arch}; known: {', '.join(tags)}")
        from vsearch.models.hub import require_hub

        require_hub(f"open_clip:{arch}/{tag}")
        pretrained, weights_id = tag, f"hub:{tag}"
    else:
        weights_id = "random-init:seed0"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        clip, _, _ = open_clip.create_model_and_transforms(arch, pretrained=pretrained)
    pp = clip.visual.preprocess_cfg
    size = pp["size"] if isinstance(pp["size"], int) else int(pp["size"][-1])
    cfg = PreprocessCfg(size=size, mean=tuple(pp["mean"]), std=tuple(pp["std"]),
                        interpolation=pp.get("interpolation", "bicubic"), resize=resize, crop_pct=1.0)
    tokenizer = open_clip.get_tokenizer(arch)
    return OpenClipEmbedder(clip, tokenizer, f"open_clip:{spec}", weights_id, cfg, device, precision)
