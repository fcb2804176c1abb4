"""The group-recall protocol: can a product's tags (or photo) tell which group (brand) it comes from?

Every group with `min_size`+ products gets a profile of `k` representatives picked among its non-test
products; each of its other products is a query, ranked against all those profiles. Validation queries
(split "val") choose the settings (mean or nearest representative, how much tags weigh against embeddings);
test queries are scored for every setting, and the one chosen on validation is reported as `best`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vsearch.core.log import Progress, no_progress
from vsearch.index.products import Products
from vsearch.profiles.heads import TagModel
from vsearch.profiles.profile import (
    Matrices,
    Scoring,
    cosine,
    explain,
    group_rows,
    product_tags,
    profile_matrices,
    scores,
)
from vsearch.profiles.select import representatives

ALPHAS = (0.1, 0.2, 0.3, 0.5, 0.7)


def recall_at(s: np.ndarray, truth: np.ndarray, ks: tuple[int, ...] = (1, 10)) -> dict[str, float]:
    """Share of queries whose true group (column index `truth`) ranks within the top k of `[n, G]` scores.

    A tie with the true group counts against it (a constant score is not a hit).
    """
    if not len(s):
        return {f"R@{k}": 0.0 for k in ks}
    rank = (s >= s[np.arange(len(s)), truth][:, None]).sum(axis=1) - 1
    return {f"R@{k}": round(float(np.mean(rank < k)), 4) for k in ks}


def macro_recall_at(s: np.ndarray, truth: np.ndarray, ks: tuple[int, ...] = (1, 10)) -> dict[str, float]:
    """`recall_at` averaged per true group: a big group's many queries count once."""
    per = [recall_at(s[truth == g], truth[truth == g], ks) for g in np.unique(truth)]
    return {f"R@{k}": round(float(np.mean([p[f"R@{k}"] for p in per])), 4) if per else 0.0 for k in ks}


def candidates() -> dict[str, Scoring]:
    """Every setting the protocol measures, by name."""
    out: dict[str, Scoring] = {}
    for match in ("mean", "nearest"):
        suffix = "" if match == "mean" else "_nearest"
        out[f"tags{suffix}"] = Scoring("tags", 1.0, match)
        out[f"embedding{suffix}"] = Scoring("embedding", 0.0, match)
        for a in ALPHAS:
            out[f"both{suffix}_{a}"] = Scoring("both", a, match)
    return out


def evaluate_profiles(products: Products, model: TagModel, by: str = "brandName", *, k: int = 8, min_size: int = 16,
                      seed: int = 0, progress: Progress = no_progress) -> dict[str, Any]:
    """Group R@1/R@10 of every scoring setting and a random ranking, on val and test; `best` chosen on val."""
    products.require([by])
    groups = group_rows(products.column(by), min_size)
    tag_rows = product_tags(model, products)
    train = products.split == "train"
    mu, sd = tag_rows[train].mean(axis=0), np.maximum(tag_rows[train].std(axis=0), 1e-3)
    z_rows = (tag_rows - mu) / sd
    members, queries = [], {"val": ([], []), "test": ([], [])}
    for g, rows in enumerate(groups.values()):
        progress("profiles", g, len(groups))
        pool = rows[products.split[rows] != "test"]
        chosen = pool[representatives(products.x[pool], k, seed)]
        members.append(chosen)
        for s in ("val", "test"):
            q = [r for r in rows if products.split[r] == s and r not in set(chosen)]
            queries[s][0].extend(q)
            queries[s][1].extend([g] * len(q))
    progress("profiles", len(groups), len(groups))
    tags, emb = profile_matrices(tag_rows, products.x, members)
    flat = np.concatenate(members)
    mats = Matrices((tags - mu) / sd, emb, z_rows[flat], products.x[flat],
                    np.concatenate([np.full(len(m), g) for g, m in enumerate(members)]))
    rng = np.random.default_rng(seed)
    settings = candidates()
    out: dict[str, Any] = {"by": by, "groups": len(groups), "k": k, "min_size": min_size,
                           "chance": {"R@1": round(1 / len(groups), 4),
                                      "R@10": round(min(10, len(groups)) / len(groups), 4)}}
    results: dict[str, dict[str, Any]] = {}
    for s, (rows_list, truth_list) in queries.items():
        rows, truth = np.asarray(rows_list, np.int64), np.asarray(truth_list, np.int64)
        res: dict[str, Any] = {"queries": len(rows), "random": recall_at(rng.random((len(rows), len(groups))), truth),
                               "tags_raw": recall_at(cosine(tag_rows[rows], tags), truth)}
        res["per_group_mean"] = {}
        for name, scoring in settings.items():
            sc = scores(z_rows[rows], products.x[rows], mats, scoring)
            res[name] = recall_at(sc, truth)
            res["per_group_mean"][name] = macro_recall_at(sc, truth)
        results[s] = res
    val = results["val"]

    def pick(names: list[str]) -> str:
        return max(names, key=lambda n: (val[n]["R@10"], val[n]["R@1"]))

    chosen = {"both": pick([n for n in settings if n.startswith("both_") and "nearest" not in n]),
              "both_nearest": pick([n for n in settings if n.startswith("both_nearest_")]),
              "best": pick(list(settings))}
    for s in results:
        for alias, name in chosen.items():
            results[s][alias] = results[s][name]
            results[s]["per_group_mean"][alias] = results[s]["per_group_mean"][name]
    out.update(chosen={alias: {"name": name, **settings[name].__dict__} for alias, name in chosen.items()},
               val=results["val"], test=results["test"])
    out["examples"] = _examples(z_rows, tag_rows, mats.g_z, tags, model.tag_names, list(groups), queries["test"],
                                products.ids)
    return out


def _examples(z_rows: np.ndarray, tag_rows: np.ndarray, g_z: np.ndarray, g_tags: np.ndarray, names: list[str],
              groups: list[str],
              test: tuple[list[int], list[int]], ids: list[str], n: int = 6) -> list[dict[str, Any]]:
    """A few test queries with their top tag-profile match and the tags that explain it."""
    out = []
    for row, truth in list(zip(*test))[:: max(1, len(test[0]) // n)][:n]:
        s = cosine(z_rows[row:row + 1], g_z)[0]
        top = int(s.argmax())
        out.append({"query": ids[row], "truth": groups[truth], "top": groups[top], "score": round(float(s[top]), 4),
                    "tags": explain(z_rows[row], tag_rows[row], g_z[top], g_tags[top], names)})
    return out
