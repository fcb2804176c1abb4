"""Cold `vsearch query --text` end to end: a new process each time (interpreter start, imports, model load, query),
with the page cache dropped first when this process may do so (root), else warm-cache only.

    python scripts/bench_cold_text.py --index indexes/default --out eval/bench/cold_text.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def drop_page_cache() -> bool:
    """Flush and drop the page cache (needs root); False when not allowed."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def one_query(index: Path, text: str) -> float:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "vsearch", "query", "--text", text, "--index", str(index), "-k", "3",
                          "--json"], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if out.returncode != 0 or not json.loads(out.stdout)["results"]:
        raise SystemExit(f"query failed: {out.stderr.strip()}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("eval/bench/cold_text.json"))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    texts = ["navy check shirt", "red floral summer dress", "black leather watch", "white running shoes",
             "blue denim jeans"]
    warm = [one_query(args.index, texts[i % len(texts)]) for i in range(args.runs)]
    cold, dropped = [], True
    for i in range(args.runs):
        dropped = drop_page_cache() and dropped
        cold.append(one_query(args.index, texts[i % len(texts)]))
    doc = {"command": "python " + " ".join(sys.argv), "index": str(args.index), "runs": args.runs,
           "warm_cache_seconds": [round(s, 2) for s in warm], "warm_cache_median_s": round(statistics.median(warm), 2),
           "page_cache_dropped": dropped, "cold_cache_seconds": [round(s, 2) for s in cold],
           "cold_cache_median_s": round(statistics.median(cold), 2), "load_average": os.getloadavg()}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
