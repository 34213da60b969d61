"""Perception tools: the facts the director reads off a clip and its line.

`perceive` decodes the clip at a fixed rate, finds faces (MediaPipe detection + mesh, described by
`mesh.descriptors`), tracks them into people, measures each person's mouth opening to tell who talks
and when, estimates age, gender and facial emotion from a few crops per person, and adds scene colour
and the line's text emotion. The reference library and the actor read this Perception; nothing
decodes the clip for faces again.

Frames stream through in bounded memory: of each frame only a few numbers per face and running scene
sums are kept, and the few frames the crops come from are decoded again at the end (by seeking), so
memory does not grow with the clip's length beyond those per-frame numbers.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np

from cinedub import media
from cinedub.agents.perception.attributes import age_gender, face_crop, facial_emotion
from cinedub.agents.perception.faces import FaceFinder, FaceObservation
from cinedub.agents.perception.mouth import TALKING_THRESHOLD, mouth_activity, speaking_windows
from cinedub.agents.perception.scene import SceneStats
from cinedub.agents.perception.text import text_emotion
from cinedub.agents.perception.tracking import Track, track_faces
from cinedub.errors import CinedubError
from cinedub.types import Perception, Person

# Mouths move at syllable rate (3-6 Hz): 10 fps sees it (and is what the director asks for); 15 fps
# also finds quiet, small-mouthed speech (see mouth.WINDOW_THRESHOLD) at ~1.4x the face time.
DEFAULT_FPS = 10.0
DEFAULT_MAX_SIDE = 640
# Frames age / gender / emotion crops may come from: one every this many seconds.
ATTRIBUTE_EVERY_S = 0.5
# Those frames are kept from the one decoding pass up to this many (~45 MB at 640 px, a 32 s clip);
# a longer clip has the few it uses decoded again instead, so memory does not grow with the clip.
MAX_KEPT_FRAMES = 64
# Crops per person, spread over the time the person is seen (an expression changes over a long
# clip), the largest view in each stretch.
CROPS_PER_PERSON = 5
# A talker needs this much speaking-window time.
MIN_TALKING_S = 0.5


def _attribute_views(track: Track, eligible: set[int]) -> list[tuple[int, FaceObservation]]:
    """Up to CROPS_PER_PERSON (frame, face) pairs from the eligible frames, spread over the track: its
    eligible views split into equal stretches, the largest face (with a mesh, so a real face) of each."""
    views = [(frame, face) for frame, face in zip(track.frames, track.faces, strict=True)
             if frame in eligible]  # fmt: skip
    meshed = [v for v in views if v[1].meshed]
    views = meshed or views
    if not views:
        return []
    stretches = np.array_split(np.arange(len(views)), min(CROPS_PER_PERSON, len(views)))
    return [max((views[i] for i in stretch), key=lambda v: v[1].box[2] * v[1].box[3])
            for stretch in stretches]  # fmt: skip


def _person(track: Track, series: np.ndarray, times: np.ndarray, fps: float,
            views: list[tuple[int, FaceObservation]], frames: dict[int, np.ndarray]) -> Person:  # fmt: skip
    activity = mouth_activity(series, fps)
    windows = speaking_windows(series, times, fps)
    talking = activity > TALKING_THRESHOLD and sum(w.duration for w in windows) >= MIN_TALKING_S
    boxes = np.array([face.box for face in track.faces])
    views = [(frame, face) for frame, face in views if frame in frames]
    age, gender, emotions = None, "unknown", {}
    if views:
        age, gender = age_gender([face_crop(frames[frame], face.box) for frame, face in views])
        emotions = facial_emotion([face_crop(frames[frame], face.box, margin=0.05) for frame, face in views])
    return Person(
        track_id=track.track_id,
        first_seen=round(float(times[track.frames[0]]), 3),
        last_seen=round(float(times[track.frames[-1]]), 3),
        frames_seen=len(track.frames),
        box=tuple(float(v) for v in boxes.mean(axis=0)),
        mouth_activity=round(activity, 5),
        talking=bool(talking),
        speaking_windows=windows if talking else [],
        age=age,
        gender=gender,
        facial_emotion=max(emotions, key=emotions.get) if emotions else None,
        facial_emotion_scores=emotions,
    )


def perceive(clip: str | Path, line: str | None = None, *, fps: float = DEFAULT_FPS,
             max_side: int = DEFAULT_MAX_SIDE, finder: FaceFinder | None = None) -> Perception:  # fmt: skip
    """Everything the director's tools can tell about `clip` (and `line`, if given).

    finder: an open FaceFinder to reuse (a batch worker keeps one for all its clips); by default one is
    opened for this clip and closed after it."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    info = media.probe(clip)
    times, faces_per_frame = [], []
    eligible: set[int] = set()  # frames the attribute crops may come from
    kept: dict[int, np.ndarray] | None = {}  # those frames, while they fit in MAX_KEPT_FRAMES
    scene_stats = SceneStats()
    next_eligible = 0.0
    with contextlib.ExitStack() as resources:
        if finder is None:
            finder = resources.enter_context(FaceFinder())
        finder.forget()
        for index, (t, rgb) in enumerate(media.iter_frames(clip, fps=fps, max_side=max_side)):
            times.append(t)
            faces = finder.find(rgb)
            faces_per_frame.append([face.summary(rgb.shape[1] / rgb.shape[0]) for face in faces])
            scene_stats.add(rgb[::4, ::4])
            if t >= next_eligible and faces:
                eligible.add(index)
                next_eligible = t + ATTRIBUTE_EVERY_S
                if kept is not None:
                    kept[index] = rgb
                    if len(kept) > MAX_KEPT_FRAMES:
                        kept = None
    if not times:
        raise CinedubError(f"{clip} has no video frames")
    timings["faces"] = time.perf_counter() - start
    times_arr = np.asarray(times)
    sample_fps = len(times) / max(info.duration, 1e-3)

    lap = time.perf_counter()
    tracks = track_faces(faces_per_frame, times_arr)
    series: dict[int, np.ndarray] = {}
    face_series: dict[int, list[list[float] | None]] = {}
    for track in tracks:
        values = np.full(len(times), np.nan)
        described: list[list[float] | None] = [None] * len(times)
        for frame, face in zip(track.frames, track.faces, strict=True):
            values[frame] = np.nan if face.opening is None else face.opening
            if face.descriptors is not None:
                described[frame] = [round(float(v), 5) for v in face.descriptors]
        series[track.track_id] = values
        face_series[track.track_id] = described
    timings["tracking"] = time.perf_counter() - lap

    lap = time.perf_counter()
    views = {track.track_id: _attribute_views(track, eligible) for track in tracks}
    wanted = sorted({frame for chosen in views.values() for frame, _ in chosen})
    if kept is not None:
        frames = {i: kept[i] for i in wanted}
    else:
        decoded = media.frames_at(clip, [times[i] for i in wanted], max_side=max_side)
        frames = {i: decoded[times[i]] for i in wanted if times[i] in decoded}
    people = [_person(track, series[track.track_id], times_arr, sample_fps, views[track.track_id], frames)
              for track in tracks]  # fmt: skip
    del frames, kept
    timings["attributes"] = time.perf_counter() - lap

    lap = time.perf_counter()
    scene = scene_stats.result()
    text = text_emotion(line) if line else None
    timings["scene_and_text"] = time.perf_counter() - lap

    talkers = [p for p in people if p.talking]
    speaker = max(talkers, key=lambda p: p.mouth_activity, default=None)
    timings["total"] = time.perf_counter() - start
    return Perception(
        duration=info.duration,
        sample_fps=round(sample_fps, 3),
        num_frames=len(times),
        frame_times=[round(float(t), 4) for t in times],
        people=people,
        num_people=len(people),
        num_speaking=len(talkers),
        speaker_id=speaker.track_id if speaker else None,
        speaking_windows=speaker.speaking_windows if speaker else [],
        mouth_series={k: [None if np.isnan(v) else round(float(v), 5) for v in s] for k, s in series.items()},
        face_series=face_series,
        scene=scene,
        text=text,
        timings={k: round(v, 4) for k, v in timings.items()},
    )
