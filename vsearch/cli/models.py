"""`vsearch models`: the model names vsearch knows."""

from __future__ import annotations

from vsearch.cli.common import JsonOpt, print_json, stdout


def models_command(as_json: JsonOpt = False) -> None:
    """List image models (offline ones first) and the text model."""
    from vsearch.models.registry import DEFAULT_MODEL, DEFAULT_TEXT_MODEL, list_embedders

    offline = {"timm:tf_efficientnet_lite0", "timm:tf_efficientnet_lite1", "timm:tf_efficientnet_lite2", "tiny"}
    rows = [{"name": name, "offline": name in offline, "default": name == DEFAULT_MODEL} for name in list_embedders()]
    if as_json:
        print_json({"image_models": rows, "text_models": [{"name": DEFAULT_TEXT_MODEL, "offline": True}]})
        return
    for row in rows:
        notes = ", ".join(n for n, on in (("default", row["default"]), ("offline", row["offline"])) if on)
        stdout.print(f"{row['name']}" + (f"  [dim]({notes})[/]" if notes else "  [dim](hub or --weights PATH)[/]"))
    stdout.print(f"{DEFAULT_TEXT_MODEL}  [dim](text, offline)[/]")
