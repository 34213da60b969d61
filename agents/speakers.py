"""Who speaks each line: the active speaker among the tracked faces, the characters bound to faces, and
each diarized voice linked to a face.

A line's speaker is the face whose mouth moves most like speech inside the line's window: the RMS of its
mouth-opening residual there (perception.mouth.residual: the opening minus its running median, so a smile
or a held open mouth does not count), divided by that face's own spread over the clip (Person.mouth_activity,
floored at the talking threshold) so a small-mouthed talker is not outvoted by a broad one. When the clip
has sound, each face's residual is also correlated with the dialogue's loudness envelope inside the window
(audio-visual co-activity: a mouth opens as the voice gets loud), and a face whose movement follows the
voice scores up to 1.5 times its movement alone (a tie-breaker: see AV_WEIGHT for what it measured). A
window where no seen mouth moves above the mesh's noise floor has no speaker on screen: narration or
voice-over for that line (None).

Characters are bound to faces by the lines' speakers: each character takes the face that speaks most of
their lines, one face per character (an assignment over the vote counts), a character whose lines no face
speaks stays off screen. Diarized speakers are linked to faces the same way, by how much each face's
mouth moves during each speaker's turns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from cinedub.agents.perception.mouth import TALKING_THRESHOLD, WINDOW_THRESHOLD, residual
from cinedub.diarize import Turn
from cinedub.types import Perception, Record, Window

# A face takes part in a window when the mesh saw its mouth in at least this share of the window's frames
# (a face that walks in at the window's last frame did not say the line).
MIN_SEEN_SHARE = 0.5
# A mouth is still in a window when its residual's RMS there is under this (face heights): the local
# activity under which perception calls no frame speaking (mouth.WINDOW_THRESHOLD, the mesh's noise floor
# on a small face). No face above it: the line is narration / voice-over.
STILL_MOUTH = WINDOW_THRESHOLD
# The per-face normaliser's floor (face heights): a face whose mouth hardly moves over the whole clip is
# measured against a talker's spread, not its own noise.
MIN_SPREAD = TALKING_THRESHOLD
# Audio-visual co-activity: the dialogue's loudness in each sampled frame's span, in dB, floored this far
# below the loudest frame (silence and room tone all read as the floor, not as a shape to follow).
ENVELOPE_FLOOR_DB = 40.0
# The mouth leads or lags the voice by up to this (s): lips part before the sound, and encoders shift the
# streams by a frame or two; the correlation is taken at the best lag within it.
MAX_AV_LAG_S = 0.2
# A face whose movement follows the voice (correlation r > 0) scores movement * (1 + AV_WEIGHT * r). Kept a
# tie-breaker, not a vote: on the real two-person scene of tests/test_speakers.py the talker's correlation in
# a 2.6 s window measured -0.25..+0.33 (the woman's opening moves against her loudness), a frozen face's
# noise up to 0.4, at 10 and at 25 fps alike; with both mouths moving and only the woman's voice, movement
# said 1.72 (her) to 1.76 (the man) and the correlation 0.14 to 0.13, so it did not separate them.
AV_WEIGHT = 0.5
MIN_AV_FRAMES = 5  # fewer seen frames in a window than this: no correlation (too few to mean anything)


class LineSpeaker(Record):
    """Who speaks one window: the face's track id or None (off screen), and each face's evidence."""

    track_id: int | None
    movement: dict[int, float] = {}  # track_id -> residual RMS in the window / the face's spread
    sync: dict[int, float] = {}  # track_id -> correlation of the mouth with the voice (when there is sound)
    score: dict[int, float] = {}  # track_id -> movement weighted by sync (0: a still mouth); the best speaks


class CharacterBinding(Record):
    """A character bound to a face (track id, None: off screen), with the evidence, for the UI to show and
    the director to change (set `track_id`)."""

    character: str
    track_id: int | None
    lines: list[int]  # the character's lines, numbered from 1
    votes: dict[int, int] = {}  # track_id -> how many of those lines that face was seen to speak


def speech_envelope(audio: np.ndarray, sample_rate: int, frame_times: Sequence[float],
                    fps: float) -> np.ndarray:  # fmt: skip
    """The loudness (dB, floored ENVELOPE_FLOOR_DB under the loudest) of mono `audio` (best the dialogue
    stem, Stems.dialogue) over each sampled frame's span, 1 / fps wide and centred on its time."""
    x = np.asarray(audio, np.float64)
    half = 0.5 / fps
    levels = np.empty(len(frame_times))
    for i, t in enumerate(frame_times):
        a, b = int(max(0.0, t - half) * sample_rate), int(max(0.0, t + half) * sample_rate)
        part = x[a:b]
        levels[i] = np.sqrt(np.mean(part**2)) if len(part) else 0.0
    db = 20.0 * np.log10(np.maximum(levels, 1e-10))
    return np.maximum(db, db.max() - ENVELOPE_FLOOR_DB)


def _in_window(times: np.ndarray, window: Window) -> np.ndarray:
    return (times >= window.start) & (times < window.end)


def _sync(motion: np.ndarray, envelope: np.ndarray, seen: np.ndarray, max_lag: int) -> float:
    """The best Pearson correlation of `motion` with `envelope` over lags within ±max_lag frames (both
    arrays cover the same frames; only the frames where the mouth was seen count)."""
    best = 0.0
    n = len(motion)
    for lag in range(-max_lag, max_lag + 1):
        a = slice(max(0, lag), n + min(0, lag))  # motion frames
        b = slice(max(0, -lag), n - max(0, lag))  # envelope frames
        keep = seen[a]
        m, e = motion[a][keep], envelope[b][keep]
        if len(m) < MIN_AV_FRAMES or np.std(m) == 0.0 or np.std(e) == 0.0:
            continue
        best = max(best, float(np.corrcoef(m, e)[0, 1]))
    return best


class _Faces:
    """Each face's mouth residual and spread, computed once per clip."""

    def __init__(self, perception: Perception, envelope: np.ndarray | None) -> None:
        self.times = np.asarray(perception.frame_times, float)
        fps = perception.sample_fps
        self.max_lag = int(round(MAX_AV_LAG_S * fps))
        self.envelope = None if envelope is None else np.asarray(envelope, float)
        if self.envelope is not None and len(self.envelope) != len(self.times):
            raise ValueError(f"the envelope has {len(self.envelope)} frames, perception {len(self.times)}")
        spread = {p.track_id: max(p.mouth_activity, MIN_SPREAD) for p in perception.people}
        self.faces: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}
        for track_id, values in perception.mouth_series.items():
            series = np.array([np.nan if v is None else v for v in values], float)
            seen = ~np.isnan(series)
            if seen.sum() < MIN_AV_FRAMES:
                continue
            self.faces[track_id] = (residual(series, fps), seen, spread.get(track_id, MIN_SPREAD))

    def speaker(self, window: Window) -> LineSpeaker:
        inside = _in_window(self.times, window)
        movement, sync, score, rms = {}, {}, {}, {}
        for track_id, (res, seen, spread) in self.faces.items():
            frames = inside & seen
            if not inside.any() or frames.sum() < MIN_SEEN_SHARE * inside.sum():
                continue
            rms[track_id] = float(np.sqrt(np.mean(res[frames] ** 2)))
            movement[track_id] = round(rms[track_id] / spread, 4)
            weight = 1.0
            if self.envelope is not None:
                r = _sync(res[inside], self.envelope[inside], seen[inside], self.max_lag)
                sync[track_id] = round(r, 4)
                weight += AV_WEIGHT * max(sync[track_id], 0.0)
            # a still mouth scores nothing, however well its noise happens to follow the voice
            score[track_id] = round(movement[track_id] * weight, 4) if rms[track_id] >= STILL_MOUTH else 0.0
        best = max((t for t in score if score[t] > 0.0), key=lambda t: score[t], default=None)
        return LineSpeaker(track_id=best, movement=movement, sync=sync, score=score)


def line_speakers(perception: Perception, windows: Sequence[Window],
                  envelope: np.ndarray | None = None) -> list[LineSpeaker]:  # fmt: skip
    """For each window (a line's), the face speaking it, or None when no seen mouth moves (narration /
    voice-over). `envelope`: speech_envelope of the clip's dialogue at perception.frame_times, when the clip
    has sound."""
    faces = _Faces(perception, envelope)
    return [faces.speaker(window) for window in windows]


def _assign(votes: np.ndarray) -> list[int | None]:
    """For each row, the column given to it (one column per row, the most votes in all), None where the
    row's column has no votes."""
    from scipy.optimize import linear_sum_assignment

    chosen: list[int | None] = [None] * votes.shape[0]
    if votes.size == 0:
        return chosen
    rows, cols = linear_sum_assignment(votes, maximize=True)
    for r, c in zip(rows, cols):
        if votes[r, c] > 0:
            chosen[int(r)] = int(c)
    return chosen


def bind_characters(characters: Sequence[str | None],
                    speakers: Sequence[int | None]) -> list[CharacterBinding]:  # fmt: skip
    """Each character (a line's speaker in the script; None: unnamed) bound to the face that speaks most of
    their lines (`speakers`: line_speakers' track ids, one per line), one face per character; in order of
    first line."""
    if len(characters) != len(speakers):
        raise ValueError(f"{len(characters)} characters for {len(speakers)} lines")
    names: list[str] = []
    for name in characters:
        if name is not None and name not in names:
            names.append(name)
    tracks = sorted({t for t in speakers if t is not None})
    votes = np.zeros((len(names), len(tracks)))
    for name, track in zip(characters, speakers):
        if name is not None and track is not None:
            votes[names.index(name), tracks.index(track)] += 1
    chosen = _assign(votes)
    return [CharacterBinding(character=name, track_id=None if c is None else tracks[c],
                             lines=[i for i, n in enumerate(characters, 1) if n == name],
                             votes={tracks[j]: int(v) for j, v in enumerate(votes[r]) if v})
            for r, (name, c) in enumerate(zip(names, chosen))]  # fmt: skip


def characters_to_voices(characters: Sequence[str | None], windows: Sequence[Window],
                         turns: Sequence[Turn]) -> dict[str, str]:  # fmt: skip
    """Each named character (a line's speaker; one per window) given the diarized speaker ("S1", ...) heard most
    inside their lines' windows, one speaker per character; a character no voice is heard for is left out."""
    names = [name for name in dict.fromkeys(characters) if name is not None]
    voices = list(dict.fromkeys(turn.speaker for turn in turns))
    votes = np.zeros((len(names), len(voices)))
    for name, window in zip(characters, windows, strict=True):
        if name is None:
            continue
        for turn in turns:
            overlap = min(window.end, turn.end) - max(window.start, turn.start)
            if overlap > 0:
                votes[names.index(name), voices.index(turn.speaker)] += overlap
    return {name: voices[c] for name, c in zip(names, _assign(votes)) if c is not None}


# A note that binds a character to a face: "Anna is face 3", "Anna: face 3", "Anna is off screen".
_BINDING = re.compile(r"^\s*(?P<name>.+?)(?:\s+is|\s*:)\s+(?:(?:the\s+)?face\s+#?(?P<face>\d+)|(?P<off>off[\s-]screen))"
                      r"\s*[.!]?\s*$", re.IGNORECASE)  # fmt: skip


def binding_note(note: str, characters: Sequence[str]) -> tuple[str, int | None] | None:
    """(character, face track id or None for off screen) when `note` rebinds one of `characters` to a face
    (names compared without case), else None."""
    match = _BINDING.match(note or "")
    if match is None:
        return None
    name = next((c for c in characters if c.casefold() == match["name"].strip().casefold()), None)
    if name is None:
        return None
    return name, None if match["off"] else int(match["face"])


def rebind(bindings: Sequence[CharacterBinding], speakers: Sequence[LineSpeaker], character: str,
           face: int | None) -> tuple[list[CharacterBinding], list[LineSpeaker]]:  # fmt: skip
    """The bindings with `character` bound to `face`, and each of their lines said by that face (the director
    corrects what the mouths suggested; the evidence is kept)."""
    bound = next(b for b in bindings if b.character == character)
    bindings = [b.model_copy(update={"track_id": face}) if b.character == character else b for b in bindings]
    speakers = [s.model_copy(update={"track_id": face}) if n in bound.lines else s
                for n, s in enumerate(speakers, 1)]  # fmt: skip
    return bindings, speakers


def link_speakers(perception: Perception, turns: Sequence[Turn],
                  envelope: np.ndarray | None = None) -> dict[str, int | None]:  # fmt: skip
    """Each diarized speaker ("S1", ...) linked to the face whose mouth moves most during their turns (its
    line score summed over the turns, weighted by their length), one face per speaker; None: no face moves
    with them (a voice off screen)."""
    faces = _Faces(perception, envelope)
    names = list(dict.fromkeys(turn.speaker for turn in turns))
    tracks = sorted(faces.faces)
    votes = np.zeros((len(names), len(tracks)))
    for turn in turns:
        found = faces.speaker(Window(start=turn.start, end=turn.end))
        for track, score in found.score.items():
            votes[names.index(turn.speaker), tracks.index(track)] += score * turn.duration
    chosen = _assign(votes)
    return {name: None if c is None else tracks[c] for name, c in zip(names, chosen)}


def turns_by_face(perception: Perception, turns: Sequence[Turn],
                  envelope: np.ndarray | None = None,
                  ) -> tuple[list[Turn], dict[str, int | None]]:  # fmt: skip
    """The diarized turns corrected by the mouths, and each speaker's face (link_speakers).

    A voice's embedding windows (1.5 s) reach across a change of speaker, so a turn's first half second can
    go to the previous speaker; a turn during which another speaker's face is the one talking goes to that
    speaker. Turns with no face talking, or a face linked to no speaker, keep the voice's speaker."""
    faces = link_speakers(perception, turns, envelope)
    speaker_of = {face: name for name, face in faces.items() if face is not None}
    found = line_speakers(perception, [Window(start=t.start, end=t.end) for t in turns], envelope)
    return [Turn(start=turn.start, end=turn.end, speaker=speaker_of.get(line.track_id, turn.speaker))
            for turn, line in zip(turns, found)], faces  # fmt: skip
