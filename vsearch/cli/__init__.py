"""The `vsearch` command: a thin Typer layer over the library. Heavy imports happen inside commands."""

from __future__ import annotations

from typing import Annotated

import typer

from vsearch import __version__
from vsearch.cli.bench import bench_command
from vsearch.cli.classify import app as classify_app
from vsearch.cli.eval import app as eval_app
from vsearch.cli.group import app as group_app
from vsearch.cli.index import app as index_app
from vsearch.cli.models import models_command
from vsearch.cli.profile import app as profile_app
from vsearch.cli.profile import recommend_command
from vsearch.cli.query import query_command
from vsearch.cli.serve import serve_command
from vsearch.cli.tag import tag_command
from vsearch.cli.train import app as train_app
from vsearch.cli.trainset import app as trainset_app

app = typer.Typer(name="vsearch", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Search a product catalogue by photo and text; tag products.")
app.add_typer(index_app, name="index")
app.add_typer(eval_app, name="eval")
app.command("query")(query_command)
app.command("models")(models_command)
app.command("bench")(bench_command)
app.add_typer(train_app, name="train")
app.command("tag")(tag_command)
app.add_typer(classify_app, name="classify")
app.add_typer(trainset_app, name="trainset")
app.command("serve")(serve_command)
app.add_typer(profile_app, name="profile")
app.command("recommend")(recommend_command)
app.add_typer(group_app, name="group")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vsearch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step to stderr.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    from vsearch.core.log import setup_logging

    setup_logging(verbose)


def main() -> None:
    app()
