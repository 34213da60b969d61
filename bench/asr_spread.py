"""How much the measuring ASR's words depend on the CPU: the WER of the same clips under each of
CTranslate2's CPU instruction sets and GEMM backends, for int8 and float32. Prints JSON.

    .venv/bin/python bench/asr_spread.py [--isa AVX512 AVX2 AVX GENERIC] [--compute-types int8 float32]

CTranslate2 chooses its kernels when it loads: its own ISA (CT2_FORCE_CPU_ISA), the GEMM backend (MKL,
the default on Intel CPUs, or oneDNN, CT2_USE_MKL), and their ISAs (MKL_ENABLE_INSTRUCTIONS,
ONEDNN_MAX_CPU_ISA). Each configuration caps all of them and runs in a fresh process. The clips: the
five LibriVox readings (gold transcripts) and takes of the parametric actor (the lines it was asked
to speak), generated once and shared by every configuration. The WER bounds in tests/test_eval.py and
tests/test_actor.py come from this spread.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import soundfile as sf

# CTranslate2's ISA name -> (MKL's, oneDNN's) for the same instruction set.
ISA_CAPS = {"AVX512": ("AVX512", "AVX512_CORE_VNNI"), "AVX2": ("AVX2", "AVX2"), "AVX": ("AVX", "AVX"),
            "GENERIC": ("SSE4_2", "SSE41")}  # fmt: skip
# What CT2_VERBOSE=1 logs of the kernels it chose.
CT2_CHOICES = r"(Selected ISA|Use Intel MKL|SGEMM backend|GEMM_S8 backend|Selected compute type)\W+(.+)"
ACTOR_LINES = ("Get out of my car, I will not say it again.", "We have to leave now, before they find us.",
               "I never thought I would see you here again.")  # fmt: skip


def write_items(folder: Path) -> list[dict]:
    """The clips and their reference texts, as WAV files in `folder`."""
    from cinedub.samples import LIBRIVOX_DIR
    from cinedub.speech.actor import load_actor
    from cinedub.speech.voice import load_voice
    from cinedub.types import Direction, Line, Window

    text = (LIBRIVOX_DIR / "transcription").read_text()
    items = [{"name": name, "path": str(LIBRIVOX_DIR / f"{name}.wav"), "text": line}
             for line, name in re.findall(r"<s> (.*?) </s> \((.*?)\)", text)]  # fmt: skip
    actor = load_actor("parametric")
    voice_path = LIBRIVOX_DIR / "sense_and_sensibility_01_austen_64kb-0870.wav"  # tests/test_actor.py's
    voice = load_voice(voice_path)
    for i, (line, seconds) in enumerate(zip(ACTOR_LINES, (3.0, 2.6, 2.4))):  # as tests/test_actor.py asks
        direction = Direction(window=Window(start=2.0, end=2.0 + seconds), voice=str(voice_path),
                              emotion="angry", intensity=0.6)  # fmt: skip
        take = actor.perform(Line(text=line), direction, voice)
        path = folder / f"take-{i}.wav"
        sf.write(path, take.audio, take.sample_rate)
        items.append({"name": f"parametric-angry-{i}", "path": str(path), "text": line})
    return items


def measure(items_file: str, compute_type: str) -> None:
    """In the child: one configuration, every clip. Prints {name: [hypothesis, wer]} as JSON."""
    from cinedub import media
    from cinedub.asr import transcribe, wer, whisper_model

    model = whisper_model(compute_type)
    result = {}
    for item in json.loads(Path(items_file).read_text()):
        audio, rate = media.load_audio(item["path"])
        hypothesis = transcribe(audio, rate, model=model)
        result[item["name"]] = [hypothesis, wer(item["text"], hypothesis)]
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--isa", nargs="+", default=["AVX512", "AVX2", "AVX", "GENERIC"])
    parser.add_argument("--compute-types", nargs="+", default=["int8", "float32"])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return measure(*args.child)
    with tempfile.TemporaryDirectory() as tmp:
        items_file = Path(tmp) / "items.json"
        items_file.write_text(json.dumps(write_items(Path(tmp))))
        runs = {}
        for compute_type in args.compute_types:
            for isa in args.isa:
                for mkl in ("0", "1"):
                    mkl_isa, onednn_isa = ISA_CAPS[isa]
                    env = {**os.environ, "CT2_FORCE_CPU_ISA": isa, "CT2_USE_MKL": mkl, "CT2_VERBOSE": "1",
                           "MKL_ENABLE_INSTRUCTIONS": mkl_isa, "ONEDNN_MAX_CPU_ISA": onednn_isa}  # fmt: skip
                    command = [sys.executable, __file__, "--child", str(items_file), compute_type]
                    child = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
                    chosen = re.findall(CT2_CHOICES, child.stderr)
                    clips = json.loads(child.stdout.splitlines()[-1])
                    kernels = {k: v.strip() for k, v in chosen}
                    runs[f"{compute_type}/{isa}/mkl={mkl}"] = {"ct2": kernels, "clips": clips}
    summary = {}
    for compute_type in args.compute_types:
        mine = {k: v for k, v in runs.items() if k.startswith(compute_type + "/")}
        names = next(iter(mine.values()))["clips"].keys()
        per_clip = {n: sorted({round(run["clips"][n][1], 3) for run in mine.values()}) for n in names}
        librivox = [statistics.fmean(v[1] for n, v in run["clips"].items() if not n.startswith("parametric"))
                    for run in mine.values()]  # fmt: skip
        actor = [statistics.fmean(v[1] for n, v in run["clips"].items() if n.startswith("parametric"))
                 for run in mine.values()]  # fmt: skip
        summary[compute_type] = {
            "configurations": len(mine),
            "distinct_transcript_sets": len({json.dumps({n: v[0] for n, v in run["clips"].items()})
                                             for run in mine.values()}),
            "librivox_mean_wer_range": [min(librivox), max(librivox)],
            "actor_mean_wer_range": [min(actor), max(actor)],
            "per_clip_wer_values": per_clip,
        }
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")  # fmt: skip
    print(json.dumps({"cpu": cpu, "summary": summary, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
