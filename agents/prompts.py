"""The director's prompts: DeepDubber-V1's four-stage chain of thought and its questions."""

from __future__ import annotations

# DeepDubber's scene-type question, word for word (its CoT-Movie-Dubbing data asks exactly this).
SCENE_TYPE_QUESTION = (
    "What is the voice-over category for this video? Options: A. dialogue, B. monologue, C. narration."
)

# The four stages, in order, with the header line DeepDubber writes before each tag.
STAGES: tuple[str, ...] = ("SUMMARY", "CAPTION", "REASONING", "CONCLUSION")
STAGE_HEADERS: dict[str, str] = {
    "SUMMARY": "Summary stage: What's the problem? What should I do?",
    "CAPTION": "Caption stage: What can I know from the video?",
    "REASONING": "Reasoning stage: How to solve the problem step-by-step?",
    "CONCLUSION": "Conclusion stage: What is the final answer?",
}

SUMMARY_TEXT = (
    "I will examine the video to identify and count all the people, Then, I will count the number of "
    "people who is talking and determine the category of voice-over for the video"
)
# cinedub asks for more than the scene type: the speaker's attributes drive the actor.
SUMMARY_TEXT_WITH_SPEAKER = (
    SUMMARY_TEXT + ". Then, I will describe the speaker's gender, age and emotion, and how intense the "
    "line should be"
)


def format_cot(stages: dict[str, str]) -> str:
    """Write the four stages the way DeepDubber's gold answers are written."""
    return "\n".join(f"{STAGE_HEADERS[tag]}\n<{tag}> {stages[tag].strip()} </{tag}>" for tag in STAGES)
