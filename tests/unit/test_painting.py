"""Painting in code: hide and show combine into one mask, undo steps back, each classify goes to the client."""

import numpy as np
import pytest

from maskscope.painting import PaintingSession
from maskscope.photos import PhotoError
from maskscope.results import Result
from maskscope.v1 import classifier_pb2 as pb

PHOTO = np.zeros((4, 6, 3), np.uint8)  # 6 wide, 4 high


class RecordingClient:
    """Answers every classify with the same top class and records what it was asked."""

    def __init__(self):
        self.calls = []

    def classify(self, photo, mask, **options):
        self.calls.append((photo, mask.copy(), options))
        return Result.from_response(pb.ClassifyResponse(
            predictions=[pb.Prediction(class_index=3, label="three", probability=0.5)], model="m"))


def test_hide_show_and_boxes_combine_and_undo_steps_back():
    s = PaintingSession(RecordingClient(), PHOTO)
    left = np.zeros((4, 6), bool)
    left[:, :3] = True
    s.hide(left).hide_box(4, 1, 99, 2)  # a box past the edge is cut to it
    expected = left.copy()
    expected[1, 4:] = True
    np.testing.assert_array_equal(s.mask, expected)
    s.show(np.eye(4, 6, dtype=bool))
    expected &= ~np.eye(4, 6, dtype=bool)
    np.testing.assert_array_equal(s.mask, expected)
    s.undo().undo()
    np.testing.assert_array_equal(s.mask, left)
    s.undo()
    assert not s.mask.any()
    with pytest.raises(IndexError, match="nothing to undo"):
        s.undo()


def test_a_box_with_negative_corners_does_not_wrap_round():
    s = PaintingSession(RecordingClient(), PHOTO).hide_box(-2, -2, 1, 1)
    assert s.mask.sum() == 1 and s.mask[0, 0]


def test_masks_of_another_size_are_refused_and_change_nothing():
    s = PaintingSession(RecordingClient(), PHOTO)
    with pytest.raises(PhotoError, match="mask is 4x6 but the image is 6x4"):
        s.hide(np.ones((6, 4), bool))
    assert not s.mask.any()
    with pytest.raises(IndexError):
        s.undo()


def test_classify_sends_the_same_photo_and_tracks_the_first_top_class():
    client = RecordingClient()
    s = PaintingSession(client, PHOTO, model="m", fill="blur")
    first = s.classify()
    s.hide_box(0, 0, 2, 2).classify()
    assert s.history == [first, s.history[1]]
    (photo_a, mask_a, options_a), (photo_b, mask_b, options_b) = client.calls
    assert photo_a is photo_b  # converted once
    assert not mask_a.any() and mask_b.sum() == 4
    assert options_a["track"] == () and options_b["track"] == (3,)
    assert options_b["model"] == "m" and options_b["fill"] == "blur"
