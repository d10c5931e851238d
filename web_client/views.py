"""The page and its JSON API; every answer comes from the inference service over gRPC."""

from __future__ import annotations

import json
import logging

import grpc
from flask import (Blueprint, Response, current_app, jsonify, render_template, request, send_from_directory,
                   stream_with_context)

from maskscope import session as sessions
from maskscope.v1 import classifier_pb2 as pb
from web_client import cpu
from web_client import inference as service
from web_client.inference import error_payload, get_inference
from web_client.bodies import json_request
from web_client.limits import MAX_FAITHFULNESS_MAPS, get_budget, get_limits
from web_client.live_socket import GOING_AWAY, INTERNAL_ERROR, QUIET, HandshakeError, LiveSocket, TakenOver
from web_client.messages import (BadRequest, build_explain_request, build_request, build_search_request,
                                 decode_base64, explain_json, live_fields, model_json, response_json, search_json)
from web_client.metrics import get_metrics
from web_client.stream import StreamBridge

log = logging.getLogger(__name__)
bp = Blueprint("maskscope", __name__)
# A live page quiet this long gives its ClassifyStream back: an open stream's reader wakes ten
# times a second inside gRPC (docs/benchmarks.md), a cost an idle page need not keep paying.
STREAM_REST_S = 20.0


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/samples/<path:name>")
def sample(name):
    return send_from_directory(current_app.config["SAMPLES_DIR"], name, max_age=3600)


@bp.get("/api/samples")
def samples():
    index_file = current_app.config["SAMPLES_DIR"] / "index.json"
    items = json.loads(index_file.read_text()) if index_file.exists() else []
    return jsonify([{**item, "url": f"/samples/{item['file']}"} for item in items])


@bp.get("/api/health")
def health():
    serving = get_inference().serving()
    return jsonify({"inference": "SERVING" if serving else "UNAVAILABLE"}), 200 if serving else 503


@bp.get("/api/limits")
def page_limits():
    """What the page checks before it sends: the largest upload and live message, in bytes."""
    limits = get_limits()
    return jsonify({"upload_bytes": limits.upload_bytes, "live_message_bytes": limits.live_message_bytes})


@bp.get("/api/models")
def models():
    response = service.list_models()
    with_labels = request.args.get("labels") in ("1", "true")
    return jsonify({"default_model": response.default_model,
                    "models": [model_json(m, with_labels) for m in response.models]})


def _form_request(build):
    """A request built from the multipart form: `image` and `mask` files, the rest fields."""
    image = request.files.get("image")
    mask = request.files.get("mask")
    return build(request.form, image.read() if image else None, mask.read() if mask else None)


@bp.app_errorhandler(BadRequest)  # app-wide: study mode's routes build the same requests
def bad_request(exc: BadRequest):
    return jsonify({"error": str(exc), "code": "INVALID_ARGUMENT"}), 400


@bp.app_errorhandler(grpc.RpcError)  # app-wide: study mode's routes call the service too
def inference_failed(exc: grpc.RpcError):
    payload, status = error_payload(exc)
    return jsonify(payload), status


@bp.post("/api/classify")
def classify():
    """multipart/form-data: `image` (file) or `image_id`; `mask` (PNG file); model, fill, keep_painted, top_k,
    track (comma-separated class indices), sequence."""
    return jsonify(response_json(service.classify(_form_request(build_request))))


@bp.get("/api/segments")
def segments():
    """?image_id=...: the photo's regions as an 8-bit greyscale PNG (each pixel its region's number),
    their count in the X-Maskscope-Regions header."""
    image_id = request.args.get("image_id", "")
    if not image_id:
        raise BadRequest("image_id is missing: classify the photo first, then ask for its regions")
    response = service.segments(pb.SegmentsRequest(image_id=image_id))
    return Response(response.labels, mimetype="image/png", headers={
        "X-Maskscope-Regions": str(response.count), "Cache-Control": "private, max-age=3600"})


@bp.post("/api/explain")
def explain():
    """The fields of /api/classify plus class_index, patch_size, stride. Answers newline-delimited JSON:
    progress lines {"done", "total"}, then one with "map" (or, if the service fails midway, "error")."""
    return _lines(service.explain(_form_request(build_explain_request)), explain_json)


@bp.post("/api/search")
def search():
    """What flips it, what keeps it. The fields of /api/classify (no keep_painted) plus goal (flip or
    keep), class_index, keep_share, max_classifications and an optional `regions` file (an 8-bit
    PNG of region numbers; none: the photo's own). Answers newline-delimited JSON: progress lines
    {"done", "budget", "best_area"}, then one with "result" (or, if the service fails midway, "error")."""
    regions = request.files.get("regions")
    responses = service.search(_form_request(
        lambda fields, image, mask: build_search_request(fields, image, mask, regions.read() if regions else None)))
    return _lines(responses, search_json)


def _lines(responses, as_json):
    """A server-streaming call as newline-delimited JSON. A bad request fails before its first
    answer, so it gets an HTTP status; a failure midway is the last line."""
    first = next(responses)

    def lines():
        try:
            yield json.dumps(as_json(first)) + "\n"
            for response in responses:
                yield json.dumps(as_json(response)) + "\n"
        except grpc.RpcError as exc:
            payload, status = error_payload(exc)
            yield json.dumps({**payload, "status": status}) + "\n"  # the HTTP status it would have had
        finally:
            responses.cancel()  # the page went away: stop the server's work too

    return Response(lines(), mimetype="application/x-ndjson", headers={"Cache-Control": "no-store"})


@bp.post("/api/report")
def report():
    """A session (the page's export, JSON) in, its self-contained HTML report out, as a download.
    Checked whole first (steps, every mask's size against the photo's), then made a step at a
    time as it is sent: memory for one step's images, whatever the number of steps."""
    limits = get_limits()
    try:
        session = sessions.parse(json_request("a session"), max_steps=limits.report_steps,
                                 max_mask_pixels=limits.report_mask_pixels)
    except sessions.SessionError as exc:
        return jsonify({"error": f"not a session Maskscope can report: {exc}", "code": "INVALID_ARGUMENT"}), 400
    # Header values are Latin-1: keep the file name to ASCII letters, digits, - and _.
    stem = "".join(c if (c.isascii() and c.isalnum()) or c in "-_" else "-"
                   for c in session.image_name.rsplit(".", 1)[0])[:40]
    # With the request's context: its body's share of the budget is given back when the last part is sent.
    return Response(stream_with_context(sessions.html_parts(session, run=cpu.run)), mimetype="text/html", headers={
        "Content-Disposition": f'attachment; filename="maskscope-{stem or "session"}.html"'})


@bp.route("/api/stream", websocket=True)  # werkzeug matches upgrades only to such rules
def stream():
    """Live mode: a WebSocket of JSON messages with the fields of /api/classify (image and mask as
    base64), each answered, or passed over for a newer one (web_client/stream.py)."""
    limits = get_limits()
    try:
        ws = LiveSocket.accept(request.environ, max_message_bytes=limits.live_message_bytes,
                               ping_interval_s=limits.ws_ping_interval_s, idle_timeout_s=limits.ws_idle_timeout_s,
                               budget=get_budget())
    except HandshakeError as exc:
        raise BadRequest(str(exc)) from None
    inference, metrics = get_inference(), get_metrics()
    bridge = StreamBridge(inference.for_photo, ws.send, metadata=inference.metadata, observe=metrics.observe_call)
    metrics.websockets_open.inc()
    try:
        while _live_message(ws, bridge):
            pass
    except Exception:  # the connection is a WebSocket now: no HTTP error can go out on it
        log.exception("live mode failed")
        ws.close(INTERNAL_ERROR, "the web app failed: reconnect to go on")
    finally:
        metrics.websockets_open.dec()
        bridge.close()
        ws.close(GOING_AWAY)  # nothing if it is closed already; its budget share given back either way
    return TakenOver()


def _live_message(ws: LiveSocket, bridge: StreamBridge) -> bool:
    """The page's next message into its stream (one that cannot be sent is answered with what was
    wrong); False once the socket is closed. Nothing of the message outlives this call but the
    request the stream holds."""
    text = ws.receive(quiet_s=STREAM_REST_S)
    if text is None:
        return False
    if text is QUIET:
        bridge.close()  # the next message opens a new stream
        return True
    fields = {}
    try:
        fields = live_fields(text)
        del text  # a photo's message: each copy is tens of MB, and the next is made from this one
        image, mask = decode_base64(fields, "image"), decode_base64(fields, "mask")
        fields.pop("image", None), fields.pop("mask", None)
        bridge.send(build_request(fields, image, mask), release=ws.hand_over())
        return True
    except BadRequest as exc:
        error = {"error": str(exc), "code": "INVALID_ARGUMENT"}
    except Exception:  # never the end of the page's socket
        log.exception("a live message failed")
        error = {"error": "the web app could not send that message", "code": "INTERNAL"}
    sequence = fields.get("sequence", 0)
    try:
        bridge.reply({"sequence": sequence if isinstance(sequence, int) and not isinstance(sequence, bool) else 0,
                      **error})
    except Exception:  # the page went away as well
        pass
    return True


@bp.post("/api/faithfulness")
def faithfulness():
    """JSON: image_id, model, fill, class_index, steps, maps ({name: {rows, cols, drop, crop}}),
    kinds (["deletion"], and/or "insertion"), orders (["most"], and/or "least"). Answers, per map and
    for a random order, `curves` (the first kind and order's curve and its area, as before) and
    `all` (every kind and order: {name: {"deletion-most": ..., ...}}; web_client/faithfulness.py)."""
    from web_client.faithfulness import DEFAULT_STEPS, FaithfulnessError, check_cost, check_kinds, curves
    body = json_request("the body")
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object: image_id, model, fill, class_index, steps, maps")
    if not isinstance(body.get("class_index"), int) or isinstance(body.get("class_index"), bool):
        raise BadRequest("class_index (the class whose probability the curves follow) is a whole number")
    if not isinstance(body.get("maps"), dict) or not 1 <= len(body["maps"]) <= MAX_FAITHFULNESS_MAPS:
        raise BadRequest(f"maps is an object of 1 to {MAX_FAITHFULNESS_MAPS} maps: {{name: {{rows, cols, drop, crop}}}}")
    if not isinstance(body.get("steps", 10), int) or isinstance(body.get("steps"), bool):
        raise BadRequest("steps (how many parts each map's cells are hidden in) is a whole number")
    base = build_request({k: body[k] for k in ("image_id", "model", "fill") if k in body}, None, None)
    limits, steps = get_limits(), body.get("steps", DEFAULT_STEPS)
    try:
        kinds, orders = check_kinds(body.get("kinds", ["deletion"]), body.get("orders", ["most"]))
        check_cost(steps, len(body["maps"]), max_classifications=limits.faithfulness_classifications,
                   curves_per_map=len(kinds) * len(orders))  # before the service is asked anything
        first = service.classify(pb.ClassifyRequest(image_id=base.image_id, model=base.model, top_k=1))
        result = curves(service.classify, base, first.image_width, first.image_height, body["maps"], body["class_index"],
                        steps, max_classifications=limits.faithfulness_classifications,
                        max_mask_pixels=limits.faithfulness_mask_pixels, kinds=kinds, orders=orders)
    except (FaithfulnessError, ValueError) as exc:
        raise BadRequest(str(exc)) from None
    first_curve = f"{kinds[0]}-{orders[0]}"
    return jsonify({"class_index": body["class_index"], "fill": body.get("fill") or "gray",
                    "curves": {name: each[first_curve] for name, each in result.items()}, "all": result})
