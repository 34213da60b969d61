"""The `openai:` backend and batch classification, against a stand-in for a broken (or fine) server.

`FakeServer` is a tiny OpenAI-compatible HTTP server on 127.0.0.1 that records what it is sent and
answers as told: a fixed valid answer, HTTP 500, too slowly, or a 4xx. It stands in for a server that
is down, slow or failing; the real model is exercised by tests/test_vllm.py (marker vllm).
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from cinedub.agents.openai_model import OpenAIChat, parse_spec
from cinedub.agents.reasoners import load_reasoner
from cinedub.agents.vlm import ModelUnavailable, SampledVideo, VisionPrompt
from cinedub.errors import CinedubError
from tests.servers import free_port

from .conftest import pyfeat, run_cinedub

MODEL = "stand-in-vlm"
# What a model that follows the structured-output schema answers: four stages and the conclusion.
VALID_ANSWER = json.dumps({
    "summary": "I will count the people and who is talking, then decide the scene type.",
    "caption": "A man sits in a car and talks.",
    "reasoning": "There is one person and he is speaking, so this is a monologue.",
    "conclusion": {"scene_type": "monologue", "num_people": 1, "num_speaking": 1, "gender": "male", "age": 40,
                   "emotion": "neutral", "intensity": 0.5},
})  # fmt: skip


class FakeServer:
    """An OpenAI-compatible stand-in. `mode`: ok | error500 | slow | reject_structured | not_found."""

    def __init__(self, mode: str = "ok", *, delay_s: float = 0.0) -> None:
        self.mode, self.delay_s = mode, delay_s
        self.requests: list[dict] = []  # bodies of chat completion requests, in arrival order
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._reply(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "me"}]})
                else:
                    self._reply(404, {"error": {"message": "no such route"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                time.sleep(server.delay_s)
                if server.mode == "error500":
                    return self._reply(500, {"error": {"message": "engine crashed", "type": "InternalServerError"}})
                if server.mode == "not_found":
                    return self._reply(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                if server.mode == "reject_structured" and "structured_outputs" in body:
                    return self._reply(400, {"error": {"message": "Unrecognized request argument supplied: structured_outputs"}})
                self._reply(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                  "choices": [{"index": 0, "finish_reason": "stop",
                                               "message": {"role": "assistant", "content": VALID_ANSWER}}],
                                  "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})  # fmt: skip

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _prompt(video: SampledVideo | None = None, schema: dict | None = None) -> VisionPrompt:
    return VisionPrompt(system="You are a film director.", question="Who is talking?", video=video,
                        history=[{"role": "assistant", "content": "uh"}, {"role": "user", "content": "again"}],
                        json_schema=schema)  # fmt: skip


def _video(clip: Path, frames: int = 4) -> SampledVideo:
    rng = np.random.default_rng(0)
    return SampledVideo(path=clip, frames=rng.integers(0, 255, (frames, 56, 84, 3), dtype=np.uint8),
                        times=np.arange(frames) / 2.0, fps=2.0)  # fmt: skip


def _no_sleep(seconds: float) -> None:
    pass


# -- the spec ----------------------------------------------------------------------------------


def test_spec_url_and_model():
    assert parse_spec("http://127.0.0.1:8000/v1#Qwen/Qwen2.5-VL-7B-Instruct") == (
        "http://127.0.0.1:8000/v1", "Qwen/Qwen2.5-VL-7B-Instruct")
    assert parse_spec("http://host:8000") == ("http://host:8000/v1", None)
    assert parse_spec("https://host/api/v1/") == ("https://host/api/v1", None)
    for bad in ("", "host:8000", "ftp://host/v1"):
        with pytest.raises(CinedubError, match="needs a server URL"):
            parse_spec(bad)
    reasoner = load_reasoner("openai:http://127.0.0.1:8000/v1#tiny")
    assert reasoner.name == "openai:http://127.0.0.1:8000/v1#tiny"
    assert reasoner.model.video_mode == "video_url"


# -- what is sent ------------------------------------------------------------------------------


def test_video_url_sends_the_clip_and_the_schema(carphone_clip):
    schema = {"type": "object", "properties": {"scene_type": {"type": "string"}}}
    with FakeServer() as server:
        chat = OpenAIChat(server.url, sleep=_no_sleep)
        answer = chat.generate(_prompt(_video(carphone_clip), schema), max_new_tokens=77)
    assert answer == VALID_ANSWER
    assert chat.model == MODEL  # asked the server, which serves one
    (body,) = server.requests
    assert body["model"] == MODEL and body["max_tokens"] == 77
    assert body["structured_outputs"] == {"json": schema, "disable_any_whitespace": True}
    system, user, assistant, repair = body["messages"]
    assert system == {"role": "system", "content": "You are a film director."}
    video, question = user["content"]
    assert video["type"] == "video_url"
    header, data = video["video_url"]["url"].split(",", 1)
    assert header == "data:video/mp4;base64"
    assert base64.b64decode(data) == carphone_clip.read_bytes()
    assert question == {"type": "text", "text": "Who is talking?"}
    assert (assistant["role"], repair["role"], repair["content"]) == ("assistant", "user", "again")


def test_frames_mode_sends_the_sampled_frames_as_jpegs(carphone_clip):
    from io import BytesIO

    from PIL import Image

    video = _video(carphone_clip, frames=6)
    with FakeServer() as server:
        OpenAIChat(server.url, model="m", video_mode="frames").generate(_prompt(video), max_new_tokens=8)
    (body,) = server.requests
    assert "structured_outputs" not in body  # no schema in the prompt
    images = [c for c in body["messages"][1]["content"] if c["type"] == "image_url"]
    assert len(images) == 6
    first = Image.open(BytesIO(base64.b64decode(images[0]["image_url"]["url"].split(",", 1)[1])))
    assert first.format == "JPEG" and first.size == (84, 56)


def test_a_server_that_refuses_structured_outputs_is_asked_again_without():
    with FakeServer("reject_structured") as server:
        chat = OpenAIChat(server.url, model="m", sleep=_no_sleep)
        assert chat.generate(_prompt(schema={"type": "object"}), max_new_tokens=8) == VALID_ANSWER
        assert chat.generate(_prompt(schema={"type": "object"}), max_new_tokens=8) == VALID_ANSWER
    # once with the field, refused; then without, from then on
    assert ["structured_outputs" in b for b in server.requests] == [True, False, False]


# -- a broken server: one clear line, retries where they can help ------------------------------


def test_server_down_is_one_clear_line_after_the_retries():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    waits = []
    chat = OpenAIChat(url, model="m", retries=2, backoff_s=0.5, sleep=waits.append)
    with pytest.raises(ModelUnavailable) as err:
        chat.generate(_prompt(), max_new_tokens=8)
    assert str(err.value) == f"openai:{url}#m: server not reachable after 3 tries (connection refused)"
    assert waits == [0.5, 1.0]  # exponential backoff


@pytest.mark.parametrize(("mode", "model", "message", "requests"), [
    ("error500", "m", r"server error 500 after 4 tries \(engine crashed\)", 4),  # 5xx: retried
    ("not_found", "nope", r"refused the request \(HTTP 404: The model `nope` does not exist.\)", 1),  # 4xx: not
])  # fmt: skip
def test_server_errors_are_retried_only_when_the_server_failed(mode, model, message, requests):
    with FakeServer(mode) as server:
        chat = OpenAIChat(server.url, model=model, retries=3, sleep=_no_sleep)
        with pytest.raises(ModelUnavailable, match=message):
            chat.generate(_prompt(), max_new_tokens=8)
    assert len(server.requests) == requests


def test_slow_server_times_out():
    with FakeServer("slow", delay_s=3.0) as server:
        chat = OpenAIChat(server.url, model="m", timeout_s=0.5, retries=1, sleep=_no_sleep)
        start = time.perf_counter()
        with pytest.raises(ModelUnavailable, match=r"no answer within 0.5 s after 2 tries \(timed out\)"):
            chat.generate(_prompt(), max_new_tokens=8)
        assert time.perf_counter() - start < 2.5  # did not wait for the server's 3 s
    assert len(server.requests) == 2


# -- batch classification -----------------------------------------------------------------------


def _clips(carphone_clip) -> list[Path]:
    return [carphone_clip, pyfeat("single_face.mp4"), pyfeat("noface_face.mov")]


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["down", "error500", "slow"])
def test_classify_falls_back_to_rules_per_clip_when_the_server_fails(mode, carphone_clip, tmp_path):
    clips = _clips(carphone_clip)[:2]
    out = tmp_path / "preds.jsonl"
    server = FakeServer("error500") if mode == "error500" else FakeServer("slow", delay_s=5.0)
    url = f"http://127.0.0.1:{free_port()}/v1" if mode == "down" else server.url
    with server:
        result = run_cinedub("classify", *clips, "--reasoner", f"openai:{url}#m", "--out", out,
                             "--concurrency", "2", "--timeout", "1", "--retries", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = _records(out)
    assert [r["id"] for r in records] == [c.name for c in clips]
    why = {"down": "server not reachable after 2 tries (connection refused)",
           "error500": "server error 500 after 2 tries (engine crashed)",
           "slow": "no answer within 1 s after 2 tries (timed out)"}[mode]  # fmt: skip
    for record in records:
        assert record["reasoner"] == f"openai:{url}#m→rules"
        assert record["scene_type"] in ("dialogue", "monologue", "narration")  # the rules' answer
        assert any(why in note and note.endswith("used rules") for note in record["reasoner_notes"]), record
    if mode != "down":
        assert len(server.requests) == 2 * len(clips)  # each clip: the first try and one retry
    assert "2 fell back to rules" in result.stderr


@pytest.mark.slow
def test_concurrent_classify_gives_the_sequential_records(carphone_clip, tmp_path):
    clips = _clips(carphone_clip)
    one, three = tmp_path / "one.jsonl", tmp_path / "three.jsonl"
    for out, n in ((one, "1"), (three, "3")):
        result = run_cinedub("classify", *clips, "--out", out, "--concurrency", n)
        assert result.returncode == 0, result.stderr
    assert one.read_text() == three.read_text()
    assert [r["id"] for r in _records(one)] == [c.name for c in clips]


@pytest.mark.slow
def test_classify_resumes_after_a_kill_without_redoing_finished_clips(carphone_clip, tmp_path):
    clips = _clips(carphone_clip)
    out = tmp_path / "preds.jsonl"
    partial = tmp_path / "preds.jsonl.partial"
    args = [sys.executable, "-m", "cinedub", "classify", *map(str, clips), "--out", str(out)]
    with FakeServer(delay_s=1.5) as server:
        spec = ["--reasoner", f"openai:{server.url}#m"]
        proc = subprocess.Popen([*args, *spec], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if partial.exists() and partial.read_text().count("\n") >= 1:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed midway"
        assert not out.exists()
        survived = _records(partial)
        assert 1 <= len(survived) < len(clips)
        with open(partial, "a") as torn:  # what a kill in the middle of a write leaves
            torn.write('{"id": "noface_face.mov", "video": "x", "scene_ty')
        asked_before = len(server.requests)

        resumed = run_cinedub(*args[3:], *spec)
        assert resumed.returncode == 0, resumed.stderr
        # Only the clips without a record were asked about again (one request each: valid answers).
        assert len(server.requests) - asked_before == len(clips) - len(survived)
    records = _records(out)
    assert [r["id"] for r in records] == [c.name for c in clips]
    by_id = {r["id"]: r for r in records}
    for record in survived:
        assert by_id[record["id"]] == record  # kept as written, not redone
    assert all(r["reasoner"] == f"openai:{server.url}#m" and r["scene_type"] == "monologue" for r in records)
    assert not partial.exists()
    assert f"{len(clips) - len(survived)} clips, {len(survived)} resumed" in resumed.stderr.replace("classified ", "")

    again = run_cinedub(*args[3:], "--reasoner", "rules")  # everything is done: nothing is redone
    assert again.returncode == 0 and "classified 0 clips, 3 resumed" in again.stderr
    assert out.read_text() == "".join(json.dumps(r) + "\n" for r in records)


def test_classify_rejects_bad_options(carphone_clip):
    for args, message in ((("--concurrency", "0"), "--concurrency must be at least 1"),
                          (("--timeout", "5"), "--timeout applies to a reasoner on a server"),
                          (("--reasoner", "openai:localhost:8000"), "needs a server URL")):  # fmt: skip
        result = run_cinedub("classify", carphone_clip, *args)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_ground_tells_the_model_what_perception_measured(carphone_clip, tmp_path):
    """`--ground`: the request carries the perception tools' facts about the real clip; without it, not."""
    with FakeServer() as server:
        for flag in ([], ["--ground"]):
            result = run_cinedub("classify", carphone_clip, "--reasoner", f"openai:{server.url}#m", *flag)
            assert result.returncode == 0, result.stderr

    def question(body: dict) -> str:
        content = body["messages"][-1]["content"]
        return " ".join(part.get("text", "") for part in content) if isinstance(content, list) else content

    plain, grounded = (question(body) for body in server.requests)
    assert "Facts measured by perception tools" not in plain
    assert "1 person on screen; 1 of them visibly talking" in grounded
