"""The page's crop box (static/js/mask_canvas.js's cropBox), run in Node, against the server's."""

import json

import pytest

from inference_service.export import ARCHITECTURES
from inference_service.pipeline.preprocess import source_crop_box
from inference_service.runtimes.metadata import Preprocessing
from tests.js import needs_node, run_js

pytestmark = needs_node
SIZES = [(600, 400), (451, 300), (400, 601), (640, 427), (512, 512), (225, 1000), (1001, 257), (33, 17), (1, 1)]


def page_crop_boxes(spec: Preprocessing) -> list:
    return run_js("mask_canvas.js", f"return {json.dumps(SIZES)}.map(([w, h]) => "
                                    f"m.cropBox(w, h, {{ resize: {spec.resize}, crop: {spec.crop} }}));")


@pytest.mark.parametrize("spec", [ARCHITECTURES["efficientnet-lite0"].preprocessing,
                                  ARCHITECTURES["resnet50"].preprocessing,
                                  Preprocessing(255, 224, "bilinear", (0.5,) * 3, (0.5,) * 3),   # odd margins
                                  Preprocessing(257, 200, "bicubic", (0.5,) * 3, (0.5,) * 3)],
                         ids=["lite0", "resnet50", "odd", "odd-too"])
def test_the_pages_crop_box_is_the_servers_on_odd_and_even_sides(spec):
    odd_margins = [(w, h) for w, h in SIZES if (max(w, h) * spec.resize // min(w, h) - spec.crop) % 2]
    assert odd_margins, "some sizes must round a half pixel"
    for (width, height), page in zip(SIZES, page_crop_boxes(spec)):
        assert page == pytest.approx(source_crop_box(width, height, spec), abs=1e-9), (width, height)
