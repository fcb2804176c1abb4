"""Print a Markdown summary of the JSON reports in eval/tags (attributes.json, tags.json, align.json)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    lines = []
    attributes = HERE / "attributes.json"
    if attributes.is_file():
        r = json.loads(attributes.read_text())
        lines += ["| head | labels from | test n | classes | accuracy | weighted F1 | macro F1 | majority acc |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, h in r["heads"].items():
            source = "title rules" if name in ("pattern", "sleeve") else "column"
            lines.append(f"| {name} | {source} | {h['test']} | {h['classes']} | {h['accuracy']:.4f} | "
                         f"{h['weighted_f1']:.4f} | {h['macro_f1']:.4f} | {h['majority_baseline']['accuracy']:.4f} |")
    for name in ("tags", "align", "latency"):
        path = HERE / f"{name}.json"
        if path.is_file():
            lines.append(f"\n{name}: see {path.name}")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
