"""Faces tracked across frames into people: greedy matching of boxes by overlap and distance."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cinedub.agents.perception.faces import FaceObservation, iou

# A face continues a track when its box overlaps the track's last box this much ...
MIN_IOU = 0.2
# ... or its centre moved less than this (in face widths) since the track was last seen.
MAX_CENTRE_SHIFT = 0.8
# A track unseen for longer than this (seconds) is closed.
MAX_GAP_S = 1.0
# A track is a person when seen in this fraction of the sampled frames, or for MIN_SECONDS; fewer
# than MIN_FRAMES is always noise (a mis-detection in a busy background).
MIN_PRESENCE = 0.2
MIN_SECONDS = 1.0
MIN_FRAMES = 3


@dataclass
class Track:
    track_id: int
    frames: list[int] = field(default_factory=list)  # indices into the sampled frames
    faces: list[FaceObservation] = field(default_factory=list)

    @property
    def last(self) -> FaceObservation:
        return self.faces[-1]


def _affinity(track: Track, face: FaceObservation) -> float:
    overlap = iou(track.last.box, face.box)
    (tx, ty), (fx, fy) = track.last.centre, face.centre
    shift = np.hypot(tx - fx, ty - fy) / max(track.last.box[2], 1e-3)
    if overlap < MIN_IOU and shift > MAX_CENTRE_SHIFT:
        return 0.0
    return overlap + max(0.0, 1.0 - shift / MAX_CENTRE_SHIFT) * 0.5


def track_faces(per_frame: list[list[FaceObservation]], times: np.ndarray) -> list[Track]:
    """People across frames. Tracks are numbered in order of first appearance, noise dropped."""
    open_tracks: list[Track] = []
    done: list[Track] = []
    next_id = 0
    for index, faces in enumerate(per_frame):
        t = times[index]
        still_open = []
        for track in open_tracks:
            (done if t - times[track.frames[-1]] > MAX_GAP_S else still_open).append(track)
        open_tracks = still_open
        pairs = sorted(((_affinity(tr, f), i, j) for i, tr in enumerate(open_tracks) for j, f in enumerate(faces)),
                       reverse=True)  # fmt: skip
        used_tracks, used_faces = set(), set()
        for score, i, j in pairs:
            if score <= 0 or i in used_tracks or j in used_faces:
                continue
            open_tracks[i].frames.append(index)
            open_tracks[i].faces.append(faces[j])
            used_tracks.add(i)
            used_faces.add(j)
        for j, face in enumerate(faces):
            if j not in used_faces:
                open_tracks.append(Track(track_id=next_id, frames=[index], faces=[face]))
                next_id += 1
    tracks = done + open_tracks
    fps = len(per_frame) / max(float(times[-1] - times[0]), 1e-3) if len(times) > 1 else 1.0
    needed = max(MIN_FRAMES, min(int(MIN_PRESENCE * len(per_frame)), round(MIN_SECONDS * fps)))
    kept = sorted((t for t in tracks if len(t.frames) >= needed), key=lambda t: t.frames[0])
    for new_id, track in enumerate(kept):
        track.track_id = new_id
    return kept
