"""OCR of real shop images (rapidocr, when the ocr extra is installed), its cache and trigram text matching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vsearch.retrieval.ocr import OcrCache, create_reader, fuse, text_scores, trigrams, words_text


def test_trigrams_fold_accents_and_survive_misreads(grocery_rows: list[dict[str, str]]) -> None:
    assert trigrams("Äpple") == trigrams("APPLE") == [" AP", "APP", "PPL", "PLE", "LE "]
    shop = [r for r in grocery_rows if r["source"] == "shop"]
    titles = [r["title"] for r in shop]
    s = text_scores(["BRAVO XPPLE JUICE", ""], titles)
    assert shop[int(s[0].argmax())]["id"] == "Bravo-Apple-Juice"
    assert not s[1].any()  # no text: no text score, the image ranking stands
    img = np.zeros_like(s)
    assert np.array_equal(fuse(img, s, 0.3)[1], img[1])


def test_rapidocr_reads_the_brand_and_the_cache_is_reused(grocery: Path, tmp_path: Path) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    photo = next((grocery / "shop" / "Bravo-Apple-Juice").glob("*.jpg"))
    cache = OcrCache(tmp_path / "ocr.json")
    words = cache.texts([photo], create_reader())[0]
    assert "BRAVO" in words_text(words).upper()

    def refuse(path: str) -> list[tuple[str, float]]:
        raise AssertionError("cached photo read again")

    assert OcrCache(tmp_path / "ocr.json").texts([photo], refuse)[0] == words
