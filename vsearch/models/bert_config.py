"""What both MiniLM runners (torch and numpy) read from a sentence-transformers model folder: the BERT shape and
the `tokenizers` tokenizer, set up as the sentence-transformers pipeline sets it (truncation, padding)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

MAX_SEQ_LENGTH = 256
"""sentence-transformers' `max_seq_length` for all-MiniLM-L6-v2 (sentence_bert_config.json)."""


@dataclass(frozen=True)
class BertShape:
    heads: int
    layers: int
    dim: int
    eps: float


def read_bert_folder(model_dir: str | Path) -> tuple[BertShape, Tokenizer, Path]:
    """(shape, tokenizer, weights file) of a sentence-transformers BERT folder."""
    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    st_config = model_dir / "sentence_bert_config.json"
    max_len = json.loads(st_config.read_text())["max_seq_length"] if st_config.is_file() else MAX_SEQ_LENGTH
    shape = BertShape(heads=int(config["num_attention_heads"]), layers=int(config["num_hidden_layers"]),
                      dim=int(config["hidden_size"]), eps=float(config.get("layer_norm_eps", 1e-12)))
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_len)
    tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)), pad_token="[PAD]")
    return shape, tokenizer, model_dir / "model.safetensors"
