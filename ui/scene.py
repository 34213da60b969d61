"""A scene with a cast, as the Dub tab shows it: the uploaded cast (a cast file with the recordings it names),
the cast panel (each character's face, voice and lines) and the lines table. No Gradio here."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cinedub import media
from cinedub.errors import CinedubError
from cinedub.files import atomic_path
from cinedub.script import CAST_FORMATS, cast_member, read_cast
from cinedub.types import CastMember, Perception, TakeRecord

LINE_COLUMNS = ["line", "speaker", "text", "window s", "emotion", "intensity", "take"]
THUMBNAIL_MARGIN = 0.25  # around the face's box, in box sides: the whole head, not just the features
THUMBNAIL_SIDE = 160  # px


def receive_cast(uploads: list[str] | None, folder: Path) -> dict[str, CastMember] | None:
    """The cast from the studio's uploads (one cast file and the recordings it names), copied into `folder`:
    each voice the cast file names is found among the uploads by its file name (never read from the server's
    own files). None: nothing uploaded. Errors name the files as uploaded."""
    uploads = [Path(u) for u in uploads or []]
    if not uploads:
        return None
    casts = [u for u in uploads if u.suffix.lower() in CAST_FORMATS]
    if len(casts) != 1:
        found = f"{len(casts)} ({', '.join(u.name for u in casts)})" if casts else "none"
        raise CinedubError(f"the cast: upload one cast file ({', '.join(CAST_FORMATS)}) with the voice "
                           f"recordings it names; cast files uploaded: {found}")  # fmt: skip
    names = [u.name for u in uploads]
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice:
        raise CinedubError(f"the cast: two uploaded files are named {twice}")
    folder.mkdir(parents=True, exist_ok=True)
    for upload in uploads:
        shutil.copyfile(upload, folder / upload.name)
    voices = {u.name: folder / u.name for u in uploads if u not in casts}
    try:
        return read_cast(folder / casts[0].name, uploaded=voices)
    except CinedubError as err:
        raise CinedubError(str(err).replace(f"{folder.resolve()}/", "").replace(f"{folder}/", "")) from None


def cast_entries(values: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per character of the scene (the director's binding to faces, `cast_faces`), then any cast
    member with no line: character, face (track id, None: off screen), lines (1-based), voice (theirs from
    the cast, else the session's voice), notes."""
    cast = {name: CastMember.model_validate(member) for name, member in (values.get("cast") or {}).items()}

    def entry(character: str, face: int | None, lines: list[int]) -> dict[str, Any]:
        member = cast_member(cast, character)
        if member is None:
            return {"character": character, "face": face, "lines": lines, "voice": values["voice"], "notes": None}
        return {"character": character, "face": face, "lines": lines, "voice": member.voice, "notes": member.notes}

    entries = [entry(b["character"], b.get("track_id"), list(b.get("lines", [])))
               for b in values.get("cast_faces") or []]  # fmt: skip
    named = {e["character"].casefold() for e in entries}
    return entries + [entry(name, None, []) for name in cast if name.casefold() not in named]


def face_thumbnail(path: Path, clip: str | Path, perception: Perception, track_id: int) -> Path | None:
    """A PNG of the face `track_id` cropped from the clip's frame where the tracker saw it nearest the middle
    of its time on screen (the mouth measured there: the mesh saw the face); cached at `path`. None: the
    perception has no such face."""
    from PIL import Image

    from cinedub.agents.perception.attributes import face_crop

    if path.is_file():
        return path
    person = next((p for p in perception.people if p.track_id == track_id), None)
    series = perception.mouth_series.get(track_id) or []
    seen = [t for t, v in zip(perception.frame_times, series) if v is not None]
    if person is None or not seen:
        return None
    middle = (person.first_seen + person.last_seen) / 2
    when = min(seen, key=lambda t: abs(t - middle))
    frame = media.frames_at(clip, [when]).get(when)
    if frame is None:
        return None
    crop = Image.fromarray(face_crop(frame, person.box, margin=THUMBNAIL_MARGIN))
    crop.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        crop.save(tmp, format="PNG")
    return path


def cast_markdown(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "No cast: every line is spoken in the one voice."
    rows = ["| character | face | voice | lines | notes |", "|---|---|---|---|---|"]
    for e in entries:
        face = str(e["face"]) if e["face"] is not None else "off screen"
        lines = ", ".join(map(str, e["lines"])) or "-"
        rows.append(f"| {e['character']} | {face} | {Path(e['voice']).name} | {lines} | {e['notes'] or ''} |")
    return "\n".join(rows)


def lines_rows(take: TakeRecord) -> list[list[Any]]:
    """The lines table: each line of the take as directed (speaker, window, emotion, intensity) and the take
    whose actor rendered its audio."""
    return [[r.line, r.direction.speaker or "", r.text, f"{r.window.start:.2f}–{r.window.end:.2f}",
             r.direction.emotion, round(r.direction.intensity, 2), r.rendered_in] for r in take.lines]  # fmt: skip
