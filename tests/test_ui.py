"""The director's studio (`cinedub ui`): its pure helpers, its command line, and, marked `browser`, the
studio driven in Debian's Chromium (headless, Playwright, no browser download) against a real server
on 127.0.0.1 with a temporary CINEDUB_HOME."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cinedub.errors import CinedubError
from cinedub.ui import views
from cinedub.ui.app import SESSION_NAME, new_session_name, parse_intensity
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
