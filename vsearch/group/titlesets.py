"""The parsed parts of every title as arrays, so pair features are sparse products, not a Python loop per pair.

One binary CSR row per offer holds all its sets (words, codes, numbers, variants, digit tokens, quantity values,
units), each column tagged with its family: the intersections of a batch of pairs are one sparse elementwise
product, summed per family. Model codes also keep their characters (for common prefixes) and titles their
squashed form (for "code of one inside the other title").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vsearch.group.tokens import TitleParts

FAMILIES = ("words", "codes", "numbers", "variants", "digits", "qty", "units")
"""Column families of `TitleSets.sets`; "qty" columns are (unit, value) pairs."""


def squash(title: str) -> str:
    """Lower-case letters and digits only: `KDL-40WE665` -> `kdl40we665`."""
    return "".join(c for c in title.lower() if c.isalnum())


@dataclass
class TitleSets:
    """Per-offer sets as one binary CSR matrix, plus what the string features need.

    Attributes:
        sets: [n, v] binary CSR over all families' tokens.
        family: [v] family number (index into `FAMILIES`) of each column.
        qty_unit: [v] unit number of each "qty" column (-1 elsewhere).
        code_ptr, code_ids: CSR-like lists of each offer's code columns (sorted).
        code_chars: [v_codes, width] ASCII codes of the code columns (row = `code_row[column]`), zero-padded.
        code_len: [v_codes] their lengths.
        code_row: [v] row of `code_chars` of a code column (-1 elsewhere).
        code_text: [v_codes] the codes as str.
        first_word: [n] id of the lower-cased first word of the title (-1: empty title).
        squashed: [n] `squash(title)`.
        idf: [v] inverse document frequency of each column over these offers (`log((n + 1) / (df + 1)) + 1`):
            how rare a word, code or number is, so a pair can tell a rare token it disagrees on from a common one.
    """

    sets: Any
    family: np.ndarray
    qty_unit: np.ndarray
    code_ptr: np.ndarray
    code_ids: np.ndarray
    code_chars: np.ndarray
    code_len: np.ndarray
    code_row: np.ndarray
    code_text: np.ndarray
    first_word: np.ndarray
    squashed: np.ndarray
    idf: np.ndarray

    @classmethod
    def of(cls, parts: list[TitleParts], titles: list[str]) -> TitleSets:
        import scipy.sparse as sp

        vocab: dict[tuple[str, ...], int] = {}
        cols: list[int] = []
        ptr = [0]
        code_ptr = [0]
        code_cols: list[int] = []
        for p in parts:
            row = [vocab.setdefault(("words", w), len(vocab)) for w in p.words]
            codes = sorted(vocab.setdefault(("codes", c), len(vocab)) for c in p.codes)
            row += codes
            row += [vocab.setdefault(("numbers", t), len(vocab)) for t in p.numbers]
            row += [vocab.setdefault(("variants", t), len(vocab)) for t in p.variants]
            row += [vocab.setdefault(("digits", t), len(vocab)) for t in p.digit_tokens]
            row += [vocab.setdefault(("qty", u, v), len(vocab)) for u, vs in p.quantities.items() for v in vs]
            row += [vocab.setdefault(("units", u), len(vocab)) for u in p.quantities]
            cols += row
            ptr.append(len(cols))
            code_cols += codes
            code_ptr.append(len(code_cols))
        n, v = len(parts), len(vocab)
        keys = list(vocab)
        fam = {f: k for k, f in enumerate(FAMILIES)}
        family = np.asarray([fam[key[0]] for key in keys], dtype=np.int8)
        units = {key[1]: 0 for key in keys if key[0] == "units"}
        units = {u: k for k, u in enumerate(sorted(units))}
        qty_unit = np.asarray([units[key[1]] if key[0] == "qty" else -1 for key in keys], dtype=np.int64)
        code_keys = [k for k, key in enumerate(keys) if key[0] == "codes"]
        code_row = np.full(v, -1, dtype=np.int64)
        code_row[code_keys] = np.arange(len(code_keys))
        text = [keys[k][1] for k in code_keys]
        width = max((len(c) for c in text), default=1)
        chars = np.zeros((len(text), width), dtype=np.uint8)
        for r, c in enumerate(text):
            chars[r, :len(c)] = np.frombuffer(c.encode("ascii"), dtype=np.uint8)
        first: dict[str, int] = {}
        heads = [t.split(maxsplit=1) for t in titles]
        first_word = np.asarray([first.setdefault(h[0].lower(), len(first)) if h else -1 for h in heads],
                                dtype=np.int64)
        sets = sp.csr_matrix((np.ones(len(cols), np.float32), np.asarray(cols, dtype=np.int64),
                              np.asarray(ptr, dtype=np.int64)), shape=(n, v))
        df = np.bincount(np.asarray(cols, dtype=np.int64), minlength=v)
        idf = (np.log((n + 1) / (df + 1)) + 1).astype(np.float32)
        return cls(sets, family, qty_unit, np.asarray(code_ptr, dtype=np.int64),
                   np.asarray(code_cols, dtype=np.int64), chars, np.asarray([len(c) for c in text], dtype=np.int64),
                   code_row, np.asarray(text, dtype=object), first_word,
                   np.asarray([squash(t) for t in titles], dtype=object), idf)

    def rows(self, positions: list[int] | np.ndarray) -> TitleSets:
        """The sets of some offers, with the columns (and their rarity) of all: a matcher trained on a subset sees
        the same idf as the grouping it then scores."""
        pos = np.asarray(positions, dtype=np.int64)
        counts = self.code_ptr[pos + 1] - self.code_ptr[pos]
        starts = np.repeat(self.code_ptr[pos], counts)
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        code_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return TitleSets(self.sets[pos], self.family, self.qty_unit, code_ptr, self.code_ids[starts + offsets],
                         self.code_chars, self.code_len, self.code_row, self.code_text, self.first_word[pos],
                         self.squashed[pos], self.idf)

    def counts(self) -> np.ndarray:
        """[n, len(FAMILIES)] set sizes of each offer."""
        return self.family_sums(self.sets)

    def family_sums(self, m: Any) -> np.ndarray:
        """[rows, len(FAMILIES)] per-family row sums of a CSR matrix over the columns of `sets`."""
        import scipy.sparse as sp

        onehot = sp.csr_matrix((np.ones(len(self.family), np.float32), (np.arange(len(self.family)),
                                self.family.astype(np.int64))), shape=(len(self.family), len(FAMILIES)))
        return np.asarray((m @ onehot).todense(), dtype=np.int64)

    def units_with_shared_value(self, shared: Any) -> np.ndarray:
        """Per row of `shared` (intersections over the columns of `sets`): units whose value sets intersect."""
        import scipy.sparse as sp

        q = np.flatnonzero(self.qty_unit >= 0)
        n_units = int(self.qty_unit.max()) + 1 if len(q) else 0
        if not n_units:
            return np.zeros(shared.shape[0], dtype=np.int64)
        to_unit = sp.csr_matrix((np.ones(len(q), np.float32), (q, self.qty_unit[q])), shape=(len(self.family),
                                                                                            n_units))
        per_unit = (shared @ to_unit).tocsr()
        per_unit.eliminate_zeros()
        return np.diff(per_unit.indptr).astype(np.int64)
