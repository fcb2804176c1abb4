"""Text <-> image alignment for an image-only backbone, and zero-shot style tags from text prompts.

Lite0 has no text tower. The catalogue pairs every photo with its title, so a small head learns to
map a MiniLM title vector into the image space (symmetric InfoNCE against the frozen image vectors).
Text queries then search the image index directly, and a prompt ("romantic", "bohemian") scores
photos without any labels. An open_clip index needs no head: its own text tower is used.

Zero-shot "probabilities" are percentiles: the share of the indexed catalogue a photo out-scores on
that prompt (0.95 = more romantic than 95 % of the catalogue). They are marked zero-shot in output.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vsearch.core.errors import BadQueryError, IndexMissingError
from vsearch.core.split import split_of
from vsearch.index.aligner import unit_rows
from vsearch.index.heads import Head, HeadGroup, HeadSpec, backbone_stamp, build_head, save_group
from vsearch.index.manifest import STORE, heads_path, read_manifest
from vsearch.tags.train import EarlyStopping

if TYPE_CHECKING:
    from vsearch.index.store import Store
    from vsearch.models.base import TextEmbedder

_logger = logging.getLogger(__name__)

ZERO_SHOT_TAGS: dict[str, list[str]] = {
    "lovely": ["lovely", "pretty", "sweet"], "cute": ["cute", "adorable", "playful"],
    "fancy": ["fancy", "glamorous", "party wear"], "romantic": ["romantic", "lace", "floral"],
    "bohemian": ["bohemian", "boho", "ethnic print"], "elegant": ["elegant", "classy", "sophisticated"],
    "casual": ["casual", "everyday", "relaxed"], "formal": ["formal", "office wear", "business"],
    "sporty": ["sporty", "athletic", "sports"], "edgy": ["edgy", "bold", "rock"],
    "vintage": ["vintage", "retro", "classic"], "minimalist": ["minimalist", "plain", "simple"],
    "summery": ["summer", "bright", "beach"], "cosy": ["cosy", "warm", "winter"],
}
"""Tag -> words; each word fills every template and the mapped vectors are averaged."""
TEMPLATES = ("{}", "Men {} T-shirt", "Women {} Top", "Men {} Shoes", "Women {} Dress", "Unisex {} Bag")
"""Bare words plus title-shaped phrases: MiniLM compares prompts with shop titles ("Men Black Sports Shoes").
Chosen over generic phrases ("{} clothing") by how strongly "sporty"/"ethnic"/"casual" pick out the
catalogue's usage=Sports/Ethnic/Casual products (lift 4.2/6.1/2.7 vs 1.3/10.2/0.9); "formal" stays weak (1.1)."""
ZERO_SHOT_THRESHOLD = 0.9
"""A zero-shot tag is emitted when the photo out-scores this share of the catalogue."""


@dataclass(frozen=True)
class AlignConfig:
    hidden: int = 1024
    dropout: float = 0.1
    epochs: int = 40
    patience: int = 6
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0


def prompt_texts(tag_words: dict[str, list[str]]) -> dict[str, list[str]]:
    return {tag: [t.format(w) for w in words for t in TEMPLATES] for tag, words in tag_words.items()}


def zero_shot_extra(encode: Any, image_vectors: np.ndarray, tag_words: dict[str, list[str]]) -> dict[str, Any]:
    """Prompt vectors (mean of each tag's mapped prompts) and their score quantiles over the catalogue.

    Args:
        encode: texts -> unit `[n, dim]` vectors in the image space.
    """
    prompts = prompt_texts(tag_words)
    vectors = unit_rows(np.stack([encode(texts).mean(axis=0) for texts in prompts.values()]))
    quantiles = np.quantile(image_vectors @ vectors.T, np.linspace(0, 1, 101), axis=0).T
    return {"tags": list(prompts), "prompts": prompts, "vectors": torch.from_numpy(vectors.astype(np.float32)),
            "quantiles": torch.from_numpy(np.ascontiguousarray(quantiles, np.float32)),
            "threshold": ZERO_SHOT_THRESHOLD}


def _title_vectors(store: Store, ids: list[str], text_column: str | None, text: TextEmbedder) -> np.ndarray:
    """MiniLM vector per product id: the stored title vectors, or `text_column` embedded now."""
    from vsearch.tags.features import row_meta

    _, vectors = store.load_vectors("title")
    stored = {pid: vec for (pid, _), vec in zip(row_meta(store, "title"), vectors)}
    if text_column is not None:
        meta = dict(store.iter_products())
        titles = {pid: str(meta.get(pid, {}).get(text_column, "")) for pid in ids}
        if not any(titles.values()):
            raise BadQueryError(f"no product has a '{text_column}' value")
        sample = [pid for pid in ids if pid in stored and titles[pid]][:16]
        same = bool(sample) and float(np.min(np.sum(text.encode_texts([titles[p] for p in sample])
                                                    * np.stack([stored[p] for p in sample]), axis=1))) > 0.99
        if not same:
            todo = sorted({pid for pid in ids if titles[pid]})
            stored = dict(zip(todo, text.encode_texts([titles[p] for p in todo])))
    if not stored:
        raise IndexMissingError("the index has no title vectors: give --text-column")
    zero = np.zeros(text.dim, np.float32)
    return np.stack([stored.get(pid, zero) for pid in ids]).astype(np.float32)


def recall_at(queries: np.ndarray, gallery: np.ndarray, truth: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)
              ) -> dict[str, float]:
    """Share of queries whose own item (`truth[i]` = its gallery row) ranks in the top k."""
    scores = queries @ gallery.T
    own = scores[np.arange(len(queries)), truth]
    rank = (scores > own[:, None]).sum(axis=1)  # ties count in the query's favour
    return {f"R@{k}": round(float((rank < k).mean()), 4) for k in ks}


def train_align(index_dir: str | Path, *, text_column: str | None = None, cfg: AlignConfig | None = None,
                out: str | Path | None = None, device: str | None = "cpu",
                zero_shot_words: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Train (or, for open_clip, just calibrate) the text->image alignment and zero-shot prompts.

    Args:
        text_column: metadata column paired with each photo; default the title vectors stored at build time.
        zero_shot_words: tag -> words for zero-shot prompts; default `ZERO_SHOT_TAGS`.
    """
    from vsearch.index.store import Store
    from vsearch.models import create_text_embedder
    from vsearch.tags.features import row_meta

    start = time.perf_counter()
    cfg = cfg or AlignConfig()
    words = zero_shot_words or ZERO_SHOT_TAGS
    manifest = read_manifest(index_dir)
    stamp = backbone_stamp(manifest)
    path = Path(out) if out else heads_path(index_dir, "align")
    with Store(Path(index_dir) / STORE, readonly=True) as store:
        _, image = store.load_vectors("image")
        ids = [pid for pid, _ in row_meta(store, "image")]
        if manifest.model.startswith("open_clip:"):
            from vsearch.models import create_embedder

            emb = create_embedder(manifest.model, device=device)
            extra = {"native": True, "zero_shot": zero_shot_extra(emb.encode_texts, image, words)}  # type: ignore[attr-defined]
            save_group(path, HeadGroup("align", stamp, {}, extra))
            return {"group": "align", "heads_path": str(path), "native": True, "backbone": stamp}
        text = create_text_embedder(manifest.text_model or "minilm", device=device)
        titles = _title_vectors(store, ids, text_column, text)
    has = np.linalg.norm(titles, axis=1) > 0
    split = np.array([split_of(pid) for pid in ids])
    spec = HeadSpec("align", "align", [], ["text"], titles.shape[1], image.shape[1], cfg.hidden, cfg.dropout,
                    f"pairs:{text_column or 'stored titles'}")
    head, scale, info = _fit_align(spec, titles, image, split, has, cfg)
    te = has & (split == "test")
    mapped = unit_rows(head.predict(titles[te]))
    test_gallery = recall_at(mapped, image[te], np.arange(int(te.sum())))
    full_gallery = recall_at(mapped, image, np.flatnonzero(te))
    spec.metrics = {"test_title_to_image_test_gallery": test_gallery, "test_title_to_image_full_gallery": full_gallery,
                    **info}
    extra = {"logit_scale": scale, "text_model": {"model": text.name, "weights_id": text.weights_id, "dim": text.dim},
             "zero_shot": zero_shot_extra(lambda t: unit_rows(head.predict(text.encode_texts(t))), image, words)}
    save_group(path, HeadGroup("align", stamp, {"align": (spec, head)}, extra))
    return {"group": "align", "heads_path": str(path), "backbone": stamp, "config": asdict(cfg),
            "pairs": {"train": int((has & (split == "train")).sum()), "val": int((has & (split == "val")).sum()),
                      "test": int(te.sum())},
            "title_to_image_recall": {"gallery_test_split": test_gallery, "gallery_full_catalogue": full_gallery},
            "gallery_sizes": {"test_split": int(te.sum()), "full_catalogue": len(image)},
            "seconds": round(time.perf_counter() - start, 1), **info}


def _fit_align(spec: HeadSpec, titles: np.ndarray, image: np.ndarray, split: np.ndarray, has: np.ndarray,
               cfg: AlignConfig) -> tuple[Head, float, dict[str, Any]]:
    tr, va = has & (split == "train"), has & (split == "val")
    t_tr, i_tr = torch.from_numpy(titles[tr]), torch.from_numpy(image[tr])
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        head = build_head(spec)
        head.set_standardisation(titles[tr])
        log_scale = torch.nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))
        opt = torch.optim.AdamW([*head.parameters(), log_scale], lr=cfg.lr, weight_decay=cfg.weight_decay)
        stopper = EarlyStopping(cfg.patience)
        for epoch in range(cfg.epochs):
            head.train()
            for idx in torch.randperm(len(t_tr)).split(cfg.batch_size):
                q = torch.nn.functional.normalize(head(t_tr[idx]), dim=1)
                logits = q @ i_tr[idx].T * log_scale.clamp(max=np.log(100)).exp()
                target = torch.arange(len(idx))
                loss = (torch.nn.functional.cross_entropy(logits, target)
                        + torch.nn.functional.cross_entropy(logits.T, target)) / 2
                opt.zero_grad()
                loss.backward()
                opt.step()
            value = recall_at(unit_rows(head.predict(titles[va])), image[va], np.arange(int(va.sum())))["R@10"]
            if stopper.update(head, value, epoch):
                break
    stopper.restore(head)
    return head, float(log_scale.detach().exp()), {"val_R@10": stopper.best, "best_epoch": stopper.best_epoch + 1,
                                                   "epochs_run": epoch + 1}
