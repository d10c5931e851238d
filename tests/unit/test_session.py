"""Session files: reading (and refusing bad ones) and the HTML report."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from maskscope import session as sessions
from tests.conftest import png_bytes


def jpeg(color=(10, 200, 30), size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def sample_session(mask: bytes) -> sessions.Session:
    p = [{"class_index": 1, "label": "goldfish <fish>", "probability": 0.75}]
    return sessions.Session(image=jpeg(), image_name="fish & chips.jpg", model="m", fill="gray", keep_painted=False,
                            steps=[sessions.Step("Unpainted photo", b"", p), sessions.Step("1 stroke", mask, p, p)],
                            pinned=[1])


def left_half_mask() -> bytes:
    mask = np.zeros((30, 40, 4), np.uint8)
    mask[:, :20, 3] = 255
    return png_bytes(mask)


def test_a_session_survives_the_round_trip():
    original = sample_session(left_half_mask())
    again = sessions.parse(original.to_json())
    assert again == original


def test_steps_keep_their_own_model_fill_and_keep_painted():
    original = sample_session(left_half_mask())
    original.steps[1].model, original.steps[1].fill, original.steps[1].keep_painted = "other", "blur", True
    again = sessions.parse(original.to_json())
    assert (again.steps[1].model, again.steps[1].fill, again.steps[1].keep_painted) == ("other", "blur", True)
    assert (again.steps[0].model, again.steps[0].fill, again.steps[0].keep_painted) == ("m", "gray", False)
    text = sessions.render_html(again)
    assert "1 stroke (other, blur fill)" in text
    kept = np.asarray(sessions.hide(sessions.open_photo(jpeg()), left_half_mask(), True)).astype(int)
    assert abs(kept[:, :5] - (10, 200, 30)).max() < 30 and abs(kept[:, -5:] - sessions.GRAY).max() < 30
    nothing_kept = np.asarray(sessions.hide(sessions.open_photo(jpeg()), b"", True)).astype(int)
    assert abs(nothing_kept - sessions.GRAY).max() < 30


def test_the_report_is_self_contained_and_escaped():
    text = sessions.render_html(sample_session(left_half_mask()))
    assert text.count("<tr><td class=step>") == 2 and "Original" in text and "Interaction 1" in text
    assert "goldfish &lt;fish&gt;" in text and "<fish>" not in text and "fish &amp; chips.jpg" in text
    assert "http" not in text.split("</style>")[1].split("Replay it")[0]  # no outside resources
    images = [Image.open(io.BytesIO(base64.b64decode(part.split('"')[0])))
              for part in text.split("data:image/jpeg;base64,")[1:]]
    first, second = (np.asarray(im.convert("RGB")).astype(int) for im in images)
    assert abs(first[:, :5] - (10, 200, 30)).max() < 30  # the original is untouched
    assert abs(second[:, :5] - sessions.GRAY).max() < 30 and abs(second[:, -5:] - (10, 200, 30)).max() < 30


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="other"), "not a Maskscope session"),
    (lambda d: d.update(version=99), "session version 99"),
    (lambda d: d.update(fill="glitter"), "unknown fill 'glitter'"),
    (lambda d: d.update(steps=[]), "no steps"),
    (lambda d: d["steps"][1].update(mask="%%%"), "step 1's mask is not valid base64"),
    (lambda d: d["steps"][0].update(predictions=[{"label": "x"}]), "without class_index"),
    (lambda d: d.update(pinned="all"), "pinned must be a list"),
])
def test_bad_sessions_say_what_is_wrong(change, message):
    data = json.loads(sample_session(b"").to_json())
    change(data)
    with pytest.raises(sessions.SessionError, match=message):
        sessions.parse(json.dumps(data))
    with pytest.raises(sessions.SessionError, match="not JSON"):
        sessions.parse("{nope")
