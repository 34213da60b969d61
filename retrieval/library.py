"""The reference footage library: what the director's `retrieve` step asks for emotionally similar clips.

A query runs three paths in parallel (Authentic-Dubber): scene (the clip's colour / brightness / motion,
and a VLM's scene description when one is configured), face (the main face's expression and facial
emotion) and text (the line: lexicon emotion + sentence embedding, and a model-written reaction when
one is configured). A path with two parts scores a clip by the mean of the two cosine similarities
where both exist. Each path returns its top k; the lists are merged into one: deduplicated by clip,
the best score kept (with the path that found it), sorted by score, best first, so the director gets
at most 3 k references. Retrieval is speaker-independent unless `same_speaker` is given.

The audio vectors (eGeMAPS) are stored too; `query_audio` retrieves by a recording's sound.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cinedub import config, media
from cinedub.agents.perception import perceive
from cinedub.errors import CinedubError
from cinedub.speech.measure import reference_prosody
from cinedub.types import Conclusion, Line, Perception, Reference, TextEmotion

from . import features
from .ingest import ClipSource, IngestReport, ingest, read_folder, read_manifest
from .store import KINDS, STANDARDISED, STATS_FREEZE_CLIPS, Hit, Standardiser, Store, connect

log = logging.getLogger(__name__)

DEFAULT_K = 3
# A two-part path looks this many times k deep in each part before combining the scores.
CANDIDATE_FACTOR = 4
MAX_TEXT_METADATA = 500  # characters of the line kept in the metadata
# A model that describes a clip's scene (a VLM) / writes a reaction to a line: optional.
SceneDescriber = Callable[[Path], str]
ReactionWriter = Callable[[str], str]


def default_db() -> Path:
    return config.home() / "library"


def _where(same_speaker: str | None, exclude_clip: str | None) -> dict | None:
    clauses = []
    if same_speaker:
        clauses.append({"speaker": same_speaker})
    if exclude_clip:
        clauses.append({"clip_id": {"$ne": exclude_clip}})
    return None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _reference(hit: Hit, path: str) -> Reference:
    m = hit.metadata
    return Reference(clip_id=hit.clip_id, audio=m.get("audio", ""), score=round(hit.score, 4),
                     emotion=m.get("emotion") or None, prosody=json.loads(m.get("prosody") or "{}"),
                     path=path, text=m.get("text") or None, speaker=m.get("speaker") or None)  # fmt: skip


def merge(paths: dict[str, list[Hit]]) -> list[Reference]:
    """One list from the paths' top-k: one entry per clip, its best score and the path that gave it,
    best first (ties keep the paths' order)."""
    best: dict[str, tuple[Hit, str]] = {}
    for path, hits in paths.items():
        for hit in hits:
            if hit.clip_id not in best or hit.score > best[hit.clip_id][0].score:
                best[hit.clip_id] = (hit, path)
    ranked = sorted(best.values(), key=lambda pair: -pair[0].score)
    return [_reference(hit, path) for hit, path in ranked]


@dataclass(frozen=True)
class ClipFeatures:
    """What is measured of one clip before it is stored: its metadata, the raw (not yet standardised)
    vectors of the standardised kinds, and the unit vectors of the others."""

    metadata: dict[str, str]
    raws: dict[str, np.ndarray]
    unit: dict[str, np.ndarray]


def clip_features(source: ClipSource) -> ClipFeatures:
    """A clip's features from its media and its line (no model-written views, no library needed)."""
    sound = source.audio or source.video
    if sound is None:
        raise CinedubError(f"clip {source.clip_id} has neither audio nor video")
    audio, rate = media.load_audio(sound)
    prosody = reference_prosody(audio, rate, source.text or None)
    if prosody["speech_duration"] <= 0:
        raise CinedubError(f"no speech in {sound}")
    metadata = {"clip_id": source.clip_id, "movie": source.movie, "speaker": source.speaker,
                "emotion": source.emotion, "text": source.text[:MAX_TEXT_METADATA], "audio": str(sound),
                "video": str(source.video or ""), "prosody": json.dumps(prosody)}  # fmt: skip
    raws: dict[str, np.ndarray] = {}
    unit: dict[str, np.ndarray] = {}
    if source.video is not None:
        picture = features.picture_features(perceive(source.video))
        raws["scene"] = picture.scene
        if picture.face is not None:
            raws["face"] = picture.face
    if source.text:
        unit["text"] = features.text_vector(source.text)
    raws["audio"] = features.egemaps(audio, rate)
    return ClipFeatures(metadata=metadata, raws=raws, unit=unit)


class ReferenceLibrary:
    """Reference clips with their four emotion vectors in Chroma, and the three-path query."""

    def __init__(self, *, store: Store, describe_scene: SceneDescriber | None = None,
                 write_reaction: ReactionWriter | None = None) -> None:  # fmt: skip
        self.store = store
        self.describe_scene = describe_scene
        self.write_reaction = write_reaction
        self._stats: dict[str, Standardiser] | None = None

    @classmethod
    def open(cls, db: Path | None = None, *, chroma_url: str | None = None,
             describe_scene: SceneDescriber | None = None, write_reaction: ReactionWriter | None = None) -> ReferenceLibrary:  # fmt: skip
        """The library in folder `db` (default $CINEDUB_HOME/library), or on a `chroma run` server."""
        if chroma_url and db is not None:
            raise CinedubError("give either a library folder or --chroma-url, not both")
        db = None if chroma_url else Path(db) if db is not None else default_db()
        store = Store(client=connect(db, chroma_url), location=chroma_url or str(db), db=db)
        return cls(store=store, describe_scene=describe_scene, write_reaction=write_reaction)

    # -- building ----------------------------------------------------------------------------

    def build(self, root: str | Path | None = None, *, manifest: str | Path | None = None, progress: bool = True,
              workers: int = 1, ray_address: str | None = None) -> IngestReport:  # fmt: skip
        """Ingest a folder tree (MOVIE/CLIP.{mp4, wav|mp3, txt}) or a JSONL manifest; the clips' features
        are measured in `workers` processes (or on the Ray cluster at `ray_address`)."""
        if (root is None) == (manifest is None):
            raise CinedubError("give a folder of clips or --manifest FILE (one of them)")
        sources = read_manifest(manifest) if manifest is not None else read_folder(root)
        self._stats = None
        return ingest(self, sources, progress=progress, workers=workers, ray_address=ray_address)

    def standardiser(self, kind: str, dim: int) -> Standardiser:
        if self._stats is None:
            self._stats = {k: Standardiser.from_json(v) for k, v in self.store.read_stats().items()}
        return self._stats.get(kind) or Standardiser.identity(dim)

    def _vector(self, kind: str, raw: np.ndarray) -> np.ndarray:
        return features.l2_normalise(self.standardiser(kind, len(raw)).apply(raw))

    def add(self, source: ClipSource) -> None:
        """Compute a clip's vectors and store them; the audio vector last (it marks the clip done)."""
        self.store_clip(source, clip_features(source))

    def store_clip(self, source: ClipSource, clip: ClipFeatures) -> None:
        """Store a clip's features (computed anywhere: `clip_features` runs in batch workers), with the
        model-written views when a model is configured; the audio vector last (it marks the clip done)."""
        raws, unit = dict(clip.raws), dict(clip.unit)
        if source.video is not None:
            description = self._written(self.describe_scene, source.video)
            if description:
                unit["scene_vlm"] = features.embed_sentences([description])[0]
        if source.text:
            reaction = self._written(self.write_reaction, source.text)
            if reaction:
                unit["text_reaction"] = features.text_vector(reaction)
        for kind, raw in raws.items():
            unit[kind] = self._vector(kind, raw)
        for kind in sorted(unit, key=lambda k: k == "audio"):  # audio last
            record = dict(clip.metadata, raw=json.dumps(raws[kind].tolist())) if kind in raws else clip.metadata
            self.store.upsert(kind, source.clip_id, unit[kind], record)

    def refresh_statistics(self) -> None:
        """Refit the standardisation statistics on every stored clip and rewrite those vectors, while
        the statistics rest on fewer than STATS_FREEZE_CLIPS clips (see store.py)."""
        stored = {k: Standardiser.from_json(v) for k, v in self.store.read_stats().items()}
        changed = False
        for kind in STANDARDISED:
            current = stored.get(kind)
            count = self.store.count(kind)
            if count < 2 or (current is not None and (current.n >= STATS_FREEZE_CLIPS or current.n == count)):
                continue
            records = self.store.records(kind, ("metadatas",))
            raws = np.array([json.loads(m["raw"]) for m in records["metadatas"]])  # (N, D)
            fitted = Standardiser.fit(raws)
            stored[kind] = fitted
            for start in range(0, len(raws), 256):
                ids = records["ids"][start : start + 256]
                vectors = [features.l2_normalise(fitted.apply(r)).astype(np.float32) for r in raws[start : start + 256]]
                self.store.collection(kind).upsert(ids=ids, embeddings=vectors,
                                                   metadatas=records["metadatas"][start : start + 256])  # fmt: skip
            changed = True
        if changed:
            self.store.write_stats({k: s.to_json() for k, s in stored.items()})
            self._stats = stored

    @staticmethod
    def _written(write: Callable[[Any], str] | None, subject: Any) -> str | None:
        """A model-written description or reaction, or None: without a model, or when the model fails
        (the clip keeps its other vectors; a query its other parts)."""
        if write is None:
            return None
        try:
            return write(subject)
        except CinedubError as err:
            log.warning("no model-written text for %s: %s", subject, err)
            return None

    # -- querying ----------------------------------------------------------------------------

    def _path(self, first: tuple[str, np.ndarray], second: tuple[str, np.ndarray] | None, k: int,
              where: dict | None) -> list[Hit]:  # fmt: skip
        """Top k of one path; with a second part, a clip's score is the mean of its two similarities
        where both exist (the other part's similarity is read off its stored vector)."""
        if second is None or self.store.count(second[0]) == 0:
            return self.store.query(first[0], first[1], k, where)
        deep = k * CANDIDATE_FACTOR
        hits = {h.clip_id: h for kind, vector in (first, second) for h in self.store.query(kind, vector, deep, where)}
        ids = list(hits)
        sims: dict[str, list[float]] = {i: [] for i in ids}
        for kind, vector in (first, second):
            for clip_id, stored in self.store.vectors(kind, ids).items():
                sims[clip_id].append(float(stored @ vector))
        scored = [Hit(clip_id=i, score=float(np.mean(s)), metadata=hits[i].metadata) for i, s in sims.items() if s]
        return sorted(scored, key=lambda h: -h.score)[:k]

    def _picture_paths(self, clip: Path, perception: Perception | None, k: int,
                       where: dict | None) -> dict[str, list[Hit]]:  # fmt: skip
        if perception is None:
            if not media.probe(clip).has_video:
                return {"scene": [], "face": []}
            perception = perceive(clip)
        picture = features.picture_features(perception)
        description = self._written(self.describe_scene, clip)
        vlm = ("scene_vlm", features.embed_sentences([description])[0]) if description else None
        out = {"scene": self._path(("scene", self._vector("scene", picture.scene)), vlm, k, where), "face": []}
        if picture.face is not None:
            out["face"] = self.store.query("face", self._vector("face", picture.face), k, where)
        return out

    def _text_path(self, text: str, emotion: str | None, k: int, where: dict | None, *,
                   lexicon: TextEmotion | None = None) -> list[Hit]:  # fmt: skip
        if not text:
            return []
        written = self._written(self.write_reaction, text)
        reaction = ("text_reaction", features.text_vector(written)) if written else None
        own = features.text_vector(text, emotion=emotion, lexicon=lexicon)
        return self._path(("text", own), reaction, k, where)

    def query(self, clip: Path, lines: list[Line], conclusion: Conclusion | None = None, *, k: int = DEFAULT_K,
              same_speaker: str | None = None, exclude_clip: str | None = None,
              perception: Perception | None = None) -> list[Reference]:  # fmt: skip
        """References for a clip and its lines: scene, face and text paths in parallel, top k each,
        merged (see `merge`). `same_speaker` keeps that speaker's clips only; `exclude_clip` drops a
        clip id (the query's own clip, when it is in the library). `perception`: the clip's, of these
        lines, when it has been perceived already (the director's `watch`): the scene, face and text
        emotion are read off it instead of being measured again."""
        if k < 1:
            raise CinedubError(f"k must be at least 1, got {k}")
        clip = Path(clip)
        media.probe(clip)  # one clear line for a missing or unreadable clip
        text = " ".join(line.text for line in lines)
        emotion = conclusion.emotion if conclusion is not None else None
        lexicon = perception.text if perception is not None else None
        where = _where(same_speaker, exclude_clip)
        self._stats = None  # another process may have refitted them since
        with ThreadPoolExecutor(max_workers=2) as pool:
            picture = pool.submit(self._picture_paths, clip, perception, k, where)
            words = pool.submit(self._text_path, text, emotion, k, where, lexicon=lexicon)
            paths = {**picture.result(), "text": words.result()}
        return merge(paths)

    def query_audio(self, audio: str | Path, *, k: int = DEFAULT_K, same_speaker: str | None = None,
                    exclude_clip: str | None = None) -> list[Reference]:  # fmt: skip
        """References whose sound is nearest a recording's (eGeMAPS, standardised, cosine)."""
        if k < 1:
            raise CinedubError(f"k must be at least 1, got {k}")
        samples, rate = media.load_audio(audio)
        self._stats = None
        hits = self.store.query("audio", self._vector("audio", features.egemaps(samples, rate)), k,
                                _where(same_speaker, exclude_clip))  # fmt: skip
        return merge({"audio": hits})

    # -- inspecting --------------------------------------------------------------------------

    def count(self) -> int:
        """Clips in the library (each has an audio vector)."""
        return self.store.count("audio")

    def stats(self) -> dict[str, Any]:
        """Clips, vectors per collection, speakers, emotions and the standardisation statistics' sizes."""
        records = self.store.records("audio", ("metadatas",))
        emotions: dict[str, int] = {}
        for m in records["metadatas"]:
            label = m.get("emotion") or "unlabelled"
            emotions[label] = emotions.get(label, 0) + 1
        return {
            "location": self.store.location,
            "clips": len(records["ids"]),
            "vectors": {kind: self.store.count(kind) for kind in KINDS},
            "speakers": len({m.get("speaker") for m in records["metadatas"] if m.get("speaker")}),
            "movies": len({m.get("movie") for m in records["metadatas"] if m.get("movie")}),
            "emotions": dict(sorted(emotions.items())),
            "standardisation_clips": {k: v["n"] for k, v in self.store.read_stats().items()},
        }
