"""N-gram counts shared out to worker processes equal one TfidfVectorizer over all titles (same floats)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vsearch.group import ngrams
from vsearch.group.candidates import NGRAM_RANGE, TitleVectoriser
from vsearch.group.offers import read_offers
from vsearch.group.tokens import normalise, parse_title


def test_counts_from_processes_give_the_tfidf_of_one_vectoriser(offers_csv: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    offers = read_offers(offers_csv, "product_id", "product_title", "vendor_id", "category_label")
    titles = [normalise(t) for t in offers.titles]
    monkeypatch.setattr(ngrams, "MIN_PER_PROCESS", 200)
    with ngrams.NgramCounts(titles, NGRAM_RANGE, workers=3) as counts:
        assert counts._pool is not None  # three processes really ran
        shared = counts.result()
    single = ngrams.count_ngrams(titles, NGRAM_RANGE)
    assert np.array_equal(shared[1], single[1]) and (shared[0] != single[0]).nnz == 0
    parts = [parse_title(t) for t in offers.titles]
    vec, xc, _ = TitleVectoriser.from_counts(shared, parts, 0.5)
    ref = TfidfVectorizer(analyzer="char_wb", ngram_range=NGRAM_RANGE, sublinear_tf=True, dtype=np.float32)
    want = ref.fit_transform(titles)
    assert (xc != want).nnz == 0
    assert (vec.transform(offers.titles[:50], parts[:50])[0] != ref.transform(titles[:50])).nnz == 0
