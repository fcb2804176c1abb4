"""`vsearch eval retrieval|tags|compare`: measure a suite, write its report, gate on a baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vsearch.cli.common import DeviceOpt, JsonOpt, fail, print_json, stdout, user_errors
from vsearch.cli.profile import eval_profiles_command

app = typer.Typer(no_args_is_help=True, help="Measure retrieval and tagging on a suite; gate on baselines.")
app.command("profiles")(eval_profiles_command)

SuiteOpt = Annotated[Path, typer.Option("--suite", "-s", help="Suite file (TOML), e.g. eval/suites/products.toml.")]
EvalIndexOpt = Annotated[Path | None, typer.Option("--index", "-i", help="Built index of the suite's catalogue "
                                                   "(default: indexes/eval-<suite>, built when missing).")]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="Report folder (default: eval/reports/<suite>).")]


def _finish(section: str, suite: Any, payload: dict[str, Any], out: Path | None, as_json: bool) -> None:
    from vsearch.evaluate.report import (
        RETRIEVAL_HEADER,
        TAG_HEADER,
        merge_section,
        retrieval_rows,
        tag_rows,
        write_report,
    )

    out_dir = out or Path("eval") / "reports" / suite.name
    report = merge_section(out_dir, suite.name, section, payload, suite.raw)
    files = write_report(out_dir, report)
    if as_json:
        print_json({"report": str(out_dir / "report.json"), "files": [str(f) for f in files], section: payload})
        return
    from rich.console import Console
    from rich.table import Table

    console = stdout if stdout.is_terminal else Console(width=160)  # CI logs: no truncated columns

    header, rows = (RETRIEVAL_HEADER, retrieval_rows(report)) if section == "retrieval" else \
        (TAG_HEADER, tag_rows(report))
    table = Table(title=f"{suite.name}: {section} ({payload['index']['model']})", title_justify="left")
    for col in header:
        table.add_column(col, justify="left" if col in ("protocol", "variant", "attribute") else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"report: {out_dir / 'report.md'} ({len(files)} files, {payload['timings']['total']:.1f}s)")


@app.command("retrieval")
def retrieval_command(suite: SuiteOpt, index: EvalIndexOpt = None, out: OutOpt = None,
                      batch_size: Annotated[int, typer.Option(min=1, help="Photos per forward pass.")] = 64,
                      workers: Annotated[int | None, typer.Option(min=0, help="Decode workers.")] = None,
                      device: DeviceOpt = "cpu", as_json: JsonOpt = False) -> None:
    """Run the suite's retrieval protocols and write report.json, report.md and plots."""
    with user_errors():
        from vsearch.evaluate.run import ensure_index, run_retrieval
        from vsearch.evaluate.suite import load_suite

        cfg = load_suite(suite)
        index_dir = ensure_index(cfg, index, device=device, workers=workers)
        payload = run_retrieval(cfg, index_dir, device=device, batch_size=batch_size, workers=workers)
        _finish("retrieval", cfg, payload, out, as_json)


@app.command("tags")
def tags_command(suite: SuiteOpt, index: EvalIndexOpt = None, out: OutOpt = None, device: DeviceOpt = "cpu",
                 as_json: JsonOpt = False) -> None:
    """Tag metrics on the test split (a logistic-regression probe per attribute on frozen embeddings)."""
    with user_errors():
        from vsearch.evaluate.run import ensure_index, run_tags
        from vsearch.evaluate.suite import load_suite

        cfg = load_suite(suite)
        index_dir = ensure_index(cfg, index, device=device)
        payload = run_tags(cfg, index_dir, device=device)
        _finish("tags", cfg, payload, out, as_json)


@app.command("compare")
def compare_command(
    report: Annotated[Path, typer.Argument(help="report.json of a run.")],
    baseline: Annotated[Path, typer.Argument(help="Baseline JSON (eval/baselines/<suite>.json).")],
    update_baseline: Annotated[bool, typer.Option("--update-baseline", help="Accept the report: write it as the "
                                                  "baseline (keeping set tolerances) and exit 0.")] = False,
    tolerance: Annotated[float, typer.Option(min=0.0, help="Default absolute tolerance for new metrics "
                                             "(--update-baseline).")] = 0.02,
    as_json: JsonOpt = False,
) -> None:
    """Exit 1 when a metric of REPORT drops below BASELINE by more than its tolerance; print which."""
    with user_errors():
        from vsearch.evaluate.compare import compare, make_baseline, read_json, write_baseline

        current = read_json(report, "report")
        if update_baseline:
            previous = read_json(baseline, "baseline") if baseline.is_file() else None
            new = make_baseline(current, previous, tolerance)
            write_baseline(baseline, new)
            if as_json:
                print_json({"updated": str(baseline), "metrics": len(new["metrics"])})
            else:
                stdout.print(f"baseline {baseline} updated: {len(new['metrics'])} metrics")
            return
        result = compare(current, read_json(baseline, "baseline"))
    if as_json:
        print_json(result.to_dict())
    else:
        _print_comparison(result, baseline)
    if not result.ok:
        raise fail(f"{len(result.regressions)} metric(s) regressed, {len(result.missing)} missing vs {baseline}")


def _print_comparison(result: Any, baseline: Path) -> None:
    for change in result.regressions:
        stdout.print(f"[red]REGRESSION[/] {change.name}: {change.baseline:.4f} -> {change.current:.4f} "
                     f"({change.delta:+.4f}, tolerance {change.tolerance})", highlight=False)
    for change in result.missing:
        stdout.print(f"[red]MISSING[/] {change.name} (baseline {change.baseline:.4f})", highlight=False)
    for change in result.improvements:
        stdout.print(f"[green]improved[/] {change.name}: {change.baseline:.4f} -> {change.current:.4f}",
                     highlight=False)
    if result.improvements:
        stdout.print("improvements beyond tolerance: accept them with --update-baseline")
    stdout.print(f"checked {result.checked} metrics against {baseline}: "
                 f"{'ok' if result.ok else 'FAILED'}", highlight=False)


@app.command("group")
def group_command(
    groups: Annotated[Path, typer.Option("--groups", "-g", help="groups.csv of `vsearch group build`.")],
    truth: Annotated[Path, typer.Option("--truth", help="CSV with the known cluster of each offer.")],
    truth_column: Annotated[str, typer.Option(help="Cluster column of --truth.")] = "cluster_id",
    id_column: Annotated[str, typer.Option(help="Offer id column of --truth.")] = "product_id",
    split: Annotated[str, typer.Option(help="Judge only offers whose truth cluster hashes into this split "
                                       "(all, train, val, test).")] = "all",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for group_eval.json and the "
                                             "precision-recall PNG (default: beside --groups).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Pairwise precision/recall/F1, B-cubed, ARI of a grouping, and precision-recall over the merge threshold."""
    with user_errors(as_json):
        from vsearch.group.report import evaluate_groups

        report = evaluate_groups(groups, truth, id_column, truth_column, split, out or groups.parent)
    if as_json:
        print_json(report)
        return
    pw, b3 = report["pairwise"], report["bcubed"]
    stdout.print(f"{report['offers']} offers in {report['truth_clusters']} true clusters (split {split}); "
                 f"{report['groups']} groups", highlight=False)
    stdout.print(f"pairwise  P {pw['precision']:.4f}  R {pw['recall']:.4f}  F1 {pw['f1']:.4f}  "
                 f"({pw['true_pairs']} true pairs, chance precision {report['chance_pair_precision']:.4f})",
                 highlight=False)
    stdout.print(f"B-cubed   P {b3['precision']:.4f}  R {b3['recall']:.4f}  F1 {b3['f1']:.4f}   "
                 f"ARI {report['ari']:.4f}", highlight=False)
    stdout.print(f"wrote {report['json']} and {report['plot']}", highlight=False)
