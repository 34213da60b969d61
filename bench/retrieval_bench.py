"""Speed and accuracy of the reference library's Chroma collections, on this machine.

Random unit vectors (the audio vector's 88 dimensions by default) go into a collection configured as the
library's are (cosine HNSW, embedded PersistentClient), in batches, growing through --sizes; at each
size: ingest rate (vectors/s over that growth), then for every --ef-search value (the library's own
first): query latency p50 / p95 (top 3, one query at a time, `--queries` of them) and recall@3 of
Chroma's HNSW against exact cosine (numpy, brute force over the same vectors).

ef_search is a search-time setting, so one index serves the whole sweep: the collection's configuration
is modified and the embedded client reopened (Chroma reads ef_search when it loads an index). With
--db the collection is kept, and a later run with the same --seed and --dim reuses the vectors already
there instead of ingesting them again (a 1M index takes tens of minutes to build on two cores). A size
whose ingest would not fit in what is left of --max-seconds is reported as not measured, with the
estimate, rather than run.

Usage: python bench/retrieval_bench.py [--sizes 10000,100000,1000000] [--dim 88] [--queries 200]
                                       [--ef-search 400,800,1600] [--db DIR] [--batch 5000]
                                       [--max-seconds 1800]
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

from cinedub.retrieval.store import HNSW_EF_SEARCH, Store, connect

K = 3
RECALL_GOAL = 0.95


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


def search(store: Store, queries: np.ndarray, exact: np.ndarray, ef_search: int) -> dict:
    """Latency and recall@K of the audio collection searched with `ef_search`."""
    collection = store.collection("audio")
    if collection.configuration["hnsw"]["ef_search"] != ef_search:
        collection.modify(configuration={"hnsw": {"ef_search": ef_search}})
        store.reopen()  # the loaded index keeps the ef_search it was opened with
        collection = store.collection("audio")
    collection.query(query_embeddings=queries[:1], n_results=K)  # warm-up: loads the index
    latencies, found = [], []
    for q in queries:
        lap = time.perf_counter()
        got = collection.query(query_embeddings=q[None], n_results=K, include=[])
        latencies.append(time.perf_counter() - lap)
        found.append([int(i[1:]) for i in got["ids"][0]])
    recall = np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact, strict=True)])
    return {
        "ef_search": ef_search,
        "query_p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 3),
        "query_p95_ms": round(float(np.percentile(latencies, 95)) * 1000, 3),
        f"recall_at_{K}": round(float(recall), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="library sizes to measure at, growing")
    parser.add_argument("--dim", type=int, default=88, help="vector dimension (88: eGeMAPS; 391: text)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef-search", default=str(HNSW_EF_SEARCH),
                        help="comma-separated ef_search values to search with at every size")  # fmt: skip
    parser.add_argument("--db", type=Path, help="keep the collection here (and reuse what it holds)")
    parser.add_argument("--batch", type=int, default=5000, help="vectors per add call")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop growing past this much time")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    ef_values = [int(e) for e in args.ef_search.split(",")]
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    results, not_measured = [], []
    with tempfile.TemporaryDirectory(prefix="cinedub-retrieval-bench-") as tmp:
        db = args.db or Path(tmp)
        store = Store(client=connect(db, None), location=str(db), db=db)
        batch = min(args.batch, store.client.get_max_batch_size())
        stored = np.zeros((0, args.dim), np.float32)
        queries = unit_vectors(rng, args.queries, args.dim)
        ingest_rate = None
        for size in sizes:
            grow = size - len(stored)
            held = store.count("audio")  # vectors a kept --db already has (the same ones: same seed)
            elapsed = time.perf_counter() - started
            if held > size:  # a kept --db beyond this size: its searches would see the extra vectors
                stored = np.concatenate([stored, unit_vectors(rng, grow, args.dim)])  # the same stream of vectors
                not_measured.append({"vectors": size, "reason": f"--db already holds {held} vectors"})
                continue
            if ingest_rate and held < size and elapsed + (size - held) / ingest_rate > args.max_seconds:
                estimate = (size - held) / ingest_rate
                not_measured.append({"vectors": size, "reason": f"ingest estimated at {estimate:.0f} s, over "
                                     f"--max-seconds {args.max_seconds:.0f} (elapsed {elapsed:.0f} s)"})  # fmt: skip
                continue
            fresh = unit_vectors(rng, grow, args.dim)
            lap = time.perf_counter()
            for start in range(max(0, held - len(stored)), grow, batch):
                ids = [f"v{len(stored) + i}" for i in range(start, min(start + batch, grow))]
                store.collection("audio").add(ids=ids, embeddings=fresh[start : start + batch],
                                              metadatas=[{"clip_id": i} for i in ids])  # fmt: skip
            added = size - max(held, len(stored))
            ingest_s = time.perf_counter() - lap
            stored = np.concatenate([stored, fresh])
            exact = exact_top_k(stored, queries, K)
            row: dict = {"vectors": size}
            if added > 0:
                ingest_rate = added / ingest_s
                row |= {"ingest_vectors_per_s": round(ingest_rate, 1), "ingest_s": round(ingest_s, 2)}
            else:
                row["ingest"] = "reused from --db"
            row["search"] = [search(store, queries, exact, ef) for ef in ef_values]
            meeting = [s["ef_search"] for s in row["search"] if s[f"recall_at_{K}"] >= RECALL_GOAL]
            row["least_ef_search_meeting_goal"] = min(meeting) if meeting else None
            row["peak_rss_mb"] = round(peak_rss_mb(), 1)
            results.append(row)
    import chromadb

    print(json.dumps({
        "bench": "retrieval", "dim": args.dim, "k": K, "queries": args.queries, "batch": batch,
        "space": "cosine", "client": "PersistentClient", "chromadb": chromadb.__version__,
        "library_ef_search": HNSW_EF_SEARCH, "recall_goal": RECALL_GOAL, "results": results,
        "not_measured": not_measured,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "total_s": round(time.perf_counter() - started, 1),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
