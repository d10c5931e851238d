"""Property-based fuzzing of the decode and mask path: any bytes give an array or a clear error."""

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from inference_service.errors import InvalidArgument
from inference_service.export import ARCHITECTURES
from inference_service.pipeline.mask_input import MaskInputs, PhotoFills
from inference_service.pipeline.preprocess import decode_image

SPEC = ARCHITECTURES["efficientnet-lite0"].preprocessing
MAX_PIXELS = 4_000_000
FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


def encoded(fmt: str, width: int, height: int, mode: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


valid_images = st.builds(encoded, st.sampled_from(["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"]),
                         st.integers(1, 40), st.integers(1, 40), st.sampled_from(["RGB", "L"]), st.integers(0, 99))


@st.composite
def damaged(draw):
    """A real image with bytes flipped, cut short or spliced: what a flaky upload looks like."""
    data = bytearray(draw(valid_images))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    cut = draw(st.integers(1, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=32))


def accepted_or_refused_clearly(call):
    try:
        result = call()
    except InvalidArgument as error:
        assert error.message
        return None
    return result


@FUZZ
@given(st.one_of(st.binary(max_size=256), damaged()))
def test_any_bytes_decode_to_rgb_or_a_clear_error(data):
    rgb = accepted_or_refused_clearly(lambda: decode_image(data, MAX_PIXELS))
    if rgb is not None:
        assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8


@FUZZ
@given(valid_images, st.one_of(st.binary(max_size=128), damaged(), valid_images),
       st.sampled_from(["gray", "black", "blur", "noise"]), st.booleans(), st.booleans())
def test_any_mask_gives_a_model_input_or_a_clear_error(image, mask, fill, keep_painted, seen_before):
    rgb = decode_image(image, MAX_PIXELS)
    inputs = MaskInputs(rgb, PhotoFills(rgb, "ab" * 32), SPEC)
    if seen_before:  # the mask is then built on the photo's views, not made the plain way
        inputs.input_for(b"", fill, False)
    out = accepted_or_refused_clearly(lambda: inputs.input_for(mask, fill, keep_painted))
    if out is not None:
        assert out.shape == (3, SPEC.crop, SPEC.crop) and np.isfinite(out).all()
