"""The director's studio: a thin Gradio layer over `Studio` (the same API the CLI uses).

Each browser page gets its own cinedub session (a random `ui-` name, kept in the page's URL so a reload
or a server restart reopens it). A session's inputs, takes and exports live in its own folder,
`$CINEDUB_HOME/ui/SESSION`; the studio hands the browser no file from anywhere else.
"""



import csv
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from cinedub import config, files
from cinedub.errors import CinedubError
from cinedub.files import storage_error, write_json
from cinedub.labels import EMOTIONS, SCENE_TYPES
from cinedub.localize import ReviewRow, localize_files, read_review, review_path, write_review
from cinedub.script import CAST_FORMATS, SCRIPT_FORMATS, read_script
from cinedub.studio import AGAIN, Studio, check_cast
from cinedub.takes import rendered_lines
from cinedub.types import DIRECTION_BOUNDS, Line, Perception, TakeRecord
from cinedub.ui import scene, timeline, views

SESSION_NAME = re.compile(r"^ui-[0-9a-f]{12}$")
AUTO = "auto (the director decides)"
DEFAULT_MAX_UPLOAD = "200mb"
CSS = ".cot-box {max-height: 360px; overflow-y: auto} footer {display: none !important}"
# The Localize tab: the target languages with a voice and an offline route (Apertium) from the others, and
# the source languages offered besides Whisper's detection (the LatentSync clips speak pt and ru; ru has no
# offline route, so it needs a language model as translator).
LOCALIZE_TARGETS = ("en", "es", "pt")
DETECT = "detect"
LOCALIZE_SOURCES = (DETECT, "en", "es", "pt", "ru")
# The review table's columns the tab shows (review.csv's, less the reading and window times); only the
# translation is editable.
REVIEW_SHOWN = ("line", "speaker", "start", "end", "source", "translation", "fit", "flag")
REVIEW_TYPES = {"line": int, "start": float, "end": float, "fit": float}
LINE, TRANSLATION = REVIEW_SHOWN.index("line"), REVIEW_SHOWN.index("translation")
SET_URL_JS = """(name) => { if (name) { const u = new URL(window.location); u.searchParams.set('session', name);
  window.history.replaceState(null, '', u); } return []; }"""


def parse_intensity(text: str | float | None) -> float | None:
    """The first take's intensity: empty is the director's choice, else a number in 0..1."""
    if text is None or not str(text).strip():
        return None
    try:
        value = float(str(text).strip())
    except ValueError:
        raise CinedubError(f"intensity must be a number between 0 and 1, not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise CinedubError(f"intensity must be between 0 and 1, not {value}")
    return value


def review_table(path: Path) -> list[list[Any]]:
    """The review table a localize wrote (review.csv), as the Localize tab shows it: REVIEW_SHOWN's columns,
    the fit and flag as the translator measured them."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        records = list(csv.DictReader(f))
    return [[REVIEW_TYPES.get(column, str)(record.get(column) or "") for column in REVIEW_SHOWN]
            for record in records]  # fmt: skip


def apply_edits(rows: list[ReviewRow], table: Any) -> list[ReviewRow]:
    """The session's review rows with the translations typed into the tab's table (rows matched by line
    number; every other column stays the session's own), or a one-line error."""
    table = list(table or [])
    typed: dict[int, str] = {}
    for record in table:
        try:
            number = int(float(record[LINE]))
            text = " ".join(str(record[TRANSLATION] or "").split())
        except (TypeError, ValueError, IndexError):
            raise CinedubError("the review table lost its columns: reload the page and edit only the "
                               "translations") from None  # fmt: skip
        if not text:
            raise CinedubError(f"line {number}: the translation is empty")
        typed[number] = text
    numbers = [row.line for row in rows]
    if len(table) != len(rows) or sorted(typed) != sorted(numbers):
        raise CinedubError(f"the review table must keep its {len(rows)} lines ({', '.join(map(str, numbers))}): "
                           "edit only their translations")  # fmt: skip
    return [replace(row, translation=typed[row.line]) for row in rows]


def new_session_name() -> str:
    return f"ui-{secrets.token_hex(6)}"


class StudioUI:
    """Event handlers over one `Studio`; every handler gets the page's session name."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self.root = studio.home / "ui"
        self.serve_root = Path(tempfile.mkdtemp(prefix="cinedub-ui-serve-"))

    # -- helpers -------------------------------------------------------------------------------

    def folder(self, session: str) -> Path:
        """The session's folder under the home's ui/: the only place the studio writes a session's files."""
        if not SESSION_NAME.match(session or ""):
            raise CinedubError("this page has no valid session; reload it")
        return files.inside(self.root, self.root / session, f"the folder of session {session!r}")

    def serve(self, session: str, path: str | Path) -> str:
        """A copy, for the browser, of a file that must lie in the session's folder."""
        source = views.inside(self.folder(session), path)
        target = self.serve_root / session / secrets.token_hex(4) / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return str(target)

    def chat(self, session: str) -> list[dict[str, str]]:
        path = self.folder(session) / "chat.json"
        if path.is_file():
            import json

            return json.loads(path.read_text())
        return []

    def say(self, session: str, history: list[dict[str, str]], note: str | None, messages: list[str]) -> list[dict]:
        history = list(history)
        if note:
            history.append({"role": "user", "content": note})
        if messages:
            # the browser has no use for the server's paths: "Take 2 is ready: dub.mp4"
            shown = [m.replace(f"{self.folder(session).resolve()}/", "") for m in messages]
            history.append({"role": "assistant", "content": "\n\n".join(shown)})
        write_json(self.folder(session) / "chat.json", history)
        return history

    def state(self, session: str) -> dict[str, Any] | None:
        try:
            return self.studio.session(session)
        except CinedubError:
            return None

    def view(self, session: str, values: dict[str, Any] | None = None, status: str = "") -> dict[str, Any]:
        """Every output component's value for the session as it stands (keys: component names)."""
        values = values if values is not None else self.state(session)
        if not values or not values.get("takes"):
            return {"status": status or f"Session `{session}`: upload a clip and a line (and a voice, unless "
                                        "the clip's own actor should speak), then **Dub**.",
                    "session": session, "chat": self.chat(session) if SESSION_NAME.match(session or "") else []}  # fmt: skip
        folder = self.folder(session)
        takes = [TakeRecord.model_validate(t) for t in values["takes"]]
        last = takes[-1]
        conclusion = values.get("conclusion", {})
        direction = (values.get("plan") or {}).get("scene") or values.get("direction", {})  # older sessions: direction
        labels = [views.take_label(t) for t in takes]
        plot = folder / "plots" / f"take-{last.index:03d}.png"
        if not plot.is_file():
            views.take_plot(plot, last, values.get("perception", {}), values.get("voice", ""))
        refs = values.get("references", [])
        return {
            "status": status or f"Session `{session}`: {len(takes)} take(s); waiting for your note.",
            "session": session,
            "video": self.serve(session, folder / "dub.mp4"),
            "cot": views.cot_markdown(values.get("cot", "")),
            "scene_type": conclusion.get("scene_type"),
            "emotion_c": direction.get("emotion") or conclusion.get("emotion") or "neutral",
            "intensity_c": direction.get("intensity", 0.5),
            "pace_c": direction.get("pace", 1.0),
            "takes_table": views.takes_rows(takes),
            "take_pick": (labels, labels[-1]),
            "ab_a": (labels, labels[-2] if len(labels) > 1 else labels[-1]),
            "ab_b": (labels, labels[-1]),
            "audio_a": self.serve(session, takes[-2 if len(takes) > 1 else -1].path),
            "audio_b": self.serve(session, last.path),
            "listen": (list(views.take_sounds(last)), views.MIX),
            "listen_note": views.listen_markdown(values, last),
            "refs": views.references_markdown(refs),
            "ref_audio": self.serve(session, refs[0]["audio"]) if refs and _in(folder, refs[0].get("audio")) else None,
            "plot": self.serve(session, plot),
            "chat": self.chat(session),
            "line": " ".join(Line.model_validate(x).text for x in values.get("lines", [])),
            **self.scene_view(session, values, last),
            **self.localize_view(session, values),
        }

    def scene_view(self, session: str, values: dict[str, Any], last: TakeRecord) -> dict[str, Any]:
        """The scene's cast panel (each character's face, voice and lines), its lines table and the timeline
        picture of the latest take (drawn once per take, in the session's plots/)."""
        folder = self.folder(session)
        perception = Perception.model_validate(values.get("perception") or {"duration": 0, "sample_fps": 0,
                                                                             "num_frames": 0})  # fmt: skip
        entries = scene.cast_entries(values)
        gallery = []
        for entry in entries:
            if entry["face"] is None:
                continue
            thumbnail = scene.face_thumbnail(folder / "faces" / f"face-{entry['face']}.png", values["clip"],
                                             perception, entry["face"])  # fmt: skip
            if thumbnail is not None:
                caption = f"{entry['character']} · {Path(entry['voice']).name}"
                gallery.append((self.serve(session, thumbnail), caption))
        characters = [entry["character"] for entry in entries]
        picture = folder / "plots" / f"timeline-{last.index:03d}.png"
        if not picture.is_file() and last.lines:
            line_faces = [found.get("track_id") for found in values.get("line_speakers") or []]
            bound = {b["track_id"]: b["character"] for b in values.get("cast_faces") or []
                     if b.get("track_id") is not None}  # fmt: skip
            timeline.scene_timeline(picture, perception, last, line_faces or [None] * len(last.lines), bound)
        return {"lines_table": scene.lines_rows(last), "cast_gallery": gallery,
                "cast_table": scene.cast_markdown(entries),
                "cast_pick": (characters, characters[0] if characters else None),
                "cast_audio": self._voice_served(session, entries[0]["voice"]) if entries else None,
                "timeline": self.serve(session, picture) if picture.is_file() else None}  # fmt: skip

    def _voice_served(self, session: str, voice: str) -> str | None:
        """A copy of a voice recording for the page, when it lies in the session's folder (an uploaded voice,
        or the clip's own dialogue); None for one from elsewhere (a CLI session's own file)."""
        return self.serve(session, voice) if _in(self.folder(session), voice) else None

    def cast_voice(self, session: str, character: str | None) -> dict[str, Any]:
        """The cast panel's player (and its Character choice) switched to `character`'s voice."""
        values = self.state(session)
        entries = scene.cast_entries(values) if values else []
        entry = next((e for e in entries if e["character"] == character), None)
        if entry is None:
            raise CinedubError(f"no character {character!r} in this scene")
        return {"cast_audio": self._voice_served(session, entry["voice"]),
                "cast_pick": ([e["character"] for e in entries], character)}

    def pick_line(self, session: str, number: Any) -> dict[str, Any]:
        """A row of the lines table chosen: its number in the Line box, its audio in the latest take."""
        take = self._take(session, None)
        n = self._line_number(take, number)
        return {"line_pick": n, "line_audio": self.serve(session, take.lines[n - 1].path)}

    @staticmethod
    def _line_number(take: TakeRecord, number: Any) -> int:
        count = len(take.lines)
        try:
            n = int(float(number))
        except (TypeError, ValueError):
            n = 0
        if number is None or str(number).strip() == "":
            raise CinedubError(f"choose a line to retake: select its row in the lines table (1-{count})")
        if not 1 <= n <= count:
            raise CinedubError(f"choose a line of the table to retake (1-{count}), not {number!r}")
        return n

    def retake_line(self, session: str, number: Any, note: str | None):
        """Retake one line: the note "line N: <note, or again>", so only that line is rendered anew."""
        n = self._line_number(self._take(session, None), number)
        text = " ".join((note or "").split()) or AGAIN
        yield from self.note(session, f"line {n}: {text}")
        take = self._take(session, None)
        yield {"line_pick": n, "line_note": "", "line_audio": self.serve(session, take.lines[n - 1].path)}

    def localize_view(self, session: str, values: dict[str, Any]) -> dict[str, Any]:
        """The Localize tab's values for a session with takes that a localize made (it has review.csv): the
        review table, the latest take's video and sound, and the files to download; else nothing."""
        folder = self.folder(session)
        review = review_path(folder)
        if not review.is_file():
            return {}
        last = TakeRecord.model_validate(values["takes"][-1])
        language = Line.model_validate(values["lines"][0]).language
        stems = [path for sound, path in views.take_sounds(last).items() if sound != views.MIX]
        downloads = [folder / "dub.mp4", *localize_files(folder, language), *stems]
        return {"review_table": review_table(review), "loc_video": self.serve(session, folder / "dub.mp4"),
                "loc_audio": self.serve(session, last.path), "loc_to": language,
                "loc_files": [self.serve(session, path) for path in downloads if path.is_file()]}  # fmt: skip

    def _take(self, session: str, label: str | None) -> TakeRecord:
        values = self.state(session)
        if not values or not values.get("takes"):
            raise CinedubError("no takes yet: dub the clip first")
        takes = [TakeRecord.model_validate(t) for t in values["takes"]]
        if not label:
            return takes[-1]
        index = int(str(label).split(":", 1)[0])
        return next(t for t in takes if t.index == index)

    def _receive_clip(self, session: str, clip: str) -> Path:
        """The uploaded clip, copied into the session's inputs/ and checked; a clip that is no video leaves
        nothing of the session and is named as uploaded."""
        from cinedub.media import check_clip

        folder = self.folder(session)
        inputs = folder / "inputs"
        inputs.mkdir(parents=True, exist_ok=True)
        clip_path = inputs / f"clip{Path(clip).suffix.lower() or '.mp4'}"
        shutil.copyfile(clip, clip_path)
        try:
            check_clip(clip_path)
        except CinedubError as err:
            shutil.rmtree(folder, ignore_errors=True)
            raise CinedubError(f"the clip you uploaded: {str(err).replace(str(clip_path), Path(clip).name)}") from None
        return clip_path

    @staticmethod
    def _in_background(work: Callable[[], Any], progress: Callable[[float], dict[str, Any]]):
        """Runs `work` in a thread, yielding progress(seconds so far) twice a second meanwhile (the page's
        status); returns what `work` returned (`result = yield from ...`) or raises what it raised."""
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["result"] = work()
            except BaseException as err:  # noqa: BLE001 - raised again in the handler's thread below
                outcome["error"] = err

        worker = threading.Thread(target=run, daemon=True)
        t0 = time.perf_counter()
        worker.start()
        while worker.is_alive():
            yield progress(time.perf_counter() - t0)
            worker.join(0.5)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    def _first_take(self, session: str, clip: str, clip_path: Path, work: Callable[[], Any],
                    progress: Callable[[float], dict[str, Any]]):  # fmt: skip
        """The session's first take, made by `work` in the background; a failure before any take leaves
        nothing of the session, and an error names the clip as uploaded (e.g. "... has no dialogue ...")."""
        try:
            return (yield from self._in_background(work, progress))
        except Exception as error:  # not GeneratorExit: a page that went away leaves the work running
            shutil.rmtree(self.folder(session), ignore_errors=True) if not self.state(session) else None
            if isinstance(error, CinedubError):
                shown = Path(clip).name
                message = str(error).replace(str(clip_path), shown).replace(clip_path.name, shown)
                raise type(error)(message) from None
            raise

    # -- events --------------------------------------------------------------------------------

    def start(self, session: str, clip: str | None, line: str, script: str | None, voice: str | None, emotion: str,
              intensity: float | None, cast: list[str] | None = None):  # fmt: skip
        """The first take, with the director's stages shown as the checkpoints record them. script: a script
        file (cinedub.script.read_script: SRT, WebVTT, JSON or YAML, with speakers); cast: the uploaded cast
        file and the recordings it names."""
        if self.state(session):
            raise CinedubError("this session already has its takes: give a note, or open a new page for a new clip")
        if not clip:
            raise CinedubError("no clip: upload a video")
        intensity = parse_intensity(intensity)
        emotion = None if emotion in (None, "", "auto", AUTO) else emotion
        if emotion is not None and emotion not in EMOTIONS:
            raise CinedubError(f"unknown emotion {emotion!r}: one of {', '.join(EMOTIONS)}")
        if not script and not (line and line.strip()):
            raise CinedubError("no line: type the line to speak or upload a script")
        folder = self.folder(session)
        clip_path = self._receive_clip(session, clip)
        inputs = clip_path.parent
        try:
            members = scene.receive_cast(cast, inputs / "cast")
            if script:
                shown = Path(script).name
                try:
                    lines = read_script(script, characters=members or ())
                except CinedubError as err:
                    raise CinedubError(str(err).replace(str(script), shown)) from None
                shutil.copyfile(script, inputs / f"script{Path(script).suffix.lower()}")
            else:
                lines = [Line(text=line)]
            if members is not None:
                try:
                    check_cast(members, lines, voice)
                except CinedubError as err:  # the voices as uploaded, and the page's words for --voice
                    message = str(err).replace(f"{(inputs / 'cast').resolve()}/", "").replace(
                        "give --voice", "upload a reference voice")
                    raise CinedubError(message) from None
        except CinedubError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        # No voice: Studio takes the clip's own actor (its dialogue), or refuses a clip without one.
        voice_path = inputs / f"voice{Path(voice).suffix.lower() or '.wav'}" if voice else None
        if voice:
            shutil.copyfile(voice, voice_path)
        from cinedub.speech.voice import load_voice

        try:
            if voice_path is not None:
                load_voice(voice_path)
        except CinedubError as err:
            shutil.rmtree(folder, ignore_errors=True)
            raise CinedubError(f"the voice you gave: {str(err).replace(str(voice_path), Path(voice).name)}") from None

        def progress(elapsed: float) -> dict[str, Any]:
            values = self.state(session) or {}
            step = "watching the clip (faces, mouths, speaking windows)"
            if values.get("cot"):
                step = "the actor is performing take 1" if not values.get("takes") else "reviewing and exporting take 1"
            return {"status": f"Working: {step}… {elapsed:.0f} s",
                    "cot": views.cot_markdown(values.get("cot", ""), running="The director is watching the clip…")}

        t0 = time.perf_counter()
        work = lambda: self.studio.dub(clip_path, lines, voice_path, session=session, out=folder,  # noqa: E731
                                       emotion=emotion, intensity=intensity, cast=members)  # fmt: skip
        result = yield from self._first_take(session, clip, clip_path, work, progress)
        self.say(session, [], None, result.messages)
        ready = f"Take {result.take.index} is ready ({time.perf_counter() - t0:.1f} s)."
        from_clip = (self.state(session) or {}).get("voice_from_clip")
        own = " The voice is the clip's own actor (its dialogue, cleaned)." if from_clip else ""
        yield self.view(session, status=ready + own)

    def note(self, session: str, text: str):
        values = self.state(session)
        if not values or not values.get("takes"):
            raise CinedubError("no take yet to give a note on: dub the clip first")
        text = " ".join((text or "").split())
        if not text:
            raise CinedubError("type a note, e.g. \"again, but angrier\"")
        history = self.chat(session)
        yield {"status": f"Working: the director reads your note and the actor performs: “{text}”…",
               "chat": history + [{"role": "user", "content": text}], "note_box": ""}
        t0 = time.perf_counter()
        lines = [Line.model_validate(x) for x in values["lines"]]
        result = self.studio.dub(values["clip"], lines, values["voice"], session=session, note=text)
        self.say(session, history, text, result.messages)
        if not result.new_take:  # every note gets an answer: here, why nothing was made
            yield self.view(session, status=f"No new take: {' '.join(result.messages)}")
            return
        yield self.view(session, status=f"Take {result.take.index} is ready ({time.perf_counter() - t0:.1f} s).")

    def override(self, session: str, scene_type: str, emotion: str, intensity: float, pace: float):
        if not self.state(session):
            raise CinedubError("no take yet: dub the clip first")
        yield {"status": "Working: overriding the conclusion; the actor performs…"}
        t0 = time.perf_counter()
        result = self.studio.override(session, scene_type=scene_type, emotion=emotion, intensity=intensity, pace=pace)
        self.say(session, self.chat(session), f"(override) {result.take.note}", result.messages)
        yield self.view(session, status=f"Take {result.take.index} is ready ({time.perf_counter() - t0:.1f} s).")

    def localize(self, session: str, clip: str | None, to: str, source: str | None, translator: str | None):
        """Translate and dub (Studio.localize): the clip's dialogue transcribed, translated to fit each line's
        window and dubbed in its speaker's voice; the session's first take, with its review table."""
        if self.state(session):
            raise CinedubError("this session already has its takes: re-dub edited lines, or open a new page "
                               "for a new clip")  # fmt: skip
        if not clip:
            raise CinedubError("no clip: upload a video")
        if to not in LOCALIZE_TARGETS:
            raise CinedubError(f"unknown target language {to!r}: one of {', '.join(LOCALIZE_TARGETS)}")
        if source not in LOCALIZE_SOURCES:
            raise CinedubError(f"unknown source language {source!r}: one of {', '.join(LOCALIZE_SOURCES)}")
        source = None if source == DETECT else source
        translator = (translator or "").strip() or None  # None: Apertium
        clip_path = self._receive_clip(session, clip)
        folder = self.folder(session)

        def progress(elapsed: float) -> dict[str, Any]:
            values = self.state(session) or {}
            if values.get("cot"):
                step = f"the actor is dubbing the lines in {to}, each in its speaker's voice"
            elif review_path(folder).is_file():
                step = "translated; the director is watching the clip"
            else:
                step = "transcribing the clip's dialogue and translating each line to fit its window"
            return {"status": f"Working: {step}… {elapsed:.0f} s"}

        t0 = time.perf_counter()
        work = lambda: self.studio.localize(clip_path, to=to, source=source,  # noqa: E731
                                            translator=translator, session=session, out=folder)  # fmt: skip
        result = yield from self._first_take(session, clip, clip_path, work, progress)
        heard = (f"Heard {result.source_language} (p={result.probability:.2f})" if source is None
                 else f"From {source}")  # fmt: skip
        flagged = [str(row.line) for row in result.rows if row.flag]
        summary = f"{heard}: {len(result.rows)} lines translated into {to}" + (
            f"; flagged in the review table: line(s) {', '.join(flagged)}." if flagged else ".")
        self.say(session, [], None, [summary, *result.dub.messages])
        ready = f"Take {result.dub.take.index} is ready ({time.perf_counter() - t0:.1f} s)."
        yield self.view(session, status=f"{ready} {summary} Edit translations in the table, then re-dub them.")

    def redub(self, session: str, table: Any):
        """Re-dub edited lines: the table's translations written to a review CSV and given back to
        Studio.localize for the same session, which re-renders only the lines whose words changed."""
        values = self.state(session)
        folder = self.folder(session)
        if not values or not values.get("takes") or not review_path(folder).is_file():
            raise CinedubError("nothing localized in this session yet: upload a clip, then Translate and dub")
        language = Line.model_validate(values["lines"][0]).language
        rows = read_review(review_path(folder))
        edited = apply_edits(rows, table)
        changed = [new.line for old, new in zip(rows, edited, strict=True)
                   if new.translation != old.translation]  # fmt: skip
        if not changed:
            raise CinedubError("no translation changed: edit a line's translation in the table, then re-dub")
        (folder / "inputs").mkdir(parents=True, exist_ok=True)
        # the table's words as a review table (Studio measures their fit again; the file shows it too)
        review = write_review(folder / "inputs" / "review-edited.csv", edited)
        which = ("line " if len(changed) == 1 else "lines ") + ", ".join(map(str, changed))
        t0 = time.perf_counter()
        work = lambda: self.studio.localize(values["clip"], to=language, review=review,  # noqa: E731
                                            session=session, out=folder)  # fmt: skip
        progress = lambda elapsed: {"status": f"Working: re-dubbing {which}… {elapsed:.0f} s"}  # noqa: E731
        result = yield from self._in_background(work, progress)
        take = result.dub.take
        partial = 0 < len(take.rerendered) < len(take.lines)
        kept = "; the other lines kept from the take before" if partial else ""
        self.say(session, self.chat(session), f"(review) new words for {which}", result.dub.messages)
        yield self.view(session, status=f"Take {take.index} is ready ({time.perf_counter() - t0:.1f} s): "
                                        f"rendered anew: {rendered_lines(take)}{kept}.")  # fmt: skip

    def mark(self, session: str, label: str, *, kept: bool | None = None, name: str | None = None) -> dict[str, Any]:
        take = self._take(session, label)
        take = self.studio.mark_take(session, take.index, kept=kept, name=name)
        what = f"renamed to “{take.name}”" if name is not None else ("kept" if take.kept else "discarded")
        return self.view(session, status=f"Take {take.index} {what}.")

    def pick_audio(self, session: str, label: str, sound: str = views.MIX) -> str | None:
        """The chosen take's mix, or one of its stems alone (`sound`: one of views.LISTEN)."""
        if sound not in views.LISTEN:
            raise CinedubError(f"unknown sound {sound!r}: one of {', '.join(views.LISTEN)}")
        if not label:
            return None
        take = self._take(session, label)
        sounds = views.take_sounds(take)
        if sound not in sounds:
            raise CinedubError(f"take {take.index} has no {sound} stem: "
                               f"{views.no_stems_reason(self.state(session) or {}, take)}")  # fmt: skip
        return self.serve(session, sounds[sound])

    def listen(self, session: str, label_a: str, label_b: str, sound: str) -> dict[str, Any]:
        """Both players switched to the takes' mix, dialogue or ambience."""
        return {"audio_a": self.pick_audio(session, label_a, sound),
                "audio_b": self.pick_audio(session, label_b, sound)}

    def export(self, session: str, label: str) -> dict[str, Any]:
        values = self.state(session)
        take = self._take(session, label)
        files = views.export_take(self.folder(session), values, take)
        stems = " (and its dialogue and ambience stems)" if len(views.take_sounds(take)) > 1 else ""
        return {"files": [self.serve(session, f) for f in files],
                "status": f"Exported take {take.index}: WAV{stems}, MP4, SRT and report."}  # fmt: skip


def _in(folder: Path, path: str | None) -> bool:
    try:
        return bool(path) and views.inside(folder, path) is not None
    except CinedubError:
        return False


def build_app(studio: Studio | None = None):
    """The Gradio Blocks of the studio."""
    config.apply_offline_env()
    import gradio as gr

    ui = StudioUI(studio or Studio())
    with gr.Blocks(title="cinedub studio") as app:
        session = gr.Textbox(label="Session (bookmark this page to come back to it)", interactive=False,
                             elem_id="session-name", scale=1)  # fmt: skip
        gr.Markdown("# cinedub — the director's studio")
        status = gr.Markdown(elem_id="status")
        with gr.Tabs():
            with gr.Tab("Dub", id="dub", elem_id="dub-tab"):
                with gr.Row():
                    with gr.Column(scale=1):
                        clip = gr.File(label="Clip (video)", type="filepath", elem_id="clip-upload")
                        line = gr.Textbox(label="Line to speak", lines=2, elem_id="line-box")
                        script = gr.File(label="…or a script: SRT, WebVTT, YAML or JSON (speakers as [Anna] or "
                                               "ANNA:, <v Anna>, or speaker:)", type="filepath",
                                         file_types=list(SCRIPT_FORMATS), elem_id="script-upload")  # fmt: skip
                        cast = gr.File(label="Cast: a cast file (TOML or YAML: Anna = \"anna.wav\") and the voice "
                                             "recordings it names", type="filepath", file_count="multiple",
                                       file_types=[*CAST_FORMATS, "audio"], elem_id="cast-upload")  # fmt: skip
                        voice = gr.Audio(label="Reference voice (upload or record; none: the clip's actor speaks)",
                                         type="filepath", sources=["upload", "microphone"],
                                         elem_id="voice-upload")  # fmt: skip
                        with gr.Row():
                            emotion0 = gr.Dropdown([AUTO, *EMOTIONS], value=AUTO, label="Emotion")
                            intensity0 = gr.Textbox(label="Intensity 0–1 (empty: the director decides)",
                                                    elem_id="intensity-box")  # fmt: skip
                        dub_btn = gr.Button("Dub", variant="primary", elem_id="dub-btn")
                    with gr.Column(scale=2):
                        video = gr.Video(label="The dub (latest take)", interactive=False, elem_id="dub-video")
                        with gr.Accordion("The director's reasoning (chain of thought)", open=True):
                            cot = gr.Markdown(elem_id="cot", elem_classes="cot-box")
                        with gr.Group():
                            gr.Markdown("**Conclusion** — override any field and retake")
                            with gr.Row():
                                scene_type = gr.Dropdown(list(SCENE_TYPES), value=None, label="Scene type")
                                emotion_c = gr.Dropdown(list(EMOTIONS), value=None, label="Emotion")
                                intensity_c = gr.Slider(*DIRECTION_BOUNDS["intensity"], step=0.05, label="Intensity")
                                pace_c = gr.Slider(*DIRECTION_BOUNDS["pace"], step=0.05, value=1.0, label="Pace")
                            override_btn = gr.Button("Apply overrides → retake", elem_id="override-btn")
                with gr.Row():
                    with gr.Column(scale=1):
                        gr.Markdown("**Cast** — each character's face, voice and lines (a wrong face? tell the "
                                    "director: *Anna is face 2*, or *Anna is off screen*)")
                        cast_gallery = gr.Gallery(label="Faces", columns=4, height=200, allow_preview=False,
                                                  interactive=False, elem_id="cast-gallery")  # fmt: skip
                        cast_table = gr.Markdown(elem_id="cast-table")
                        cast_pick = gr.Dropdown([], label="Character", elem_id="cast-pick")
                        cast_audio = gr.Audio(label="Their voice", interactive=False, elem_id="cast-audio")
                    with gr.Column(scale=2):
                        lines_table = gr.Dataframe(headers=scene.LINE_COLUMNS, label="Lines (select a row to play or "
                                                   "retake it)", interactive=False, wrap=True,
                                                   elem_id="lines-table")  # fmt: skip
                        with gr.Row():
                            line_pick = gr.Number(label="Line", precision=0, minimum=1, scale=1,
                                                  elem_id="line-pick")  # fmt: skip
                            line_note = gr.Textbox(label="Note for this line (empty: again)", scale=3,
                                                   placeholder='e.g. "angrier"', elem_id="line-note")  # fmt: skip
                            retake_btn = gr.Button("Retake line", scale=1, elem_id="retake-btn")
                        line_audio = gr.Audio(label="The line in the latest take", interactive=False,
                                              elem_id="line-audio")  # fmt: skip
                timeline_img = gr.Image(label="Timeline: each face's mouth, each line's window, the take's "
                                        "waveform", type="filepath", interactive=False,
                                        elem_id="timeline")  # fmt: skip
                with gr.Row():
                    with gr.Column(scale=1):
                        chat = gr.Chatbot(label="Notes to the director", height=260, elem_id="chat")
                        with gr.Row():
                            note_box = gr.Textbox(placeholder='e.g. "again, but angrier"', show_label=False, scale=4,
                                                  elem_id="note-box")  # fmt: skip
                            note_btn = gr.Button("Send note", scale=1, elem_id="note-btn")
                    with gr.Column(scale=1):
                        takes_table = gr.Dataframe(headers=views.TAKE_COLUMNS, label="Takes", interactive=False,
                                                   elem_id="takes-table")  # fmt: skip
                        with gr.Row():
                            take_pick = gr.Dropdown([], label="Take", elem_id="take-pick")
                            new_name = gr.Textbox(label="New name", elem_id="new-name")
                        with gr.Row():
                            keep_btn = gr.Button("Keep", elem_id="keep-btn")
                            discard_btn = gr.Button("Discard", elem_id="discard-btn")
                            rename_btn = gr.Button("Rename", elem_id="rename-btn")
                with gr.Row():
                    listen = gr.Radio(list(views.LISTEN), value=views.MIX, label="Play", elem_id="listen", scale=1)
                    listen_note = gr.Markdown(elem_id="listen-note")
                with gr.Row():
                    with gr.Column():
                        ab_a = gr.Dropdown([], label="A")
                        audio_a = gr.Audio(label="Take A", interactive=False, elem_id="audio-a")
                    with gr.Column():
                        ab_b = gr.Dropdown([], label="B")
                        audio_b = gr.Audio(label="Take B", interactive=False, elem_id="audio-b")
                with gr.Row():
                    with gr.Column():
                        gr.Markdown("**Retrieved references**")
                        refs = gr.Markdown(views.NO_LIBRARY, elem_id="refs")
                        ref_audio = gr.Audio(label="Top reference", interactive=False)
                        export_btn = gr.Button("Export WAV / MP4 / SRT / report", elem_id="export-btn")
                        files = gr.File(label="Exports", file_count="multiple", interactive=False, elem_id="exports")
                    with gr.Column(scale=2):
                        plot = gr.Image(label="Speaking window vs speech, pitch vs reference, spectrogram",
                                        type="filepath", interactive=False, elem_id="plot")  # fmt: skip
            with gr.Tab("Localize", id="localize", elem_id="localize-tab"):
                gr.Markdown("Dub a clip into another language: its dialogue is transcribed, each line "
                            "translated to fit its window and spoken in its speaker's own voice over the scene's "
                            "sound. Edit the translations in the review table, then **Re-dub edited lines**: only "
                            "those are rendered again.")  # fmt: skip
                with gr.Row():
                    with gr.Column(scale=1):
                        loc_clip = gr.File(label="Clip (video with its dialogue)", type="filepath",
                                           elem_id="loc-clip-upload")  # fmt: skip
                        with gr.Row():
                            loc_from = gr.Dropdown(list(LOCALIZE_SOURCES), value=DETECT, label="From",
                                                   elem_id="loc-from")  # fmt: skip
                            loc_to = gr.Dropdown(list(LOCALIZE_TARGETS), value="en", label="To", elem_id="loc-to")
                        loc_translator = gr.Textbox(label="Translator (--translator): openai:URL or local:PATH; "
                                                    "empty: Apertium, offline",
                                                    elem_id="loc-translator")  # fmt: skip
                        localize_btn = gr.Button("Translate and dub", variant="primary",
                                                 elem_id="localize-btn")  # fmt: skip
                    with gr.Column(scale=2):
                        loc_video = gr.Video(label="The dub (latest take)", interactive=False, height=480,
                                             elem_id="loc-video")  # fmt: skip
                        loc_audio = gr.Audio(label="The take's sound", interactive=False, elem_id="loc-audio")
                review_table = gr.Dataframe(
                    headers=list(REVIEW_SHOWN), type="array", interactive=True, wrap=True,
                    datatype=["number", "str", "number", "number", "str", "str", "number", "str"],
                    static_columns=[i for i in range(len(REVIEW_SHOWN)) if i != TRANSLATION],
                    column_widths=["4%", "8%", "6%", "6%", "29%", "29%", "6%", "12%"],
                    label="Review table: edit the translation column", elem_id="review-table")
                redub_btn = gr.Button("Re-dub edited lines", elem_id="redub-btn")
                loc_files = gr.File(label="Downloads: the dub, the script (SRT, YAML), the review table, "
                                    "the stems", file_count="multiple", interactive=False,
                                    elem_id="loc-files")  # fmt: skip

        named = {"status": status, "session": session, "video": video, "cot": cot, "scene_type": scene_type,
                 "emotion_c": emotion_c, "intensity_c": intensity_c, "pace_c": pace_c, "takes_table": takes_table,
                 "take_pick": take_pick, "ab_a": ab_a, "ab_b": ab_b, "audio_a": audio_a, "audio_b": audio_b,
                 "refs": refs, "ref_audio": ref_audio, "plot": plot, "chat": chat, "note_box": note_box,
                 "files": files, "line": line, "listen": listen, "listen_note": listen_note,
                 "review_table": review_table, "loc_video": loc_video, "loc_audio": loc_audio,
                 "loc_files": loc_files, "loc_to": loc_to, "lines_table": lines_table,
                 "cast_gallery": cast_gallery, "cast_table": cast_table, "cast_pick": cast_pick,
                 "cast_audio": cast_audio, "line_pick": line_pick, "line_note": line_note, "line_audio": line_audio,
                 "timeline": timeline_img}  # fmt: skip
        outputs = list(named.values())

        def as_updates(values: dict[str, Any]) -> dict[Any, Any]:
            updates = {}
            for key, value in values.items():
                if key in ("take_pick", "ab_a", "ab_b", "listen", "cast_pick"):
                    choices, chosen = value
                    updates[named[key]] = gr.update(choices=choices, value=chosen)
                else:
                    updates[named[key]] = value
            return updates

        def guarded(fn):
            """CinedubError -> a clear message on the page (a toast and the status line); anything else
            -> one line too, never a traceback."""

            def wrapper(*args, **kwargs):
                try:
                    result = fn(*args, **kwargs)
                    if hasattr(result, "__next__"):
                        for item in result:
                            yield as_updates(item)
                    else:
                        yield as_updates(result)
                except CinedubError as err:
                    message = str(err)
                except Exception as err:  # noqa: BLE001 - a bug, still shown as one line
                    problem = storage_error(err)  # a full disk or a read-only home is not a bug
                    message = str(problem) if problem else f"internal error: {err.__class__.__name__}: {err}"
                else:
                    return
                gr.Warning(message, duration=None)
                yield {status: f"**Problem:** {message}"}

            return wrapper

        def on_load(request: gr.Request):
            asked = (request.query_params.get("session") or "") if request else ""
            name = asked if SESSION_NAME.match(asked) and (ui.root / asked).is_dir() else new_session_name()
            status_ = f"Reopened session `{name}`." if name == asked else ""
            yield from guarded(lambda: ui.view(name, status=status_))()

        load = app.load(on_load, None, outputs)
        load.then(None, [session], None, js=SET_URL_JS)
        dub_btn.click(guarded(ui.start), [session, clip, line, script, voice, emotion0, intensity0, cast],
                      outputs)  # fmt: skip

        def on_line_select(name: str, event: gr.SelectData):
            row = event.row_value or []
            yield from guarded(ui.pick_line)(name, row[0] if row else event.index[0] + 1)

        def on_face_select(name: str, event: gr.SelectData):
            caption = event.value.get("caption") if isinstance(event.value, dict) else None
            character = str(caption or "").split(" · ")[0]  # the caption scene_view wrote: "Anna · anna.wav"
            yield from guarded(ui.cast_voice)(name, character)

        lines_table.select(on_line_select, [session], outputs)
        retake_btn.click(guarded(ui.retake_line), [session, line_pick, line_note], outputs)
        line_note.submit(guarded(ui.retake_line), [session, line_pick, line_note], outputs)
        cast_pick.input(guarded(ui.cast_voice), [session, cast_pick], outputs)
        cast_gallery.select(on_face_select, [session], outputs)
        note_box.submit(guarded(ui.note), [session, note_box], outputs)
        note_btn.click(guarded(ui.note), [session, note_box], outputs)
        override_btn.click(guarded(ui.override), [session, scene_type, emotion_c, intensity_c, pace_c], outputs)
        keep_btn.click(guarded(lambda s, t: ui.mark(s, t, kept=True)), [session, take_pick], outputs)
        discard_btn.click(guarded(lambda s, t: ui.mark(s, t, kept=False)), [session, take_pick], outputs)
        rename_btn.click(guarded(lambda s, t, n: ui.mark(s, t, name=n or "")), [session, take_pick, new_name], outputs)
        ab_a.input(guarded(lambda s, t, h: {"audio_a": ui.pick_audio(s, t, h)}), [session, ab_a, listen],
                   outputs)  # fmt: skip
        ab_b.input(guarded(lambda s, t, h: {"audio_b": ui.pick_audio(s, t, h)}), [session, ab_b, listen],
                   outputs)  # fmt: skip
        listen.input(guarded(ui.listen), [session, ab_a, ab_b, listen], outputs)
        export_btn.click(guarded(ui.export), [session, take_pick], outputs)
        localize_btn.click(guarded(ui.localize), [session, loc_clip, loc_to, loc_from, loc_translator],
                           outputs)  # fmt: skip
        redub_btn.click(guarded(ui.redub), [session, review_table], outputs)
    app.studio_ui = ui  # type: ignore[attr-defined]
    return app


def launch(host: str = "127.0.0.1", port: int | None = None, auth: tuple[str, str] | None = None,
           max_file_size: str | int = DEFAULT_MAX_UPLOAD, studio: Studio | None = None, block: bool = True):  # fmt: skip
    """Serve the studio. Binds to 127.0.0.1 unless told otherwise; no analytics, no share link."""
    config.apply_offline_env()
    import gradio as gr

    studio = studio or Studio()
    app = build_app(studio)
    app.queue(default_concurrency_limit=1)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    app.launch(server_name=host, server_port=port, auth=auth, max_file_size=max_file_size, share=False,
               show_error=False, ssr_mode=False, blocked_paths=[str(studio.home)], prevent_thread_lock=not block,
               quiet=False, theme=theme, css=CSS, footer_links=[])  # fmt: skip
    return app
