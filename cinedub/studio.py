"""`Studio`: the one thin API the CLI and the UI share.

A session is a LangGraph thread in the SQLite checkpointer under `config.home()`; its takes and
outputs live in the session's output folder. The first `dub` of a session runs the director up to
the first take; each later `dub` with a note resumes it for one more take.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command
from pydantic import ValidationError

from cinedub import assembly, config, media
from cinedub.agents.context import DirectorContext
from cinedub.agents.graph import build_graph
from cinedub.agents.plan import check_note_address, state_plan
from cinedub.agents.state import DirectorState, InputState, Overrides
from cinedub.agents.reasoners import Reasoner
from cinedub.errors import CinedubError, SessionBusy
from cinedub.agents.windows import check_lines
from cinedub.files import FILE_MODE, ensure_writable_dir, inside, storage_error
from cinedub.labels import AMBIENCE, EMOTIONS
from cinedub.script import cast_member, read_cast
from cinedub.speech.actor import load_actor
from cinedub.speech.frontend import check_speakable, estimate_speech_seconds
from cinedub.speech.voice import load_voice
from cinedub.types import CastMember, ClipInfo, Conclusion, Direction, Line, Plan, SceneSound, TakeRecord

# A cast as the API takes it: a cast file (TOML or YAML), or character -> CastMember.
CastSpec = str | Path | dict[str, CastMember] | None

# A note that asks for nothing in particular: the same direction, one more take.
AGAIN = "again"
# Session names: they name a lock file under the home and the default output folder, so only these
# characters, starting with a letter or a digit (no path separators, no dot-segments, no hidden names).
SESSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SESSION_NAME_RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or a digit"
HOME_WHAT = "the session home ($CINEDUB_HOME)"
DRAFT_SAMPLE_RATE = 16_000  # Hz: what Silero VAD, resemblyzer and Whisper all read


def check_session_name(name: str) -> str:
    """`name` if it is a valid session name, else a one-line CinedubError."""
    if not SESSION_NAME.fullmatch(name or ""):
        raise CinedubError(f"invalid session name {name!r}: use {SESSION_NAME_RULE}")
    return name


def default_session_name(clip: Path) -> str:
    """The clip's file name, made a valid session name (other characters become '-')."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", clip.stem).lstrip("._-")[:64].rstrip("._-")
    return name or "session"


def check_note(note: str | None) -> None:
    """A note must say something: an empty one is refused rather than read as "again"."""
    if note is not None and not note.strip():
        raise CinedubError('the note is empty: say what to change, or "again" for another take as it is')


@dataclass
class DubResult:
    session: str
    out_dir: Path
    take: TakeRecord
    takes: list[TakeRecord]
    new_take: bool = True  # False: the note was not acted on (the messages say why); `take` is the last one
    messages: list[str] = field(default_factory=list)  # what the director said during this call
    cot: str = ""
    conclusion: dict[str, Any] = field(default_factory=dict)

    @property
    def dub_path(self) -> Path:
        return self.out_dir / "dub.mp4"


@dataclass
class LocalizeResult:
    """What `Studio.localize` made: the source language (None: not read again, the review table was given),
    the translated lines as reviewed, and the dub."""

    source_language: str | None
    probability: float
    language: str
    rows: list[Any]  # cinedub.localize.ReviewRow
    review_path: Path
    dub: DubResult


@dataclass
class SessionSummary:
    name: str
    clip: str
    out_dir: str
    takes: int
    waiting_for_note: bool


def open_library(library: Any, chroma_url: str | None = None, *, model: Any = None) -> Any | None:
    """The reference library the director retrieves from: None (no retrieval), an object with a
    `query` method (used as it is), a Chroma folder, or an http(s) URL of a `chroma run` server
    (also given as `chroma_url`). With a VLM director's `model`, it also writes the query's scene
    description and reaction (the library's model-written views, when it was built with them)."""
    if library is None and chroma_url is None:
        return None
    if hasattr(library, "query"):
        return library
    if isinstance(library, str) and library.startswith(("http://", "https://")):
        library, chroma_url = None, library
    try:
        from cinedub.retrieval import ReferenceLibrary  # chromadb loads only when a library is asked for
    except ImportError as err:
        raise CinedubError(f"the reference library is not available here ({err})") from None
    writer = {}
    if model is not None:
        from cinedub.agents.descriptions import VLMDescriber

        describer = VLMDescriber(model)
        writer = {"describe_scene": describer.describe_scene, "write_reaction": describer.write_reaction}
    return ReferenceLibrary.open(library, chroma_url=chroma_url, **writer)


def check_cast(cast: CastSpec, lines: list[Line], voice: Path | None) -> dict[str, CastMember]:
    """The cast (read from its file when given as a path), every voice in it a usable recording, and a voice
    for every line: a named character the cast does not voice speaks in `voice`, and without one that is
    an error. One-line CinedubErrors naming the character."""
    if cast is None:
        return {}
    cast = read_cast(cast) if isinstance(cast, str | Path) else dict(cast)
    for name, member in cast.items():
        try:
            load_voice(member.voice)
        except CinedubError as err:
            raise CinedubError(f"the cast's voice for {name} is not usable: {err}") from None
    if voice is None:
        unvoiced = list(dict.fromkeys(line.speaker for line in lines
                                      if line.speaker and cast_member(cast, line.speaker) is None))  # fmt: skip
        if unvoiced:
            raise CinedubError(f"{unvoiced[0]} has no voice: the cast ({', '.join(cast)}) does not name "
                               f"{unvoiced[0]}; add them to it, or give --voice for the lines of characters "
                               "not in the cast")  # fmt: skip
    return cast


class Studio:
    """Dubbing sessions on one machine: the director graph, its checkpointer, the backends.

    library: where the director's `retrieve` step finds reference footage (see open_library); None:
    no retrieval. It is opened on first use.
    """

    def __init__(self, *, home: Path | None = None, reasoner: str | Reasoner = config.DEFAULT_REASONER,
                 ground: bool = False, actor: str = config.DEFAULT_ACTOR, library: Any = None,
                 chroma_url: str | None = None) -> None:  # fmt: skip
        self.home = Path(home) if home else config.home()
        self.reasoner_spec, self.ground, self.actor_spec = reasoner, ground, actor
        self.library_spec, self.chroma_url = library, chroma_url
        self._context: DirectorContext | None = None

    # -- plumbing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _graph(self, *, write: bool = True) -> Iterator[Any]:
        """The director graph on the session database; `write=False` only reads (a read-only home can
        still be listed). A write the storage refuses (disk full, read-only) is a one-line error."""
        db = self.home / "sessions.sqlite"
        if write:
            ensure_writable_dir(self.home, HOME_WHAT)
            conn = sqlite3.connect(db, check_same_thread=False, timeout=30)
        else:
            conn = _read_only(db)
        try:
            saver = SqliteSaver(conn)
            if write:
                saver.setup()
            else:
                saver.is_setup = True  # setup() writes (journal mode, tables); the tables are there
            yield build_graph(saver)
        except ValidationError as err:
            if err.title != DirectorState.__name__:
                raise
            # a session whose saved state this version cannot read (another release's layout)
            raise CinedubError(f"this session was saved in a form this cinedub cannot read "
                               f"({_first_error(err)}): start a new session with --session NAME") from None
        except Exception as err:
            problem = storage_error(err, db if isinstance(err, sqlite3.Error) else None)
            if problem is None:
                raise
            raise problem from None
        finally:
            conn.close()

    @contextlib.contextmanager
    def _lock(self, session: str) -> Iterator[None]:
        """One process at a time per session. The lock file must lie in the home's locks/ folder, is
        never truncated and never followed if it is a link."""
        locks = ensure_writable_dir(self.home / "locks", HOME_WHAT)
        path = inside(locks, locks / f"{check_session_name(session)}.lock", f"the lock of session {session!r}")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
        except OSError as err:
            raise storage_error(err) or CinedubError(f"cannot open the lock {path}: {err.strerror}") from None
        with os.fdopen(fd, "r+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SessionBusy(f"session {session!r} is busy in another process") from None
            yield

    def context(self) -> DirectorContext:
        if self._context is None:
            context = DirectorContext.for_reasoner(self.reasoner_spec, ground=self.ground,
                                                   actor=load_actor(self.actor_spec))  # fmt: skip
            context.library = open_library(self.library_spec, self.chroma_url, model=context.model)
            self._context = context
        return self._context

    @staticmethod
    def _config(session: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": session}}

    # -- the API -----------------------------------------------------------------------------

    def dub(self, clip: str | Path, lines: list[Line], voice: str | Path | None, *, session: str | None = None,
            out: str | Path | None = None, emotion: str | None = None, intensity: float | None = None,
            note: str | None = None, ambience: str = "keep", cast: CastSpec = None,
            scene_sound: SceneSound | None = None) -> DubResult:  # fmt: skip
        """Make the next take of `session` (a new session: the first take). voice None: the clip's own
        actor (its dialogue, cleaned), or the session's voice. ambience: "keep" lays the new dialogue over
        the clip's own sound (its dialogue taken out), "drop" over silence. cast: each character's voice
        (a cast file or character -> CastMember): a line whose speaker the cast names is spoken in that
        voice, the others in `voice`. scene_sound: the clip's own sound already split into `out`'s scene/
        folder (assembly.own_voice; `localize` splits it to read the words): not split again."""
        # Every input is checked here, before any work (perception, the actor) is done.
        clip, voice = Path(clip), Path(voice) if voice is not None else None
        named = session is not None
        session = check_session_name(session) if named else default_session_name(clip)
        check_note(note)
        if not lines:
            raise CinedubError("no line to speak: give --line TEXT, --srt FILE or --script FILE")
        if emotion is not None and emotion not in EMOTIONS:
            raise CinedubError(f"unknown emotion {emotion!r}; choose one of {', '.join(EMOTIONS)}")
        if ambience not in AMBIENCE:
            raise CinedubError(f"unknown ambience {ambience!r}; choose one of {', '.join(AMBIENCE)}")
        if intensity is not None and not 0.0 <= intensity <= 1.0:
            raise CinedubError(f"intensity must be between 0 and 1, got {intensity}")
        for line in lines:
            check_speakable(line.text, line.language)  # another script, or no words: "this voice speaks ..."
        natural = [estimate_speech_seconds(line.text, language=line.language) for line in lines]
        check_lines(lines, natural)
        check_note_address(note, [line.speaker for line in lines])
        given_cast = cast is not None
        cast = check_cast(cast, lines, voice)
        info = media.check_clip(clip)
        check_lines(lines, natural, info.duration)
        if voice is not None:
            load_voice(voice)  # a bad reference fails here, before anything is written
        if not named:
            session = self._default_session(session, clip, lines, voice, out, cast if given_cast else None)
        with self._lock(session), self._graph() as graph:
            config_ = self._config(session)
            snapshot = graph.get_state(config_)
            if snapshot.values:
                return self._continue(graph, session, snapshot, clip, lines, voice, out, note,
                                      cast if given_cast else None)  # fmt: skip
            out_dir = Path(out) if out else Path("dubs") / session
            created = not out_dir.exists()
            ensure_writable_dir(out_dir)
            voiced = [cast_member(cast, line.speaker) for line in lines]
            if voice is None and all(voiced):
                voice = Path(voiced[0].voice)  # every line has its character's voice: no default is needed
            voice_from_clip = voice is None
            scene = None
            if voice_from_clip:
                try:
                    scene = scene_sound or assembly.own_voice(clip, out_dir, info.duration)
                    voice = Path(scene.dialogue_path)
                    load_voice(voice)
                except BaseException:
                    if created:
                        shutil.rmtree(out_dir, ignore_errors=True)
                    raise
            request = InputState(clip=str(clip.resolve()), lines=lines, voice=str(voice.resolve()),
                                 voice_from_clip=voice_from_clip, cast=cast, scene_sound=scene,
                                 out_dir=str(out_dir.resolve()),
                                 overrides=Overrides(emotion=emotion, intensity=intensity), first_note=note,
                                 ambience=ambience,
                                 messages=[f"Warning: {warning}" for warning in info.warnings])  # fmt: skip
            try:
                graph.invoke(request.model_dump(mode="json"), config_, context=self.context())
            except BaseException as err:
                written = sorted(p.name for p in out_dir.glob(assembly.TAKE_FILES)) if out_dir.is_dir() else []
                if not written:
                    # A session that never made its first take leaves nothing behind.
                    with contextlib.suppress(Exception):  # e.g. a full disk refuses this too
                        graph.checkpointer.delete_thread(session)
                    if created:
                        shutil.rmtree(out_dir, ignore_errors=True)
                    raise
                # A finished take is never thrown away: the take and the session's checkpoints stay,
                # and the same command again finishes the session from its last checkpoint.
                problem = err if isinstance(err, CinedubError) else storage_error(err)
                if problem is None:
                    raise
                raise type(problem)(f"{problem}; kept {', '.join(written)} in {out_dir}: run the same command "
                                    "again to finish the session") from None  # fmt: skip
            return self._result(graph, session, messages_before=0)

    @staticmethod
    def _conflict(session: str, values: dict[str, Any], clip: Path, lines: list[Line], voice: Path | None,
                  out: str | Path | None, cast: dict[str, CastMember] | None = None) -> str | None:  # fmt: skip
        """Why this request cannot be the next take of `session` (its state `values`), or None."""
        if values["clip"] != str(clip.resolve()):
            return f"session {session!r} dubs {values['clip']}; use another --session for {clip}"
        if revision(values, lines) is None and [Line.model_validate(x) for x in values["lines"]] != lines:
            return (f"session {session!r} has other lines (a session's script may change only its lines' words); "
                    "use another --session for new lines")  # fmt: skip
        if out and Path(out).resolve() != Path(values["out_dir"]):
            return f"session {session!r} writes to {values['out_dir']}, not {out}"
        if voice is not None and values["voice"] != str(voice.resolve()):
            return f"session {session!r} uses the voice {values['voice']}; use another --session"
        if cast is not None and {k: CastMember.model_validate(v) for k, v in values.get("cast", {}).items()} != cast:
            return f"session {session!r} has another cast; use another --session for a new cast"
        return None

    def _default_session(self, base: str, clip: Path, lines: list[Line], voice: Path | None,
                         out: str | Path | None, cast: dict[str, CastMember] | None = None) -> str:  # fmt: skip
        """No --session given: the clip's name, or the first of name-2, name-3 ... that is new or whose
        session this request continues (another clip of the same name, or another --out, starts its own)."""
        with self._graph() as graph:
            for number in itertools.count(1):
                name = base if number == 1 else f"{base[: 63 - len(str(number))]}-{number}"
                values = graph.get_state(self._config(name)).values
                if not values or self._conflict(name, values, clip, lines, voice, out, cast) is None:
                    return name
        raise AssertionError("unreachable")

    def _continue(self, graph: Any, session: str, snapshot: Any, clip: Path, lines: list[Line], voice: Path | None,
                  out: str | Path | None, note: str | None, cast: dict[str, CastMember] | None = None) -> DubResult:  # fmt: skip
        values = snapshot.values
        conflict = self._conflict(session, values, clip, lines, voice, out, cast)
        if conflict:
            raise CinedubError(conflict)
        new_words = revision(values, lines)
        if new_words is not None and note:
            raise CinedubError("give the script's new words or a note, not both in one take")
        config_, context = self._config(session), self.context()
        before, takes_before = len(values.get("messages", [])), len(values.get("takes", []))
        if not snapshot.interrupts:
            # The last run died mid-take: drop what its writes left half done, then finish the take
            # from its last checkpoint (without a note, that take is what this call makes).
            for partial in Path(values["out_dir"]).rglob(".*.part.*"):  # also in take-NNN/ (line files)
                partial.unlink(missing_ok=True)
            graph.invoke(None, config_, context=context)
            takes_before = 0  # the finished take is new to the user even if its state was saved
            if note is None and new_words is None:
                return self._result(graph, session, messages_before=before, takes_before=takes_before)
        resume = {"revision": [line.model_dump(mode="json") for line in new_words]} if new_words else note or AGAIN
        graph.invoke(Command(resume=resume), config_, context=context)
        return self._result(graph, session, messages_before=before, takes_before=takes_before)

    def _result(self, graph: Any, session: str, messages_before: int, takes_before: int = 0) -> DubResult:
        values = graph.get_state(self._config(session)).values
        takes = [TakeRecord.model_validate(t) for t in values.get("takes", [])]
        return DubResult(
            session=session,
            out_dir=Path(values["out_dir"]),
            take=takes[-1],
            takes=takes,
            new_take=len(takes) > takes_before,
            messages=values.get("messages", [])[messages_before:],
            cot=values.get("cot", ""),
            conclusion=values.get("conclusion", {}),
        )

    def draft_script(self, clip: str | Path, out: str | Path, *, speakers: int | None = None,
                     english: bool = False) -> tuple[Path, list[Any]]:  # fmt: skip
        """A draft script of the clip's own dialogue, written to `out` as YAML (cinedub.draft): its speech
        diarized (`speakers`: how many talk, else counted), each speaker linked to the face whose mouth
        moves in their turns and the turns corrected by the mouths, the words when `english`. Returns the
        path and the draft lines."""
        from cinedub.agents.perception import perceive
        from cinedub.agents.speakers import speech_envelope, turns_by_face
        from cinedub.diarize import diarize
        from cinedub.draft import draft_lines, write_draft

        clip = Path(clip)
        if speakers is not None and speakers < 1:
            raise CinedubError(f"--speakers must be at least 1, not {speakers}")
        info = media.check_clip(clip)
        if not info.has_audio:
            raise CinedubError(f"{clip.name} has no sound: there is no dialogue to draft a script from")
        ensure_writable_dir(Path(out).parent, "the draft's folder")
        audio, rate = media.load_audio(clip, sample_rate=DRAFT_SAMPLE_RATE, max_seconds=info.duration)
        perception = perceive(clip)
        envelope = speech_envelope(audio, rate, perception.frame_times, perception.sample_fps)
        turns, faces = turns_by_face(perception, diarize(audio, rate, num_speakers=speakers), envelope)
        lines = draft_lines(audio, rate, turns=turns, faces=faces, english=english)
        return write_draft(out, lines, clip=clip), lines

    def localize(self, clip: str | Path, *, to: str, source: str | None = None, translator: str | None = None,
                 review: str | Path | None = None, session: str | None = None, out: str | Path | None = None,
                 ambience: str = "keep") -> LocalizeResult:  # fmt: skip
        """Dub `clip` into the language `to` (cinedub.localize): its dialogue transcribed (language `source`, or
        detected), cut into lines, translated to fit each line's window (`translator`: None for Apertium,
        or openai:URL / local:PATH), written as review.csv, script.LANG.srt and script.LANG.yaml in the
        session's folder, and dubbed in each original speaker's voice over the scene's own sound. `review`:
        a review table the director edited: its words are dubbed as they stand, and in an existing session
        only the lines whose words changed are re-rendered."""
        from cinedub.localize import read_review
        from cinedub.translate import language_code, make_translator

        clip = Path(clip)
        to = language_code(to)
        source = language_code(source) if source is not None else None
        session = check_session_name(session) if session else f"{default_session_name(clip)[:60]}-{to}"
        rows = read_review(review) if review is not None else None
        if rows is None and source is not None:
            make_translator(translator, source, to)  # a pair that can't be translated fails before any work
        info = media.check_clip(clip)
        if not info.has_audio:
            raise CinedubError(f"{clip.name} has no sound: there is no dialogue to localize")
        out_dir = Path(out) if out else Path("dubs") / session
        created = not out_dir.exists()
        ensure_writable_dir(out_dir)
        try:
            return self._localize(clip, info, to, source, translator, rows, session, out_dir, ambience)
        except BaseException:
            if created and not any(out_dir.glob(assembly.TAKE_FILES)):  # nothing made: nothing left behind
                shutil.rmtree(out_dir, ignore_errors=True)
            raise

    def _localize(self, clip: Path, info: ClipInfo, to: str, source: str | None, translator: str | None,
                  rows: list[Any] | None, session: str, out_dir: Path, ambience: str) -> LocalizeResult:  # fmt: skip
        from cinedub.agents.perception.cache import perceive_cached
        from cinedub.agents.speakers import speech_envelope, turns_by_face
        from cinedub.asr import transcribe_source
        from cinedub.diarize import diarize
        from cinedub.localize import (ReviewRow, localize_files, refit, script_lines, segment, write_review,
                                      write_script)  # fmt: skip
        from cinedub.subtitles import write_srt
        from cinedub.translate import make_translator

        scene = self._split_before(session, clip, out_dir) or assembly.own_voice(clip, out_dir, info.duration)
        audio, rate = media.load_audio(scene.dialogue_path, sample_rate=DRAFT_SAMPLE_RATE)
        # who speaks when: the voices diarized, corrected by the mouths (one face talking is one speaker)
        perception = perceive_cached(clip)
        envelope = speech_envelope(audio, rate, perception.frame_times, perception.sample_fps)
        turns, _ = turns_by_face(perception, diarize(audio, rate, speech=[(w.start, w.end) for w in scene.speech]),
                                 envelope)  # fmt: skip
        detected, probability = source, 1.0
        if rows is not None:  # the director's table, measured again; its words against the session's last take
            try:
                dubbed = [Line.model_validate(line).text for line in self.session(session)["lines"]]
            except CinedubError:  # a new session
                dubbed = []
            rows = [refit(row, to, edited=row.line > len(dubbed) or dubbed[row.line - 1] != row.translation)
                    for row in rows]  # fmt: skip
        else:
            transcript = transcribe_source(audio, rate, language=source)
            detected, probability = transcript.language, transcript.probability
            chosen = make_translator(translator, detected, to)
            lines = segment(transcript.words, turns, speech=scene.speech)
            if not lines:
                raise CinedubError(f"no words heard in {clip.name}'s dialogue ({transcript.language})")
            translations = chosen.translate([(line.text, line.end - line.start) for line in lines])
            rows = [ReviewRow(line=number, speaker=line.speaker, start=line.start, end=line.end, source=line.text,
                              translation=t.text, reading_s=t.natural_s, route=t.route, flag=t.flag)
                    for number, (line, t) in enumerate(zip(lines, translations, strict=True), 1)]  # fmt: skip
        lines = script_lines(rows, to)
        files = localize_files(out_dir, to)
        write_review(files.review, rows)
        write_srt(files.subtitles, lines)
        write_script(files.script, lines, clip=clip)
        # no voice given: the director casts each speaker in their own speech from the clip (nodes.automatic_cast)
        dub = self.dub(clip, lines, None, session=session, out=out_dir, ambience=ambience, scene_sound=scene)
        return LocalizeResult(source_language=detected, probability=probability, language=to, rows=rows,
                              review_path=files.review, dub=dub)  # fmt: skip

    def _split_before(self, session: str, clip: Path, out_dir: Path) -> SceneSound | None:
        """The clip's sound as `session` split it (a re-dub from the review table), when it is this clip's in
        this folder and its stems are still there; else None (split it: the words, the voice, the room)."""
        try:
            values = self.session(session)
        except CinedubError:
            return None
        scene = values.get("scene_sound")
        if (not scene or values["clip"] != str(clip.resolve()) or Path(values["out_dir"]) != out_dir.resolve()
                or not all(Path(scene[key]).is_file() for key in ("dialogue_path", "ambience_path"))):  # fmt: skip
            return None
        return SceneSound.model_validate(scene)

    def sessions(self) -> list[SessionSummary]:
        if not (self.home / "sessions.sqlite").exists():
            return []
        with self._graph(write=False) as graph:
            conn: sqlite3.Connection = graph.checkpointer.conn
            names = [row[0] for row in conn.execute("SELECT DISTINCT thread_id FROM checkpoints ORDER BY thread_id")]
            summaries = []
            for name in names:
                snapshot = graph.get_state(self._config(name))
                values = snapshot.values
                if not values:
                    continue
                summaries.append(SessionSummary(name=name, clip=values.get("clip", ""), out_dir=values.get("out_dir", ""),
                                                takes=len(values.get("takes", [])), waiting_for_note=bool(snapshot.interrupts)))
            return summaries

    def session(self, session: str) -> dict[str, Any]:
        """Everything a session holds (its checkpointed state: clip, lines, voice, out_dir, cot, conclusion,
        references, perception, plan, takes, messages) plus `waiting_for_note`; readable while a take runs."""
        if not (self.home / "sessions.sqlite").exists():
            raise CinedubError(f"no session named {session!r} (see: cinedub sessions)")
        with self._graph(write=False) as graph:
            snapshot = graph.get_state(self._config(session))
        if not snapshot.values:
            raise CinedubError(f"no session named {session!r} (see: cinedub sessions)")
        return {**snapshot.values, "waiting_for_note": bool(snapshot.interrupts)}

    def mark_take(self, session: str, index: int, *, kept: bool | None = None, name: str | None = None) -> TakeRecord:
        """Keep / discard (`kept`) or rename a take. Takes are never deleted; the session keeps waiting
        for its note."""
        with self._lock(session), self._graph() as graph:
            config_ = self._config(session)
            snapshot = graph.get_state(config_)
            if not snapshot.interrupts:
                raise CinedubError(f"session {session!r} is not waiting for a note")
            takes = {t["index"]: t for t in snapshot.values.get("takes", [])}
            if index not in takes:
                raise CinedubError(f"session {session!r} has no take {index}")
            take = TakeRecord.model_validate(takes[index])
            if kept is not None:
                take.kept = kept
            if name is not None:
                name = " ".join(name.split())
                if not name:
                    raise CinedubError("a take's name cannot be empty")
                take.name = name
            # Written as if `export` had said it; running on re-enters `wait_for_note` (no new take).
            graph.update_state(config_, {"takes": [take.model_dump(mode="json")]}, as_node="export")
            graph.invoke(None, config_, context=self.context())
            return take

    def override(self, session: str, *, scene_type: str | None = None, emotion: str | None = None,
                 intensity: float | None = None, pace: float | None = None) -> DubResult:  # fmt: skip
        """The human overrides the director's conclusion (scene type, emotion, intensity, pace): the
        direction changes accordingly and the actor makes the next take."""
        with self._lock(session), self._graph() as graph:
            config_ = self._config(session)
            snapshot = graph.get_state(config_)
            if not snapshot.interrupts:
                raise CinedubError(f"session {session!r} is not waiting for a note")
            values = snapshot.values
            before = len(values.get("messages", []))
            conclusion = Conclusion.model_validate(values["conclusion"])
            plan = state_plan(DirectorState.model_validate(values))
            direction = plan.scene
            asked = {"emotion": emotion, "intensity": intensity, "pace": pace}
            asked = {k: v for k, v in asked.items() if v is not None}
            try:
                if scene_type is not None:
                    conclusion = Conclusion.model_validate({**conclusion.model_dump(), "scene_type": scene_type})
                if emotion is not None or intensity is not None:
                    conclusion = Conclusion.model_validate({**conclusion.model_dump(),
                                                            **{k: asked[k] for k in ("emotion", "intensity") if k in asked}})  # fmt: skip
                new = Direction.model_validate({**direction.model_dump(), **asked})
                lines = [Direction.model_validate({**line.model_dump(), **asked}) for line in plan.lines]
            except ValueError as err:
                raise CinedubError(f"cannot override: {str(err).splitlines()[-1].strip()}") from None
            changed = new.changed(direction)
            said = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items()) or "nothing changed"
            note = "override: " + ", ".join(f"{k}={v}" for k, v in {**asked, "scene_type": scene_type}.items() if v is not None)
            # As if `interpret` had read the note: the graph goes on to `act`, `review`, `export`.
            graph.update_state(config_, {"conclusion": conclusion.model_dump(mode="json"),
                                         "plan": Plan(scene=new, lines=lines).model_dump(mode="json"), "note": note,
                                         "verdict": "retake",
                                         "messages": [f"Overridden by the director: {said}."]}, as_node="interpret")  # fmt: skip
            graph.invoke(None, config_, context=self.context())
            return self._result(graph, session, messages_before=before)

    def takes(self, session: str) -> list[TakeRecord]:
        return [TakeRecord.model_validate(t) for t in self.session(session).get("takes", [])]


def revision(values: dict[str, Any], lines: list[Line]) -> list[Line] | None:
    """`lines` when they are the session's (state `values`) lines with only some words (or their language)
    changed: a revision the next take re-renders only those lines for; None when they are the same lines or
    differ in more (count, windows, speakers, emotions: another script)."""
    old = [Line.model_validate(x) for x in values["lines"]]
    if old == lines or len(old) != len(lines):
        return None
    words_only = all(o.model_copy(update={"text": n.text, "language": n.language}) == n for o, n in zip(old, lines))
    return lines if words_only else None


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def _read_only(db: Path) -> sqlite3.Connection:
    """A connection that never writes. On a read-only file system sqlite cannot make the WAL's shared-
    memory file, so the database is then read as immutable (as it was last checkpointed)."""
    error: sqlite3.Error | None = None
    for query in ("mode=ro", "mode=ro&immutable=1"):
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?{query}", uri=True, check_same_thread=False, timeout=30)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.Error as err:
            conn.close()
            error = err
    raise CinedubError(f"cannot read the sessions in {db}: {error}")
