"""`vsearch group build|review|show|assign`: offers of one product from many sellers become one catalogue entry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vsearch.cli.common import JsonOpt, print_json, progress_bar, stdout, user_errors

app = typer.Typer(no_args_is_help=True, help="Group offers of the same product (many sellers) into catalogue "
                  "entries; review weak groups; assign new offers.")

GroupsOpt = Annotated[Path, typer.Option("--groups", "-g", help="groups.csv written by `vsearch group build` "
                                         "(its .state.pkl beside it).")]
IdColOpt = Annotated[str, typer.Option("--id-column", help="Offer id column.")]
TitleColOpt = Annotated[str | None, typer.Option("--title-column", help="Offer title column (default: title; with "
                                                 "--index: none, photos only).")]
SellerColOpt = Annotated[str | None, typer.Option("--seller-column", help="Seller column: two offers of one "
                                                  "seller never share a group.")]
CategoryColOpt = Annotated[str | None, typer.Option("--category-column", help="Category column: offers are "
                                                    "compared within their category only.")]


def _never(path: Path | None) -> list[tuple[str, str]]:
    if path is None:
        return []
    from vsearch.group.rules import read_never_pairs

    return read_never_pairs(path)


@app.command("build")
def build_command(
    offers: Annotated[Path | None, typer.Option("--offers", help="Offers CSV (titles; photos not needed).")] = None,
    index: Annotated[Path | None, typer.Option("--index", help="Group the products of an index instead: their photos "
                                               "(image cosine, near-duplicate thumbnails) and, with --title-column, "
                                               "their titles; columns are the index's metadata.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="groups.csv to write (id,group,score).")] = Path(
        "groups.csv"),
    id_column: IdColOpt = "id",
    title_column: TitleColOpt = None,
    seller_column: SellerColOpt = None,
    category_column: CategoryColOpt = None,
    train_groups: Annotated[Path | None, typer.Option("--train-groups", help="CSV of known groups for some of "
                                                      "the offers: trains the pair matcher (never fixes groups).")
                            ] = None,
    train_id_column: Annotated[str | None, typer.Option(help="Id column of --train-groups (default: "
                                                        "--id-column).")] = None,
    train_column: Annotated[str, typer.Option(help="Group column of --train-groups.")] = "group",
    train_split: Annotated[str, typer.Option(help="Use only the training labels whose group hashes into this "
                                             "split (all, train, val, test).")] = "all",
    threshold: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Merge threshold on the match score "
                                                    "(default: 0.2 learned, 0.55 rule-based; chosen on "
                                                    "PriceRunner).")] = None,
    method: Annotated[str, typer.Option(help="greedy (seller-constrained merging) or propagation.")] = "greedy",
    k: Annotated[int, typer.Option(min=1, help="Candidate neighbours per offer.")] = 20,
    budget: Annotated[int, typer.Option(min=1, help="Candidate search: postings an offer may read through its "
                                        "rarest n-grams and codes (its cost, whatever the category's size).")] = 4000,
    skip_category: Annotated[list[str] | None, typer.Option("--skip-category", help="Category never grouped "
                                                            "(repeat).")] = None,
    never_merge: Annotated[Path | None, typer.Option("--never-merge", help="CSV of offer id pairs (first two "
                                                     "columns) never to put in one group.")] = None,
    text_model: Annotated[str | None, typer.Option("--text-model", help="Sentence model (minilm) whose title "
                                                   "cosine the matcher also weighs; default: character n-grams "
                                                   "and codes only.")] = None,
    dense_k: Annotated[int, typer.Option("--dense-k", min=0, help="With --text-model: also this many nearest "
                                         "offers by its cosine as candidates.")] = 0,
    photo_k: Annotated[int, typer.Option("--photo-k", min=0, help="With --index: also this many nearest offers by "
                                         "image cosine and by thumbnail as candidates.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Group offers (a CSV of titles, or an index's photos and titles); write groups.csv (id,group,score) and print
    a summary."""
    with user_errors(as_json):
        from vsearch.group.build import GroupConfig, build_groups
        from vsearch.group.errors import GroupError
        from vsearch.group.offers import read_labels, read_offers
        from vsearch.group.photos import IndexSource, read_index_offers
        from vsearch.group.rules import train_labels
        from vsearch.group.store import save_grouping
        from vsearch.group.summary import summarise

        if (offers is None) == (index is None):
            raise GroupError("give exactly one of --offers F.csv (titles) or --index DIR (photos and titles)")
        photos, bad, source = None, [], None
        with progress_bar(not as_json) as progress:
            if index is not None:
                source = IndexSource(str(index.resolve()), title_column, seller_column, category_column)
                data, photos, bad = read_index_offers(source, progress=progress)
            else:
                data = read_offers(offers, id_column, title_column or "title", seller_column, category_column)
        train = None
        if train_groups is not None:
            train = train_labels(read_labels(train_groups, train_id_column or id_column, train_column,
                                             "--train-groups file"), train_split)
        config = GroupConfig(k=k, budget=budget, threshold=threshold, method=method,
                             skip_categories=frozenset(skip_category or []), text_model=text_model,
                             dense_k=dense_k if text_model else 0, photo_k=photo_k)
        with progress_bar(not as_json) as progress:
            grouping = build_groups(data, config, train, _never(never_merge), progress, photos, source)
        files = save_grouping(grouping, out)
        summary = {"groups_file": str(files[0]), "state_file": str(files[1]), **summarise(grouping)}
        if index is not None:
            summary["unreadable_photos"] = bad
    _print_summary(summary, as_json)


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(summary)
        return
    stdout.print(f"{summary['offers']} offers -> {summary['groups']} groups ({summary['multi_offer_groups']} with "
                 f"2+ offers holding {summary['offers_in_multi_offer_groups']}; largest {summary['largest_group']}); "
                 f"{summary['matcher']} matcher, {summary['method']} at {summary['threshold']:g}; mean group score "
                 f"{summary['mean_score']:.3f}, edge proportion {summary['mean_edge_proportion']:.3f}",
                 highlight=False)
    for path in summary.get("unreadable_photos", [])[:10]:
        stdout.print(f"skipped photo (unreadable; image vector used alone): {path}", highlight=False, markup=False)
    stdout.print(f"wrote {summary['groups_file']}", highlight=False)


def _print_group(group: dict[str, Any], pairs: int | None = None) -> None:
    stdout.print(f"[bold]{group['group']}[/]  {group['size']} offers  score {group['score']:.3f}  edge proportion "
                 f"{group['edge_proportion']:.3f}  weakest pair {group['weakest']:.3f}", highlight=False)
    for o in group["offers"]:
        stdout.print(f"  {o['id']:<12} seller {o['seller'] or '-':<8} {o['title']}", highlight=False, markup=False)
    for e in group["holding_pairs"][:pairs]:
        stdout.print(f"    held by {e['a']} ~ {e['b']}  {e['score']:.3f}", highlight=False)


@app.command("review")
def review_command(groups: GroupsOpt = Path("groups.csv"),
                   limit: Annotated[int, typer.Option(min=1, help="Groups to list.")] = 20,
                   as_json: JsonOpt = False) -> None:
    """The weakest groups (lowest score) and the pairs of offers holding each together, weakest first."""
    with user_errors(as_json):
        from vsearch.group.store import load_grouping
        from vsearch.group.summary import review

        weak = review(load_grouping(groups), limit)
    if as_json:
        print_json({"groups": weak})
        return
    if not weak:
        stdout.print("no group of 2+ offers to review")
    for group in weak:
        _print_group(group, 3)


@app.command("show")
def show_command(group: Annotated[str, typer.Argument(help="Group name, e.g. G000123.")],
                 groups: GroupsOpt = Path("groups.csv"), as_json: JsonOpt = False) -> None:
    """One group: its offers, quality and the pairs holding it together."""
    with user_errors(as_json):
        from vsearch.group.store import load_grouping
        from vsearch.group.summary import show_group

        shown = show_group(load_grouping(groups), group)
    if as_json:
        print_json(shown)
    else:
        _print_group(shown)


@app.command("assign")
def assign_command(
    new: Annotated[Path | None, typer.Argument(help="CSV of new offers (same columns as the build); omit for a "
                                               "grouping built with --index: its products not yet grouped (add "
                                               "photos first with vsearch index add).")] = None,
    groups: GroupsOpt = Path("groups.csv"),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="groups.csv to write (default: update "
                                             "--groups in place).")] = None,
    id_column: IdColOpt = "id",
    title_column: TitleColOpt = None,
    seller_column: SellerColOpt = None,
    category_column: CategoryColOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Put new offers into existing groups or open new ones, without regrouping the catalogue."""
    with user_errors(as_json):
        from vsearch.group.assign import assign_offers, new_index_offers
        from vsearch.group.errors import GroupError
        from vsearch.group.offers import read_offers
        from vsearch.group.store import load_grouping, save_grouping

        grouping = load_grouping(groups)
        if new is not None and grouping.source is not None:
            raise GroupError(f"{groups} was built from the index {grouping.source.index}: add the new photos to it "
                             "(vsearch index add) and run vsearch group assign without a CSV")
        with progress_bar(not as_json) as progress:
            if new is None:
                data, photos = new_index_offers(grouping, progress)
            else:
                data, photos = read_offers(new, id_column, title_column or "title", seller_column, category_column,
                                           min_offers=1), None
            grouping, rows = assign_offers(grouping, data, progress, photos)
        files = save_grouping(grouping, out or groups)
    joined = sum(r["joined"] == "existing" for r in rows)
    if as_json:
        print_json({"groups_file": str(files[0]), "offers": len(rows), "joined_existing": joined,
                    "new_groups": len({r["group"] for r in rows if r["joined"] == "new"}), "assigned": rows})
        return
    for r in rows:
        stdout.print(f"{r['id']:<12} -> {r['group']} ({r['joined']}, {r['group_size']} offers)", highlight=False)
    stdout.print(f"{joined} of {len(rows)} joined existing groups; wrote {files[0]}", highlight=False)
