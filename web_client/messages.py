"""Turning the page's fields into a ClassifyRequest, and a ClassifyResponse into JSON."""

from __future__ import annotations

import base64
import binascii
import json

from maskscope.fills import BY_NAME as FILLS
from maskscope.v1 import classifier_pb2 as pb
from web_client.limits import MAX_TRACKED


# The first bytes of the image formats a browser uploads; anything else is refused before gRPC.
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


class BadRequest(ValueError):
    """The page sent something unusable; the message says what."""


def looks_like_image(data: bytes) -> bool:
    return data.startswith(IMAGE_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


INT32 = (-(1 << 31), (1 << 31) - 1)


def _str(fields, name: str) -> str:
    """A text field; a JSON message may hold any type there, and only a string is one."""
    raw = fields.get(name)
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise BadRequest(f"{name} must be a string, got {type(raw).__name__}")
    return raw


def _int(fields, name: str, default: int, bounds: tuple[int, int] = INT32) -> int:
    raw = fields.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise BadRequest(f"{name} must be an integer, got {type(raw).__name__}")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if not bounds[0] <= value <= bounds[1]:
        raise BadRequest(f"{name} must be between {bounds[0]} and {bounds[1]}, got {value}")
    return value


def _bool(fields, name: str) -> bool:
    raw = fields.get(name, False)
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in ("1", "true", "on", "yes"):
        return True
    if str(raw).lower() in ("", "0", "false", "off", "no"):
        return False
    raise BadRequest(f"{name} must be true or false, got {raw!r}")


def _track(fields) -> list[int]:
    raw = fields.get("track") or []
    if isinstance(raw, str):
        raw = [part for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or any(isinstance(i, bool) or not isinstance(i, (int, str)) for i in raw):
        raise BadRequest(f"track must be a list of class indices, got {type(raw).__name__}")
    if len(raw) > MAX_TRACKED:
        raise BadRequest(f"track at most {MAX_TRACKED} classes, got {len(raw)}")
    try:
        track = [int(i) for i in raw]
    except (TypeError, ValueError):
        raise BadRequest(f"track must be class indices, got {raw!r}") from None
    return track


def _common(fields, image: bytes | None, mask: bytes | None) -> dict:
    """The fields Classify and Explain share: the image (bytes or id), mask, model, fill, keep_painted."""
    image_id = _str(fields, "image_id").strip()
    if image and image_id:
        raise BadRequest("send either an image or an image_id, not both")
    if not image and not image_id:
        raise BadRequest("no image: send an image file (or the image_id of one sent before)")
    if image and not looks_like_image(image):
        raise BadRequest("that file is not an image: Maskscope takes PNG, JPEG, WebP, GIF, BMP or TIFF")
    if mask and not mask.startswith(b"\x89PNG\r\n\x1a\n"):
        raise BadRequest("the mask must be a PNG")
    fill = _str(fields, "fill") or "gray"
    if fill not in FILLS:
        raise BadRequest(f"unknown fill {fill!r}; use one of {', '.join(FILLS)}")
    common = {"model": _str(fields, "model"), "mask": mask or b"", "fill": FILLS[fill],
              "keep_painted": _bool(fields, "keep_painted")}
    return {**common, "image": image} if image else {**common, "image_id": image_id}


def live_fields(text: str | bytes) -> dict:
    """A live-mode message: a JSON object with the fields of build_request (image and mask as base64)."""
    try:
        fields = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"each message must be JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise BadRequest("each message must be a JSON object")
    return fields


def build_request(fields, image: bytes | None, mask: bytes | None) -> pb.ClassifyRequest:
    """`fields` is a form or a JSON object: image_id, model, fill, keep_painted, top_k, track, sequence."""
    return pb.ClassifyRequest(**_common(fields, image, mask), top_k=_int(fields, "top_k", 0), track=_track(fields),
                              sequence=_int(fields, "sequence", 0, (0, (1 << 64) - 1)))


def build_explain_request(fields, image: bytes | None, mask: bytes | None) -> pb.ExplainRequest:
    """As build_request, plus class_index (empty: the top class), patch_size and stride (0: defaults)."""
    request = pb.ExplainRequest(**_common(fields, image, mask), patch_size=_int(fields, "patch_size", 0),
                                stride=_int(fields, "stride", 0))
    if fields.get("class_index") is not None and fields.get("class_index") != "":
        request.class_index = _int(fields, "class_index", 0)
    return request


def explain_json(response: pb.ExplainResponse) -> dict:
    """Progress, or (last) the map: drops row-major, and the crop of the image it covers."""
    if not response.HasField("map"):
        return {"done": response.done, "total": response.total}
    m = response.map
    return {"done": response.done, "total": response.total, "map": {
        "rows": m.rows, "cols": m.cols, "drop": list(m.drop), "class_index": m.class_index, "label": m.label,
        "base_probability": m.base_probability,
        "crop": {"left": m.crop_left, "top": m.crop_top, "right": m.crop_right, "bottom": m.crop_bottom},
        "patch_size": m.patch_size, "stride": m.stride, "occluded_copies": m.occluded_copies, "model": m.model,
        "image_id": m.image_id, "image_width": m.image_width, "image_height": m.image_height}}


GOALS = {"flip": pb.SEARCH_GOAL_FLIP, "keep": pb.SEARCH_GOAL_KEEP}
GOAL_NAMES = {v: k for k, v in GOALS.items()}


def build_search_request(fields, image: bytes | None, mask: bytes | None, regions: bytes | None) -> pb.SearchRequest:
    """As build_request (no keep_painted), plus goal (flip or keep), class_index (empty: the top
    class), keep_share, max_classifications (0: the service's default) and `regions` (a PNG)."""
    goal = _str(fields, "goal") or "flip"
    if goal not in GOALS:
        raise BadRequest(f"unknown goal {goal!r}; use flip or keep")
    if regions and not regions.startswith(b"\x89PNG\r\n\x1a\n"):
        raise BadRequest("regions must be a PNG (8-bit greyscale, each pixel its region's number)")
    common = _common(fields, image, mask)
    common.pop("keep_painted")
    try:
        keep_share = float(_str(fields, "keep_share") or 0)
    except ValueError:
        raise BadRequest("keep_share must be a number between 0 and 1") from None
    request = pb.SearchRequest(**common, goal=GOALS[goal], regions=regions or b"", keep_share=keep_share,
                               max_classifications=_int(fields, "max_classifications", 0))
    if fields.get("class_index") is not None and fields.get("class_index") != "":
        request.class_index = _int(fields, "class_index", 0)
    return request


def search_json(response: pb.SearchResponse) -> dict:
    """Progress ({"done", "budget", "best_area"}), or (last) also "result", its `hidden` mask as a
    PNG data URL."""
    out = {"done": response.done, "budget": response.budget, "best_area": response.best_area}
    if response.HasField("result"):
        r = response.result
        out["result"] = {
            "goal": GOAL_NAMES.get(r.goal, "flip"), "found": r.found, "regions": list(r.regions), "area": r.area,
            "minimal": r.minimal, "class_index": r.class_index, "label": r.label,
            "base_probability": r.base_probability, "probability": r.probability,
            "predictions": [_prediction(p) for p in r.predictions],
            "hidden": "data:image/png;base64," + base64.b64encode(r.hidden).decode() if r.hidden else "",
            "classifications": r.classifications, "region_count": r.region_count, "model": r.model,
            "image_id": r.image_id, "image_width": r.image_width, "image_height": r.image_height}
    return out


def decode_base64(fields, name: str) -> bytes | None:
    raw = _str(fields, name)
    if not raw:
        return None
    if "," in raw[:100] and raw.startswith("data:"):
        raw = raw.split(",", 1)[1]  # a data: URL
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{name} is not valid base64") from None


def _prediction(p: pb.Prediction) -> dict:
    return {"class_index": p.class_index, "label": p.label, "probability": p.probability}


def response_json(response: pb.ClassifyResponse) -> dict:
    t = response.timings
    return {
        "predictions": [_prediction(p) for p in response.predictions],
        "tracked": [_prediction(p) for p in response.tracked],
        "model": response.model, "image_id": response.image_id, "sequence": response.sequence,
        "image_width": response.image_width, "image_height": response.image_height,
        "timings": {"preprocess_ms": t.preprocess_ms, "queue_ms": t.queue_ms, "inference_ms": t.inference_ms,
                    "total_ms": t.total_ms, "batch_size": t.batch_size},
    }


def model_json(info: pb.ModelInfo, with_labels: bool) -> dict:
    pre = info.preprocessing
    data = {
        "name": info.name, "num_labels": info.num_labels, "input_size": info.input_size,
        "preprocessing": {"resize": pre.resize, "crop": pre.crop, "interpolation": pre.interpolation,
                          "mean": list(pre.mean), "std": list(pre.std)},
        "provenance": info.provenance, "pretrained": info.pretrained, "is_default": info.is_default,
        "execution_provider": info.execution_provider,
        "max_batch_size": info.max_batch_size, "label_set": info.label_set,
    }
    if with_labels:
        data["labels"] = list(info.labels)
    return data
