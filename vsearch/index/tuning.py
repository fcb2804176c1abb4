"""Search knobs of a FAISS index: set nprobe/efSearch (also through IDMap and GPU wrappers), measure
recall@k against exact search, and tune the knob to the smallest value reaching a target recall.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from vsearch.index.faiss_index import gpu_count

TARGET_RECALL = 0.95


def refine_index(index: faiss.Index) -> faiss.IndexRefine | None:
    """The `IndexRefine` under an IDMap wrapper (coarse codes re-ranked by finer ones), or None."""
    inner = inner_index(index)
    return inner if isinstance(inner, faiss.IndexRefine) else None


def inner_index(index: faiss.Index) -> faiss.Index:
    """The structure under an `IndexIDMap` wrapper (downcast to its concrete type)."""
    if isinstance(index, faiss.IndexIDMap | faiss.IndexIDMap2):
        return faiss.downcast_index(index.index)
    return faiss.downcast_index(index)


def apply_params(index: faiss.Index, params: dict[str, int]) -> None:
    """Set nprobe / efSearch / k_factor on an index (through its IDMap wrapper; GPU indexes via GpuParameterSpace)."""
    if not params:
        return
    inner = inner_index(index)
    if "Gpu" in type(inner).__name__:
        if gpu_count() > 0:
            space = faiss.GpuParameterSpace()
            for name, value in params.items():
                space.set_index_parameter(index, name, value)
        return
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None and "nprobe" in params:
        ivf.nprobe = int(params["nprobe"])
    if hasattr(inner, "hnsw") and "efSearch" in params:
        inner.hnsw.efSearch = int(params["efSearch"])
    refine = refine_index(index)
    if refine is not None and "k_factor" in params:
        refine.k_factor = float(params["k_factor"])


def search_parameters(index: faiss.Index, params: dict[str, int], sel: faiss.IDSelector | None) -> Any:
    """A SearchParameters object of the type the index expects, carrying its tuned knobs and a selector.

    An `IndexRefine` takes its base index's parameters nested inside its own; FAISS's IDMap wrapper translates
    only the outer selector, so the nested one is translated here from FAISS ids to internal positions.
    """
    refine = refine_index(index)
    if refine is not None:
        if sel is not None and isinstance(index, faiss.IndexIDMap | faiss.IndexIDMap2):
            sel = faiss.IDSelectorTranslated(index.id_map, sel)
        base = search_parameters(faiss.downcast_index(refine.base_index), params, sel)
        k_factor = float(params.get("k_factor", refine.k_factor))
        return _keep_alive(faiss.IndexRefineSearchParameters(k_factor=k_factor, base_index_params=base), base, sel)
    inner = inner_index(index)
    if faiss.try_extract_index_ivf(index) is not None:
        ivf = faiss.try_extract_index_ivf(index)
        return faiss.SearchParametersIVF(sel=sel, nprobe=int(params.get("nprobe", ivf.nprobe)))
    if hasattr(inner, "hnsw"):
        return faiss.SearchParametersHNSW(sel=sel, efSearch=int(params.get("efSearch", inner.hnsw.efSearch)))
    return faiss.SearchParameters(sel=sel)


def _keep_alive(params: Any, *refs: Any) -> Any:
    """Tie the Python objects that `params` points to (nested parameters, selectors) to its lifetime."""
    params.referenced_objects = list(refs)
    return params


def exact_neighbours(queries: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Positions `[q, k]` of the exact inner-product top-k of each query among `vectors`."""
    _, idx = faiss.knn(np.ascontiguousarray(queries, np.float32), np.ascontiguousarray(vectors, np.float32), k,
                       metric=faiss.METRIC_INNER_PRODUCT)
    return idx


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean fraction of the true top-k ids found in the returned top-k (rows of `[q, >=k]` arrays)."""
    hits = sum(len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth))
    return hits / (k * len(truth)) if len(truth) else 1.0


def _knob(index: faiss.Index) -> tuple[str, list[int]] | None:
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        return "nprobe", sorted({min(v, ivf.nlist) for v in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192,
                                                              256, 384, 512, 768, 1024, ivf.nlist)})
    if hasattr(inner_index(index), "hnsw"):
        return "efSearch", [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024]
    return None


REFINE_K_FACTORS = (8, 16, 32, 64)
"""Re-ranking depths tried on a refine index, deepest first while the coarse knob is tuned."""


def tune(index: faiss.Index, queries: np.ndarray, truth: np.ndarray, query_ids: np.ndarray | None = None,
         target: float = TARGET_RECALL, k: int = 10) -> tuple[dict[str, int], float, list[dict[str, Any]]]:
    """Smallest nprobe/efSearch whose recall@k reaches `target` (else the smallest giving the best recall seen).

    A refine index (coarse codes re-ranked with finer ones) is probed at the deepest re-ranking first, then
    its depth (`k_factor`) is lowered as far as recall holds: re-ranking is most of such an index's query time.

    Args:
        queries: `[q, dim]` query vectors.
        truth: `[q, k]` exact top-k ids (FAISS ids) per query.
        query_ids: the id of each query when it is itself in the index: left out of the results.

    Returns:
        (params, recall at those params, the curve tried as [{knob, value, recall}]).
    """
    knob = _knob(index)
    refine = refine_index(index)
    if refine is not None:
        apply_params(index, {"k_factor": REFINE_K_FACTORS[-1]})
    if knob is None:
        return {}, _measure(index, queries, truth, query_ids, k), []
    name, values = knob
    curve: list[dict[str, Any]] = []
    chosen, chosen_recall = values[-1], 0.0
    for value in values:
        apply_params(index, {name: value})
        recall = _measure(index, queries, truth, query_ids, k)
        curve.append({"knob": name, "value": value, "recall": round(recall, 4)})
        if recall > chosen_recall + 1e-9 or len(curve) == 1:
            chosen, chosen_recall = value, recall
        if recall >= target:
            break
        if len(curve) >= 4 and max(c["recall"] for c in curve[-4:]) - min(c["recall"] for c in curve[-4:]) < 0.002:
            break  # a plateau: the codes, not the probing, limit recall; keep the smallest value that got there
    apply_params(index, {name: chosen})
    params = {name: int(chosen)}
    if refine is not None:
        depth, chosen_recall = _shallowest_refine(index, queries, truth, query_ids, k, target, chosen_recall, curve)
        params["k_factor"] = depth
    return params, chosen_recall, curve


def _shallowest_refine(index: faiss.Index, queries: np.ndarray, truth: np.ndarray, query_ids: np.ndarray | None,
                       k: int, target: float, deepest_recall: float, curve: list[dict[str, Any]]) -> tuple[int, float]:
    """Smallest `k_factor` keeping recall at the target (or within 0.002 of the deepest's when it fell short)."""
    floor = target if deepest_recall >= target else deepest_recall - 0.002
    for depth in REFINE_K_FACTORS[:-1]:
        apply_params(index, {"k_factor": depth})
        recall = _measure(index, queries, truth, query_ids, k)
        curve.append({"knob": "k_factor", "value": depth, "recall": round(recall, 4)})
        if recall >= floor:
            return depth, recall
    apply_params(index, {"k_factor": REFINE_K_FACTORS[-1]})
    return REFINE_K_FACTORS[-1], deepest_recall


def _measure(index: faiss.Index, queries: np.ndarray, truth: np.ndarray, query_ids: np.ndarray | None,
             k: int) -> float:
    extra = 1 if query_ids is not None else 0
    _, found = index.search(np.ascontiguousarray(queries, np.float32), k + extra)
    if query_ids is not None:
        found = np.array([[r for r in row if r != q][:k] for row, q in zip(found, query_ids)])
    return recall_at_k(found, truth, k)
