"""Serving benchmark: a real `vsearch serve` over loopback, photo and text queries from 1, 4 and 16 concurrent
clients (bounded in count and time), latency p50/p95, throughput, errors and the server's resident memory.

    python scripts/bench_serve.py --index indexes/default --out eval/bench/serve.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(index: Path, threads: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "vsearch", "serve", "--index", str(index), "--port", str(port),
                             "--threads", str(threads)])
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start")


def run(base: str, kind: str, clients: int, photos: list[bytes], texts: list[str], max_requests: int,
        max_seconds: float) -> dict[str, object]:
    """`clients` threads each sending requests until the shared count or the time bound is reached."""
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    sent = [0]
    deadline = time.monotonic() + max_seconds

    def client(seed: int) -> None:
        with httpx.Client(timeout=60) as http:
            i = seed
            while time.monotonic() < deadline:
                with lock:
                    if sent[0] >= max_requests:
                        return
                    sent[0] += 1
                t0 = time.perf_counter()
                if kind == "photo":
                    res = http.post(base + "/api/search", files={"photo": ("q.jpg", photos[i % len(photos)],
                                                                             "image/jpeg")}, data={"k": "10"})
                else:
                    res = http.post(base + "/api/search", json={"text": texts[i % len(texts)], "k": 10})
                dt = time.perf_counter() - t0
                with lock:
                    lat.append(dt)
                    errors[0] += res.status_code != 200
                i += clients

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {"kind": kind, "clients": clients, "requests": len(lat), "errors": errors[0], "seconds": round(wall, 2),
            "throughput_per_s": round(len(lat) / wall, 1),
            "p50_ms": round(1000 * statistics.median(lat), 1),
            "p95_ms": round(1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "bench" / "serve.json")
    parser.add_argument("--requests", type=int, default=200, help="per run (bounded by --seconds too)")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--threads", type=int, default=1, help="the server's model threads per request")
    parser.add_argument("--soak-seconds", type=float, default=60, help="the 16-client photo soak")
    args = parser.parse_args()
    photos = [p.read_bytes() for p in sorted((DATA / "products-small" / "images").glob("*.jpg"))[:200]]
    with (DATA / "products-224" / "labels.csv").open(newline="") as fh:
        texts = [r["productDisplayName"] for r in list(csv.DictReader(fh))[::40]]
    load_before = [round(v, 2) for v in os.getloadavg()]  # other work on the machine inflates latency: say so
    proc, base = start(args.index, args.threads)
    try:
        health = httpx.get(base + "/api/health").json()
        for kind in ("photo", "text"):  # warm-up: first model calls, FAISS pages
            run(base, kind, 1, photos, texts, 5, 30)
        runs = [run(base, kind, c, photos, texts, args.requests, args.seconds)
                for kind in ("photo", "text") for c in (1, 4, 16)]
        soak = run(base, "photo", 16, photos, texts, 10**9, args.soak_seconds)
        result = {"command": "python scripts/bench_serve.py " + " ".join(sys.argv[1:]),
                  "index": {"path": str(args.index), "products": health["products"], "model": health["model"]},
                  "machine": {"cores": len(os.sched_getaffinity(0)), "load_average_before": load_before,
                              "load_average_after": [round(v, 2) for v in os.getloadavg()]}, "runs": runs,
                  "soak_16_clients": soak, "server_threads": args.threads, "server_rss_mb": round(rss_mb(proc.pid), 1)}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
