"""The director's studio (`cinedub ui`): its pure helpers, its command line, and, marked `browser`, the
studio driven in Debian's Chromium (headless, Playwright, no browser download) against a real server
on 127.0.0.1 with a temporary CINEDUB_HOME."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cinedub.errors import CinedubError
from cinedub.ui import views
from cinedub.ui.app import SESSION_NAME, new_session_name, parse_intensity
from cinedub.ui.scene import LINE_COLUMNS
from tests.conftest import run_cinedub

COT = ("<SUMMARY> I will count the people. </SUMMARY> <CAPTION> One man in a car. </CAPTION>"
       "<REASONING> He is talking. </REASONING> <CONCLUSION> B </CONCLUSION>")  # fmt: skip


def test_cot_stages_are_split_in_order():
    stages = views.cot_stages(COT)
    assert list(stages) == ["SUMMARY", "CAPTION", "REASONING", "CONCLUSION"]
    assert stages["CAPTION"] == "One man in a car." and stages["CONCLUSION"] == "B"
    # a chain cut short (still being produced) shows what exists so far
    assert views.cot_stages("<SUMMARY> counting </SUMMARY>")["REASONING"] == ""
    assert "Summary" in views.cot_markdown(COT)


def test_only_the_sessions_own_files_are_served(tmp_path):
    folder = tmp_path / "ui" / "ui-000000000000"
    (folder / "exports").mkdir(parents=True)
    assert views.inside(folder, folder / "exports" / "take-001.wav") == (folder / "exports" / "take-001.wav").resolve()
    for outside in (tmp_path / "other.wav", folder / ".." / "ui-111111111111" / "take-001.wav", "/etc/passwd"):
        with pytest.raises(CinedubError, match="not in this session's folder"):
            views.inside(folder, outside)


def test_session_names_and_intensity():
    names = {new_session_name() for _ in range(50)}
    assert len(names) == 50 and all(SESSION_NAME.match(n) for n in names)
    assert not SESSION_NAME.match("../ui-000000000000")
    assert parse_intensity("") is None and parse_intensity(" 0.7 ") == 0.7
    for bad in ("loud", "1.5"):
        with pytest.raises(CinedubError, match="intensity"):
            parse_intensity(bad)


def test_no_reference_library_is_said_honestly():
    assert views.references_markdown([]) == views.NO_LIBRARY
    table = views.references_markdown([{"clip_id": "c1", "audio": "a.wav", "score": 0.8123, "emotion": "sad"}])
    assert "| c1 | 0.812 | sad |" in table


def test_cli_ui_bad_auth_is_one_line():
    result = run_cinedub("ui", "--auth", "nopassword")
    assert result.returncode == 2
    assert result.stderr.strip() == "cinedub: error: --auth must be USER:PASS"


# -- in the browser -------------------------------------------------------------------------------


@pytest.fixture
def shots(tmp_path) -> Path:
    """Screenshots go to $CINEDUB_UI_SCREENSHOTS when set (to look at them), else into tmp_path."""
    folder = Path(os.environ.get("CINEDUB_UI_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser_mod():
    pytest.importorskip("playwright")
    from tests import browser

    if not Path(browser.CHROMIUM).is_file():
        pytest.skip(f"{browser.CHROMIUM} is missing (apt-get install chromium)")
    return browser


@pytest.mark.browser
@pytest.mark.slow
def test_director_journey_and_restart(browser_mod, sample, cinedub_home, shots):
    """Upload the bundled sample, first take, note "angrier", take 2, play it, export; restart the server
    and the session comes back with its takes."""
    b = browser_mod
    with b.serve(cinedub_home) as url, b.chromium() as context:
        page = b.open_studio(context, url)
        name = b.session_name(page)
        assert SESSION_NAME.match(name) and f"session={name}" in page.url
        page.screenshot(path=shots / "1-empty.png", full_page=True)
        b.upload(page, sample.clip, sample.voice, sample.line)
        page.screenshot(path=shots / "2-uploaded.png", full_page=True)
        b.dub(page)
        b.wait_for_take(page, 1)
        page.screenshot(path=shots / "3-take1.png", full_page=True)
        cot = page.locator("#cot").inner_text()
        assert all(stage in cot for stage in ("Summary", "Caption", "Reasoning", "Conclusion"))
        assert "No reference library configured" in page.locator("#refs").inner_text()
        assert page.locator("#plot img").count() == 1

        b.send_note(page, "angrier")
        b.wait_for_take(page, 2)
        page.screenshot(path=shots / "4-take2.png", full_page=True)
        table = b.takes_text(page)
        assert "angry" in table.split("take-002", 1)[1]  # take 2 is angrier
        chat = page.locator("#chat").inner_text()
        assert "angrier" in chat and "angry" in chat  # the answer says what it changed
        assert b.play_dub(page, 1.0) > 0.3
        page.screenshot(path=shots / "5-playing.png", full_page=True)
        exported = b.export(page)
        page.screenshot(path=shots / "6-exported.png", full_page=True)
        assert all(f"take-002{ext}" in "".join(exported.split()) for ext in (".wav", ".mp4", ".srt", "-report.json"))
        b.rename_latest(page, "shouted")
        b.discard_chosen(page)
        page.screenshot(path=shots / "7-renamed-discarded.png", full_page=True)
        table = b.takes_text(page)  # take 1 is still kept, so "discarded" is take 2's
        assert "shouted" in table and "take-002" not in table and table.count("discarded") == 1
        folder = cinedub_home / "ui" / name
        assert (folder / "exports" / "take-002.srt").read_text().startswith("1\n")
        assert sorted(p.name for p in folder.glob("take-*.wav")) == ["take-001.wav", "take-002.wav"]

    # A new server over the same home: the page's URL reopens the session with both takes.
    with b.serve(cinedub_home) as url, b.chromium() as context:
        page = b.open_studio(context, f"{url}?session={name}")
        assert b.session_name(page) == name
        page.wait_for_function("() => (document.querySelector('#takes-table')?.innerText || '').includes('shouted')",
                               timeout=60_000)  # fmt: skip
        assert "take-001" in b.takes_text(page) and "shouted" in b.takes_text(page)  # the rename came back too
        assert "angrier" in page.locator("#chat").inner_text()
        page.screenshot(path=shots / "8-reopened.png", full_page=True)


@pytest.mark.browser
@pytest.mark.slow
def test_two_directors_never_see_each_others_takes(browser_mod, sample, cinedub_home, shots, tmp_path):
    b = browser_mod
    other_line = "Stop the car, I want to get out right here."
    with b.serve(cinedub_home) as url, b.chromium(directors=2) as (context_a, context_b):
        page_a, page_b = b.open_studio(context_a, url), b.open_studio(context_b, url)
        a, b_name = b.session_name(page_a), b.session_name(page_b)
        assert a != b_name
        b.upload(page_a, sample.clip, sample.voice, sample.line)
        b.upload(page_b, sample.clip, sample.voice, other_line)
        b.dub(page_a)
        b.dub(page_b)  # both at once: the server queues them, each in its own session
        b.wait_for_take(page_a, 1)
        b.wait_for_take(page_b, 1)
        b.send_note(page_a, "angrier")
        b.wait_for_take(page_a, 2)
        page_b.reload()
        page_b.wait_for_function("() => (document.querySelector('#takes-table')?.innerText || '').includes('take-001')",
                                 timeout=60_000)  # fmt: skip
        page_a.screenshot(path=shots / "director-a.png", full_page=True)
        page_b.screenshot(path=shots / "director-b.png", full_page=True)
        assert "take-002" in b.takes_text(page_a)
        assert "take-002" not in b.takes_text(page_b) and "angrier" not in page_b.locator("#chat").inner_text()
        assert b.session_name(page_b) == b_name
        # on disk too: each session has its own folder and takes
        assert len(list((cinedub_home / "ui" / a).glob("take-*.wav"))) == 2
        assert len(list((cinedub_home / "ui" / b_name).glob("take-*.wav"))) == 1


@pytest.mark.browser
@pytest.mark.slow
def test_no_voice_and_a_takes_stems_in_the_browser(browser_mod, talking_clip, cinedub_home, shots):
    """No voice uploaded, a clip with its own sound: the clip's actor speaks; "dialogue" switches both
    take players to the take's new dialogue alone, which plays in the player."""
    b = browser_mod
    with b.serve(cinedub_home) as url, b.chromium() as context:
        page = b.open_studio(context, url)
        b.upload(page, talking_clip, None, "He might have been kind to them, after all.")
        b.dub(page)
        b.wait_for_take(page, 1)
        assert "the clip's own actor" in page.locator("#status").inner_text()
        assert "the new dialogue alone" in page.locator("#listen-note").inner_text()
        b.listen(page, "dialogue", 1)
        assert b.play_audio(page, "audio-b") >= 1
        page.screenshot(path=shots / "stems-dialogue-playing.png", full_page=True)


@pytest.mark.browser
def test_bad_upload_shows_a_clear_message(browser_mod, sample, cinedub_home, shots, tmp_path):
    b = browser_mod
    bad = tmp_path / "holiday.mp4"
    bad.write_text("this is not a video\n")
    with b.serve(cinedub_home, None, "--max-upload", "1mb") as url, b.chromium() as context:
        # the upload limit: a 2 MB file is refused by the server itself
        big = tmp_path / "big.mp4"
        big.write_bytes(b"\0" * 2_000_000)
        refused = _post_file(f"{url}gradio_api/upload", big)
        assert refused[0] == 413 and "maximum allowed size" in refused[1]
        # nothing outside what the studio handed out is served: not the sessions' home, not the system
        cinedub_home.mkdir(parents=True, exist_ok=True)
        (cinedub_home / "secret.txt").write_text("no")
        for path in (cinedub_home / "secret.txt", Path("/etc/passwd")):
            assert _get(f"{url}gradio_api/file={path}") in (403, 404)
        page = b.open_studio(context, url)
        b.upload(page, bad, sample.voice, sample.line)
        b.dub(page)
        message = b.error_text(page)
        page.screenshot(path=shots / "bad-upload.png", full_page=True)
        assert "holiday.mp4 is not a media file" in message
        body = page.locator("body").inner_text()
        assert "Traceback" not in body and "File \"" not in body
        assert not list((cinedub_home / "ui").glob("*/take-*.wav"))


@pytest.mark.slow
def test_studio_ui_without_a_browser(sample, cinedub_home, tmp_path):
    """The handlers over Studio: first take, keep / discard / rename, a conclusion override makes the next
    take, export writes WAV / MP4 / SRT / report inside the session's folder, and the view serves copies."""
    from cinedub.studio import Studio
    from cinedub.ui.app import StudioUI

    ui = StudioUI(Studio(home=cinedub_home))
    name = new_session_name()
    steps = list(ui.start(name, str(sample.clip), sample.line, None, str(sample.voice), "auto", ""))
    assert "Take 1 is ready" in steps[-1]["status"] and steps[-1]["takes_table"][0][:3] == [1, "take-001", "kept"]
    assert any("watching" in s["status"] or "performing" in s["status"] for s in steps[:-1])  # progress shown
    view = ui.mark(name, "1: take-001", name="first read")
    assert view["takes_table"][0][1] == "first read"
    view = ui.mark(name, "1: first read", kept=False)
    assert view["takes_table"][0][2] == "discarded"
    last = list(ui.override(name, "monologue", "sad", 0.8, 1.1))[-1]
    row = last["takes_table"][1]
    assert row[:2] == [2, "take-002"] and row[3:6] == ["sad", 0.8, 1.1]
    assert "Overridden" in last["chat"][-1]["content"]
    # a take's name and status survive and the session still takes notes
    assert ui.state(name)["waiting_for_note"] and ui.state(name)["takes"][0]["name"] == "first read"
    # the sample is silent: its takes have no stems, only the mix is offered, and the page says why
    assert last["listen"] == (["mix"], "mix") and "no sound to keep" in last["listen_note"]
    with pytest.raises(CinedubError, match="take 2 has no dialogue stem: the clip has no sound to keep"):
        ui.pick_audio(name, "2: take-002", "dialogue")
    files = ui.export(name, "2: take-002")["files"]
    assert sorted(Path(f).name for f in files) == ["take-002-report.json", "take-002.mp4", "take-002.srt", "take-002.wav"]
    folder = cinedub_home / "ui" / name
    assert all(not Path(f).resolve().is_relative_to(cinedub_home) for f in files)  # served copies, not the originals
    assert (folder / "exports" / "take-002.mp4").stat().st_size > 10_000
    with pytest.raises(CinedubError, match="already has its takes"):
        list(ui.start(name, str(sample.clip), sample.line, None, str(sample.voice), "auto", ""))


@pytest.fixture
def talking_clip(carphone_clip, tmp_path) -> Path:
    """The carphone clip with a sound of its own: a real reader's line ("he might even have been made
    amiable himself", LibriVox) over pink room noise 30 dB under full scale."""
    from cinedub import media
    from cinedub.samples import librivox

    clip = tmp_path / "upload" / "phone call.mp4"
    clip.parent.mkdir()
    subprocess.run([media.ffmpeg_binary(), "-v", "error", "-i", str(carphone_clip), "-i",
                    str(librivox("sense_and_sensibility_01_austen_64kb-0930.wav")), "-f", "lavfi", "-i",
                    "anoisesrc=color=pink:amplitude=0.02:sample_rate=16000", "-filter_complex",
                    "[1:a]adelay=300[s];[s][2:a]amix=inputs=2:duration=first:normalize=0[a]", "-map", "0:v",
                    "-map", "[a]", "-c:v", "copy", "-c:a", "aac", "-t", "4", str(clip)],
                   check=True)  # fmt: skip
    return clip


@pytest.mark.slow
def test_studio_plays_a_takes_stems_and_the_clips_own_actor_speaks(talking_clip, cinedub_home):
    """A clip with its own sound and no voice uploaded: the clip's actor is the voice (as `cinedub dub`
    without --voice), the take is laid over the clip's ambience, and both players can play its mix, its
    new dialogue alone or the ambience alone, served as copies of the session's own stem files; the
    export carries the stems too."""
    from cinedub import assembly
    from cinedub.studio import Studio
    from cinedub.ui.app import StudioUI

    ui = StudioUI(Studio(home=cinedub_home))
    name = new_session_name()
    view = list(ui.start(name, str(talking_clip), "He might have been kind to them, after all.", None, None,
                         "auto", ""))[-1]  # fmt: skip
    assert "Take 1 is ready" in view["status"] and "the clip's own actor" in view["status"]
    folder = cinedub_home / "ui" / name
    assert ui.state(name)["voice"] == str((folder / "scene" / "dialogue.wav").resolve())
    assert view["listen"] == (["mix", "dialogue", "ambience"], "mix")
    assert "the new dialogue alone" in view["listen_note"]
    take = folder / "take-001.wav"
    for sound, original in (("mix", take), ("dialogue", assembly.stem_path(take, "dialogue")),
                            ("ambience", assembly.stem_path(take, "ambience"))):  # fmt: skip
        served = Path(ui.pick_audio(name, "1: take-001", sound))
        assert not served.resolve().is_relative_to(cinedub_home)  # a copy, made by StudioUI.serve
        assert served.read_bytes() == original.read_bytes(), sound
    both = ui.listen(name, "1: take-001", "1: take-001", "ambience")
    assert Path(both["audio_a"]).read_bytes() == Path(both["audio_b"]).read_bytes() == \
        assembly.stem_path(take, "ambience").read_bytes()  # fmt: skip
    with pytest.raises(CinedubError, match="unknown sound 'music': one of mix, dialogue, ambience"):
        ui.pick_audio(name, "1: take-001", "music")
    exported = ui.export(name, "1: take-001")
    assert sorted(Path(f).name for f in exported["files"]) == [
        "take-001-report.json", "take-001.ambience.wav", "take-001.dialogue.wav", "take-001.mp4",
        "take-001.srt", "take-001.wav"]  # fmt: skip
    assert "dialogue and ambience stems" in exported["status"]
    for stem in assembly.STEMS:
        exported_stem = assembly.stem_path(folder / "exports" / "take-001.wav", stem)
        assert exported_stem.read_bytes() == assembly.stem_path(take, stem).read_bytes(), stem


def test_no_voice_and_no_dialogue_is_the_clis_one_line_error(sample, cinedub_home):
    """No voice uploaded and a clip without sound: `cinedub dub`'s error (tests/test_stems.py holds the
    CLI's), naming the clip as uploaded; nothing is left of the session."""
    from cinedub.studio import Studio
    from cinedub.ui.app import StudioUI

    ui = StudioUI(Studio(home=cinedub_home))
    name = new_session_name()
    with pytest.raises(CinedubError) as refused:
        list(ui.start(name, str(sample.clip), sample.line, None, None, "auto", ""))
    assert str(refused.value) == (f"{sample.clip.name} has no dialogue to take its actor's voice from "
                                  "(no sound); give --voice AUDIO")  # fmt: skip
    assert not (cinedub_home / "ui" / name).exists() and ui.state(name) is None


def _post_file(url: str, path: Path) -> tuple[int, str]:
    """(status, body) of a multipart upload of `path` to `url`."""
    import urllib.error
    import urllib.request

    boundary = "cinedubtestboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def _get(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.slow
def test_auth_keeps_strangers_out(cinedub_home):
    """With --auth the app's config and API answer 401 until one logs in; bound to 127.0.0.1."""
    from tests import browser as b

    with b.serve(cinedub_home, None, "--auth", "director:secret") as url:
        assert url.startswith("http://127.0.0.1:")
        assert _get(f"{url}config") == 401
        assert _post_login(f"{url}login", "director", "wrong") == 400
        assert _post_login(f"{url}login", "director", "secret") == 200


def _post_login(url: str, user: str, password: str) -> int:
    import urllib.error
    import urllib.parse
    import urllib.request

    data = urllib.parse.urlencode({"username": user, "password": password}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"), timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


# -- the Localize tab --------------------------------------------------------------------------------


def test_the_review_tables_translations_are_read_back_by_line_number(tmp_path):
    """The tab shows review.csv's columns; an edited table gives back only its translations, matched by line
    number (the other columns stay the session's), and a table that lost lines or words is one line."""
    from dataclasses import replace

    from cinedub.localize import ReviewRow, write_review
    from cinedub.ui.app import REVIEW_SHOWN, apply_edits, review_table

    rows = [ReviewRow(line=1, speaker="S1", start=0.0, end=1.5, source="Sim.", translation="Yes.", reading_s=0.3,
                      flag="too short for its window (0.20x)"),
            ReviewRow(line=2, speaker="S2", start=2.0, end=3.0, source="Foi.", translation="It was.", reading_s=1.0)]  # fmt: skip
    table = review_table(write_review(tmp_path / "review.csv", rows))
    assert len(REVIEW_SHOWN) == 8 and table == [
        [1, "S1", 0.0, 1.5, "Sim.", "Yes.", 0.2, "too short for its window (0.20x)"],
        [2, "S2", 2.0, 3.0, "Foi.", "It was.", 1.0, ""]]  # fmt: skip
    edited = [list(table[1]), list(table[0])]  # the page may send the rows sorted otherwise
    edited[1][5] = "  Yes,   indeed. "
    edited[1][2] = 9.0  # not the translation: the session's own start stays
    assert apply_edits(rows, edited) == [replace(rows[0], translation="Yes, indeed."), rows[1]]
    with pytest.raises(CinedubError, match="^line 2: the translation is empty$"):
        apply_edits(rows, [table[0], [*table[1][:5], " ", *table[1][6:]]])
    with pytest.raises(CinedubError, match=r"^the review table must keep its 2 lines \(1, 2\): edit only"):
        apply_edits(rows, table[:1])
    with pytest.raises(CinedubError, match="^the review table lost its columns"):
        apply_edits(rows, [row[:3] for row in table])


LOCALIZE_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "latentsync_demo2.mp4"  # Portuguese


@pytest.fixture(scope="module")
def localize_home(tmp_path_factory):
    """A session home shared by this module's localize tests (one localize and one re-dub in all)."""
    home = tmp_path_factory.mktemp("localize") / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CINEDUB_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def localized(localize_home):
    """The Localize tab's handler on the real Portuguese clip into English, offline (Apertium): the page's
    session, the steps it showed, and the seconds it took."""
    import time
    from types import SimpleNamespace

    from cinedub.studio import Studio
    from cinedub.ui.app import StudioUI

    ui = StudioUI(Studio(home=localize_home))
    name = new_session_name()
    t0 = time.perf_counter()
    steps = list(ui.localize(name, str(LOCALIZE_CLIP), "en", "detect", ""))
    return SimpleNamespace(ui=ui, name=name, steps=steps, seconds=time.perf_counter() - t0,
                           folder=localize_home / "ui" / name)  # fmt: skip


@pytest.fixture(scope="module")
def redubbed(localized):
    """Line 2's translation edited in the table the page showed, then "Re-dub edited lines"."""
    import time
    from types import SimpleNamespace

    table = [list(row) for row in localized.steps[-1]["review_table"]]
    before = [list(row) for row in table]
    table[1][5] = "A month since I came."
    t0 = time.perf_counter()
    steps = list(localized.ui.redub(localized.name, table))
    return SimpleNamespace(steps=steps, before=before, seconds=time.perf_counter() - t0)


@pytest.mark.slow
def test_localize_tab_translates_and_dubs_the_clip(localized, localize_home):
    """Translate and dub: the Portuguese heard (detected), every line in the review table with an English
    translation, the dub made in the page's session and served with the script, the table and the stems."""
    from cinedub.ui.app import review_table

    print(f"localize through the tab: {localized.seconds:.1f} s")
    view = localized.steps[-1]
    assert any(step["status"].startswith("Working: transcribing") for step in localized.steps[:-1])  # progress
    assert view["status"].startswith("Take 1 is ready") and "Heard pt (p=0." in view["status"]
    table = view["review_table"]
    assert len(table) >= 3 and table == review_table(localized.folder / "review.csv")
    for line, speaker, start, end, source, translation, fit, flag in table:
        assert translation.strip() and translation != source and end > start and fit > 0
        assert flag or abs(fit - 1) <= 0.15, (line, fit)  # a line that does not fit its window is flagged
    assert "month" in " ".join(row[5] for row in table).lower()  # "um mês" (line 2: "Um mês que cheguei.")
    assert [row[0] for row in table] == list(range(1, len(table) + 1))
    assert (localized.folder / "dub.mp4").stat().st_size > 10_000 and view["loc_to"] == "en"
    served = {Path(f).name: Path(f) for f in view["loc_files"]}
    assert sorted(served) == ["dub.mp4", "review.csv", "script.en.srt", "script.en.yaml",
                              "take-001.ambience.wav", "take-001.dialogue.wav"]  # fmt: skip
    assert served["review.csv"].read_bytes() == (localized.folder / "review.csv").read_bytes()
    assert all(not f.resolve().is_relative_to(localize_home) for f in served.values())  # copies, as served
    assert Path(view["loc_video"]).read_bytes() == (localized.folder / "dub.mp4").read_bytes()
    assert Path(view["loc_audio"]).name == "take-001.wav"
    # the Dub tab shows the same session's take, and the chat says what was heard
    assert view["takes_table"][0][:3] == [1, "take-001", "kept"]
    assert view["chat"][0]["content"].startswith("Heard pt (p=0.") and "lines translated into en" in view["status"]


@pytest.mark.slow
def test_redub_renders_only_the_edited_line_again(localized, redubbed):
    """Editing line 2's translation and "Re-dub edited lines": take 2 of the same session, only line 2 rendered
    anew, the table showing the new words and every other row as it was."""
    from cinedub.types import TakeRecord

    print(f"re-dub of one line through the tab: {redubbed.seconds:.1f} s")
    view = redubbed.steps[-1]
    assert view["status"].startswith("Take 2 is ready") and "rendered anew: line 2;" in view["status"]
    takes = [TakeRecord.model_validate(t) for t in localized.ui.state(localized.name)["takes"]]
    assert [t.index for t in takes] == [1, 2] and takes[-1].rerendered == [2]
    table = view["review_table"]
    assert table[1][5] == "A month since I came."
    assert [row[:6] for i, row in enumerate(table) if i != 1] == [row[:6] for i, row in enumerate(redubbed.before)
                                                                  if i != 1]  # fmt: skip
    edited = (localized.folder / "inputs" / "review-edited.csv").read_text()
    assert "A month since I came." in edited and "New words for line 2" in view["chat"][-1]["content"]
    assert sorted(Path(f).name for f in view["loc_files"])[-2:] == ["take-002.ambience.wav", "take-002.dialogue.wav"]


@pytest.mark.slow
def test_localize_tab_refusals_are_one_line(localized, sample, cinedub_home):
    """Nothing to re-dub, no edit, a table that lost a line, a second clip in a localized session, a clip
    without sound (named as uploaded, nothing left of the session): each a one-line CinedubError."""
    from cinedub.studio import Studio
    from cinedub.ui.app import StudioUI

    ui, name = localized.ui, localized.name
    table = ui.view(name)["review_table"]
    with pytest.raises(CinedubError, match="^no translation changed: edit a line's translation"):
        list(ui.redub(name, table))
    with pytest.raises(CinedubError, match="^the review table must keep its"):
        list(ui.redub(name, table[1:]))
    with pytest.raises(CinedubError, match="^this session already has its takes: re-dub edited lines"):
        list(ui.localize(name, str(LOCALIZE_CLIP), "en", "detect", ""))
    fresh = StudioUI(Studio(home=cinedub_home))
    other = new_session_name()
    with pytest.raises(CinedubError, match="^nothing localized in this session yet"):
        list(fresh.redub(other, table))
    with pytest.raises(CinedubError, match="^no clip: upload a video$"):
        list(fresh.localize(other, None, "en", "detect", ""))
    with pytest.raises(CinedubError, match="^unknown target language 'fr': one of en, es, pt$"):
        list(fresh.localize(other, str(sample.clip), "fr", "detect", ""))
    with pytest.raises(CinedubError) as refused:
        list(fresh.localize(other, str(sample.clip), "es", "detect", ""))
    assert str(refused.value) == f"{sample.clip.name} has no sound: there is no dialogue to localize"
    assert not (cinedub_home / "ui" / other).exists()


@pytest.mark.browser
@pytest.mark.slow
def test_localize_tab_in_the_browser(browser_mod, cinedub_home, shots):
    """The Localize tab: upload the Portuguese clip, "Translate and dub" into English, the review table
    fills with the lines and their translations, the dub plays and the files are offered; a translation
    typed into the table and "Re-dub edited lines" make take 2 with only that line rendered anew."""
    b = browser_mod
    with b.serve(cinedub_home) as url, b.chromium() as context:
        page = b.open_studio(context, url)
        page.get_by_role("tab", name="Localize").click()
        page.locator("#loc-clip-upload input[type=file]").set_input_files(str(LOCALIZE_CLIP))
        page.wait_for_function("() => document.querySelector('#loc-clip-upload')?.innerText.includes('.mp4')",
                               timeout=60_000)  # fmt: skip
        page.locator("#localize-btn").click()
        page.wait_for_function("() => (document.querySelector('#status')?.innerText || '').includes('is ready')",
                               timeout=b.TAKE_TIMEOUT_MS)  # fmt: skip
        page.screenshot(path=shots / "localize-1-take1.png", full_page=True)
        status = page.locator("#status").inner_text()
        assert "Take 1 is ready" in status and "Heard pt" in status
        table = page.locator("#review-table").inner_text()
        assert "translation" in table and "month" in table.lower() and "S1" in table
        downloads = "".join(page.locator("#loc-files").inner_text().split())
        assert all(name in downloads for name in ("dub.mp4", "script.en.srt", "review.csv", "take-001.dialogue.wav"))
        page.wait_for_selector("#loc-video video", timeout=60_000)
        # only the translation is editable: line 2's source cell opens no editor, its translation cell does
        source = page.locator('#review-table [data-testid="cell-1-4"]')
        source.dblclick()
        assert source.locator("textarea, input").count() == 0
        cell = page.locator('#review-table [data-testid="cell-1-5"]')
        cell.dblclick()
        cell.locator("textarea, input").first.fill("A month since I came.")
        cell.locator("textarea, input").first.press("Enter")
        page.locator("#redub-btn").click()
        page.wait_for_function("() => (document.querySelector('#status')?.innerText || '').includes('Take 2 is ready')",
                               timeout=b.TAKE_TIMEOUT_MS)  # fmt: skip
        page.screenshot(path=shots / "localize-2-redub.png", full_page=True)
        assert "rendered anew: line 2;" in page.locator("#status").inner_text()
        assert "A month since I came." in page.locator("#review-table").inner_text()


# -- a scene with a cast (issue 16: the cast panel, the lines table, a retake of one line, the timeline) ---------

ANNA_VOICE = LOCALIZE_CLIP.parent / "latentsync_demo1_voice.wav"  # the woman's own recording
BEN_VOICE = LOCALIZE_CLIP.parent / "latentsync_demo2_voice.wav"  # the man's
SCENE_LINES = ["Where were you all night?", "Out, walking by the river.", "You could have called me.",
               "I know. I am sorry."]  # fmt: skip


@pytest.fixture(scope="module")
def cast_scene(tmp_path_factory):
    """The two-person scene of tests/test_speakers.py (the woman left, the man right, talking in turn), a
    4-line SRT script over its turns (Anna, Ben, Anna, Ben) and the uploads of a cast: a cast file naming
    the voices by paths the studio resolves by file name alone, and the two recordings."""
    from types import SimpleNamespace

    from tests.test_speakers import build_scene, construction

    folder = tmp_path_factory.mktemp("cast-scene")
    clip = build_scene(folder)
    cues = [(window.start, window.end, f"[{'Anna' if who == 'woman' else 'Ben'}] {text}")
            for (who, window), text in zip(construction(), SCENE_LINES, strict=True)]  # fmt: skip
    script = folder / "scene.srt"
    script.write_text("".join(f"{i}\n{_srt_time(a)} --> {_srt_time(b)}\n{text}\n\n"
                              for i, (a, b, text) in enumerate(cues, 1)))  # fmt: skip
    cast = folder / "cast.toml"
    cast.write_text(f'Anna = "voices/{ANNA_VOICE.name}"\n\n[Ben]\nvoice = "/elsewhere/{BEN_VOICE.name}"\n'
                    'notes = "calm"\n')  # fmt: skip
    return SimpleNamespace(clip=clip, script=script, cast=[str(cast), str(ANNA_VOICE), str(BEN_VOICE)])


def _srt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    return f"00:{millis // 60_000:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"


@pytest.fixture(scope="module")
def cast_dub(cast_scene, localize_home):
    """The Dub tab's handlers on the scene: the first take with the script and the cast, then line 2 chosen
    in the lines table and retaken with the note "angrier"."""
    import time
    from types import SimpleNamespace

    from cinedub.studio import Studio
    from cinedub.ui.app import StudioUI

    ui = StudioUI(Studio(home=localize_home))
    name = new_session_name()
    t0 = time.perf_counter()
    first = list(ui.start(name, str(cast_scene.clip), "", str(cast_scene.script), None, "auto", "",
                          cast_scene.cast))[-1]  # fmt: skip
    dub_s = time.perf_counter() - t0
    picked = ui.pick_line(name, 2)
    t0 = time.perf_counter()
    retake = list(ui.retake_line(name, 2, "angrier"))
    return SimpleNamespace(ui=ui, name=name, first=first, picked=picked, retake=retake, dub_s=dub_s,
                           retake_s=time.perf_counter() - t0, folder=localize_home / "ui" / name)  # fmt: skip


@pytest.mark.slow
def test_the_cast_panel_and_the_lines_table_of_a_two_person_scene(cast_dub):
    """After the first take: four lines with their speakers in the lines table, each character in the cast
    panel with a thumbnail of their own face (Anna's the woman's, on the left) and their uploaded voice."""
    from PIL import Image

    from cinedub.agents.perception.faces import FaceFinder
    from cinedub.types import Perception

    print(f"first take of the scene through the Dub tab: {cast_dub.dub_s:.1f} s")
    view = cast_dub.first
    assert view["status"].startswith("Take 1 is ready") and "own actor" not in view["status"]
    rows = view["lines_table"]
    assert [row[:3] for row in rows] == [[n, who, text] for n, who, text in
                                         zip(range(1, 5), ["Anna", "Ben", "Anna", "Ben"], SCENE_LINES)]  # fmt: skip
    assert [row[6] for row in rows] == [1, 1, 1, 1] and all("–" in row[3] for row in rows)
    assert view["cast_pick"] == (["Anna", "Ben"], "Anna")
    assert Path(view["cast_audio"]).read_bytes() == ANNA_VOICE.read_bytes()  # a served copy of the upload
    gallery = view["cast_gallery"]
    assert [caption for _, caption in gallery] == [f"Anna · {ANNA_VOICE.name}", f"Ben · {BEN_VOICE.name}"]
    state = cast_dub.ui.state(cast_dub.name)
    perception = Perception.model_validate(state["perception"])
    boxes = {p.track_id: p.box for p in perception.people}
    faces = {b["character"]: b["track_id"] for b in state["cast_faces"]}
    assert boxes[faces["Anna"]][0] + boxes[faces["Anna"]][2] / 2 < 0.5 < boxes[faces["Ben"]][0]  # left / right
    assert view["cast_table"].splitlines()[2:] == [f"| Anna | {faces['Anna']} | {ANNA_VOICE.name} | 1, 3 |  |",
                                                   f"| Ben | {faces['Ben']} | {BEN_VOICE.name} | 2, 4 | calm |"]
    crops = [np.asarray(Image.open(path).convert("RGB")) for path, _ in gallery]
    assert all(crop.shape[0] > 40 and crop.shape[1] > 40 and crop.std() > 10 for crop in crops)
    assert not np.array_equal(crops[0], crops[1])
    with FaceFinder() as finder:  # each thumbnail is a face, filling a good part of it (MediaPipe)
        for crop in crops:
            finder.forget()
            (found,) = finder.find(np.ascontiguousarray(crop))
            assert found.box[2] > 0.3 and found.meshed
    # the voice of each line is its character's upload
    assert _cast_voice(cast_dub, "Ben") == BEN_VOICE.read_bytes()
    assert Path(cast_dub.picked["line_audio"]).read_bytes() == \
        Path(_take_of(state, 1).lines[1].path).read_bytes() and cast_dub.picked["line_pick"] == 2  # fmt: skip


def _cast_voice(dub, character: str) -> bytes:
    """The bytes the cast panel's player gets for `character`."""
    return Path(dub.ui.cast_voice(dub.name, character)["cast_audio"]).read_bytes()


def _take_of(state: dict, index: int):
    from cinedub.types import TakeRecord

    return next(TakeRecord.model_validate(t) for t in state["takes"] if t["index"] == index)


@pytest.mark.slow
def test_a_retake_of_one_line_from_its_row_and_the_timeline(cast_dub):
    """Line 2 retaken with "angrier": take 2 renders only line 2 (the table says which take rendered each
    line), the line's player plays the new line, the timeline picture is drawn again for take 2, and the
    export carries take 2."""
    from PIL import Image

    print(f"retake of line 2 through the Dub tab: {cast_dub.retake_s:.1f} s")
    view = next(step for step in reversed(cast_dub.retake) if "lines_table" in step)
    state = cast_dub.ui.state(cast_dub.name)
    take = _take_of(state, 2)
    assert take.rerendered == [2] and take.note == "line 2: angrier"
    assert [row[6] for row in view["lines_table"]] == [1, 2, 1, 1] and view["lines_table"][1][4] == "angry"
    assert "line 2: angrier" in view["chat"][-2]["content"]
    assert Path(cast_dub.retake[-1]["line_audio"]).read_bytes() == Path(take.lines[1].path).read_bytes()
    plots = cast_dub.folder / "plots"
    first, second = plots / "timeline-001.png", plots / "timeline-002.png"
    assert Path(cast_dub.first["timeline"]).read_bytes() == first.read_bytes()
    assert Path(view["timeline"]).read_bytes() == second.read_bytes() != first.read_bytes()
    width, height = Image.open(second).size
    assert width >= 800 and height >= 300
    files = cast_dub.ui.export(cast_dub.name, "2: take-002")["files"]
    assert sorted(Path(f).name for f in files)[:3] == ["take-002-report.json", "take-002.ambience.wav",
                                                       "take-002.dialogue.wav"]  # fmt: skip
    with pytest.raises(CinedubError, match=r"^choose a line of the table to retake \(1-4\), not 5$"):
        list(cast_dub.ui.retake_line(cast_dub.name, 5, ""))
    with pytest.raises(CinedubError, match=r"^choose a line to retake: select its row in the lines table \(1-4\)$"):
        list(cast_dub.ui.retake_line(cast_dub.name, None, "angrier"))


def test_bad_casts_are_one_line_errors_and_leave_nothing(sample, cinedub_home, tmp_path):
    """A character of the script with no voice, a voice the cast names but no upload, a voice that is no
    audio, no cast file or two: each a one-line error naming the files as uploaded; no session is left."""
    from cinedub.studio import Studio
    from cinedub.ui.app import StudioUI

    script = tmp_path / "scene.yaml"
    script.write_text("- {speaker: Anna, text: 'Where were you?', start: 0.2, end: 1.6}\n"
                      "- {speaker: Carl, text: Out., start: 2.0, end: 3.0}\n")  # fmt: skip
    (tmp_path / "anna.toml").write_text(f'Anna = "{ANNA_VOICE.name}"\n')
    (tmp_path / "both.toml").write_text(f'Anna = "{ANNA_VOICE.name}"\nCarl = "carl.wav"\n')
    (tmp_path / "carl.wav").write_text("not a recording\n")
    (tmp_path / "other.yaml").write_text(f"Anna: {ANNA_VOICE.name}\n")
    ui = StudioUI(Studio(home=cinedub_home))
    cases = [
        ([tmp_path / "anna.toml", ANNA_VOICE], "^Carl has no voice: the cast \\(Anna\\) does not name Carl; add them "
                                               "to it, or upload a reference voice for the lines"),
        ([tmp_path / "both.toml", ANNA_VOICE], "^cast both.toml: Carl's voice carl.wav is missing: upload carl.wav "
                                               "with the cast file$"),
        ([tmp_path / "both.toml", ANNA_VOICE, tmp_path / "carl.wav"], "^the cast's voice for Carl is not usable: "
                                                                       "carl.wav "),
        ([ANNA_VOICE], "^the cast: upload one cast file .* cast files uploaded: none$"),
        ([tmp_path / "anna.toml", tmp_path / "other.yaml", ANNA_VOICE], "cast files uploaded: 2 \\(anna.toml, "
                                                                         "other.yaml\\)$"),
    ]  # fmt: skip
    for uploads, says in cases:
        name = new_session_name()
        with pytest.raises(CinedubError, match=says) as refused:
            list(ui.start(name, str(sample.clip), "", str(script), None, "auto", "", [str(u) for u in uploads]))
        assert "\n" not in str(refused.value) and str(cinedub_home) not in str(refused.value)
        assert not (cinedub_home / "ui" / name).exists() and ui.state(name) is None


@pytest.mark.browser
@pytest.mark.slow
def test_a_scene_with_a_cast_in_the_browser(browser_mod, cast_scene, cinedub_home, shots):
    """Upload the two-person scene, its script and its cast (the cast file and both voices in one upload);
    Dub: the lines table fills with the four lines and their speakers, the cast panel shows both faces; a
    click on line 2's row and "Retake line" with "angrier" make take 2 with only line 2 rendered anew; the
    timeline picture is shown and drawn again; export."""
    b = browser_mod
    with b.serve(cinedub_home) as url, b.chromium() as context:
        page = b.open_studio(context, url)
        page.locator("#clip-upload input[type=file]").set_input_files(str(cast_scene.clip))
        page.locator("#script-upload input[type=file]").set_input_files(str(cast_scene.script))
        page.locator("#cast-upload input[type=file]").set_input_files(cast_scene.cast)
        for element, name in (("clip-upload", "scene.mp4"), ("script-upload", "scene.srt"),
                              ("cast-upload", "cast.toml"), ("cast-upload", ANNA_VOICE.name),
                              ("cast-upload", BEN_VOICE.name)):  # fmt: skip
            page.wait_for_function(f"() => (document.querySelector('#{element}')?.innerText || '')"
                                   f".replace(/\\s/g, '').includes({name!r})", timeout=60_000)  # fmt: skip
        b.dub(page)
        b.wait_for_take(page, 1)
        page.screenshot(path=shots / "cast-1-take1.png", full_page=True)
        table = page.locator("#lines-table").inner_text()
        assert all(text in table for text in SCENE_LINES) and table.count("Anna") == 2 and table.count("Ben") == 2
        assert page.locator("#cast-gallery img").count() == 2
        assert "Anna" in page.locator("#cast-table").inner_text()
        page.locator("#cast-gallery img").nth(1).click()  # Ben's face: the player switches to his voice
        page.wait_for_function(f"() => document.querySelector('#cast-audio a[download]')?.getAttribute('download') "
                               f"=== {BEN_VOICE.name!r}", timeout=60_000)  # fmt: skip
        assert page.locator("#cast-pick input").input_value() == "Ben"
        first = page.locator("#timeline img").get_attribute("src")
        assert first and "timeline-001.png" in first

        page.locator('#lines-table [data-testid="cell-1-2"]').click()  # line 2's text
        page.wait_for_function("() => document.querySelector('#line-pick input')?.value === '2'", timeout=60_000)
        page.wait_for_selector("#line-audio audio", state="attached", timeout=60_000)
        page.locator("#line-note textarea").fill("angrier")
        page.locator("#retake-btn").click()
        b.wait_for_take(page, 2)
        page.wait_for_function("() => (document.querySelector('#timeline img')?.getAttribute('src') || '')"
                               ".includes('timeline-002.png')", timeout=60_000)  # fmt: skip
        page.screenshot(path=shots / "cast-2-retake.png", full_page=True)
        assert "line 2: angrier" in page.locator("#chat").inner_text()
        take_column = LINE_COLUMNS.index("take")
        takes = [page.locator(f'#lines-table [data-testid="cell-{row}-{take_column}"]').inner_text().strip()
                 for row in range(len(SCENE_LINES))]  # fmt: skip
        assert takes == ["1", "2", "1", "1"], takes
        exported = "".join(b.export(page).split())
        assert all(f"take-002{ext}" in exported for ext in (".wav", ".mp4", ".srt", "-report.json"))
