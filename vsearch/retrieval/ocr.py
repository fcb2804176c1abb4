"""Text printed on products: OCR of photos (rapidocr, PP-OCR ONNX models), cached, and fuzzy text matching.

Why: look-alike packages (six milks of two brands) differ in the words on the label more than in pixels. OCR on
CPU costs ~0.35 s a photo, so results are cached by path, size and mtime in one JSON file. Matching uses
character trigrams of the upper-cased words, which survive OCR misreads ("XPPLE" still shares "PPL", "PLE").
Needs the `ocr` extra (`pip install vsearch[ocr]`: rapidocr-onnxruntime, Apache-2.0, bundles PP-OCRv4 models).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vsearch.core.atomic import atomic_write_text
from vsearch.core.errors import BadQueryError

OCR_FORMAT = 1
MIN_CONFIDENCE = 0.5
"""Words read with less confidence are dropped (mostly shelf clutter and glare)."""


def require_ocr() -> None:
    """`BadQueryError` now, before minutes of other work, when the ocr extra is not installed."""
    import importlib.util

    if importlib.util.find_spec("rapidocr_onnxruntime") is None:
        raise BadQueryError("OCR needs the ocr extra: pip install 'vsearch[ocr]' (rapidocr-onnxruntime)")


def create_reader(threads: int = 1) -> Callable[[str], list[tuple[str, float]]]:
    """A function photo path -> [(text, confidence)] backed by rapidocr; `BadQueryError` without the extra."""
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        raise BadQueryError("OCR needs the ocr extra: pip install 'vsearch[ocr]' (rapidocr-onnxruntime)") from None
    engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)

    def read(path: str) -> list[tuple[str, float]]:
        result, _ = engine(path)
        return [(str(text), float(conf)) for _, text, conf in (result or [])]

    return read


class OcrCache:
    """OCR results of photos keyed by path, reused while the file's size and mtime are unchanged."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            if raw.get("format") == OCR_FORMAT:
                self.entries = raw["photos"]

    @staticmethod
    def _signature(path: Path) -> str:
        st = path.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"

    def texts(self, paths: Sequence[str | Path], read: Callable[[str], list[tuple[str, float]]] | None = None,
              progress: Callable[[int, int], None] | None = None,
              save_every: int = 50) -> list[list[tuple[str, float]]]:
        """OCR words of each photo; unknown ones are read with `read` (created on first need) and saved."""
        out: list[list[tuple[str, float]]] = []
        fresh = 0
        for i, p in enumerate(paths):
            p = Path(p)
            key, sig = str(p), self._signature(p)
            hit = self.entries.get(key)
            if hit is None or hit["sig"] != sig:
                read = read or create_reader()
                hit = {"sig": sig, "words": [[t, round(c, 3)] for t, c in read(key)]}
                self.entries[key] = hit
                fresh += 1
                if fresh % save_every == 0:
                    self.save()
            out.append([(str(t), float(c)) for t, c in hit["words"]])
            if progress is not None:
                progress(i + 1, len(paths))
        if fresh:
            self.save()
        return out

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps({"format": OCR_FORMAT, "photos": self.entries}, ensure_ascii=False))


def words_text(words: Sequence[tuple[str, float]], min_confidence: float = MIN_CONFIDENCE) -> str:
    """The confident OCR words of one photo as one string."""
    return " ".join(t for t, c in words if c >= min_confidence)


def _normalise(text: str) -> list[str]:
    """Upper-case ASCII-folded alphanumeric words of at least 2 characters (Ä -> A, so OCR and titles agree)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()
    return [w for w in re.findall(r"[A-Z0-9]+", folded) if len(w) >= 2]


def trigrams(text: str) -> list[str]:
    """Character trigrams of each word padded with spaces (" MI", "MIL", "ILK", "LK ")."""
    grams: list[str] = []
    for w in _normalise(text):
        padded = f" {w} "
        grams.extend(padded[i:i + 3] for i in range(len(padded) - 2))
    return grams


class TrigramSpace:
    """TF-IDF over character trigrams, fitted on the gallery documents; unit rows (empty text -> zero row)."""

    def __init__(self, documents: Sequence[str]) -> None:
        grams = [set(trigrams(d)) for d in documents]
        vocab = sorted(set().union(*grams)) if grams else []
        self.vocab = {g: i for i, g in enumerate(vocab)}
        df = np.zeros(len(vocab), np.float32)
        for gs in grams:
            for g in gs:
                df[self.vocab[g]] += 1
        self.idf = np.log((1 + len(documents)) / (1 + df)) + 1

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.vocab)), np.float32)
        for i, t in enumerate(texts):
            for g in trigrams(t):
                j = self.vocab.get(g)
                if j is not None:
                    out[i, j] += 1
        out *= self.idf
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def text_scores(query_texts: Sequence[str], gallery_texts: Sequence[str]) -> np.ndarray:
    """`[n_query, n_gallery]` cosine of trigram TF-IDF vectors (0 where a side has no text)."""
    space = TrigramSpace(gallery_texts)
    return space.vectors(query_texts) @ space.vectors(gallery_texts).T


def fuse(image_scores: np.ndarray, text: np.ndarray, weight: float) -> np.ndarray:
    """Image cosine plus `weight` x text cosine; a query without text keeps its image ranking."""
    return image_scores + weight * text
