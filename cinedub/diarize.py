"""Who speaks when in a recording: the clip's own dialogue as speaker turns.

Speech from Silero VAD (cinedub.vad); over the speech alone (silence cut out), a GE2E d-vector
(resemblyzer, cinedub.speaker_encoder) every WINDOW_HOP_S for a WINDOW_S window; the windows clustered
(scipy's average-linkage agglomerative clustering on cosine distance) as pyannote.audio 3 clusters its
embeddings: the tree cut at a distance threshold, the clusters with at least MIN_SPEAKER_S of speech are
the speakers, and every window goes to its nearest speaker centroid. Each 10 ms speech frame takes the
speaker its windows voted for (each window weighted most at its middle); a turn shorter than MIN_TURN_S
inside a stretch of speech joins its neighbour. Overlapping speech gets one speaker.

Measured on pyannote.audio's packaged two-speaker recording against its RTTM (tests/test_diarize.py,
bench/diarize_bench.py): DER 6.8 % with a 0.25 s collar and 2 speakers found (10.4 % with
`num_speakers=2`). Counting speakers from GE2E alone is the weak part for similar voices (the centroids of
the two there have a cosine similarity of 0.89, two halves of one reader's speech about as much): when
the number is known (the faces seen talking), pass `num_speakers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cinedub.errors import CinedubError
from cinedub.media import resample, write_wav
from cinedub.speaker_encoder import ENCODER_LOCK, ENCODER_SAMPLE_RATE, encoder
from cinedub.vad import spans_mask, speech_spans

FRAME_S = 0.010  # s, resemblyzer's mel hop (hparams.mel_window_step)
LEVEL_DBFS = -30.0  # quiet audio raised to this before the mel (resemblyzer's audio_norm_target_dBFS)
# GE2E is trained on 1.6 s partials; 1.5 s still holds one speaker's voice across most turn changes, and a
# quarter-second hop gives every frame six votes. Shorter windows (1.0 s) measured a worse DER.
WINDOW_S = 1.5  # s of speech per embedding
WINDOW_HOP_S = 0.25  # s between window starts
BATCH_WINDOWS = 64  # windows per forward pass
VOTE_FLOOR = 1e-3  # a window's vote at its very ends (its triangle's weight is 1 at the middle)
# Cosine distance at which the average-linkage tree is cut. On the packaged two-speaker sample the two
# voices split at 0.30 and merge at 0.35; below 0.25 one reader splits into several.
CLUSTER_DISTANCE = 0.30
MIN_SPEAKER_S = 3.0  # s of speech a cluster needs to count as a speaker (a smaller one is outlier windows)
REFINE_ITERATIONS = 2  # nearest-centroid passes after the cut (k-means steps from the tree's clusters)
MIN_TURN_S = 0.3  # s (about a word), a shorter run inside one stretch of speech joins its neighbour


@dataclass(frozen=True)
class Turn:
    """One speaker's stretch of speech, in seconds from the start of the recording."""

    start: float
    end: float
    speaker: str  # "S1", "S2", ... in order of first speech

    @property
    def duration(self) -> float:
        return self.end - self.start


def nearest_turn(turns: Sequence[Turn], t: float) -> int:
    """The index of the turn at time `t`, else of the nearest one (`t` falls in a pause, or before or after
    them all; of two as near, the first). `turns` is not empty."""
    return min(range(len(turns)), key=lambda i: max(turns[i].start - t, t - turns[i].end, 0.0))


def diarize(audio: np.ndarray, sample_rate: int, *, num_speakers: int | None = None,
            speech: list[tuple[float, float]] | None = None) -> list[Turn]:  # fmt: skip
    """The speaker turns of mono float `audio`, in time order.

    `num_speakers` fixes how many speakers there are (otherwise the clustering decides); `speech` is the
    (start_s, end_s) spans of speech when they are known already (Stems.speech), else Silero VAD finds them.
    """
    if num_speakers is not None and num_speakers < 1:
        raise CinedubError(f"num_speakers must be at least 1, not {num_speakers}")
    x = resample(np.asarray(audio, np.float32), sample_rate, ENCODER_SAMPLE_RATE)
    spans = speech_spans(x, ENCODER_SAMPLE_RATE) if speech is None else speech
    if not spans:
        raise CinedubError("no speech to diarize: Silero VAD hears none in the audio")
    mel = _mel(x)
    spans = [(start, min(end, len(mel) * FRAME_S)) for start, end in spans if start < len(mel) * FRAME_S]
    frames = np.flatnonzero(spans_mask(spans, len(mel), FRAME_S))  # the speech frames, in order
    if len(frames) == 0:
        raise CinedubError("no speech to diarize: the speech spans lie outside the audio")
    window = min(int(round(WINDOW_S / FRAME_S)), len(frames))
    hop = int(round(WINDOW_HOP_S / FRAME_S))
    starts = list(range(0, len(frames) - window + 1, hop))
    if starts[-1] + window < len(frames):
        starts.append(len(frames) - window)  # the last speech gets a window of its own
    embeddings = _embed(np.stack([mel[frames[s : s + window]] for s in starts]))
    labels = _cluster(embeddings, num_speakers, min_windows=int(np.ceil(MIN_SPEAKER_S / WINDOW_HOP_S)))
    # A window speaks most for the frames at its middle: a triangle, so at a change of speaker the
    # windows mostly on the other side do not pull the boundary towards them.
    weight = 1.0 - np.abs(np.linspace(-1.0, 1.0, window)) + VOTE_FLOOR
    votes = np.zeros((len(frames), labels.max() + 1))
    for start, label in zip(starts, labels):
        votes[start : start + window, label] += weight
    return _turns(frames, votes.argmax(axis=1), spans)


def _mel(x: np.ndarray) -> np.ndarray:
    """(frames, 40) log-mel frames every FRAME_S, resemblyzer's own features at the recording's times (its
    preprocess_wav would also cut silences, which moves the times)."""
    from resemblyzer.audio import normalize_volume, wav_to_mel_spectrogram

    return wav_to_mel_spectrogram(normalize_volume(x, LEVEL_DBFS, increase_only=True))


def _embed(mels: np.ndarray) -> np.ndarray:
    """(windows, 256) L2-normalised GE2E embeddings of (windows, frames, 40) mel windows."""
    import torch

    model = encoder()
    parts = []
    with ENCODER_LOCK, torch.no_grad():
        for i in range(0, len(mels), BATCH_WINDOWS):
            parts.append(model(torch.from_numpy(np.ascontiguousarray(mels[i : i + BATCH_WINDOWS]))).numpy())
    return np.concatenate(parts)


def _centroids(embeddings: np.ndarray, labels: np.ndarray, ids: list[int]) -> np.ndarray:
    centroids = np.stack([embeddings[labels == i].mean(axis=0) for i in ids])
    return centroids / np.linalg.norm(centroids, axis=1, keepdims=True)


def _cluster(embeddings: np.ndarray, num_speakers: int | None, min_windows: int) -> np.ndarray:
    """A speaker index (0..k-1) for each window."""
    if len(embeddings) < 2 or num_speakers == 1:
        return np.zeros(len(embeddings), int)
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(embeddings, method="average", metric="cosine")

    def large(labels: np.ndarray) -> list[int]:
        """The clusters with at least `min_windows` windows, largest first."""
        ids, counts = np.unique(labels, return_counts=True)
        return [int(ids[i]) for i in np.argsort(-counts, kind="stable") if counts[i] >= min_windows]

    if num_speakers is None:
        labels = fcluster(tree, CLUSTER_DISTANCE, criterion="distance")
        speakers = large(labels)
        if len(speakers) < 2:
            return np.zeros(len(embeddings), int)
    else:
        # The coarsest cut of the tree with `num_speakers` large clusters; if the speakers are told to be more
        # than the large clusters ever are, the cut into exactly that many clusters, small ones too.
        count = min(num_speakers, len(embeddings))
        for cut in range(count, len(embeddings) + 1):
            labels = fcluster(tree, cut, criterion="maxclust")
            if len(speakers := large(labels)) >= count:
                speakers = speakers[:count]
                break
        else:
            labels = fcluster(tree, count, criterion="maxclust")
            speakers = [int(i) for i in np.unique(labels)]
    assigned = np.argmax(embeddings @ _centroids(embeddings, labels, speakers).T, axis=1)
    for _ in range(REFINE_ITERATIONS):
        kept = [int(i) for i in np.unique(assigned)]
        assigned = np.argmax(embeddings @ _centroids(embeddings, assigned, kept).T, axis=1)
    return np.unique(assigned, return_inverse=True)[1]


def _turns(frames: np.ndarray, labels: np.ndarray, spans: list[tuple[float, float]]) -> list[Turn]:
    """Runs of one speaker within each stretch of speech, short runs joined to a neighbour, speakers named in
    order of first speech."""
    times = frames * FRAME_S
    min_frames = int(round(MIN_TURN_S / FRAME_S))
    raw: list[tuple[float, float, int]] = []
    for span_start, span_end in spans:
        inside = np.flatnonzero((times >= span_start) & (times < span_end))
        if len(inside) == 0:
            continue
        # runs as [first, last] frame positions with a label
        cuts = np.flatnonzero(np.diff(labels[inside])) + 1
        runs = [[int(part[0]), int(part[-1]), int(labels[part[0]])] for part in np.split(inside, cuts)]
        while len(runs) > 1:
            lengths = [last - first + 1 for first, last, _ in runs]
            shortest = int(np.argmin(lengths))
            if lengths[shortest] >= min_frames:
                break
            if shortest == 0 or (shortest < len(runs) - 1 and lengths[shortest + 1] > lengths[shortest - 1]):
                runs[shortest + 1][0] = runs[shortest][0]  # into the longer neighbour: the next one
            else:
                runs[shortest - 1][1] = runs[shortest][1]
            del runs[shortest]
            merged: list[list[int]] = []
            for run in runs:  # neighbours that now share a speaker are one run
                if merged and merged[-1][2] == run[2]:
                    merged[-1][1] = run[1]
                else:
                    merged.append(run)
            runs = merged
        for i, (first, last, label) in enumerate(runs):
            start = span_start if i == 0 else times[first]
            end = span_end if i == len(runs) - 1 else times[last] + FRAME_S
            raw.append((float(start), float(end), label))
    names: dict[int, str] = {}
    for _, _, label in raw:
        names.setdefault(label, f"S{len(names) + 1}")
    return [Turn(start=round(start, 3), end=round(end, 3), speaker=names[label]) for start, end, label in raw]


def speaker_recordings(audio: np.ndarray, sample_rate: int, turns: Sequence[Turn], folder: Path) -> dict[str, Path]:
    """Each speaker's own speech (their turns of mono `audio`, joined) written to folder/NAME.wav: a recording
    of their voice, e.g. for the automatic cast."""
    folder.mkdir(parents=True, exist_ok=True)
    recordings = {}
    for speaker in dict.fromkeys(turn.speaker for turn in turns):
        pieces = [audio[int(t.start * sample_rate) : int(t.end * sample_rate)] for t in turns if t.speaker == speaker]
        recordings[speaker] = write_wav(folder / f"{speaker}.wav", np.concatenate(pieces), sample_rate)
    return recordings
