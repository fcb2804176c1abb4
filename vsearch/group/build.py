"""`build_groups`: offers (titles and/or photos) -> candidate pairs -> matcher scores -> constrained merging ->
scored groups."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from vsearch.core.log import Progress, no_progress, timed
from vsearch.group.candidates import NGRAM_RANGE, TitleVectoriser, category_blocks, faiss_knn, sparse_knn
from vsearch.group.cluster import greedy_merge, label_propagation
from vsearch.group.errors import GroupError
from vsearch.group.features import pair_features, row_cosine
from vsearch.group.matcher import Matcher
from vsearch.group.ngrams import NgramCounts
from vsearch.group.offers import Offers
from vsearch.group.photos import IndexSource, Photos
from vsearch.group.quality import group_quality
from vsearch.group.titlesets import TitleSets
from vsearch.group.tokens import TitleParts, normalise, parse_title
from vsearch.group.workers import default_workers

_logger = logging.getLogger(__name__)

METHODS = ("greedy", "propagation")
DEFAULT_THRESHOLD = {"boosted": 0.2, "default": 0.55}
"""Merge thresholds chosen on PriceRunner (eval/group/README.md): the learned one by 5-fold cross-validation over
the train + val clusters (best mean F1), the rule-based one on the val clusters."""


@dataclass(frozen=True)
class GroupConfig:
    """Settings of one grouping run; business rules (threshold, skipped categories) a catalogue team sets."""

    k: int = 20
    code_weight: float = 0.5
    threshold: float | None = None
    method: str = "greedy"
    linkage: float = 0.0
    edge_threshold: float = 0.5
    skip_categories: frozenset[str] = frozenset()
    text_model: str | None = None
    """A sentence model (`minilm`) whose title cosine becomes a matcher feature; None: character n-grams only."""
    dense_k: int = 0
    """With `text_model`: also take each offer's `dense_k` nearest offers by that cosine as candidates."""
    budget: int = 4000
    """Postings an offer may read in the candidate search through its rarest n-grams and codes
    (`candidates.sparse_knn`); its cost per offer, whatever the category's size."""
    exact_max: int = 0
    """Categories of at most this many offers are searched exactly, all pairs (quadratic; 0: none)."""
    workers: int = 0
    """Threads for the batch work (0: `OMP_NUM_THREADS`, else the CPUs this process may use)."""
    photo_k: int = 10
    """With photos: each offer's `photo_k` nearest offers by image cosine and by thumbnail are candidates too."""

    def threads(self) -> int:
        return self.workers if self.workers > 0 else default_workers()

    def merge_threshold(self, matcher: Matcher) -> float:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLD[matcher.kind]


@dataclass
class Pairs:
    """Scored candidate pairs: offer positions i < j, title cosine, match score."""

    i: np.ndarray
    j: np.ndarray
    sim: np.ndarray
    score: np.ndarray


@dataclass
class Grouping:
    """A grouping and everything `assign`, `review` and `show` need to continue from it."""

    offers: Offers
    labels: np.ndarray
    quality: dict[int, dict[str, float]]
    pairs: Pairs
    config: GroupConfig
    matcher: Matcher
    vectoriser: TitleVectoriser
    never: list[tuple[str, str]] = field(default_factory=list)
    version: int = 1
    dense: np.ndarray | None = None
    """`[n, d]` unit title vectors of `config.text_model` (None without one)."""
    photos: Photos | None = None
    """The offers' photo signals when grouped from an index (None: titles only)."""
    source: IndexSource | None = None
    """The index and columns the offers came from (`group assign` reads its new products)."""

    def group_names(self) -> list[str]:
        return [f"G{int(g) + 1:06d}" for g in self.labels]

    def encoded(self) -> Encoded:
        return Encoded.of(self.offers, [parse_title(t) for t in self.offers.titles], self.vectoriser, self.dense,
                          self.config.threads(), self.photos)

    def score_of(self, label: int) -> float:
        return self.quality[int(label)]["score"]


def title_vectors(titles: list[str], model: str, progress: Progress = no_progress) -> np.ndarray:
    """`[n, d]` unit title vectors of a sentence model, in batches (the model is loaded once per call)."""
    from vsearch.models import create_text_embedder

    embedder = create_text_embedder(model)
    out = []
    for start in range(0, len(titles), 1024):
        progress("title vectors", start, len(titles))
        out.append(np.asarray(embedder.encode_texts(titles[start:start + 1024]), np.float32))
    progress("title vectors", len(titles), len(titles))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _check(offers: Offers, config: GroupConfig, photos: Photos | None = None) -> None:
    if len(offers) < 2:
        raise GroupError(f"grouping needs at least 2 offers, got {len(offers)}")
    if len(set(offers.ids)) != len(offers.ids):
        raise GroupError("offer ids are repeated")
    if config.method not in METHODS:
        raise GroupError(f"unknown method {config.method!r}; choose one of {', '.join(METHODS)}")
    if config.k < 1:
        raise GroupError("k must be at least 1")
    if config.budget < 1:
        raise GroupError("budget must be at least 1")
    if photos is None and not any(offers.titles):
        raise GroupError("the offers have no titles and no photos to compare")
    if photos is not None and len(photos.x) != len(offers):
        raise GroupError(f"{len(photos.x)} photo rows for {len(offers)} offers")


@dataclass
class Encoded:
    """Offers with their parsed titles, TF-IDF rows (char block, combined), their sets as arrays (pair features)
    and sentence-model title vectors."""

    offers: Offers
    parts: list[TitleParts]
    xc: Any
    x: Any
    sets: TitleSets
    dense: np.ndarray | None = None
    workers: int = 1
    photos: Photos | None = None

    @classmethod
    def of(cls, offers: Offers, parts: list[TitleParts], vec: TitleVectoriser,
           dense: np.ndarray | None = None, workers: int = 1, photos: Photos | None = None) -> Encoded:
        xc, x = vec.transform(offers.titles, parts)
        return cls(offers, parts, xc, x, TitleSets.of(parts, offers.titles), dense, workers, photos)

    @property
    def titled(self) -> bool:
        """Whether the offers have titles (photos-only offers have none)."""
        return any(self.offers.titles)

    def subset(self, positions: list[int]) -> Encoded:
        parts = [self.parts[k] for k in positions]
        offers = self.offers.subset(positions)
        return Encoded(offers, parts, self.xc[positions], self.x[positions], self.sets.rows(positions),
                       None if self.dense is None else self.dense[positions], self.workers,
                       None if self.photos is None else self.photos.subset(positions))


def score_pairs(enc: Encoded, matcher: Matcher | None, i: np.ndarray, j: np.ndarray,
                sim: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(features, match scores) of offer pairs (i[p], j[p]); `sim` computed when not given."""
    if sim is None:
        sim = row_cosine(enc.x, i, j, workers=enc.workers)
    f = pair_features(i, j, sim, row_cosine(enc.xc, i, j, workers=enc.workers), enc.sets, enc.dense, enc.workers)
    if enc.photos is not None:
        f = np.hstack([f, enc.photos.features(i, j)])
    categories = None
    if matcher is not None and matcher.categories:  # an input of the learned model only; candidates share theirs
        categories = np.asarray(enc.offers.categories, dtype=object)[i]
    return f, (matcher or Matcher()).scores(f, enc.photos is not None, enc.titled, categories)


def candidate_pairs(enc: Encoded, config: GroupConfig,
                    progress: Progress = no_progress) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse kNN pairs within each category (and the `dense_k` nearest by title vector, when the offers have
    them; the `photo_k` nearest by image cosine and by thumbnail, when they have photos), minus pairs of one
    seller (never groupable)."""
    offers = enc.offers
    blocks = category_blocks(offers.categories, config.skip_categories)
    i, j, s = sparse_knn(enc.x, config.k, blocks, config.budget, config.exact_max, progress, enc.workers)
    extra = []
    if enc.dense is not None and config.dense_k > 0:
        extra.append((enc.dense, config.dense_k))
    if enc.photos is not None and config.photo_k > 0:
        extra += [(enc.photos.x, config.photo_k), (enc.photos.thumb, config.photo_k)]
    n = len(offers) + 1
    for vectors, k in extra:  # FAISS flat: exact, quadratic in the category (photo catalogues of 10ks, not 1M)
        a, b, _ = faiss_knn(vectors, k, blocks)
        new = ~np.isin(a * n + b, i * n + j)
        a, b = a[new], b[new]
        i, j = np.concatenate([i, a]), np.concatenate([j, b])
        s = np.concatenate([s, row_cosine(enc.x, a, b, workers=enc.workers)])
    sellers = np.asarray(offers.sellers, dtype=object)
    keep = (sellers[i] != sellers[j]) | (sellers[i] == "")
    return i[keep], j[keep], s[keep]


def train_matcher(enc: Encoded, config: GroupConfig, train: dict[str, str],
                  progress: Progress = no_progress, seed: int = 0) -> Matcher:
    """Fit the matcher on candidate pairs between offers that carry a training label."""
    pos = [k for k, oid in enumerate(enc.offers.ids) if oid in train]
    if len(pos) < 2:
        raise GroupError(f"--train-groups labels {len(pos)} of the offers; it needs at least 2 (ids must match)")
    sub = enc.subset(pos)
    i, j, s = candidate_pairs(sub, config, progress)
    f, _ = score_pairs(sub, None, i, j, s)
    labels = np.asarray([train[oid] for oid in sub.offers.ids], dtype=object)
    same = (labels[i] == labels[j]).astype(np.int8)
    matcher = Matcher.fit(f, same, seed, np.asarray(sub.offers.categories, dtype=object)[i])
    matcher.meta.update({"train_offers": len(pos)})
    return matcher


def cluster(n: int, pairs: Pairs, sellers: list[str], config: GroupConfig, threshold: float,
            never: list[tuple[int, int]], score_fn: Any = None) -> np.ndarray:
    if config.method == "propagation":
        labels = label_propagation(n, pairs.i, pairs.j, pairs.score, sellers, threshold)
        if never:  # propagation has no veto; split a forbidden pair's group by greedy regrouping inside it
            labels = _enforce_never(labels, pairs, sellers, threshold, never)
        return labels
    return greedy_merge(n, pairs.i, pairs.j, pairs.score, sellers, threshold, config.linkage, never, score_fn)


def _enforce_never(labels: np.ndarray, pairs: Pairs, sellers: list[str], threshold: float,
                   never: list[tuple[int, int]]) -> np.ndarray:
    bad = {int(labels[a]) for a, b in never if labels[a] == labels[b]}
    if not bad:
        return labels
    inside = np.isin(labels[pairs.i], list(bad)) & (labels[pairs.i] == labels[pairs.j])
    sub = greedy_merge(len(labels), pairs.i[inside], pairs.j[inside], pairs.score[inside], sellers, threshold,
                       0.0, never)
    out = labels.copy()
    offset = int(labels.max()) + 1
    for k in np.where(np.isin(labels, list(bad)))[0]:
        out[k] = offset + sub[k]
    return _renumber(out)


def _renumber(labels: np.ndarray) -> np.ndarray:
    mapping: dict[int, int] = {}
    return np.asarray([mapping.setdefault(int(g), len(mapping)) for g in labels], dtype=np.int64)


def never_positions(offers: Offers, never: list[tuple[str, str]]) -> list[tuple[int, int]]:
    pos = {oid: k for k, oid in enumerate(offers.ids)}
    return [(pos[a], pos[b]) for a, b in never if a in pos and b in pos]


def build_groups(offers: Offers, config: GroupConfig = GroupConfig(), train: dict[str, str] | None = None,
                 never: list[tuple[str, str]] | None = None, progress: Progress = no_progress,
                 photos: Photos | None = None, source: IndexSource | None = None) -> Grouping:
    """Group offers of one product together.

    Args:
        train: offer id -> known group for some offers; trains the matcher only, never fixes a grouping.
        never: offer id pairs that must not share a group.
        photos: the offers' photo signals (`photos.read_index_offers`); titles may then be empty.
        source: the index and columns `photos` came from (kept for `assign`).

    Raises:
        GroupError: fewer than 2 offers, repeated ids, a bad setting, unusable training labels.
    """
    _check(offers, config, photos)
    with timed("parse titles"):
        parts, vec, xc, x = _encode_titles(offers.titles, config)
        sets = TitleSets.of(parts, offers.titles)
    dense = title_vectors(offers.titles, config.text_model, progress) if config.text_model and any(
        offers.titles) else None
    enc = Encoded(offers, parts, xc, x, sets, dense, config.threads(), photos)
    matcher = train_matcher(enc, config, train, progress) if train else Matcher()
    with timed("candidate pairs"):
        i, j, s = candidate_pairs(enc, config, progress)
    with timed("score pairs"):
        _, score = score_pairs(enc, matcher, i, j, s)
    pairs = Pairs(i, j, s, score)
    never = list(never or [])
    with timed("cluster"):
        labels = cluster(len(offers), pairs, offers.sellers, config, config.merge_threshold(matcher),
                         never_positions(offers, never), lambda a, b: score_pairs(enc, matcher, a, b)[1])
    quality = group_quality(labels, pairs, config.edge_threshold, lambda a, b: score_pairs(enc, matcher, a, b)[1])
    _logger.info("%d offers -> %d groups (%s matcher)", len(offers), len(quality), matcher.kind)
    return Grouping(offers, labels, quality, pairs, config, matcher, vec, never, dense=dense, photos=photos,
                    source=source)


def _encode_titles(titles: list[str], config: GroupConfig) -> tuple[list[TitleParts], TitleVectoriser, Any, Any]:
    """Parsed titles, the fitted title vectoriser and the titles' rows; photo-only offers (no titles) get all-zero
    rows."""
    if not any(titles):
        parts = [parse_title(t) for t in titles]
        return parts, *TitleVectoriser.blank(parts, config.code_weight)
    with NgramCounts([normalise(t) for t in titles], NGRAM_RANGE, config.threads()) as n:
        parts = [parse_title(t) for t in titles]  # while worker processes count the n-grams
        return parts, *TitleVectoriser.from_counts(n.result(), parts, config.code_weight)


def regroup(grouping: Grouping, threshold: float, quality: bool = False, linkage: float | None = None,
            enc: Encoded | None = None) -> Grouping:
    """The same scored pairs merged at another threshold (for threshold sweeps; quality only on request)."""
    config = replace(grouping.config, threshold=threshold,
                     linkage=grouping.config.linkage if linkage is None else linkage)
    enc = enc or grouping.encoded()

    def score_fn(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return score_pairs(enc, grouping.matcher, a, b)[1]

    labels = cluster(len(grouping.offers), grouping.pairs, grouping.offers.sellers, config, threshold,
                     never_positions(grouping.offers, grouping.never), score_fn)
    q: dict[int, dict[str, Any]] = {}
    if quality:
        q = group_quality(labels, grouping.pairs, config.edge_threshold, score_fn)
    return replace(grouping, labels=labels, quality=q, config=config)
