"""Fine-tune the last blocks of the backbone for attribute heads (`train attributes --finetune-blocks N`).

Heads on frozen pooled ImageNet features stop near articleType F1 0.87 on products-224. Unfreezing the
last blocks lets the features learn what tells a Kurta from a Kurti. To keep this affordable on a
CPU, every photo (and its mirror image) goes through the frozen trunk (stem + all blocks but the
last N) once; the trunk activations are cached in a temporary file inside the index, and each epoch
runs only the tail (last N blocks + conv head) with one linear head per attribute, all attributes at
once; those heads become the attribute heads. The same code runs on CUDA when the embedder is there.
The tuned tail's pooled output, averaged over the photo and its mirror, is stored as vector kind
"tuned": the heads read it, and `TunedExtractor` computes it for new photos.

Works for timm EfficientNet-family backbones (conv_stem, bn1, blocks, conv_head, bn2), which
includes the bundled EfficientNet-Lite models.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vsearch.errors import BadQueryError
from vsearch.log import Progress, no_progress
from vsearch.train import EarlyStopping, class_weights

if TYPE_CHECKING:
    from vsearch.models.timm_backend import VisionEmbedder

_logger = logging.getLogger(__name__)

TUNED_KIND = "tuned"
"""Store vector kind of the tuned tail's pooled features, keyed by photo source like the image vectors."""
_PARTS = ("conv_stem", "bn1", "blocks", "conv_head", "bn2")


@dataclass(frozen=True)
class FinetuneConfig:
    """How the tail is fine-tuned.

    Attributes:
        blocks: how many of the backbone's last block stages to train (with the conv head).
        epochs: one-cycle schedule length; the epoch with the best mean validation accuracy is kept.
        lr: peak learning rate of the tail; the linear heads trained with it use 10x.
        balance: class weight exponent, as in `TrainConfig.balance`.
    """

    blocks: int = 2
    epochs: int = 10
    lr: float = 3e-4
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    dropout: float = 0.2
    balance: float = 0.5
    batch_size: int = 64
    seed: int = 0


def _parts_of(model: torch.nn.Module, name: str, blocks: int) -> None:
    missing = [p for p in _PARTS if not hasattr(model, p)]
    if missing:
        raise BadQueryError(f"fine-tuning needs a timm EfficientNet-family backbone (conv_stem, blocks, conv_head); "
                            f"{name} has no {', '.join(missing)}")
    if not 1 <= blocks < len(model.blocks):  # type: ignore[arg-type]
        raise BadQueryError(f"--finetune-blocks must be between 1 and {len(model.blocks) - 1} for {name}")  # type: ignore[arg-type]


class Trunk(torch.nn.Module):
    """The frozen part: stem and all block stages but the last `blocks` (shares the backbone's modules)."""

    def __init__(self, model: torch.nn.Module, blocks: int) -> None:
        super().__init__()
        self.conv_stem, self.bn1 = model.conv_stem, model.bn1
        self.blocks = torch.nn.Sequential(*list(model.blocks)[:-blocks])  # type: ignore[call-overload]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.bn1(self.conv_stem(x)))


class Tail(torch.nn.Module):
    """The trained part: a copy of the last `blocks` stages, conv head and its norm; output pooled `[n, C]`."""

    def __init__(self, model: torch.nn.Module, blocks: int) -> None:
        super().__init__()
        self.blocks = copy.deepcopy(torch.nn.Sequential(*list(model.blocks)[-blocks:]))  # type: ignore[call-overload]
        self.conv_head, self.bn2 = copy.deepcopy(model.conv_head), copy.deepcopy(model.bn2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv_head(self.blocks(x))).mean(dim=(2, 3))


def trunk_activations(embedder: VisionEmbedder, trunk: Trunk, paths: Sequence[str | Path], workdir: Path,
                      batch_size: int = 64, progress: Progress = no_progress) -> tuple[np.ndarray, np.ndarray,
                                                                                          np.ndarray]:
    """Trunk outputs of each photo and of its mirror image, as float16 memmaps in `workdir`.

    Returns:
        (activations `[n, C, H, W]`, mirrored activations, bool `[n]` decoded ok). A photo that no
        longer decodes is marked False (its rows stay zero) and logged.
    """
    from vsearch.embed import photo_batches

    probe = torch.zeros(1, 3, embedder.cfg.size, embedder.cfg.size, device=embedder.device)
    with torch.inference_mode(), embedder.autocast():
        shape = (len(paths), *trunk(probe).shape[1:])
    acts = np.lib.format.open_memmap(workdir / "trunk.npy", "w+", np.float16, shape)
    flips = np.lib.format.open_memmap(workdir / "trunk-mirror.npy", "w+", np.float16, shape)
    ok = np.zeros(len(paths), bool)
    done = 0
    progress("trunk activations", 0, len(paths))
    with torch.inference_mode(), embedder.autocast():
        for positions, batch, failures in photo_batches(embedder, paths, batch_size):
            for _, err in failures:
                _logger.warning("skipped %s", err)
            if batch is not None:
                x = batch.to(embedder.device).contiguous(memory_format=torch.channels_last)
                acts[positions] = trunk(x).float().cpu().numpy()
                flips[positions] = trunk(torch.flip(x, dims=[3])).float().cpu().numpy()
                ok[positions] = True
            done += len(positions) + len(failures)
            progress("trunk activations", done, len(paths))
    return acts, flips, ok


class _MultiTask(torch.nn.Module):
    """Tail + one linear classifier per attribute over [pooled tail output, extra features]."""

    def __init__(self, tail: Tail, n_classes: dict[str, int], dim: int, dropout: float) -> None:
        super().__init__()
        self.tail = tail
        self.drop = torch.nn.Dropout(dropout)
        self.heads = torch.nn.ModuleDict({name: torch.nn.Linear(dim, k) for name, k in n_classes.items()})

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None) -> dict[str, torch.Tensor]:
        h = self.drop(self.tail(x))
        if extra is not None:
            h = torch.cat([h, extra], dim=1)
        return {name: head(h) for name, head in self.heads.items()}


def _freeze_norms(module: torch.nn.Module) -> None:
    """Keep batch-norm statistics as trained on ImageNet (small batches of cached activations would skew them)."""
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def _batch(arr: np.ndarray, flips: np.ndarray, idx: np.ndarray, mirror: np.ndarray | None, device: str) -> torch.Tensor:
    x = np.asarray(arr[idx], np.float32) if mirror is None else np.where(
        mirror[:, None, None, None], flips[idx], arr[idx]).astype(np.float32)
    return torch.from_numpy(x).to(device)


def train_tail(tail: Tail, acts: np.ndarray, flips: np.ndarray, targets: dict[str, np.ndarray], split: np.ndarray,
               cfg: FinetuneConfig, device: str, extra: np.ndarray | None = None,
               progress: Progress = no_progress) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """Train `tail` in place with a linear classifier per attribute; keeps the epoch with the best mean val accuracy.

    The classifiers are trained together with the tail and are kept: linear heads trained afterwards on
    the tuned features fit the training photos too well (the tail has seen them) and lose ~2 points.

    Args:
        targets: per attribute, int64 `[n]` class index per row, -1 where the row has no label.
        split: "train"/"val"/"test" per row; rows without activations must not be "train" or "val".
        extra: float32 `[n, e]` standardised features set beside the pooled output (colour statistics).

    Returns:
        Per attribute (weight `[k, C + e]`, bias `[k]`), and the history: per epoch the training loss
        and the validation accuracy of each attribute.
    """
    targets = {name: t for name, t in targets.items() if (t >= 0).any()}
    if not targets:
        raise BadQueryError("no labelled photos to fine-tune on")
    cuda = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        n_classes = {name: int(t.max()) + 1 for name, t in targets.items()}
        dim = int(tail.conv_head.out_channels) + (extra.shape[1] if extra is not None else 0)  # type: ignore[union-attr]
        model = _MultiTask(tail, n_classes, dim, cfg.dropout).to(device)
        extra_t = torch.from_numpy(np.ascontiguousarray(extra, np.float32)).to(device) if extra is not None else None
        train, val = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
        labels = {name: torch.from_numpy(t).long().to(device) for name, t in targets.items()}
        weights = {name: torch.from_numpy(class_weights(t[train][t[train] >= 0], n_classes[name], cfg.balance)).float()
                   .to(device) for name, t in targets.items()}
        opt = torch.optim.AdamW([{"params": model.tail.parameters(), "lr": cfg.lr},
                                 {"params": model.heads.parameters(), "lr": cfg.lr * 10}],
                                weight_decay=cfg.weight_decay)
        steps = cfg.epochs * -(-len(train) // cfg.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[cfg.lr, cfg.lr * 10], total_steps=steps,
                                                    pct_start=0.15)
        stop = EarlyStopping(patience=cfg.epochs)
        history = []
        progress("fine-tune epochs", 0, cfg.epochs)
        for epoch in range(cfg.epochs):
            model.train()
            _freeze_norms(model)
            order = rng.permutation(train)
            total = 0.0
            for start in range(0, len(order), cfg.batch_size):
                idx = np.sort(order[start:start + cfg.batch_size])
                out = model(_batch(acts, flips, idx, rng.random(len(idx)) < 0.5, device),
                            extra_t[idx] if extra_t is not None else None)
                loss = sum(torch.nn.functional.cross_entropy(
                    out[name], labels[name][idx], weight=weights[name], label_smoothing=cfg.label_smoothing,
                    ignore_index=-1) for name in out if bool((labels[name][idx] >= 0).any()))
                if not isinstance(loss, torch.Tensor):  # no labelled row in this batch
                    continue
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            acc = _accuracy(model, acts, flips, extra_t, labels, val, device)
            history.append({"epoch": epoch, "loss": round(total / max(len(train), 1), 4), "val_accuracy": acc})
            _logger.info("fine-tune epoch %d: loss %.4f, val accuracy %s", epoch, total / max(len(train), 1), acc)
            stop.update(model, float(np.mean(list(acc.values()))) if acc else -float(epoch), epoch)
            progress("fine-tune epochs", epoch + 1, cfg.epochs)
        stop.restore(model)
        linear = {name: (head.weight.detach().cpu().numpy(), head.bias.detach().cpu().numpy())
                  for name, head in model.heads.items()}
        return linear, {"best_epoch": stop.best_epoch, "history": history, **asdict(cfg)}


def _accuracy(model: _MultiTask, acts: np.ndarray, flips: np.ndarray, extra: torch.Tensor | None,
              labels: dict[str, torch.Tensor], rows: np.ndarray, device: str) -> dict[str, float]:
    """Validation accuracy per attribute, predicting from the photo and its mirror image."""
    model.eval()
    outs: dict[str, list[torch.Tensor]] = {name: [] for name in labels}
    with torch.inference_mode():
        for start in range(0, len(rows), 256):
            idx = rows[start:start + 256]
            e = extra[idx] if extra is not None else None
            a, b = model(_batch(acts, flips, idx, None, device), e), model(_batch(flips, acts, idx, None, device), e)
            for name in outs:
                outs[name].append(a[name].softmax(1) + b[name].softmax(1))
    acc = {}
    for name, parts in outs.items():
        y = labels[name][rows]
        keep = y >= 0
        if parts and bool(keep.any()):
            acc[name] = round(float((torch.cat(parts).argmax(1)[keep] == y[keep]).float().mean()), 4)
    return acc


def tail_features(tail: Tail, acts: np.ndarray, flips: np.ndarray, device: str, batch_size: int = 256) -> np.ndarray:
    """float32 `[n, C]`: the tail's pooled output, averaged over each photo and its mirror image."""
    tail.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(acts), batch_size):
            idx = np.arange(start, min(start + batch_size, len(acts)))
            a, b = tail(_batch(acts, flips, idx, None, device)), tail(_batch(flips, acts, idx, None, device))
            out.append(((a + b) / 2).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, int(tail.conv_head.out_channels)), np.float32)  # type: ignore[union-attr]


@dataclass
class Finetuned:
    """What fine-tuning gives: tuned features of every photo, the tail checkpoint and the jointly trained heads."""

    features: np.ndarray
    """float32 `[n, C]`, photo and mirror averaged; zero where the photo did not decode."""
    decoded: np.ndarray
    checkpoint: dict[str, Any]
    """For `TunedExtractor`: {"blocks", "id", "state"}; the store records the id of the run its features come from."""
    linear: dict[str, tuple[np.ndarray, np.ndarray]]
    report: dict[str, Any]


def finetune_features(embedder: VisionEmbedder, sources: Sequence[str], targets: dict[str, np.ndarray],
                      split: np.ndarray, cfg: FinetuneConfig, workdir: Path, extra: np.ndarray | None = None,
                      progress: Progress = no_progress) -> Finetuned:
    """Fine-tune the tail (and a linear head per attribute) on the photos at `sources`; tuned features of all."""
    _parts_of(embedder.model, embedder.name, cfg.blocks)
    trunk, tail = Trunk(embedder.model, cfg.blocks), Tail(embedder.model, cfg.blocks).to(embedder.device)
    with tempfile.TemporaryDirectory(prefix=".finetune-", dir=workdir) as tmp:
        acts, flips, ok = trunk_activations(embedder, trunk, sources, Path(tmp), progress=progress)
        usable = np.where(ok, split, "none")
        linear, report = train_tail(tail, acts, flips, targets, usable, cfg, embedder.device, extra, progress)
        feats = tail_features(tail, acts, flips, embedder.device)
        feats[~ok] = 0.0
        del acts, flips
    state = {"blocks": cfg.blocks, "id": uuid.uuid4().hex,
             "state": {k: v.detach().cpu() for k, v in tail.state_dict().items()}}
    return Finetuned(feats, ok, state, linear, report)


class TunedExtractor:
    """Tuned features of new photos: the embedder's frozen trunk, then the fine-tuned tail (photo + mirror)."""

    def __init__(self, embedder: VisionEmbedder, checkpoint: dict[str, Any]) -> None:
        blocks = int(checkpoint["blocks"])
        _parts_of(embedder.model, embedder.name, blocks)
        self.embedder = embedder
        self.trunk = Trunk(embedder.model, blocks)
        self.tail = Tail(embedder.model, blocks)
        self.tail.load_state_dict(checkpoint["state"])
        self.tail.to(embedder.device).eval()

    def features(self, batch: torch.Tensor) -> np.ndarray:
        """`[n, 3, H, W]` normalised pixels -> float32 `[n, C]` tuned features."""
        x = batch.to(self.embedder.device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), self.embedder.autocast():
            h, hf = self.trunk(x).float(), self.trunk(torch.flip(x, dims=[3])).float()
        with torch.inference_mode():
            return ((self.tail(h) + self.tail(hf)) / 2).float().cpu().numpy()
