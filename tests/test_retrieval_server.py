"""The reference library on a real `chroma run` server (HttpClient), with the same code as the embedded one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cinedub.retrieval import ReferenceLibrary
from tests.servers import free_port, wait_until_answering
from cinedub.types import Line

from .conftest import run_cinedub

LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
CHROMA = Path(sys.executable).with_name("chroma")
START_TIMEOUT_S = 60

pytestmark = [
    pytest.mark.chroma_server,
    pytest.mark.skipif(not LIBRIVOX_DIR.exists(), reason="needs Debian pocketsphinx-testdata"),
]


@pytest.fixture
def chroma_url(tmp_path):
    """A `chroma run` server on 127.0.0.1 (a free port), persisting under tmp_path; stopped afterwards."""
    binary = str(CHROMA) if CHROMA.exists() else shutil.which("chroma")
    assert binary, "the chroma CLI comes with the chromadb package"
    port = free_port()
    log = (tmp_path / "chroma.log").open("w")
    server = subprocess.Popen([binary, "run", "--path", str(tmp_path / "server-db"), "--host", "127.0.0.1",
                               "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(server, f"{url}/api/v2/heartbeat", name="chroma run", log=tmp_path / "chroma.log",
                             timeout_s=START_TIMEOUT_S, poll_s=0.2)  # fmt: skip
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_build_and_query_through_the_server(tmp_path, chroma_url, carphone_clip):
    rows = [{"id": wav.stem, "audio": str(wav), "text": f"line number {i}", "speaker": "reader", "emotion": "neutral"}
            for i, wav in enumerate(sorted(LIBRIVOX_DIR.glob("*.wav"))[:3])]  # fmt: skip
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))

    built = run_cinedub("library", "build", "--manifest", manifest, "--chroma-url", chroma_url, "--no-progress")
    assert built.returncode == 0, built.stderr
    assert "added 3, already there 0, failed 0" in built.stdout

    library = ReferenceLibrary.open(chroma_url=chroma_url)
    assert library.count() == 3 and library.stats()["vectors"]["text"] == 3
    refs = library.query(carphone_clip, [Line(text="line number 1")], None, k=2)
    assert refs[0].clip_id == rows[1]["id"] and refs[0].path == "text" and Path(refs[0].audio).is_file()
    heard = library.query_audio(rows[2]["audio"], k=1)
    assert heard[0].clip_id == rows[2]["id"] and heard[0].score > 0.99

    stats = run_cinedub("library", "stats", "--chroma-url", chroma_url)
    assert stats.returncode == 0 and json.loads(stats.stdout)["clips"] == 3
    assert not (tmp_path / "home" / "library").exists()  # nothing went to the embedded default
