"""Fine-tune the last blocks of the backbone for attribute heads (`train attributes --finetune-blocks N`).

Heads on frozen pooled ImageNet features stop near articleType F1 0.87 on products-224. Unfreezing the
last blocks lets the features learn what tells a Kurta from a Kurti. To keep this affordable on a
CPU, every photo (and its mirror image) goes through the frozen trunk (stem + all blocks but the
last N) once; the trunk activations are cached in a temporary file inside the index, and each epoch
runs only the tail (last N blocks + conv head) with one linear head per attribute, all attributes at
once; those heads become the attribute heads. The same code runs on CUDA when the embedder is there.
The tuned tail's pooled output, averaged over the photo and its mirror, is stored as vector kind
"tuned": the heads read it, and `TunedExtractor` computes it for new photos.

With N = all block stages (`--finetune-blocks all`) the whole backbone, stem included, is trained end
to end: the "trunk" is then nothing, the cached activations are the preprocessed pixels (no mirror
copy: flipping pixels is exact), and training batches also get random resized crops. Early layers are
where colour is still seen, so this is the setting for colour attributes (products-224 baseColour accuracy
0.663 -> 0.697); it is the slowest (6.7 min per epoch over 5.7k photos on 2 CPU cores) and the one to run on
a GPU.

The trunk/tail split and `TunedExtractor` live in `vsearch.models.tuned`.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vsearch.core.errors import BadQueryError
from vsearch.core.log import Progress, no_progress
from vsearch.models.tuned import Tail, Trunk, stages_to_train
from vsearch.tags.train import EarlyStopping, class_weights

if TYPE_CHECKING:
    from vsearch.models.timm_backend import VisionEmbedder

_logger = logging.getLogger(__name__)

Autocast = Callable[[], AbstractContextManager[object]]
"""A mixed-precision context factory, such as `VisionEmbedder.autocast`."""


@dataclass(frozen=True)
class FinetuneConfig:
    """How the tail is fine-tuned.

    Attributes:
        blocks: how many of the backbone's last block stages to train (with the conv head); `ALL_BLOCKS`
            or the number of stages trains the whole backbone, stem included.
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


def trunk_activations(embedder: VisionEmbedder, trunk: Trunk, paths: Sequence[str | Path], workdir: Path,
                      batch_size: int = 64, progress: Progress = no_progress) -> tuple[np.ndarray, np.ndarray | None,
                                                                                          np.ndarray]:
    """Trunk outputs of each photo and of its mirror image, as float16 memmaps in `workdir`.

    Returns:
        (activations `[n, C, H, W]`, mirrored activations or None when the trunk is nothing (the
        activations are pixels, whose mirror image is exact), bool `[n]` decoded ok). A photo that no
        longer decodes is marked False (its rows stay zero) and logged.
    """
    from vsearch.models.embed import photo_batches

    probe = torch.zeros(1, 3, embedder.cfg.size, embedder.cfg.size, device=embedder.device)
    with torch.inference_mode(), embedder.autocast():
        shape = (len(paths), *trunk(probe).shape[1:])
    acts = np.lib.format.open_memmap(workdir / "trunk.npy", "w+", np.float16, shape)
    flips = None if trunk.whole else np.lib.format.open_memmap(workdir / "trunk-mirror.npy", "w+", np.float16, shape)
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
                if flips is not None:
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


def _batch(arr: np.ndarray, flips: np.ndarray | None, idx: np.ndarray, mirror: np.ndarray | None,
           device: str) -> torch.Tensor:
    """Rows `idx` of `arr`, those where `mirror` is True from their mirror image (`flips`, or flipped pixels)."""
    x = np.asarray(arr[idx], np.float32)
    if mirror is not None:
        x[mirror] = x[mirror, ..., ::-1] if flips is None else flips[idx[mirror]]
    return torch.from_numpy(x).to(device).contiguous(memory_format=torch.channels_last)


def _views(arr: np.ndarray, flips: np.ndarray | None, idx: np.ndarray,
           device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows `idx` as they are and mirrored: the two views every prediction here averages."""
    return _batch(arr, flips, idx, None, device), _batch(arr, flips, idx, np.ones(len(idx), bool), device)


def _random_crop(x: torch.Tensor, rng: np.random.Generator, min_scale: float = 0.75) -> torch.Tensor:
    """One random square crop of 75-100 % of the area for the whole batch, resized back (pixel inputs only)."""
    size = x.shape[-1]
    side = int(size * np.sqrt(rng.uniform(min_scale, 1.0)))
    top, left = rng.integers(0, size - side + 1, 2)
    crop = x[..., top:top + side, left:left + side]
    return torch.nn.functional.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False)


def train_tail(tail: Tail, acts: np.ndarray, flips: np.ndarray | None, targets: dict[str, np.ndarray],
               split: np.ndarray, cfg: FinetuneConfig, device: str, extra: np.ndarray | None = None,
               progress: Progress = no_progress, autocast: Autocast = nullcontext
               ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """Train `tail` in place with a linear classifier per attribute; keeps the epoch with the best mean val accuracy.

    The classifiers are trained together with the tail and are kept: linear heads trained afterwards on
    the tuned features fit the training photos too well (the tail has seen them) and lose ~2 points.

    Args:
        targets: per attribute, int64 `[n]` class index per row, -1 where the row has no label.
        split: "train"/"val"/"test" per row; rows without activations must not be "train" or "val".
        extra: float32 `[n, e]` standardised features set beside the pooled output (colour statistics).
        autocast: the embedder's mixed precision (bf16 on a GPU or a bf16 CPU); the loss is taken in fp32.

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
                x = _batch(acts, flips, idx, rng.random(len(idx)) < 0.5, device)
                if tail.whole:
                    x = _random_crop(x, rng)
                with autocast():
                    out = model(x, extra_t[idx] if extra_t is not None else None)
                loss = sum(torch.nn.functional.cross_entropy(
                    out[name].float(), labels[name][idx], weight=weights[name], label_smoothing=cfg.label_smoothing,
                    ignore_index=-1) for name in out if bool((labels[name][idx] >= 0).any()))
                if not isinstance(loss, torch.Tensor):  # no labelled row in this batch
                    continue
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            acc = _accuracy(model, acts, flips, extra_t, labels, val, device, autocast)
            history.append({"epoch": epoch, "loss": round(total / max(len(train), 1), 4), "val_accuracy": acc})
            _logger.info("fine-tune epoch %d: loss %.4f, val accuracy %s", epoch, total / max(len(train), 1), acc)
            stop.update(model, float(np.mean(list(acc.values()))) if acc else -float(epoch), epoch)
            progress("fine-tune epochs", epoch + 1, cfg.epochs)
        stop.restore(model)
        linear = {name: (head.weight.detach().cpu().numpy(), head.bias.detach().cpu().numpy())
                  for name, head in model.heads.items()}
        return linear, {"best_epoch": stop.best_epoch, "history": history, **asdict(cfg)}


def _accuracy(model: _MultiTask, acts: np.ndarray, flips: np.ndarray | None, extra: torch.Tensor | None,
              labels: dict[str, torch.Tensor], rows: np.ndarray, device: str,
              autocast: Autocast = nullcontext) -> dict[str, float]:
    """Validation accuracy per attribute, predicting from the photo and its mirror image."""
    model.eval()
    outs: dict[str, list[torch.Tensor]] = {name: [] for name in labels}
    with torch.inference_mode(), autocast():
        for start in range(0, len(rows), 256):
            idx = rows[start:start + 256]
            e = extra[idx] if extra is not None else None
            a, b = (model(view, e) for view in _views(acts, flips, idx, device))
            for name in outs:
                outs[name].append(a[name].float().softmax(1) + b[name].float().softmax(1))
    acc = {}
    for name, parts in outs.items():
        y = labels[name][rows]
        keep = y >= 0
        if parts and bool(keep.any()):
            acc[name] = round(float((torch.cat(parts).argmax(1)[keep] == y[keep]).float().mean()), 4)
    return acc


def tail_features(tail: Tail, acts: np.ndarray, flips: np.ndarray | None, device: str, batch_size: int = 256,
                  autocast: Autocast = nullcontext) -> np.ndarray:
    """float32 `[n, C]`: the tail's pooled output, averaged over each photo and its mirror image."""
    tail.eval()
    out = []
    with torch.inference_mode(), autocast():
        for start in range(0, len(acts), batch_size):
            idx = np.arange(start, min(start + batch_size, len(acts)))
            a, b = (tail(view) for view in _views(acts, flips, idx, device))
            out.append(((a.float() + b.float()) / 2).cpu().numpy())
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
    blocks = stages_to_train(embedder.model, embedder.name, cfg.blocks)
    trunk, tail = Trunk(embedder.model, blocks), Tail(embedder.model, blocks).to(embedder.device)
    with tempfile.TemporaryDirectory(prefix=".finetune-", dir=workdir) as tmp:
        acts, flips, ok = trunk_activations(embedder, trunk, sources, Path(tmp), progress=progress)
        usable = np.where(ok, split, "none")
        linear, report = train_tail(tail, acts, flips, targets, usable, cfg, embedder.device, extra, progress,
                                    embedder.autocast)
        feats = tail_features(tail, acts, flips, embedder.device, autocast=embedder.autocast)
        feats[~ok] = 0.0
        del acts, flips
    state = {"blocks": blocks, "id": uuid.uuid4().hex,
             "state": {k: v.detach().cpu() for k, v in tail.state_dict().items()}}
    return Finetuned(feats, ok, state, linear, report)
