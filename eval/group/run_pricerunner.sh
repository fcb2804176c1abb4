#!/usr/bin/env bash
# PriceRunner grouping figures (eval/group/README.md). Clusters are split by a hash of cluster_id
# (vsearch.core.split: 70/10/20); the matcher learns from train clusters only; settings were chosen on val;
# test is reported once. All offers are grouped together (test offers compete with every other offer).
set -euo pipefail
export OMP_NUM_THREADS=1
DATA=${VSEARCH_SHARED_DATA:-../shared/data}/pricerunner/offers.csv
OUT=${OUT:-/tmp/vsearch-group-eval}
HERE=eval/group
mkdir -p "$OUT"
COLS=(--id-column product_id --title-column product_title --seller-column vendor_id --category-column category_label)
TRAIN=(--train-groups "$DATA" --train-column cluster_id --train-split train)

# 0. learned matcher with the MiniLM title cosine as a feature (chosen on val: eval/group/minilm_pairs.py)
python -m vsearch group build --offers "$DATA" "${COLS[@]}" "${TRAIN[@]}" --text-model minilm \
  --out "$OUT/boosted_minilm/groups.csv" --json > "$HERE/build_boosted_minilm.json"
for split in val test; do
  python -m vsearch eval group --groups "$OUT/boosted_minilm/groups.csv" --truth "$DATA" --truth-column cluster_id \
    --split $split --out "$HERE/boosted_minilm" --json > /dev/null
done
[ "${ONLY_MINILM:-}" = 1 ] && exit 0
# 1. learned matcher + seller-constrained greedy merging (character n-grams and codes only)
python -m vsearch group build --offers "$DATA" "${COLS[@]}" "${TRAIN[@]}" --out "$OUT/boosted/groups.csv" --json \
  > "$HERE/build_boosted.json"
for split in val test; do
  python -m vsearch eval group --groups "$OUT/boosted/groups.csv" --truth "$DATA" --truth-column cluster_id \
    --split $split --out "$HERE/boosted" --json > /dev/null
done
# 2. the same matcher, label propagation instead of greedy merging (val only: the comparison that chose greedy)
python -m vsearch group build --offers "$DATA" "${COLS[@]}" "${TRAIN[@]}" --method propagation \
  --out "$OUT/propagation/groups.csv" --json > "$HERE/build_propagation.json"
python -m vsearch eval group --groups "$OUT/propagation/groups.csv" --truth "$DATA" --truth-column cluster_id \
  --split val --out "$HERE/propagation" --json > /dev/null
# 3. no labels: the rule-based matcher
python -m vsearch group build --offers "$DATA" "${COLS[@]}" --out "$OUT/default/groups.csv" --json \
  > "$HERE/build_default.json"
for split in val test; do
  python -m vsearch eval group --groups "$OUT/default/groups.csv" --truth "$DATA" --truth-column cluster_id \
    --split $split --out "$HERE/default" --json > /dev/null
done
