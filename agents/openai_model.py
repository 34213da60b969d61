"""`openai:URL[#model]`: the director's VLM on any OpenAI-compatible server, normally vLLM.

    cinedub dub clip.mp4 ... --reasoner openai:http://gpu-box:8000/v1#Qwen/Qwen2.5-VL-7B-Instruct

The clip goes to the server either whole, as a `video_url` holding the file as a base64 data URL (vLLM
samples it with the model's own video processor), or as the frames cinedub's sampler picked, one
`image_url` JPEG each (every backend then sees the same pictures). When the prompt carries a JSON schema
the request asks vLLM to enforce it (`structured_outputs`, vLLM >= 0.10.2; a server that refuses the
field is asked again without it). Connection errors, timeouts and 5xx answers are retried with
exponential backoff; a 4xx is not (asking again would get the same answer). When no answer can be had,
`ModelUnavailable` says so in one line and the reasoner falls back to `rules`.
"""

from __future__ import annotations

import base64
import io
import mimetypes
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np

from cinedub.agents.vlm import ModelUnavailable, VisionPrompt
from cinedub.errors import CinedubError

DEFAULT_TIMEOUT_S = 120.0  # one request; a 7B model on a GPU answers in seconds, a busy one in tens
DEFAULT_RETRIES = 2  # tries after the first: 3 in all
DEFAULT_BACKOFF_S = 1.0  # the wait before the first retry; doubles each time
VIDEO_MODES = ("video_url", "frames")
JPEG_QUALITY = 90
# vLLM accepts any key unless started with --api-key; OPENAI_API_KEY is used when set.
API_KEY_ENV = "OPENAI_API_KEY"
NO_API_KEY = "EMPTY"
# Environment knobs for `--reasoner openai:...` (the CLI's classify sets timeout and retries itself).
VIDEO_MODE_ENV = "CINEDUB_OPENAI_VIDEO"  # video_url (default) | frames
TIMEOUT_ENV = "CINEDUB_OPENAI_TIMEOUT"
# Words in a 400 answer that mean the server does not know the structured-outputs field.
STRUCTURED_REFUSALS = ("structured_outputs", "extra inputs", "unrecognized request argument")


def parse_spec(arg: str) -> tuple[str, str | None]:
    """`URL[#model]` (what follows `openai:`) -> (base URL ending in /v1, model name or None)."""
    url, _, model = arg.partition("#")
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CinedubError(f"reasoner openai: needs a server URL, e.g. openai:http://127.0.0.1:8000/v1, "
                           f"got {arg!r}")
    if not parts.path:
        url += "/v1"  # vLLM serves the OpenAI API under /v1
    return url, model.strip() or None


def openai_chat(arg: str) -> OpenAIChat:
    """The `OpenAIChat` a spec's `URL[#model]` names, with $CINEDUB_OPENAI_VIDEO / _TIMEOUT applied."""
    url, model = parse_spec(arg)
    timeout = os.environ.get(TIMEOUT_ENV, "")
    try:
        timeout_s = float(timeout) if timeout else DEFAULT_TIMEOUT_S
    except ValueError:
        raise CinedubError(f"{TIMEOUT_ENV} must be a number of seconds, got {timeout!r}") from None
    video_mode = os.environ.get(VIDEO_MODE_ENV) or "video_url"
    return OpenAIChat(url, model=model, timeout_s=timeout_s, video_mode=video_mode)


def video_data_url(path: os.PathLike[str] | str) -> str:
    """The whole clip as a base64 data URL (what vLLM's `video_url` accepts without a shared disk)."""
    mime = mimetypes.guess_type(str(path))[0] or "video/mp4"
    try:
        data = open(path, "rb").read()
    except OSError as err:
        raise CinedubError(f"cannot read {path}: {err.strerror or err}") from None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def jpeg_data_url(frame: np.ndarray) -> str:
    """One (height, width, 3) uint8 RGB frame as a JPEG data URL."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return f"data:image/jpeg;base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def _reason(err: BaseException) -> str:
    """A few words for why a request failed: 'connection refused', 'timed out', ..."""
    import openai

    if isinstance(err, openai.APITimeoutError):
        return "timed out"
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or "connection refused" in str(cause).lower():
            return "connection refused"
        if isinstance(cause, TimeoutError) or "timed out" in str(cause).lower():
            return "timed out"
        if cause.__cause__ is None:
            break
        cause = cause.__cause__
    return str(cause or err) or type(err).__name__


class OpenAIChat:
    """A `ChatModel` that sends each `VisionPrompt` to an OpenAI-compatible server's chat completions."""

    def __init__(self, base_url: str, *, model: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 retries: int = DEFAULT_RETRIES, backoff_s: float = DEFAULT_BACKOFF_S,
                 video_mode: Literal["video_url", "frames"] = "video_url", api_key: str | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        import openai

        if video_mode not in VIDEO_MODES:
            raise CinedubError(f"video_mode must be one of {', '.join(VIDEO_MODES)}, got {video_mode!r}")
        if retries < 0 or timeout_s <= 0:
            raise CinedubError("openai: retries must be >= 0 and the timeout > 0")
        self.base_url, self.model = base_url.rstrip("/"), model
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.video_mode = video_mode
        self.name = f"openai:{self.base_url}" + (f"#{model}" if model else "")
        self.structured = True  # until a server refuses the field
        self._sleep = sleep
        self._model_lock = threading.Lock()
        # Retries are ours (which errors, how long, the message), so the client's own are off.
        api_key = api_key or os.environ.get(API_KEY_ENV) or NO_API_KEY
        self.client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=timeout_s, max_retries=0)

    # -- the request --------------------------------------------------------------------------

    def messages(self, prompt: VisionPrompt) -> list[dict[str, Any]]:
        """The chat: system, the user turn (video or frames, then the question), then the text history."""
        content: list[dict[str, Any]] = []
        video = prompt.video
        if video is not None and self.video_mode == "video_url":
            content.append({"type": "video_url", "video_url": {"url": video_data_url(video.path)}})
        elif video is not None:
            content.extend({"type": "image_url", "image_url": {"url": jpeg_data_url(f)}} for f in video.frames)
        content.append({"type": "text", "text": prompt.question})
        return [{"role": "system", "content": prompt.system}, {"role": "user", "content": content},
                *({"role": turn["role"], "content": turn["content"]} for turn in prompt.history)]  # fmt: skip

    def generate(self, prompt: VisionPrompt, *, max_new_tokens: int) -> str:
        messages = self.messages(prompt)
        model = self.served_model()
        while True:
            # No free whitespace in the JSON, where the server's grammar backend honours it per request
            # (vLLM 0.32's xgrammar takes it only server-wide: --structured-outputs-config, see README).
            extra_body = None
            if prompt.json_schema is not None and self.structured:
                extra_body = {"structured_outputs": {"json": prompt.json_schema, "disable_any_whitespace": True}}
            try:
                completion = self._with_retries(lambda: self.client.chat.completions.create(
                    model=model, messages=messages, max_tokens=max_new_tokens, temperature=0.0,
                    extra_body=extra_body, timeout=self.timeout_s))  # fmt: skip
            except _Refused as refused:
                if extra_body is not None and any(w in refused.message.lower() for w in STRUCTURED_REFUSALS):
                    self.structured = False  # an older or non-vLLM server: ask again, the schema in words only
                    continue
                raise ModelUnavailable(f"{self.name}: the server refused the request ({refused.message})") from None
            choice = completion.choices[0] if completion.choices else None
            return (choice.message.content or "") if choice is not None else ""

    def served_model(self) -> str:
        """`#model` from the spec, else the first model the server lists (vLLM serves one)."""
        with self._model_lock:
            if self.model is None:
                try:
                    listed = self._with_retries(lambda: list(self.client.models.list(timeout=self.timeout_s)))
                except _Refused as refused:
                    why = f"cannot list the server's models ({refused.message})"
                    raise ModelUnavailable(f"{self.name}: {why}") from None
                if not listed:
                    raise ModelUnavailable(f"{self.name}: the server serves no model")
                self.model = listed[0].id
            return self.model

    def _with_retries(self, call: Callable[[], Any]) -> Any:
        """`call()`, tried 1 + retries times on connection errors, timeouts and 5xx, backing off in between."""
        import openai

        tries = self.retries + 1
        for attempt in range(tries):
            try:
                return call()
            except openai.APIStatusError as err:
                if err.status_code < 500:
                    raise _Refused(f"HTTP {err.status_code}: {_server_message(err)}") from None
                failure = f"server error {err.status_code} after {tries} tries ({_server_message(err)})"
            except openai.APIConnectionError as err:  # includes APITimeoutError
                reason = _reason(err)
                failure = f"server not reachable after {tries} tries ({reason})"
                if reason == "timed out":
                    failure = f"no answer within {self.timeout_s:g} s after {tries} tries (timed out)"
            if attempt + 1 < tries:
                self._sleep(self.backoff_s * 2**attempt)
        raise ModelUnavailable(f"{self.name}: {failure}")


class _Refused(Exception):
    """The server answered with a 4xx: asking again would get the same answer."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _server_message(err: Any) -> str:
    """The server's own error message, on one line and short."""
    body = getattr(err, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if message is None and isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    text = " ".join(str(message or err.message or err).split())
    return text[:200]
