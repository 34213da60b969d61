"""The fixed label sets every backend, dataset reader and metric uses (DESIGN.md, "Label sets")."""

from __future__ import annotations

from typing import Literal, get_args

SceneType = Literal["dialogue", "monologue", "narration"]
Gender = Literal["male", "female", "unknown"]
AgeGroup = Literal["child", "teen", "adult", "elderly"]
Emotion = Literal["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
# Under the new dialogue: the clip's own sound with its dialogue taken out, or silence.
Ambience = Literal["keep", "drop"]

SCENE_TYPES: tuple[str, ...] = get_args(SceneType)
GENDERS: tuple[str, ...] = get_args(Gender)
AGE_GROUPS: tuple[str, ...] = get_args(AgeGroup)
EMOTIONS: tuple[str, ...] = get_args(Emotion)
AMBIENCE: tuple[str, ...] = get_args(Ambience)

# DeepDubber's multiple-choice letters for the voice-over category.
SCENE_LETTER: dict[str, str] = {"dialogue": "A", "monologue": "B", "narration": "C"}
LETTER_SCENE: dict[str, str] = {letter: scene for scene, letter in SCENE_LETTER.items()}

# Words for each emotion, as a director or a model writes them (the note interpreter and the CoT parser).
EMOTION_WORDS: dict[str, str] = {
    "angrier": "angry", "angry": "angry", "furious": "angry", "mad": "angry", "madder": "angry", "harsher": "angry",
    "happier": "happy", "happy": "happy", "cheerful": "happy", "cheerier": "happy", "joyful": "happy", "brighter": "happy",
    "sadder": "sad", "sad": "sad", "sorrowful": "sad", "melancholic": "sad", "gloomier": "sad", "heartbroken": "sad",
    "scared": "fear", "scareder": "fear", "afraid": "fear", "fearful": "fear", "frightened": "fear", "terrified": "fear", "nervous": "fear",
    "surprised": "surprise", "shocked": "surprise", "astonished": "surprise",
    "disgusted": "disgust", "grossed out": "disgust", "repulsed": "disgust",
    "neutral": "neutral", "flat": "neutral", "flatter": "neutral", "deadpan": "neutral", "plain": "neutral",
}  # fmt: skip


def age_group(age: int) -> str:
    """child <13, teen 13-19, adult 20-59, elderly 60+."""
    if age < 13:
        return "child"
    if age < 20:
        return "teen"
    if age < 60:
        return "adult"
    return "elderly"
