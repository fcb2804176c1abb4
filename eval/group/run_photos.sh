#!/usr/bin/env bash
# `vsearch group build --index` on the photo catalogues of eval/group/index_catalogs.py; JSON into eval/group/photos/.
# Renditions: the rule-based matcher (no labels), judged per split of the product id (settings chosen on train + val,
# test read once). Grocery: photos only, judged on the dataset's val phone photos + shop images (the rule's image
# margin was chosen on its train photos).  INDEXES=/dir reuses indexes built there before (~5 min to build both).
set -euo pipefail
OUT=eval/group/photos
CAT=${CATALOGS:-/tmp/group-catalogs}
IDX=${INDEXES:-/tmp/group-indexes}
mkdir -p "$OUT" "$IDX"
python eval/group/index_catalogs.py --data ../shared/data --out "$CAT"
[ -d "$IDX/renditions" ] || vsearch index build "$CAT/renditions.csv" --index "$IDX/renditions" --title-column productDisplayName --allow-outside-paths
[ -d "$IDX/grocery" ] || vsearch index build "$CAT/grocery.csv" --index "$IDX/grocery" --no-titles --allow-outside-paths
W=$(mktemp -d)
vsearch group build --index "$IDX/renditions" --seller-column source --title-column productDisplayName --out "$W/titles/groups.csv" --json > "$OUT/build_renditions_titles.json"
vsearch group build --index "$IDX/renditions" --seller-column source --out "$W/photos/groups.csv" --json > "$OUT/build_renditions_photos.json"
for run in titles photos; do
  for split in train val test; do
    vsearch eval group -g "$W/$run/groups.csv" --truth "$CAT/renditions.csv" --id-column id --truth-column product \
      --split $split --out "$W/$run/$split" --json > "$OUT/renditions_${run}_$split.json"
  done
done
python - "$CAT" "$W" <<'PY'
import csv, sys
cat, w = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(f"{cat}/grocery.csv")))
with open(f"{w}/grocery-val.csv", "w", newline="") as fh:
    out = csv.writer(fh)
    out.writerow(["id", "product"])
    out.writerows([r["id"], r["product"]] for r in rows if not r["id"].endswith("-train"))
PY
vsearch group build --index "$IDX/grocery" --out "$W/grocery/groups.csv" --json > "$OUT/build_grocery.json"
vsearch eval group -g "$W/grocery/groups.csv" --truth "$W/grocery-val.csv" --id-column id --truth-column product \
  --out "$W/grocery" --json > "$OUT/grocery_val.json"
python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
for name in ["renditions_titles_train", "renditions_titles_val", "renditions_titles_test", "renditions_photos_train",
             "renditions_photos_val", "renditions_photos_test", "grocery_val"]:
    d = json.load(open(f"{out}/{name}.json"))
    p = d["pairwise"]
    print(f"{name:26s} offers {d['offers']:5d} true pairs {p['true_pairs']:5d} P {p['precision']:.3f} R {p['recall']:.3f} "
          f"F1 {p['f1']:.3f} chance P {d['chance_pair_precision']:.5f}")
PY
