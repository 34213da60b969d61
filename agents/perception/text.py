"""The emotion the words of a line carry: the NRC emotion lexicon (nrclex) and VADER's valence."""

from __future__ import annotations

import functools
import re

from cinedub.labels import EMOTIONS
from cinedub.types import TextEmotion

# NRC affect categories -> cinedub's emotions. "positive" / "negative" / "trust" / "anticipation"
# carry no single emotion of V2C's set; VADER's valence speaks for them below.
NRC_TO_EMOTION = {"anger": "angry", "disgust": "disgust", "fear": "fear", "joy": "happy", "sadness": "sad",
                  "surprise": "surprise"}  # fmt: skip
# How much VADER's compound valence (-1..1) adds to happy (positive) or to sad / angry (negative).
VALENCE_WEIGHT = 0.5
# Weight of "neutral" before any evidence: a line with no affect words reads neutral.
NEUTRAL_PRIOR = 0.6
_WORD = re.compile(r"[a-z']+")
# Everyday emotion words the NRC lexicon lacks (it has "sorrow" but not "sad", "scare" but not "scared").
EXTRA_WORDS = {
    "sad": ["sadness"], "miss": ["sadness"], "gone": ["sadness"], "dead": ["sadness", "fear"],
    "tears": ["sadness"], "crying": ["sadness"], "goodbye": ["sadness"], "alone": ["sadness"],
    "terrified": ["fear"], "frightened": ["fear"], "help": ["fear"], "run": ["fear"],
    "furious": ["anger"], "shut": ["anger"], "liar": ["anger", "disgust"], "idiot": ["anger", "disgust"],
    "wow": ["surprise"], "what": [], "gross": ["disgust"], "yuck": ["disgust"],
}  # fmt: skip
_SUFFIXES = (("ied", "y"), ("ies", "y"), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("d", ""),
             ("es", ""), ("s", ""), ("ly", ""))  # fmt: skip


@functools.cache
def _nrc():
    from nrclex import NRCLex

    return NRCLex()


@functools.cache
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _lemma(word: str, known: dict) -> str:
    """The word, or the first suffix-stripped form of it the lexicon knows ("scared" -> "scare")."""
    if word in known:
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)] + replacement
            if stem in known:
                return stem
    return word


def text_emotion(text: str) -> TextEmotion:
    """Scores over the seven emotions (summing to 1), the winner, and VADER's compound valence."""
    lexicon = _nrc()
    known = lexicon.__lexicon__
    words = [_lemma(w, known) for w in _WORD.findall(text.lower())]
    # Our own tokens: TextBlob's tokenizer would want NLTK corpora downloaded.
    lexicon.load_token_list(words)
    raw = {NRC_TO_EMOTION[k]: float(v) for k, v in lexicon.raw_emotion_scores.items() if k in NRC_TO_EMOTION}
    for word in words:
        if word not in known:
            for affect in EXTRA_WORDS.get(word, []):
                raw[NRC_TO_EMOTION[affect]] = raw.get(NRC_TO_EMOTION[affect], 0.0) + 1.0
    valence = float(_vader().polarity_scores(text)["compound"])
    scores = dict.fromkeys(EMOTIONS, 0.0)
    for emotion, count in raw.items():
        scores[emotion] += count
    if valence > 0:
        scores["happy"] += VALENCE_WEIGHT * valence * (1 + raw.get("happy", 0))
    elif valence < 0:
        # Negative words split between anger and sadness as the lexicon leans; an exclamation is
        # aroused, which leans toward anger.
        exclaimed = 1.0 if "!" in text else 0.0
        lean = (raw.get("angry", 0) + 0.5 + exclaimed) / (raw.get("angry", 0) + raw.get("sad", 0) + 1.0 + exclaimed)
        scores["angry"] += VALENCE_WEIGHT * -valence * lean
        scores["sad"] += VALENCE_WEIGHT * -valence * (1 - lean)
    scores["neutral"] = NEUTRAL_PRIOR
    total = sum(scores.values())
    scores = {k: round(v / total, 4) for k, v in scores.items()}
    return TextEmotion(emotion=max(scores, key=scores.get), scores=scores, valence=valence)
