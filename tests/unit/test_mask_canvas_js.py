"""The page's crop box (static/js/mask_canvas.js's cropBox), run in Node, against the server's."""

import json
import shutil
import subprocess

import pytest

from inference_service.export import ARCHITECTURES
from inference_service.preprocess import Preprocessing, source_crop_box
from tests.conftest import ROOT

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs node (on every CI machine)")
SIZES = [(600, 400), (451, 300), (400, 601), (640, 427), (512, 512), (225, 1000), (1001, 257), (33, 17), (1, 1)]


def page_crop_boxes(spec: Preprocessing) -> list:
    module = (ROOT / "web_client/static/js/mask_canvas.js").as_uri()
    script = (f"const {{ cropBox }} = await import({json.dumps(module)});\n"
              f"console.log(JSON.stringify({json.dumps(SIZES)}.map(([w, h]) => "
              f"cropBox(w, h, {{ resize: {spec.resize}, crop: {spec.crop} }}))));")
    result = subprocess.run([NODE, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


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
