"""Speed and accuracy of the reference library's Chroma collections, on this machine.

Random unit vectors (the audio vector's 88 dimensions by default) go into a collection configured as the
library's are (cosine HNSW, embedded PersistentClient in a temp folder), in batches, growing through
--sizes; at each size: ingest rate (vectors/s over that growth), query latency p50 / p95 (top 3, one
query at a time, `--queries` of them) and recall@3 of Chroma's HNSW against exact cosine (numpy, brute
force over the same vectors). A size whose ingest would not fit in what is left of --max-seconds is
reported as not measured, with the estimate, rather than run.

Usage: python bench/retrieval_bench.py [--sizes 10000,100000,1000000] [--dim 88] [--queries 200]
                                       [--batch 5000] [--max-seconds 1800]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from timing import peak_rss_mb  # bench/timing.py

from cinedub.retrieval.store import Store, connect

K = 3


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """(n, dim) float32 rows on the unit sphere."""
    v = rng.standard_normal((n, dim), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def exact_top_k(stored: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) row indices of the k largest cosines (rows are unit vectors), in chunks to bound memory."""
    out = []
    for q in np.array_split(queries, max(1, len(queries) // 50)):
        sims = q @ stored.T  # (chunk, N)
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        out.append(top)
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="library sizes to measure at, growing")
    parser.add_argument("--dim", type=int, default=88, help="vector dimension (88: eGeMAPS; 391: text)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batch", type=int, default=5000, help="vectors per upsert call")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop growing past this much time")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    results, not_measured = [], []
    with tempfile.TemporaryDirectory(prefix="cinedub-retrieval-bench-") as tmp:
        store = Store(client=connect(Path(tmp), None), location=tmp)
        collection = store.collection("audio")
        batch = min(args.batch, store.client.get_max_batch_size())
        stored = np.zeros((0, args.dim), np.float32)
        queries = unit_vectors(rng, args.queries, args.dim)
        for size in sizes:
            grow = size - len(stored)
            elapsed = time.perf_counter() - started
            if results:
                estimate = grow / results[-1]["ingest_vectors_per_s"]
                if elapsed + estimate > args.max_seconds:
                    not_measured.append({"vectors": size, "reason": f"ingest estimated at {estimate:.0f} s, over "
                                         f"--max-seconds {args.max_seconds:.0f} (elapsed {elapsed:.0f} s)"})  # fmt: skip
                    continue
            fresh = unit_vectors(rng, grow, args.dim)
            lap = time.perf_counter()
            for start in range(0, grow, batch):
                ids = [f"v{len(stored) + i}" for i in range(start, min(start + batch, grow))]
                collection.add(ids=ids, embeddings=fresh[start : start + batch],
                               metadatas=[{"clip_id": i} for i in ids])  # fmt: skip
            ingest_s = time.perf_counter() - lap
            stored = np.concatenate([stored, fresh])
            latencies, found = [], []
            collection.query(query_embeddings=queries[:1], n_results=K)  # warm-up: loads the index
            for q in queries:
                lap = time.perf_counter()
                got = collection.query(query_embeddings=q[None], n_results=K, include=[])
                latencies.append(time.perf_counter() - lap)
                found.append([int(i[1:]) for i in got["ids"][0]])
            exact = exact_top_k(stored, queries, K)
            recall = np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact, strict=True)])
            results.append({
                "vectors": size,
                "ingest_vectors_per_s": round(grow / ingest_s, 1),
                "ingest_s": round(ingest_s, 2),
                "query_p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 3),
                "query_p95_ms": round(float(np.percentile(latencies, 95)) * 1000, 3),
                f"recall_at_{K}": round(float(recall), 4),
                "peak_rss_mb": round(peak_rss_mb(), 1),
            })  # fmt: skip
    import chromadb

    print(json.dumps({
        "bench": "retrieval", "dim": args.dim, "k": K, "queries": args.queries, "batch": batch,
        "space": "cosine", "client": "PersistentClient", "chromadb": chromadb.__version__,
        "recall_goal": 0.95, "results": results, "not_measured": not_measured,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "total_s": round(time.perf_counter() - started, 1),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
