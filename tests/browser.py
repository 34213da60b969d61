"""Drive the studio in a real browser: start a server, open Debian's Chromium headless with Playwright
(no browser download), and the steps a director takes. The browser tests and bench/ui_bench.py use it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.servers import free_port, wait_until_answering

CHROMIUM = os.environ.get("CINEDUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]  # fmt: skip
TAKE_TIMEOUT_MS = 240_000  # a take is ~10 s; the first pays for loading the voice, and CPUs may be shared


@contextlib.contextmanager
def serve(home: Path, port: int | None = None, *extra: str, timeout: float = 120) -> Iterator[str]:
    """`cinedub ui` in its own process on 127.0.0.1 with sessions under `home`; stopped on exit."""
    port = port or free_port()
    env = {**os.environ, "CINEDUB_HOME": str(home), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_TEMP_DIR": str(Path(home).parent / "gradio-tmp")}  # fmt: skip
    log = open(Path(home).parent / f"ui-server-{port}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "cinedub", "ui", "--port", str(port), *extra],
                            stdout=log, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_answering(proc, url, name="cinedub ui", log=Path(log.name), timeout_s=timeout)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def chromium(directors: int = 1) -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright, with a fresh profile: one browser context (or,
    for several directors, a list of isolated contexts: no shared cookies or storage)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")
    # Playwright's launch() gives the browser a fresh temporary profile and removes it afterwards.
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(directors)]
            yield contexts[0] if directors == 1 else contexts
        finally:
            browser.close()


def open_studio(context, url: str):
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("() => (document.querySelector('#session-name textarea, #session-name input')?.value || '').startsWith('ui-')",
                           timeout=60_000)  # fmt: skip
    return page


def session_name(page) -> str:
    return page.locator("#session-name textarea, #session-name input").first.input_value()


def takes_text(page) -> str:
    return page.locator("#takes-table").inner_text()


def wait_for_take(page, index: int, timeout: int = TAKE_TIMEOUT_MS) -> None:
    page.wait_for_function(
        f"() => (document.querySelector('#takes-table')?.innerText || '').includes('take-{index:03d}')", timeout=timeout
    )
    page.wait_for_function("() => !document.querySelector('.progress-text, .eta-bar')", timeout=timeout)


def upload(page, clip: str | Path, voice: str | Path | None, line: str) -> None:
    """Upload the clip, the voice (None: none, the clip's own actor speaks) and type the line."""
    page.locator("#clip-upload input[type=file]").set_input_files(str(clip))
    if voice is not None:
        page.locator("#voice-upload input[type=file]").set_input_files(str(voice))
    page.locator("#line-box textarea").fill(line)
    # the uploads are done when the voice player and the clip's file name show
    page.wait_for_function("() => document.querySelector('#clip-upload')?.innerText.includes('.')", timeout=60_000)
    if voice is not None:
        page.wait_for_selector("#voice-upload audio", state="attached",
                               timeout=60_000)  # fmt: skip


def dub(page) -> None:
    page.locator("#dub-btn").click()


def send_note(page, note: str) -> None:
    page.locator("#note-box textarea").fill(note)
    page.locator("#note-btn").click()


def play_dub(page, seconds: float = 1.0) -> float:
    """Play the dub in the page's video player; the playback position reached (s)."""
    page.wait_for_selector("#dub-video video", timeout=60_000)
    return page.evaluate("""async (s) => { const v = document.querySelector('#dub-video video');
        v.muted = true; await v.play(); await new Promise(r => setTimeout(r, s * 1000)); v.pause(); return v.currentTime; }""",
                         seconds)  # fmt: skip


def export(page) -> str:
    """Click export; the text of the exports list (the files' names and sizes)."""
    page.locator("#export-btn").click()
    page.wait_for_function("() => (document.querySelector('#exports')?.innerText || '').includes('.srt')", timeout=120_000)
    return page.locator("#exports").inner_text()


def error_text(page, timeout: int = 60_000) -> str:
    """The text of the error toast the page shows."""
    toast = page.locator(".toast-body").first
    toast.wait_for(timeout=timeout)
    return toast.inner_text()


def rename_latest(page, name: str) -> None:
    """Rename the take chosen in the Take list (the latest by default)."""
    page.locator("#new-name textarea, #new-name input").first.fill(name)
    page.locator("#rename-btn").click()
    page.wait_for_function(f"() => (document.querySelector('#takes-table')?.innerText || '').includes({name!r})",
                           timeout=60_000)  # fmt: skip


def discard_chosen(page) -> None:
    page.locator("#discard-btn").click()
    page.wait_for_function("() => (document.querySelector('#takes-table')?.innerText || '').includes('discarded')",
                           timeout=60_000)  # fmt: skip


def listen(page, sound: str, take: int) -> None:
    """Switch both take players to the take's `sound` (mix, dialogue or ambience) with the Play radio."""
    page.locator(f'#listen label[data-testid="{sound}-radio-label"]').click()
    name = f"take-{take:03d}.wav" if sound == "mix" else f"take-{take:03d}.{sound}.wav"
    for player in ("audio-a", "audio-b"):
        page.wait_for_function(f"() => document.querySelector('#{player} a[download]')?.getAttribute('download') "
                               f"=== {name!r}", timeout=60_000)  # fmt: skip


def play_audio(page, player: str, seconds: float = 1.5) -> int:
    """Press an audio player's own Play button (`player`: its elem_id); the position its clock shows
    `seconds` after it started (whole seconds)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # A click that lands while the player is still loading a new source is lost (seen once on a loaded CI
    # machine: no Pause in 30 s); press again, as a person would, up to three times.
    for attempt in range(3):
        page.locator(f'#{player} button[aria-label="Play"]').first.click()
        try:
            page.wait_for_selector(f'#{player} button[aria-label="Pause"]', timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    page.wait_for_timeout(seconds * 1000)
    minutes, secs = page.locator(f"#{player} #time").inner_text().split(":")
    return 60 * int(minutes) + int(secs)
