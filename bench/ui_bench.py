"""Studio latency as a director feels it, measured from the browser (Debian's Chromium, headless).

    .venv/bin/python bench/ui_bench.py [--runs N] [--note angrier]

Starts `cinedub ui` on 127.0.0.1 (free port, temporary CINEDUB_HOME), then per run opens a fresh page
(a new session), uploads the bundled sample and times, with the page's own clock:
  upload_to_first_take_s  from the start of the upload to take 1 listed in the page
  dub_click_to_first_take_s  from the Dub click to take 1 listed
  note_to_retake_s  from sending the note to take 2 listed
Prints one JSON object (each run, then median per measure). The first run pays for loading the models
and analysing the reference voice; later runs of the same voice don't.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cinedub import config  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--note", default="angrier")
    args = parser.parse_args()
    config.apply_offline_env()
    from cinedub.samples import bundled_sample
    from tests import browser as b

    sample = bundled_sample()
    runs = []
    with tempfile.TemporaryDirectory(prefix="cinedub-ui-bench-") as tmp:
        home = Path(tmp) / "home"
        t_server = time.perf_counter()
        with b.serve(home) as url, b.chromium() as context:
            server_start_s = time.perf_counter() - t_server
            for _ in range(args.runs):
                page = b.open_studio(context, url)
                t0 = time.perf_counter()
                b.upload(page, sample.clip, sample.voice, sample.line)
                t1 = time.perf_counter()
                b.dub(page)
                b.wait_for_take(page, 1)
                t2 = time.perf_counter()
                b.send_note(page, args.note)
                b.wait_for_take(page, 2)
                t3 = time.perf_counter()
                runs.append({"session": b.session_name(page), "upload_s": round(t1 - t0, 2),
                             "upload_to_first_take_s": round(t2 - t0, 2), "dub_click_to_first_take_s": round(t2 - t1, 2),
                             "note_to_retake_s": round(t3 - t2, 2)})  # fmt: skip
                page.close()
    keys = ("upload_to_first_take_s", "dub_click_to_first_take_s", "note_to_retake_s")
    print(json.dumps({
        "bench": "ui", "clip": sample.clip.name, "note": args.note, "host": platform.node(),
        "server_start_s": round(server_start_s, 2), "runs": runs,
        "median": {k: round(statistics.median(r[k] for r in runs), 2) for k in keys},
    }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
