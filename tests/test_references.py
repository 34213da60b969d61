"""Retrieved references in the take: the parametric actor blends their prosody (F0 range, energy
contour, speaking rate) and the director carries them into direction.json.

References are made from real audio and measured with `reference_prosody`, as the library does:
"hot" ones are the actor's own angry readings squeezed into short windows (wide F0 range, fast),
"cold" ones sad readings in long windows (narrow, slow); rising / falling ones are LibriVox speech
with a level ramp applied (a reader getting louder / trailing off). Each test renders the same line
and direction with and without references and measures both takes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cinedub.media import load_audio, write_wav
from cinedub.speech import ParametricActor, load_voice
from cinedub.speech.audio import SAMPLE_RATE, frame_energy_db
from cinedub.speech.measure import reference_prosody
from cinedub.speech.prosody import REFERENCE_BLEND, reference_blend
from cinedub.speech.world import PAUSE_BELOW_DB
from cinedub.studio import Studio, open_library
from cinedub.types import Direction, Line, Reference, Window
from tests.conftest import run_cinedub

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
VOICE = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0870.wav"
LINE = Line(text="Get out of my car, I will not say it again.")
WINDOW_S = 3.0
REFERENCE_LINES = ["Get out of my car, I will not say it again.", "You never listen to a single word I say!",
                   "I told you this would happen, and it did."]  # fmt: skip
DURATION_TOLERANCE_S = 0.040
RAMP_DB_PER_S = 8.0  # level ramp put on the LibriVox references

pytestmark = pytest.mark.skipif(not VOICE.exists(), reason="needs Debian pocketsphinx-testdata (real speech)")


def direction(**changes) -> Direction:
    return Direction(**{"window": Window(start=0.0, end=WINDOW_S), "voice": str(VOICE), "emotion": "neutral",
                        "intensity": 0.5, **changes})  # fmt: skip


def pause_seconds(audio: np.ndarray) -> float:
    """Time inside the speech span quieter than the loud frames by the actor's pause threshold."""
    energy, hop_s = frame_energy_db(audio, SAMPLE_RATE)
    quiet = energy < np.percentile(energy, 95) - PAUSE_BELOW_DB
    sounding = np.flatnonzero(~quiet)
    return float(quiet[sounding[0] : sounding[-1]].sum() * hop_s)


@pytest.fixture(scope="module")
def actor() -> ParametricActor:
    return ParametricActor()


@pytest.fixture(scope="module")
def voice():
    return load_voice(VOICE)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("references")


def performed_references(actor, voice, folder: Path, name: str, emotion: str, intensity: float,
                         seconds: float) -> list[Reference]:  # fmt: skip
    references = []
    for i, text in enumerate(REFERENCE_LINES):
        take = actor.perform(Line(text=text), direction(emotion=emotion, intensity=intensity,
                                                        window=Window(start=0.0, end=seconds)), voice)  # fmt: skip
        path = write_wav(folder / f"{name}-{i}.wav", take.audio, take.sample_rate)
        references.append(Reference(clip_id=f"{name}-{i}", audio=str(path), score=0.9 - 0.1 * i, emotion=emotion,
                                    prosody=reference_prosody(take.audio, take.sample_rate, text)))  # fmt: skip
    return references


@pytest.fixture(scope="module")
def hot(actor, voice, folder) -> list[Reference]:
    return performed_references(actor, voice, folder, "hot", "angry", 0.9, 2.0)


@pytest.fixture(scope="module")
def cold(actor, voice, folder) -> list[Reference]:
    return performed_references(actor, voice, folder, "cold", "sad", 1.0, 4.5)


def ramped_references(folder: Path, slope_db_per_s: float) -> list[Reference]:
    """LibriVox readings with a level ramp of `slope_db_per_s` through their middle."""
    texts = {}  # file stem -> transcript ("<s> words </s> (stem)" per line)
    for row in (LIBRIVOX / "transcription").read_text().splitlines():
        words, _, stem = row.rpartition(" (")
        texts[stem.rstrip(")")] = words.replace("<s>", "").replace("</s>", "").strip()
    references = []
    for i, path in enumerate(sorted(LIBRIVOX.glob("*.wav"))[:3]):
        audio, rate = load_audio(path)
        seconds = np.arange(len(audio)) / rate
        audio = (audio * 10.0 ** (slope_db_per_s * (seconds - seconds[-1] / 2) / 20.0)).astype(np.float32)
        audio *= 0.5 / max(float(np.max(np.abs(audio))), 1e-9)
        out = folder / f"ramp{slope_db_per_s:+.0f}-{i}.wav"
        write_wav(out, audio, rate)
        references.append(Reference(clip_id=out.stem, audio=str(out), score=0.8,
                                    prosody=reference_prosody(audio, rate, texts[path.stem])))  # fmt: skip
    return references


@pytest.fixture(scope="module")
def plain_take(actor, voice):
    return actor.perform(LINE, direction(), voice)


def check_window(take) -> dict[str, float]:
    """The take's prosody; the speech still fills the window."""
    measured = reference_prosody(take.audio, take.sample_rate, LINE.text)
    assert len(take.audio) == round(WINDOW_S * SAMPLE_RATE)
    assert abs(measured["speech_duration"] - WINDOW_S) <= DURATION_TOLERANCE_S, measured
    return measured


# --- the blend itself ----------------------------------------------------------------------------------


def test_blend_weights_the_top_references_by_score():
    refs = [Reference(clip_id="a", audio="a.wav", score=0.75, prosody={"f0_range_semitones": 10.0, "energy_slope_db_per_s": 2.0}),
            Reference(clip_id="b", audio="b.wav", score=0.25, prosody={"f0_range_semitones": 2.0, "energy_slope_db_per_s": -2.0,
                                                                      "speaking_rate_sps": 4.0}),
            Reference(clip_id="c", audio="c.wav", score=0.1, prosody={"f0_range_semitones": 0.0}),  # unvoiced: no range
            Reference(clip_id="d", audio="d.wav", score=0.05, prosody={"f0_range_semitones": 40.0})]  # fmt: skip
    blend = reference_blend(refs)
    assert [c["clip_id"] for c in blend.clips] == ["a", "b", "c"]  # the top 3 only: d is left out
    assert blend.f0_range_semitones == pytest.approx((0.75 * 10 + 0.25 * 2) / 1.0)  # c measured no range
    assert blend.energy_slope_db_per_s == pytest.approx((0.75 * 2 - 0.25 * 2) / 1.0)
    assert blend.speaking_rate_sps == pytest.approx(4.0)  # only b knows its words
    assert reference_blend([]) is None
    assert 0.0 < REFERENCE_BLEND < 1.0


def test_no_references_no_blend(plain_take):
    assert "references" not in plain_take.applied
    check_window(plain_take)


# --- the take moves toward its references ----------------------------------------------------------------


def test_f0_range_and_rate_move_toward_the_references(actor, voice, hot, cold, plain_take):
    with_hot = actor.perform(LINE, direction(references=hot), voice)
    with_cold = actor.perform(LINE, direction(references=cold), voice)
    plain, h, c = check_window(plain_take), check_window(with_hot), check_window(with_cold)
    hot_range, cold_range = (reference_blend(r).f0_range_semitones for r in (hot, cold))
    assert hot_range > plain["f0_range_semitones"] + 3  # the contrast the test relies on
    # Wider references widen the take's F0 range by at least 2 st, and more than narrower ones do.
    assert h["f0_range_semitones"] >= plain["f0_range_semitones"] + 2.0, (plain, h)
    assert h["f0_range_semitones"] >= c["f0_range_semitones"] + 3.0, (h, c)
    assert abs(h["f0_range_semitones"] - hot_range) < abs(plain["f0_range_semitones"] - hot_range)
    # Rate: the window is the same, so faster references mean faster phones and longer pauses.
    pauses = {name: pause_seconds(t.audio) for name, t in (("plain", plain_take), ("hot", with_hot), ("cold", with_cold))}
    assert pauses["cold"] < pauses["plain"] < pauses["hot"], pauses
    assert pauses["hot"] - pauses["cold"] >= 0.08, pauses
    # What was blended is recorded, and is JSON.
    lent = json.loads(json.dumps(with_hot.applied["references"]))
    assert lent["blend"] == REFERENCE_BLEND and [c["clip_id"] for c in lent["clips"]] == ["hot-0", "hot-1", "hot-2"]
    assert lent["f0_range_semitones"]["target"] > lent["f0_range_semitones"]["own"]
    assert lent["speaking_rate_sps"]["target"] > lent["speaking_rate_sps"]["own"]
    assert with_cold.applied["references"]["speaking_rate_sps"]["target"] < lent["speaking_rate_sps"]["own"]


def test_energy_contour_moves_toward_the_references(actor, voice, folder, plain_take):
    rising, falling = ramped_references(folder, RAMP_DB_PER_S), ramped_references(folder, -RAMP_DB_PER_S)
    plain = check_window(plain_take)["energy_slope_db_per_s"]
    up = check_window(actor.perform(LINE, direction(references=rising), voice))["energy_slope_db_per_s"]
    down = check_window(actor.perform(LINE, direction(references=falling), voice))["energy_slope_db_per_s"]
    up_ref, down_ref = (reference_blend(r).energy_slope_db_per_s for r in (rising, falling))
    assert down_ref < plain < up_ref  # the contrast the test relies on
    assert up >= plain + 1.0 and down <= plain - 1.0, (down, plain, up)
    assert abs(up - up_ref) < abs(plain - up_ref) and abs(down - down_ref) < abs(plain - down_ref)


# --- the director carries them ---------------------------------------------------------------------------


class TinyLibrary:
    """A stand-in for the Chroma library: answers every query with the same references."""

    def __init__(self, references: list[Reference]):
        self.references, self.queries = references, []

    def query(self, clip, lines, conclusion, *, k: int = 3, perception=None) -> list[Reference]:
        self.queries.append((clip, lines, conclusion, perception))
        return self.references[:k]


def test_studio_retrieves_and_direction_json_carries_the_references(sample, hot, tmp_path):
    library = TinyLibrary(hot)
    result = Studio(library=library).dub(sample.clip, [Line(text=sample.line)], sample.voice, out=tmp_path / "dub")
    assert len(library.queries) == 1 and library.queries[0][2].scene_type  # asked with the director's conclusion
    assert library.queries[0][3].num_frames > 0  # ... and the perception the director made of the clip
    saved = json.loads((tmp_path / "dub" / "direction.json").read_text())
    assert [r["clip_id"] for r in saved["references"]] == ["hot-0", "hot-1", "hot-2"]
    assert [r["clip_id"] for r in saved["direction"]["references"]] == ["hot-0", "hot-1", "hot-2"]
    assert saved["references"][0]["prosody"]["f0_range_semitones"] == hot[0].prosody["f0_range_semitones"]
    lent = result.take.applied["lines"][0]["references"]
    assert {"f0_range_semitones", "energy_slope_db_per_s", "speaking_rate_sps"} <= set(lent)
    report = json.loads((tmp_path / "dub" / "report.json").read_text())
    assert report["applied"]["lines"][0]["references"]["clips"][0]["clip_id"] == "hot-0"
    # A retake keeps the references.
    again = Studio(library=library).dub(sample.clip, [Line(text=sample.line)], sample.voice, note="again, but slower")
    assert [r.clip_id for r in again.take.direction.references] == ["hot-0", "hot-1", "hot-2"]


def test_library_errors_are_one_line(tmp_path, sample):
    assert open_library(None) is None
    library = TinyLibrary([])
    assert open_library(library) is library
    result = run_cinedub("eval", "--dub", "--manifest", tmp_path / "m.jsonl", "--out", tmp_path / "o",
                         "--library", tmp_path / "db")  # fmt: skip
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    assert "used with --retrieval on" in result.stderr


@pytest.mark.slow
def test_dub_with_a_real_library(sample, hot, tmp_path):
    """End to end: a real (tiny) Chroma library built from the hot readings, `cinedub dub --library`."""
    pytest.importorskip("chromadb", reason="the reference library needs chromadb (scripts/setup.sh installs it)")
    from cinedub.retrieval import ReferenceLibrary

    movie = tmp_path / "clips" / "movie"
    movie.mkdir(parents=True)
    for reference, text in zip(hot, REFERENCE_LINES, strict=True):
        (movie / Path(reference.audio).name).write_bytes(Path(reference.audio).read_bytes())
        (movie / Path(reference.audio).with_suffix(".txt").name).write_text(text)
    report = ReferenceLibrary.open(tmp_path / "db").build(tmp_path / "clips", progress=False)
    assert "added 3" in report.summary()
    out = tmp_path / "dub"
    result = run_cinedub("dub", "--sample", "--library", tmp_path / "db", "--out", out, home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    saved = json.loads((out / "direction.json").read_text())
    assert {r["clip_id"] for r in saved["references"]} == {"movie/hot-0", "movie/hot-1", "movie/hot-2"}
    lent = json.loads((out / "report.json").read_text())["applied"]["lines"][0]["references"]
    assert lent["f0_range_semitones"]["target"] > lent["f0_range_semitones"]["own"]  # the hot readings are wide


@pytest.mark.slow
def test_a_take_with_a_library_decodes_the_clip_for_faces_once(sample, hot, tmp_path, monkeypatch):
    """Perception is made once a take and shared: the library's scene and face paths read the director's
    Perception instead of decoding the clip and running the face mesh again."""
    pytest.importorskip("chromadb", reason="the reference library needs chromadb (scripts/setup.sh installs it)")
    from cinedub import media
    from cinedub.agents.perception.faces import FaceFinder
    from cinedub.retrieval import ReferenceLibrary

    rows = [{"id": "shot", "video": str(sample.clip), "audio": hot[0].audio, "text": REFERENCE_LINES[0],
             "speaker": "a", "emotion": "angry"}]  # fmt: skip
    rows += [{"id": r.clip_id, "audio": r.audio, "text": text, "speaker": "b", "emotion": "angry"}
             for r, text in zip(hot[1:], REFERENCE_LINES[1:], strict=True)]  # fmt: skip
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    library = ReferenceLibrary.open(tmp_path / "db")
    assert "added 3" in library.build(manifest=manifest, progress=False).summary()

    decoded: list[int] = []  # frames each pass over the clip decoded
    finders, found_shapes = [], []
    iter_frames, finder_init, find = media.iter_frames, FaceFinder.__init__, FaceFinder.find

    def counted_frames(*args, **kwargs):
        decoded.append(0)
        for frame in iter_frames(*args, **kwargs):
            decoded[-1] += 1
            yield frame

    def counted_finder(self, *args, **kwargs):
        finders.append(self)
        finder_init(self, *args, **kwargs)

    def counted_find(self, rgb):
        found_shapes.append(rgb.shape)
        return find(self, rgb)

    monkeypatch.setattr(media, "iter_frames", counted_frames)
    monkeypatch.setattr(FaceFinder, "__init__", counted_finder)
    monkeypatch.setattr(FaceFinder, "find", counted_find)
    studio = Studio(library=library)
    result = studio.dub(sample.clip, [Line(text=sample.line)], sample.voice, out=tmp_path / "dub")
    saved = json.loads((tmp_path / "dub" / "direction.json").read_text())
    # One pass decodes the clip for faces (the input check reads its first frame only), one face finder
    # sees each sampled frame once.
    assert [n for n in decoded if n > 1] == [saved["perception"]["num_frames"]], decoded
    assert len(finders) == 1 and len(found_shapes) == saved["perception"]["num_frames"]
    # The picture paths did run, on the shared perception: the clip itself is the nearest scene.
    found = {r["clip_id"]: r["path"] for r in saved["references"]}
    assert found.get("shot") in ("scene", "face"), found
    assert result.take.direction.references

    # The same clip dubbed again (another session) is not decoded for faces at all: its perception is
    # kept by the clip's content hash, and the retrieval reads the same references off it.
    for counts in (decoded, finders, found_shapes):
        counts.clear()
    again = studio.dub(sample.clip, [Line(text=sample.line)], sample.voice, session="again",
                       out=tmp_path / "dub-again")  # fmt: skip
    assert [n for n in decoded if n > 1] == [] and finders == [] and found_shapes == [], decoded
    assert [r.clip_id for r in again.take.direction.references] == [r.clip_id for r in result.take.direction.references]
