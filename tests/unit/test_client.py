"""The command-line client's pure pieces: which recorded classes a replay on another model follows."""

import pytest

from inference_service.client import recorded_labels, tracked_on
from maskscope import session as sessions

IMAGENET_LIKE = ("tench", "crane", "espresso", "crane", "cup")
RECORDED = {2: "espresso", 3: "crane", 4: "cup", 9: "unlabelled on the new model"}


@pytest.mark.parametrize("labels, track, expected", [
    (IMAGENET_LIKE, {2, 3, 4}, [2, 3, 4]),             # the same labels: the same indices, the second crane too
    (("cup", "espresso", "crane"), {2, 3, 4}, [0, 1, 2]),  # renumbered: found by label
    (("benign", "malignant"), {2, 3}, []),              # another label set: nothing to follow
    (IMAGENET_LIKE, {9, 7}, []),                        # recorded without a label, or not at all
])
def test_a_replay_follows_recorded_classes_by_label_on_another_model(labels, track, expected):
    assert tracked_on(labels, RECORDED, track) == expected


def test_the_recorded_labels_come_from_every_steps_answers():
    p = {"class_index": 2, "label": "espresso", "probability": 0.9}
    t = {"class_index": 4, "label": "cup", "probability": 0.1}
    session = sessions.Session(image=b"", image_name="", model="m", fill="gray", keep_painted=False,
                               steps=[sessions.Step("a", b"", [p]), sessions.Step("b", b"", [], [t])])
    assert recorded_labels(session) == {2: "espresso", 4: "cup"}
