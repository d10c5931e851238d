"""Answers as typed values: lookups, the command line's table, HTML for Jupyter, the map over the photo."""

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from maskscope.photos import as_photo
from maskscope.results import HEAT_RED, Explanation, Prediction, Result, Timings
from maskscope.v1 import classifier_pb2 as pb


def response(**fields) -> pb.ClassifyResponse:
    return pb.ClassifyResponse(
        predictions=[pb.Prediction(class_index=967, label="espresso", probability=0.9),
                     pb.Prediction(class_index=968, label="cup <&>", probability=0.05)],
        tracked=[pb.Prediction(class_index=504, label="coffee mug", probability=0.01)], model="m", image_id="ab" * 32,
        image_width=600, image_height=400,
        timings=pb.Timings(preprocess_ms=1.5, queue_ms=2, inference_ms=3, total_ms=7, batch_size=4), **fields)


def test_a_result_is_typed_and_finds_classes_by_label_or_index():
    r = Result.from_response(response())
    assert r.top == Prediction(967, "espresso", pytest.approx(0.9))
    assert r.image_size == (600, 400) and r.timings == Timings(1.5, 2, 3, 7, 4)
    assert r.probability("espresso") == r.probability(967) == pytest.approx(0.9)
    assert r.probability("coffee mug") == pytest.approx(0.01)  # tracked
    with pytest.raises(KeyError, match="pass it in track="):
        r.probability("tabby")


def test_a_result_prints_as_the_command_lines_table():
    lines = str(Result.from_response(response())).splitlines()
    assert lines[0].split() == ["rank", "class", "index", "probability"]
    assert lines[1].split() == ["1", "espresso", "967", "90.00%"]
    assert lines[3].split() == ["pin", "coffee", "mug", "504", "1.00%"]
    assert lines[4].startswith("model m; image 600x400 id abababababab; server 7.0 ms (preprocess 1.5")
    assert repr(Result.from_response(response())) == "<Result espresso 90.0%, cup <&> 5.0% by m>"


def test_a_result_is_an_html_table_with_labels_escaped():
    page = Result.from_response(response())._repr_html_()
    assert page.startswith("<table>") and page.count("<tr>") == 4
    assert "<td>espresso</td>" in page and "cup &lt;&amp;&gt;" in page and "90.00%" in page


def occlusion_map() -> pb.OcclusionMap:
    drop = np.zeros((2, 3), np.float32)
    drop[0, 2] = 0.5  # top right hurts the class most
    drop[1, 0] = -0.2  # hiding bottom left helps it
    return pb.OcclusionMap(rows=2, cols=3, drop=drop.ravel(), class_index=967, label="espresso", base_probability=0.9,
                           crop_left=10, crop_top=0, crop_right=40, crop_bottom=20, patch_size=56, stride=28,
                           occluded_copies=9, model="m", image_id="cd" * 32, image_width=50, image_height=20)


def test_an_explanation_is_a_rows_by_cols_array_over_its_crop():
    photo = as_photo(np.full((20, 50, 3), 100, np.uint8))
    e = Explanation.from_map(occlusion_map(), photo)
    assert e.drop.shape == (2, 3) and e.drop.dtype == np.float32 and e.crop == (10, 0, 40, 20)
    assert str(e) == ("m: espresso (967) at 90.0%; 2x3 map from 9 copies (patch 56, stride 28); largest drop "
                      "50.0 points at row 0, column 2")
    heat = np.asarray(e.to_image()).astype(int)
    assert heat.shape == (20, 30, 3)  # the crop
    top_right, bottom_left = heat[2, 27], heat[17, 2]
    assert top_right[0] > 150 and abs(top_right[0] - HEAT_RED[0]) < abs(100 - HEAT_RED[0])  # reddened
    assert list(bottom_left) == [100, 100, 100]  # a drop below zero leaves the photo as it is


def test_an_explanation_is_html_with_the_map_inline():
    page = Explanation.from_map(occlusion_map(), as_photo(np.zeros((20, 50), np.uint8)))._repr_html_()
    data = re.search(r"src='data:image/png;base64,([^']+)'", page).group(1)
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == (30, 20)
    assert "espresso (967) at 90.0%" in page
