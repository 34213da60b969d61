"""Dataset readers: rows of chain-of-thought answers with their gold scene type.

Two row formats are read:
- DeepDubber's CoT-Movie-Dubbing JSONL (InternVL conversations): `{"id", "video", "conversations":
  [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]}`; the gold letter is the
  one in the gold answer's `<CONCLUSION>`.
- cinedub's own JSONL: `{"video", "question"?, "answer" | "cot" | "conclusion"?, "prediction"?,
  "scene_type" | "label"?, "chosen"?, "rejected"?}` (chosen / rejected: a preference pair).
- a clip folder with a labels file (`labels.jsonl` / `labels.csv`: video, scene_type): `read_clip_folder`.
A row may carry a model's `prediction` beside the gold answer; the prediction is what gets parsed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cinedub.agents.cot import parse_cot, scene_from_answer
from cinedub.agents.prompts import SCENE_TYPE_QUESTION
from cinedub.errors import CinedubError
from cinedub.labels import SCENE_LETTER


@dataclass
class CotRow:
    row: int  # 1-based line number in the file
    id: str
    video: str | None
    question: str
    answer: str | None  # the text to parse (a prediction if the row has one, else the gold answer)
    gold: str | None  # gold scene type, when known
    error: str | None = None  # why the row could not be read at all
    chosen: str | None = None  # a preference pair (cinedub's own rows)
    rejected: str | None = None


def _gold_scene(row: dict, gold_answer: str | None) -> str | None:
    for key in ("scene_type", "label", "gold"):
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return scene_from_answer(value)
    if gold_answer:
        parsed = parse_cot(gold_answer)
        return parsed.conclusion.scene_type if parsed.ok else None
    return None


def read_cot_jsonl(path: str | Path) -> Iterator[CotRow]:
    """Rows of a CoT JSONL file. A malformed row is yielded with `error` set, not raised."""
    path = Path(path)
    if not path.is_file():
        raise CinedubError(f"no such file: {path}")
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as err:
                yield CotRow(number, str(number), None, "", None, None, error=f"not JSON ({err.msg})")
                continue
            if not isinstance(row, dict):
                yield CotRow(number, str(number), None, "", None, None, error="not a JSON object")
                continue
            question = row.get("question", SCENE_TYPE_QUESTION)
            gold_answer = row.get("answer") or row.get("cot") or row.get("conclusion")
            turns = row.get("conversations")
            if isinstance(turns, list):
                question = next((t.get("value", "") for t in turns if t.get("from") == "human"), question)
                gold_answer = next((t.get("value") for t in reversed(turns) if t.get("from") == "gpt"), gold_answer)
            answer = row.get("prediction") or gold_answer
            yield CotRow(
                row=number,
                id=str(row.get("id", number)),
                video=row.get("video"),
                question=question,
                answer=answer if isinstance(answer, str) else None,
                gold=_gold_scene(row, gold_answer if isinstance(gold_answer, str) else None),
                chosen=row.get("chosen") if isinstance(row.get("chosen"), str) else None,
                rejected=row.get("rejected") if isinstance(row.get("rejected"), str) else None,
            )


def read_clip_folder(folder: str | Path) -> Iterator[CotRow]:
    """Clips in a folder with `labels.jsonl` (cinedub's rows) or `labels.csv` (`video,scene_type` per line)."""
    import csv

    folder = Path(folder)
    if (folder / "labels.jsonl").is_file():
        yield from read_cot_jsonl(folder / "labels.jsonl")
        return
    if not (folder / "labels.csv").is_file():
        raise CinedubError(f"{folder} has no labels.jsonl or labels.csv")
    with (folder / "labels.csv").open(encoding="utf-8", newline="") as handle:
        for number, record in enumerate(csv.DictReader(handle), start=2):
            video, label = (record.get("video") or "").strip(), (record.get("scene_type") or record.get("label") or "")
            gold = scene_from_answer(label) if label.strip() else None
            error = None if video else "no video"
            yield CotRow(number, Path(video).stem or str(number), video or None, SCENE_TYPE_QUESTION, None, gold, error)


def check_row(row: CotRow, path: str | Path, need: tuple[str, ...] = ("video", "answer")) -> CotRow:
    """The row, or a CinedubError naming the file, the row and what is wrong with it."""
    problem = row.error
    if problem is None:
        missing = [name for name in need if not getattr(row, name)]
        if missing:
            problem = f"no {' / '.join(missing)}"
        elif "answer" in need and row.gold is None:
            problem = "no gold scene type (no label and the answer's conclusion does not parse)"
    if problem:
        raise CinedubError(f"{path} row {row.row} (id {row.id}): {problem}")
    return row


def gold_letter(row: CotRow) -> str | None:
    return SCENE_LETTER[row.gold] if row.gold else None
