"""`vsearch profile heads|build|show`, `vsearch recommend` and `vsearch eval profiles`: tag profiles of groups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from vsearch.cli.common import (
    DeviceOpt,
    IndexOpt,
    JsonOpt,
    check_photos,
    fail,
    print_json,
    progress_bar,
    resolve_index,
    stdout,
    user_errors,
)

app = typer.Typer(no_args_is_help=True, help="Profile groups (brands, sellers) by the tags of representative photos.")

LabelsOpt = Annotated[Path | None, typer.Option("--labels", help="Labels file joined by id (e.g. "
                                                "product-attributes.csv): attribute columns, groups, descriptions.")]
ProfilesOpt = Annotated[Path | None, typer.Option("--profiles", help="Profiles file (default: "
                                                  "INDEX/profiles/brandName.npz).")]
ColumnsOpt = Annotated[list[str] | None, typer.Option("--column", "-c", help="Attribute column to learn (repeat; "
                                                      "default: a fixed set, see `vsearch profile heads --help`).")]
DEFAULT_COLUMNS = ("articleType", "gender", "usage", "baseColour", "Pattern", "Sleeve Length", "Neck", "Fit",
                   "Occasion", "Fabric", "Collar", "Print or Pattern Type")


def _profiles_path(index: Path, profiles: Path | None, by: str = "brandName") -> Path:
    return profiles if profiles is not None else index / "profiles" / f"{by}.npz"


def _write_json(path: Path | None, obj: Any) -> None:
    if path is not None:
        from vsearch.core.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(obj, indent=1, ensure_ascii=False))


def _columns(column: list[str] | None, products: Any) -> list[str]:
    if column:
        return column
    have = products.columns()
    return [c for c in DEFAULT_COLUMNS if c in have]


def _default_model(products: Any, labels: Path | None, progress: Any) -> Any:
    """The heads `vsearch profile heads` trains with its defaults, for commands given no `--heads`."""
    from vsearch.index.products import read_labels
    from vsearch.profiles.train import train_model

    has_text = "description" in products.columns()
    return train_model(products, _columns(None, products), styles="description" if has_text else None,
                       corpus=read_labels(labels) if labels is not None else None, skip_untrainable=True,
                       progress=progress)[0]


@app.command("heads")
def heads_command(
    out: Annotated[Path, typer.Option("--out", help="Heads file (.npz) to write.")],
    index: IndexOpt = None,  # type: ignore[assignment]
    labels: LabelsOpt = None,
    column: ColumnsOpt = None,
    styles: Annotated[str, typer.Option(help="Description column mined for style tags ('' for none).")] = "description",
    report: Annotated[Path | None, typer.Option("--report", help="Also write the JSON report here.")] = None,
    titles: Annotated[bool, typer.Option("--titles/--no-titles", help="Also train image+title attribute heads "
                                         "(used for catalogue products; bare photos read the image heads).")] = True,
    c_grid: Annotated[str | None, typer.Option("--c-grid", metavar="C,C,...", help="Regularisation values tried "
                                               "per head, the best on the validation split kept (default "
                                               "0.001,0.003,0.01,0.03).")] = None,
    description: Annotated[str, typer.Option(help="Labels column of product descriptions for description heads, "
                                             "trained on every training-split product of the labels file ('' for "
                                             "none).")] = "description",
    as_json: JsonOpt = False,
) -> None:
    """Train attribute heads (with n/a where an article type lacks the attribute) and style-tag heads."""
    with user_errors(as_json):
        from vsearch.core.errors import BadQueryError
        from vsearch.index.products import load_products, read_labels
        from vsearch.profiles.heads import save_model
        from vsearch.profiles.train import HeadConfig, parse_grid, train_model

        cfg = HeadConfig(grid=parse_grid(c_grid)) if c_grid is not None else HeadConfig()
        products = load_products(resolve_index(index), labels)
        corpus = read_labels(labels) if labels is not None and description else None
        if corpus and description != "description" and description not in next(iter(corpus.values())):
            raise BadQueryError(f"--description {description}: the labels file {labels} has no such column")
        with progress_bar(not as_json) as progress:
            model, result = train_model(products, _columns(column, products), styles=styles or None,
                                        cfg=cfg, titles=titles, corpus=corpus, description=description or None,
                                        skip_untrainable=not column, progress=progress)
        save_model(out, model)
        result["heads_path"] = str(out)
        _write_json(report, result)
    if as_json:
        print_json(result)
        return
    stdout.print(f"saved {len(model.heads)} heads to {out}")
    for name, r in result["attributes"].items():
        stdout.print(f"  {name:<22} test acc {r['accuracy']:.3f}  balanced {r['balanced_accuracy']:.3f}  "
                     f"(majority {r['majority']['accuracy']:.3f}, chance balanced {r['chance_balanced_accuracy']:.3f}; "
                     f"n={r['test']})", highlight=False)
        for key, what in (("with_titles", "+ titles"), ("with_description", "+ description")):
            if key in r:
                w = r[key]
                stdout.print(f"  {'  ' + what:<22} test acc {w['accuracy']:.3f}  balanced "
                             f"{w['balanced_accuracy']:.3f}", highlight=False)
    for name, why in result.get("skipped", {}).items():
        stdout.print(f"  {name:<22} skipped: {why}", highlight=False)
    for tag, r in result.get("styles", {}).get("tags", {}).items():
        stdout.print(f"  {tag:<22} test AP {r['ap'] or 0:.3f}  F1 {r['f1']:.3f}  (base rate {r['base_rate']:.3f}; "
                     f"{r['test_positives']} positives)", highlight=False)


@app.command("build")
def build_command(
    by: Annotated[str, typer.Option("--by", help="Column whose values are the groups (brandName, a seller, a "
                                               "channel).")] = "brandName",
    index: IndexOpt = None,  # type: ignore[assignment]
    labels: LabelsOpt = None,
    heads: Annotated[Path | None, typer.Option("--heads", help="Heads from `vsearch profile heads` (default: train "
                                               "them now on the index's training split).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Profiles file to write (default: "
                                             "INDEX/profiles/BY.npz).")] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Representative photos per group.")] = 8,
    min_size: Annotated[int, typer.Option(min=1, help="Profile only groups with this many products.")] = 1,
    mode: Annotated[str, typer.Option(help="Default matching: tags, embedding or both.")] = "tags",
    alpha: Annotated[float, typer.Option(min=0.0, max=1.0, help="Weight of tags in mode 'both'.")] = 0.5,
    match: Annotated[str, typer.Option(help="mean (the profile's mean vector) or nearest (its closest "
                                            "representative).")] = "mean",
    as_json: JsonOpt = False,
) -> None:
    """Pick up to K diverse photos per group and store each group's tag and embedding profile (atomically)."""
    with user_errors(as_json):
        from vsearch.core.errors import BadQueryError
        from vsearch.index.products import load_products
        from vsearch.profiles.heads import load_model
        from vsearch.profiles.profile import MATCHES, MODES, Scoring, build_profiles, save_profiles

        if mode not in MODES or match not in MATCHES:
            raise BadQueryError(f"--mode must be one of {', '.join(MODES)} and --match one of {', '.join(MATCHES)}")
        index_dir = resolve_index(index)
        products = load_products(index_dir, labels)
        products.require([by])
        with progress_bar(not as_json) as progress:
            model = load_model(heads) if heads is not None else _default_model(products, labels, progress)
            profiles = build_profiles(products, model, by, k=k, min_size=min_size, scoring=Scoring(mode, alpha, match),
                                      progress=progress)
        path = _profiles_path(index_dir, out, by)
        save_profiles(path, profiles)
    summary = {"profiles": str(path), "by": by, "groups": len(profiles.groups), "tags": len(model.tag_names),
               "scoring": {"mode": mode, "alpha": alpha, "match": match}}
    if as_json:
        print_json(summary)
    else:
        stdout.print(f"profiled {summary['groups']} {by} groups over {summary['tags']} tags -> {path}",
                     highlight=False)


@app.command("show")
def show_command(
    group: Annotated[str, typer.Argument(help="Group to show (e.g. a brand).")],
    index: IndexOpt = None,  # type: ignore[assignment]
    profiles: ProfilesOpt = None,
    top: Annotated[int, typer.Option(min=1, help="Tags to list.")] = 12,
    as_json: JsonOpt = False,
) -> None:
    """A group's top tags with weights (mean probability over its representatives, lift z over the catalogue)."""
    with user_errors(as_json):
        from vsearch.profiles.profile import load_profiles, show

        result = show(load_profiles(_profiles_path(resolve_index(index), profiles)), group, top)
    if as_json:
        print_json(result)
        return
    stdout.print(f"[bold]{result['group']}[/] ({result['by']}, {result['products']} products; representatives "
                 f"{', '.join(result['representatives'])})", highlight=False)
    for t in result["tags"]:
        stdout.print(f"  {t['tag']:<34} {t['weight']:.3f}  z {t['z']:+.2f}", highlight=False)


def recommend_command(
    liked: Annotated[list[str] | None, typer.Option("--liked", help="Id of a liked product (repeat).")] = None,
    photo: Annotated[list[Path] | None, typer.Option("--photo", help="A liked photo (repeat).")] = None,
    index: IndexOpt = None,  # type: ignore[assignment]
    profiles: ProfilesOpt = None,
    labels: LabelsOpt = None,
    top: Annotated[int, typer.Option(min=1, help="Groups to list.")] = 10,
    products_n: Annotated[int, typer.Option("--products", min=0, help="Products to list.")] = 10,
    mode: Annotated[str | None, typer.Option(help="tags, embedding or both (default: the profiles').")] = None,
    match: Annotated[str | None, typer.Option(help="mean or nearest (default: the profiles').")] = None,
    device: DeviceOpt = "cpu",
    as_json: JsonOpt = False,
) -> None:
    """Groups and products whose tag profiles are closest to what the shopper liked, with the tags that explain it."""
    if bool(liked) == bool(photo):
        raise fail("give --liked ID... or --photo P..., not both", as_json=as_json)
    with user_errors(as_json):
        from vsearch.index.products import load_products
        from vsearch.profiles.profile import Scoring, load_profiles
        from vsearch.profiles.recommend import liked_rows, photo_vectors, recommend

        index_dir = resolve_index(index)
        prof = load_profiles(_profiles_path(index_dir, profiles))
        scoring = Scoring(mode or prof.scoring.mode, prof.scoring.alpha, match or prof.scoring.match)
        products = load_products(index_dir, labels)
        if liked:
            result = recommend(prof, products, liked=liked_rows(products, liked), top=top, top_products=products_n,
                               exclude=liked, scoring=scoring)
        else:  # a bare photo has no title or description: the image-only heads read it
            check_photos(list(photo or []))
            q_x = photo_vectors(index_dir, list(photo or []), device=None if device == "auto" else device)
            result = recommend(prof, products, q_x, top=top, top_products=products_n, scoring=scoring)
    if as_json:
        print_json(result)
        return
    stdout.print(f"shopper's tags: {', '.join(t['tag'] for t in result['query_tags']) or '-'}", highlight=False)
    for r in result["results"]:
        stdout.print(f"{r['rank']:>3}. {r['group']:<28} {r['score']:+.3f}  {', '.join(r['tags'])}", highlight=False)
    if result["products"]:
        stdout.print("products:")
    for r in result["products"]:
        stdout.print(f"{r['rank']:>3}. {r['id']:<10} {r['group']:<24} {r['score']:+.3f}  {', '.join(r['tags'])}",
                     highlight=False)


def eval_profiles_command(
    index: IndexOpt = None,  # type: ignore[assignment]
    labels: LabelsOpt = None,
    heads: Annotated[Path | None, typer.Option("--heads", help="Heads from `vsearch profile heads` (default: "
                                               "train them now on the training split).")] = None,
    by: Annotated[str, typer.Option("--by", help="Group column.")] = "brandName",
    min_size: Annotated[int, typer.Option(min=2, help="Groups with this many products take part.")] = 16,
    k: Annotated[int, typer.Option("--k", min=1, help="Representatives per profile.")] = 8,
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path("eval") / "profiles",
    as_json: JsonOpt = False,
) -> None:
    """Group R@1/R@10 of tag, embedding and combined profiles vs random; writes profiles.json/.md/.png."""
    with user_errors(as_json):
        from vsearch.index.products import load_products
        from vsearch.profiles.evaluate import evaluate_profiles
        from vsearch.profiles.heads import load_model
        from vsearch.profiles.report import write_report

        products = load_products(resolve_index(index), labels)
        products.require([by])
        with progress_bar(not as_json) as progress:
            model = load_model(heads) if heads is not None else _default_model(products, labels, progress)
            report = evaluate_profiles(products, model, by, k=k, min_size=min_size, progress=progress)
        files = write_report(report, out)
    if as_json:
        print_json({"files": [str(f) for f in files], **report})
        return
    for m in ("random", "embedding", "tags", "both", "embedding_nearest", "tags_nearest", "both_nearest", "best"):
        t = report["test"][m]
        stdout.print(f"  {m:<18} test R@1 {t['R@1']:.3f}  R@10 {t['R@10']:.3f}", highlight=False)
    stdout.print(f"best on validation: {report['chosen']['best']['name']}", highlight=False)
    stdout.print(f"{report['groups']} groups, {report['test']['queries']} test queries; report: {files[1]}")
