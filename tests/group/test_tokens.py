"""Model codes, quantities and variants that tell near-identical titles apart."""

from __future__ import annotations

from vsearch.group.tokens import codes_match, parse_title, quantity_conflicts


def test_capacity_conflict_and_agreement() -> None:
    a, b, c = (parse_title(t) for t in ("apple iphone 8 64gb silver", "Apple iPhone 8 256 GB Silver",
                                        "iphone 8 64 gb gold"))
    assert quantity_conflicts(a.quantities, b.quantities) == (1, 0)
    assert quantity_conflicts(a.quantities, c.quantities) == (0, 1)


def test_variant_words_differ_for_plus() -> None:
    assert parse_title("apple iphone 8 plus 64gb").variants ^ parse_title("apple iphone 8 64gb").variants == {"plus"}
    assert "plus" in parse_title("galaxy s8+ 64gb").variants


def test_codes_are_normalised_and_prefixes_match() -> None:
    assert "mq8n2b" in parse_title("Apple MQ8N2B/A iPhone 8 Plus 64GB").codes
    spaced, joined = parse_title("40 sony bravia kdl 40we665"), parse_title("sony kdl-40we665")
    assert spaced.codes & joined.codes
    exact, prefix = codes_match(parse_title("samsung ue40j6300ak tv").codes, parse_title("samsung ue40j6300").codes)
    assert (exact, prefix) == (0, 1)
    assert parse_title("milk 1.5l").quantities == {"l": frozenset({"1.5"})}
    assert parse_title('samsung 55" tv').quantities == {"in": frozenset({"55"})}
