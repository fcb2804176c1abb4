"""Write the two photo catalogues that `vsearch group build --index` is judged on (eval/group/README.md).

renditions: every products-224 and products-small photo as its own product (`224-<id>`, `small-<id>`), with the
    columns `product` (the shop's id: the truth), `source` (which catalogue listed it: one lister lists a product
    once), `productDisplayName` and `articleType`. 203 ids are in both: the same photo at two renditions.
grocery: every grocery-phone photo (phone photos and the 31 shop packshots) as its own product, with `product`
    (the truth), `source` (phone / shop) and `type`; titles are left out (they would give the answer away).

The catalogues hold absolute photo paths (this machine's), so they are written outside the repository:

    python eval/group/index_catalogs.py --data ../shared/data --out /tmp/group-catalogs
    bash eval/group/run_photos.sh     # builds both indexes, groups them, judges (eval/group/README.md, "Photos")
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path} ({len(rows)} photos)")


def renditions(data: Path) -> list[dict[str, str]]:
    rows = []
    for source in ("224", "small"):
        folder = data / ("products-224" if source == "224" else "products-small")
        with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                rows.append({"id": f"{source}-{r['id']}", "image": str((folder / r["image"]).resolve()),
                             "product": r["id"], "source": source, "productDisplayName": r["productDisplayName"],
                             "articleType": r["articleType"]})
    return rows


def grocery(data: Path) -> list[dict[str, str]]:
    folder = data / "grocery-phone"
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
        return [{"id": Path(r["image"]).stem + ("" if r["source"] == "shop" else f"-{r['split']}"),
                 "image": str((folder / r["image"]).resolve()), "product": r["id"], "source": r["source"],
                 "type": r["type"]} for r in csv.DictReader(fh)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/group-catalogs"))
    args = ap.parse_args()
    _write(args.out / "renditions.csv", renditions(args.data))
    _write(args.out / "grocery.csv", grocery(args.data))


if __name__ == "__main__":
    main()
