"""Scene-type metrics in the form of DeepDubber's table: Ave.Acc, Ave.Recall, per-class recall."""

from __future__ import annotations

from cinedub.labels import SCENE_LETTER, SCENE_TYPES


def scene_type_metrics(gold: list[str], predicted: list[str | None]) -> dict[str, float | int | dict[str, float | None]]:
    """Accuracy and recall x100. Ave.Recall averages the classes that occur in `gold`; a missing
    prediction counts as wrong."""
    pairs = list(zip(gold, predicted, strict=True))
    recall: dict[str, float | None] = {}
    for scene in SCENE_TYPES:
        of_class = [p for g, p in pairs if g == scene]
        recall[SCENE_LETTER[scene]] = 100.0 * sum(p == scene for p in of_class) / len(of_class) if of_class else None
    present = [r for r in recall.values() if r is not None]
    return {
        "n": len(pairs),
        "ave_acc": 100.0 * sum(g == p for g, p in pairs) / len(pairs) if pairs else 0.0,
        "ave_recall": sum(present) / len(present) if present else 0.0,
        "recall": recall,
    }
