"""Festival's HTS voice cmu_us_slt_arctic_hts (Debian `festival` + `festvox-us-slt-hts`): a woman's
American English voice, the second English reader beside Piper joe (reader.py; who reads a voice:
ParametricActor.reader_for).

Festival takes a second to start (its lexicon and the voice load), so one `festival --pipe` process is
kept per Python process and fed Scheme commands on stdin; each command is followed by a marker printed
to stderr (stdout is block-buffered in pipe mode), which says the command is done and carries any error
Festival printed before it. A line then costs ~0.03 s per second of speech. HTS synthesis is
deterministic: the same text and speed give the same samples (tests/test_readers.py).
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from cinedub.errors import CinedubError
from cinedub.media import resample

from .audio import SAMPLE_RATE

FESTIVAL = "festival"
VOICE = "cmu_us_slt_arctic_hts"
DONE = "@@cinedub-done@@"  # printed to stderr after each command
TIMEOUT_S = 60.0  # a line takes a fraction of a second; a hung process must not hang a dub
SPEED_LIMITS = (0.25, 4.0)  # hts_engine's -r (speech speed rate) is kept inside this


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Festival:
    """One `festival --pipe` process with the voice loaded, started on first use, one command at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._folder = tempfile.TemporaryDirectory(prefix="cinedub-festival-")
        self._wav = Path(self._folder.name) / "line.wav"

    def _start(self) -> subprocess.Popen[str]:
        binary = shutil.which(FESTIVAL)
        if binary is None:
            raise CinedubError("the festival reader needs festival and festvox-us-slt-hts "
                               "(apt-get install festival festvox-us-slt-hts)")  # fmt: skip
        process = subprocess.Popen([binary, "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True, bufsize=1)  # fmt: skip
        self._process = process
        self._command(f"(voice_{VOICE})")
        return process

    def _command(self, command: str) -> None:
        process = self._process
        assert process is not None and process.stdin is not None and process.stderr is not None
        timer = threading.Timer(TIMEOUT_S, process.kill)
        timer.start()
        printed: list[str] = []
        try:
            process.stdin.write(f'{command}\n(format stderr "{DONE}\\n")\n')
            process.stdin.flush()
            while DONE not in (row := process.stderr.readline()):
                if not row:  # the process ended (killed by the timer, or crashed)
                    raise CinedubError(f"festival stopped: {' '.join(printed)[-200:] or 'no message'}")
                printed.append(row.strip())
        except (OSError, ValueError) as err:
            raise CinedubError(f"festival failed: {err}") from None
        finally:
            timer.cancel()
        errors = [row for row in printed if "error" in row.lower()]
        if errors:
            raise CinedubError(f"festival failed: {errors[0]}")

    def speak(self, text: str, speed: float) -> np.ndarray:
        """The reading of `text` at hts_engine speed rate `speed`, at the voice's own sample rate."""
        import soundfile as sf

        with self._lock:
            try:
                if not self._running():
                    self._start()
                self._command(f'(set! hts_engine_params (append {VOICE}::hts_engine_params '
                              f'(list (list "-r" {speed:.4f}))))')  # fmt: skip
                self._command(f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) "
                              f"{_scheme_string(str(self._wav))} 'riff)")  # fmt: skip
                audio, rate = sf.read(self._wav, dtype="float32", always_2d=True)
            except (RuntimeError, sf.LibsndfileError) as err:  # no wave written
                self._close_locked()
                raise CinedubError(f"festival gave no audio for the line {text!r}: {err}") from None
            except CinedubError:
                self._close_locked()  # a fresh process for the next line
                raise
        return resample(audio[:, 0], rate, SAMPLE_RATE) if rate != SAMPLE_RATE else audio[:, 0]

    def started(self) -> bool:
        """Whether the process runs with the voice loaded (started now if it was not)."""
        with self._lock:
            if not self._running():
                try:
                    self._start()
                except CinedubError:
                    self._close_locked()
                    return False
            return True

    def _running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _close_locked(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            self._process = None

    def close(self) -> None:
        with self._lock:
            self._close_locked()


_festival = _Festival()
atexit.register(_festival.close)


def available() -> bool:
    """Whether festival runs here with the voice (the process is started to find out, and kept)."""
    return _festival.started()


def speak(text: str, *, length_scale: float = 1.0) -> np.ndarray:
    """The voice's reading of `text` at SAMPLE_RATE: float32 (num_samples,), unnormalised, deterministic.

    `length_scale` > 1 reads slower (hts_engine's speed rate 1 / length_scale, within SPEED_LIMITS).
    """
    speed = float(np.clip(1.0 / max(length_scale, 1e-3), *SPEED_LIMITS))
    audio = _festival.speak(text, speed)
    if len(audio) == 0:
        raise CinedubError(f"festival could not speak the line {text!r} (no audio)")
    return np.ascontiguousarray(audio, dtype=np.float32)
