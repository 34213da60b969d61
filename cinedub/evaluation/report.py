"""A run's outputs: items.jsonl (one object per row, broken rows included), summary.json, report.md and
the per-metric histograms. Every file is written atomically (cinedub.files)."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from cinedub.evaluation.protocols import METRIC, METRICS, models
from cinedub.files import atomic_path, write_json
from cinedub.labels import SCENE_LETTER
from cinedub.metrics import scene_type_metrics

EMOTION_KEYS = ("f0_shift_st", "f0_range_delta_st", "energy_delta_db", "rate_ratio", "articulation_ratio",
                "f0_mean_hz", "f0_range_st", "energy_db", "rate_wps", "articulation_sps")  # fmt: skip


def _stats(values: list[float]) -> dict[str, float | int]:
    return {
        "mean": round(statistics.fmean(values), 4),
        "median": round(statistics.median(values), 4),
        "std": round(statistics.pstdev(values), 4),
        "n": len(values),
    }


def summarise(items: list[dict[str, Any]], *, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per-metric mean / median / std / n over the rows that measured it (WER is therefore the mean
    of per-utterance WER, as the field reports it), scene-type metrics over labelled rows, prosody
    by target emotion, and the broken rows."""
    good = [item for item in items if "error" not in item]
    metrics = {}
    for metric in METRICS:
        values = [item["metrics"][metric.key] for item in good if item["metrics"].get(metric.key) is not None]
        if values:
            metrics[metric.key] = {**_stats(values), "label": metric.label, "unit": metric.unit,
                                   "model": metric.model, "protocol": metric.protocol}  # fmt: skip
    by_emotion: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for item in good:
        target = item.get("target_emotion") or item.get("labels", {}).get("emotion")
        if target:
            for key in EMOTION_KEYS:
                if item["metrics"].get(key) is not None:
                    by_emotion[target][key].append(item["metrics"][key])
    labelled = [item for item in good if item.get("labels", {}).get("scene_type")]
    summary: dict[str, Any] = {
        "config": config or {},
        "models": models(),
        "rows": len(items),
        "evaluated": len(good),
        "broken": len(items) - len(good),
        "metrics": metrics,
        "emotion_by_target": {e: {k: round(statistics.fmean(v), 4) for k, v in keys.items()}
                              for e, keys in sorted(by_emotion.items())},  # fmt: skip
        "scene_type": scene_type_metrics([i["labels"]["scene_type"] for i in labelled],
                                         [i.get("predicted_scene_type") for i in labelled]) if labelled else None,  # fmt: skip
        "errors": [{"row": i["row"], "id": i["id"], "error": i["error"]} for i in items if "error" in i],
        "notes": _note_counts(good),
    }
    return summary


def _note_counts(items: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """How many rows skipped each family, by reason (e.g. 'no ground_truth audio in the row': 4)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for item in items:
        for family, note in item.get("notes", {}).items():
            counts[family][note] += 1
    return {family: dict(reasons) for family, reasons in counts.items()}


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def markdown(summary: dict[str, Any]) -> str:
    """The run as a Markdown table that names the model or protocol behind every number."""
    m = summary["models"]
    lines = ["# cinedub eval", ""]
    config = summary.get("config") or {}
    if config:
        lines += ["Configuration: " + ", ".join(f"{k} `{v}`" for k, v in config.items()), ""]
    lines += [f"Rows: {summary['rows']} ({summary['evaluated']} evaluated, {summary['broken']} broken).", "",
              f"- ASR (WER): {m['asr']}",
              f"- Speaker model (SECS): {m['speaker']}",
              f"- MCD: {m['mcd']}",
              f"- Emotion: {m['emotion']}",
              f"- Sync: {m['sync']}",
              "",
              "| metric | mean | median | std | n | model / protocol |",
              "|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for key, s in summary["metrics"].items():
        unit = f" ({s['unit']})" if s["unit"] else ""
        lines.append(f"| {s['label']}{unit} | {_fmt(s['mean'])} | {_fmt(s['median'])} | {_fmt(s['std'])} | {s['n']} "
                     f"| {METRIC[key].model} |")  # fmt: skip
    if summary["emotion_by_target"]:
        keys = [k for k in EMOTION_KEYS if any(k in v for v in summary["emotion_by_target"].values())]
        lines += ["", "Prosody by target emotion (means; prosody-based, no SER weights offline):", "",
                  "| emotion | " + " | ".join(METRIC[k].label for k in keys) + " |",
                  "|---|" + "---:|" * len(keys)]  # fmt: skip
        for e, values in summary["emotion_by_target"].items():
            lines.append(f"| {e} | " + " | ".join(_fmt(values.get(k)) for k in keys) + " |")
    scene = summary.get("scene_type")
    if scene:
        recall = " | ".join(_fmt(scene["recall"][SCENE_LETTER[s]]) for s in SCENE_LETTER)
        lines += ["", f"Scene type ({m['scene_type']}):", "",
                  "| n | Ave.Acc | Ave.Recall | A dialogue | B monologue | C narration |",
                  "|---:|---:|---:|---:|---:|---:|",
                  f"| {scene['n']} | {_fmt(scene['ave_acc'])} | {_fmt(scene['ave_recall'])} | {recall} |"]  # fmt: skip
    if summary["notes"]:
        lines += ["", "Skipped measurements:", ""]
        for family, reasons in summary["notes"].items():
            lines += [f"- {family}: {reason} (rows: {count})" for reason, count in reasons.items()]
    if summary["errors"]:
        lines += ["", "Broken rows (skipped):", ""]
        lines += [f"- row {e['row']} ({e['id']}): {e['error']}" for e in summary["errors"]]
    return "\n".join(lines) + "\n"


def write_outputs(out_dir: str | Path, items: list[dict[str, Any]], *, config: dict[str, Any] | None = None,
                  figures: bool = True) -> dict[str, Any]:  # fmt: skip
    """Write items.jsonl, summary.json, report.md and figures/hist-*.png; return the summary."""
    out = Path(out_dir)
    items = sorted(items, key=lambda item: item["row"])
    with atomic_path(out / "items.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(item, ensure_ascii=False, default=str) + "\n" for item in items),
                       encoding="utf-8")  # fmt: skip
    summary = summarise(items, config=config)
    if figures:
        from cinedub.evaluation.figures import histogram

        summary["figures"] = []
        good = [item for item in items if "error" not in item]
        for key in summary["metrics"]:
            values = [item["metrics"][key] for item in good if item["metrics"].get(key) is not None]
            summary["figures"].append(str(histogram(out / "figures" / f"hist-{key}.png", key, values)))
        summary["figures"] += [item["figure"] for item in good if item.get("figure")]
    write_json(out / "summary.json", summary)
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(markdown(summary), encoding="utf-8")
    return summary
