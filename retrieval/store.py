"""Chroma storage of the library: the client (embedded or a `chroma run` server, same code), one
cosine collection per vector kind, and the standardisation statistics kept with the library.

Every record's id is its clip id, and every record carries the clip's metadata (METADATA_KEYS), so a
hit in any collection links back to the clip and its audio. Vectors always come from cinedub: no
collection has an embedding function (Chroma's default one downloads a model).
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import numpy as np

from cinedub.errors import CinedubError

# Collections, one per vector (scene_vlm and text_reaction exist only when a model writes them).
KINDS = ("scene", "scene_vlm", "face", "text", "text_reaction", "audio")
# Raw features standardised with library statistics before normalising (text vectors are not).
STANDARDISED = ("scene", "face", "audio")
COLLECTION_PREFIX = "cinedub-"
META_COLLECTION = "cinedub-meta"
STATS_ID = "standardisation"
# Statistics are recomputed at the end of every build until they rest on this many clips, then frozen
# (recomputing re-writes every vector, and a big library's statistics barely move).
STATS_FREEZE_CLIPS = 500
# A standard deviation below this is a constant feature: it is centred, not scaled.
MIN_STD = 1e-9
# The HNSW index is written to disk every this many additions (Chroma's default, 1000, leaves a new
# library's index unwritten for longer, and a reader in another process then fails to open it).
SYNC_THRESHOLD = 16
# HNSW parameters (Chroma's defaults are 100 / 100 / 16, which find only ~0.88 of the true top 3 at
# 10k vectors and ~0.48 at 100k): wider graphs and searches. bench/retrieval_bench.py on random 88-d unit
# vectors (the hardest case), recall@3 at ef_search 400 / 800 / 1600: 100k 0.983 / 0.998 / 1.0, 1M
# 0.770 / 0.903 / 0.968 (p50 4.3 / 7.4 / 13.2 ms); at 10k, 1600 costs 2.2 ms a query against 1.7.
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 1600
HNSW_MAX_NEIGHBORS = 32
# A reader in another process can catch the index between a writer's commit and its flush: retry.
READ_RETRIES = 40
READ_RETRY_S = 0.05
BATCH = 1000  # ids per get / upsert call
METADATA_KEYS = ("clip_id", "movie", "speaker", "emotion", "text", "audio", "video", "prosody")

T = TypeVar("T")
# Embedded libraries reopened in this process (path -> generation): every Store on that path reconnects.
_GENERATIONS: dict[str, int] = {}


def connect(db: Path | None, chroma_url: str | None):
    """A Chroma client: HttpClient for `chroma_url`, else a PersistentClient on `db`. Telemetry off."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if chroma_url:
        url = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
        if url.scheme not in ("http", "https") or not url.hostname:
            raise CinedubError(f"--chroma-url must look like http://HOST:PORT, not {chroma_url!r}")
        try:
            client = chromadb.HttpClient(host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
                                         ssl=url.scheme == "https", settings=settings)  # fmt: skip
            client.heartbeat()
        except Exception as err:  # connection refused, DNS, TLS ...: one line for the user
            raise CinedubError(f"cannot reach the Chroma server at {chroma_url}: {err.__class__.__name__}") from None
        return client
    assert db is not None
    if db.exists() and not db.is_dir():
        raise CinedubError(f"library folder {db} is a file")
    db.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(db), settings=settings)


def _retrying(call: Callable[[], T]) -> T:
    """Run a read, retrying Chroma's transient errors (another process mid-write) for up to ~2 s."""
    from chromadb.errors import InternalError

    for attempt in range(READ_RETRIES):
        try:
            return call()
        except InternalError:
            if attempt == READ_RETRIES - 1:
                raise
            time.sleep(READ_RETRY_S)
    raise AssertionError("unreachable")


def _locked(method: Callable[..., T]) -> Callable[..., T]:
    """Run a Store method under the store's lock: the query's parallel paths share one client, and a
    reopen (see Store.reopen) must not stop it under another thread's call."""

    @functools.wraps(method)
    def run(self: Store, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    return run


@dataclass
class Hit:
    """One record a collection returned: its clip id, cosine similarity and metadata."""

    clip_id: str
    score: float
    metadata: dict[str, Any]


class Store:
    """The library's Chroma collections."""

    def __init__(self, *, client: Any, location: str, db: Path | None = None) -> None:
        self.client = client
        self.location = location  # the folder or the URL, for messages
        self.db = db  # the embedded library's folder; None on a server
        self._collections: dict[str, Any] = {}
        self._generation = _GENERATIONS.get(str(db), 0)
        self._indexed: dict[str, int] = {}  # kind -> records when this process last queried it
        self._lock = threading.RLock()

    def _reconnect_if_reopened(self) -> None:
        if self.db is not None and self._generation != _GENERATIONS.get(str(self.db), 0):
            self.client = connect(self.db, None)
            self._collections.clear()
            self._generation = _GENERATIONS.get(str(self.db), 0)

    def reopen(self) -> None:
        """Drop this process's cached copy of an embedded library and open it again.

        Chroma's embedded client loads a collection's HNSW index once per process, so clips another
        process adds later are counted (SQLite) but never returned by a query. Its shared per-path
        `System` is stopped and forgotten (a private registry of chromadb's: checked with 1.5.9) and
        every Store on the path reconnects."""
        from chromadb.api.shared_system_client import SharedSystemClient

        if self.db is None:
            return
        identifier = self.client._identifier
        with SharedSystemClient._refcount_lock:
            system = SharedSystemClient._identifier_to_system.pop(identifier, None)
            SharedSystemClient._identifier_to_refcount.pop(identifier, None)
        if system is not None:
            system.stop()
        _GENERATIONS[str(self.db)] = _GENERATIONS.get(str(self.db), 0) + 1
        self._reconnect_if_reopened()

    def collection(self, kind: str):
        self._reconnect_if_reopened()
        if kind not in self._collections:
            collection = self.client.get_or_create_collection(
                COLLECTION_PREFIX + kind.replace("_", "-"), embedding_function=None,
                configuration={"hnsw": {"space": "cosine", "sync_threshold": SYNC_THRESHOLD,
                                        "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": HNSW_EF_SEARCH,
                                        "max_neighbors": HNSW_MAX_NEIGHBORS}},
            )  # fmt: skip
            hnsw = (collection.configuration or {}).get("hnsw") or {}
            if hnsw.get("ef_search", HNSW_EF_SEARCH) < HNSW_EF_SEARCH:  # a library built with a narrower search
                collection.modify(configuration={"hnsw": {"ef_search": HNSW_EF_SEARCH}})  # from its next load
            self._collections[kind] = collection
        return self._collections[kind]

    @_locked
    def count(self, kind: str) -> int:
        return _retrying(self.collection(kind).count)

    @_locked
    def existing_ids(self, kind: str, ids: list[str]) -> set[str]:
        """Which of `ids` the `kind` collection holds."""
        found: set[str] = set()
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            found.update(_retrying(lambda c=chunk: self.collection(kind).get(ids=c, include=[]))["ids"])
        return found

    @_locked
    def upsert(self, kind: str, clip_id: str, vector: np.ndarray, metadata: dict[str, Any]) -> None:
        """Write one unit vector (D,) for a clip (idempotent: the same id replaces itself)."""
        self.collection(kind).upsert(ids=[clip_id], embeddings=[np.asarray(vector, dtype=np.float32)],
                                     metadatas=[metadata])  # fmt: skip

    @_locked
    def query(self, kind: str, vector: np.ndarray, k: int, where: dict | None) -> list[Hit]:
        """The `k` nearest records to a unit vector (D,), most similar first; score = cosine similarity."""
        count = self.count(kind)
        if k <= 0 or count == 0:
            return []
        if self._indexed.get(kind, count) != count:  # another process wrote since: load its records too
            self.reopen()
        self._indexed[kind] = count
        result = _retrying(lambda: self.collection(kind).query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=k, where=where,
            include=["metadatas", "distances"],
        ))  # fmt: skip
        return [Hit(clip_id=i, score=1.0 - float(d), metadata=m or {})
                for i, d, m in zip(result["ids"][0], result["distances"][0], result["metadatas"][0], strict=True)]  # fmt: skip

    @_locked
    def vectors(self, kind: str, ids: list[str]) -> dict[str, np.ndarray]:
        """Stored unit vectors by clip id (those of `ids` the collection has)."""
        if not ids or self.count(kind) == 0:
            return {}
        got = _retrying(lambda: self.collection(kind).get(ids=ids, include=["embeddings"]))
        return {i: np.asarray(e, dtype=np.float64) for i, e in zip(got["ids"], got["embeddings"], strict=True)}

    @_locked
    def records(self, kind: str, include: tuple[str, ...] = ("metadatas",)) -> dict[str, list]:
        """Every record of a collection, fetched in batches."""
        out: dict[str, list] = {"ids": [], **{key: [] for key in include}}
        total = self.count(kind)
        for offset in range(0, total, BATCH):
            got = _retrying(lambda o=offset: self.collection(kind).get(limit=BATCH, offset=o, include=list(include)))
            out["ids"].extend(got["ids"])
            for key in include:
                out[key].extend(got[key])
        return out

    # -- the statistics document -------------------------------------------------------------

    def read_stats(self) -> dict[str, dict[str, Any]]:
        meta = self.client.get_or_create_collection(META_COLLECTION, embedding_function=None)
        got = _retrying(lambda: meta.get(ids=[STATS_ID], include=["documents"]))
        return json.loads(got["documents"][0]) if got["ids"] else {}

    def write_stats(self, stats: dict[str, dict[str, Any]]) -> None:
        meta = self.client.get_or_create_collection(META_COLLECTION, embedding_function=None)
        meta.upsert(ids=[STATS_ID], embeddings=[[1.0]], documents=[json.dumps(stats)])


@dataclass
class Standardiser:
    """Per-feature mean and standard deviation of one raw feature kind, from `n` clips."""

    mean: np.ndarray  # (D,)
    std: np.ndarray  # (D,)
    n: int

    @classmethod
    def fit(cls, rows: np.ndarray) -> Standardiser:
        """Statistics of raw features (N, D)."""
        rows = np.asarray(rows, dtype=np.float64)
        return cls(mean=rows.mean(axis=0), std=rows.std(axis=0), n=len(rows))

    @classmethod
    def identity(cls, dim: int) -> Standardiser:
        """No statistics yet (the library's first clips): leave the features as they are."""
        return cls(mean=np.zeros(dim), std=np.ones(dim), n=0)

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Standardised features (D,): centred, and scaled where the feature varies."""
        raw = np.nan_to_num(np.asarray(raw, dtype=np.float64))
        scale = np.where(self.std > MIN_STD, self.std, 1.0)
        return (raw - self.mean) / scale

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "n": self.n}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Standardiser:
        return cls(mean=np.asarray(data["mean"]), std=np.asarray(data["std"]), n=int(data["n"]))
