"""Command-line client of the inference service.

    python -m inference_service.client IMAGE [--mask PNG] [--model M]       classify (a table)
    python -m inference_service.client explain IMAGE [--class N] [--out MAP.png]   occlusion map
    python -m inference_service.client replay SESSION.json [--model M] [--report R.html]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import grpc
import numpy as np

from maskscope import session as sessions
from maskscope.channel import make_channel, token_metadata
from maskscope.fills import BY_NAME as FILLS
from maskscope.flags import add_flag
from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc


def format_table(response: pb.ClassifyResponse) -> str:
    width = max([len(p.label) for p in response.predictions] + [5])
    lines = [f"{'rank':>4}  {'class':<{width}}  {'index':>5}  {'probability':>11}"]
    for rank, p in enumerate(response.predictions, 1):
        lines.append(f"{rank:>4}  {p.label:<{width}}  {p.class_index:>5}  {p.probability * 100:>10.2f}%")
    for p in response.tracked:
        lines.append(f"{'pin':>4}  {p.label:<{width}}  {p.class_index:>5}  {p.probability * 100:>10.2f}%")
    t = response.timings
    lines.append(f"model {response.model}; image {response.image_width}x{response.image_height} "
                 f"id {response.image_id[:12]}; server {t.total_ms:.1f} ms "
                 f"(preprocess {t.preprocess_ms:.1f}, queue {t.queue_ms:.1f}, inference {t.inference_ms:.1f} "
                 f"in a batch of {t.batch_size})")
    return "\n".join(lines)


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    add_flag(parser, "--addr", default="127.0.0.1:50051", help="inference service address, host:port")
    add_flag(parser, "--timeout-s", type=float, default=30.0, help="deadline for each call, in seconds")
    add_flag(parser, "--tls-ca-file", default="", help="CA certificate (PEM): connect with TLS")
    add_flag(parser, "--tls-server-name", default="", help="name to check the server's certificate against")
    add_flag(parser, "--auth-token", default="", help="the server's shared token, if it requires one")


def _stub_call(args, call):
    """Runs call(stub, metadata) on a channel made from the connection flags; gRPC errors to stderr."""
    with make_channel(args.addr, tls_ca_file=args.tls_ca_file, tls_server_name=args.tls_server_name) as channel:
        try:
            return call(pb_grpc.ClassifierStub(channel), token_metadata(args.auth_token))
        except grpc.RpcError as exc:
            print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return None


def classify_main(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference_service.client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", type=Path, help="PNG, JPEG, WebP, ... to classify")
    parser.add_argument("--mask", type=Path, help="PNG of the same size: painted (non-zero alpha) pixels are hidden")
    parser.add_argument("--model", default="", help="model name (default: the server's default)")
    parser.add_argument("--fill", choices=sorted(FILLS), default="gray", help="what painted pixels become")
    parser.add_argument("--keep-painted", action="store_true", help="keep only the painted area instead")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--track", type=int, action="append", default=[], metavar="CLASS",
                        help="also print this class index's probability, whatever its rank (repeatable)")
    _connection_flags(parser)
    args = parser.parse_args(argv)
    request = pb.ClassifyRequest(image=args.image.read_bytes(), model=args.model, fill=FILLS[args.fill],
                                 keep_painted=args.keep_painted, top_k=args.top_k, track=args.track,
                                 mask=args.mask.read_bytes() if args.mask else b"")
    response = _stub_call(args, lambda stub, md: stub.Classify(request, timeout=args.timeout_s, metadata=md))
    if response is None:
        return 1
    print(format_table(response))
    return 0


def heat_png(m: pb.OcclusionMap, image: bytes) -> bytes:
    """The map over the photo's crop: red where hiding a region costs the class the most."""
    from PIL import Image, ImageOps

    photo = ImageOps.exif_transpose(Image.open(io.BytesIO(image))).convert("RGB")
    crop = photo.crop((round(m.crop_left), round(m.crop_top), round(m.crop_right), round(m.crop_bottom)))
    values = np.clip(np.array(m.drop, np.float32).reshape(m.rows, m.cols) / max(max(m.drop), 1e-6), 0, 1)
    heat = Image.fromarray((values * 255).astype(np.uint8)).resize(crop.size, Image.Resampling.BILINEAR)
    red = Image.new("RGB", crop.size, (230, 30, 30))
    out = Image.composite(red, crop, heat.point(lambda v: int(v * 0.7)))
    buffer = io.BytesIO()
    out.save(buffer, "PNG")
    return buffer.getvalue()


def explain_main(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference_service.client explain",
                                     description="Where the model looks: an occlusion map of IMAGE.")
    parser.add_argument("image", type=Path)
    parser.add_argument("--mask", type=Path, help="explain the image as masked by this PNG")
    parser.add_argument("--model", default="")
    parser.add_argument("--class", dest="class_index", type=int, help="class index (default: the top class)")
    parser.add_argument("--patch", type=int, default=0, help="patch size in model-input pixels (0: input / 8)")
    parser.add_argument("--stride", type=int, default=0, help="in model-input pixels (0: half the patch)")
    parser.add_argument("--fill", choices=sorted(FILLS), default="gray")
    parser.add_argument("--out", type=Path, help="write the map over the photo as a PNG")
    _connection_flags(parser)
    args = parser.parse_args(argv)
    image = args.image.read_bytes()
    request = pb.ExplainRequest(image=image, model=args.model, fill=FILLS[args.fill], patch_size=args.patch,
                                stride=args.stride, mask=args.mask.read_bytes() if args.mask else b"")
    if args.class_index is not None:
        request.class_index = args.class_index

    def run(stub, metadata):
        last = None
        for last in stub.Explain(request, timeout=args.timeout_s * 10, metadata=metadata):
            print(f"\r{last.done}/{last.total} occluded copies", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        return last.map

    m = _stub_call(args, run)
    if m is None:
        return 1
    values = np.array(m.drop).reshape(m.rows, m.cols)
    r, c = np.unravel_index(np.argmax(values), values.shape)
    print(f"{m.model}: {m.label} ({m.class_index}) at {m.base_probability * 100:.1f}%; {m.rows}x{m.cols} map from "
          f"{m.occluded_copies} copies (patch {m.patch_size}, stride {m.stride}); largest drop "
          f"{values.max() * 100:.1f} points at row {r}, column {c}")
    if args.out:
        args.out.write_bytes(heat_png(m, image))
        print(f"map written to {args.out}")
    return 0


def replay(session: sessions.Session, stub, metadata, model: str, timeout_s: float) -> sessions.Session:
    """Sends the session's photo and every step's mask to `model`; returns the session as it answered."""
    track = set(session.pinned)  # and the first step's top class, as the page tracks it
    if session.steps[0].predictions:
        track.add(session.steps[0].predictions[0]["class_index"])
    image_id, steps, answered_by = "", [], model
    for step in session.steps:
        # Bulk: nobody waits on one step of a replay, painters on the same server do.
        request = pb.ClassifyRequest(model=model or step.model, mask=step.mask, fill=FILLS[step.fill], top_k=5,
                                     track=sorted(track), keep_painted=step.keep_painted, priority=pb.PRIORITY_BULK)
        if image_id:
            request.image_id = image_id
        else:
            request.image = session.image
        response = stub.Classify(request, timeout=timeout_s, metadata=metadata)
        image_id, answered_by = response.image_id, response.model
        steps.append(sessions.Step(title=step.title, mask=step.mask, model=response.model, fill=step.fill,
                                   keep_painted=step.keep_painted, predictions=[
            {"class_index": p.class_index, "label": p.label, "probability": p.probability}
            for p in response.predictions], tracked=[
            {"class_index": p.class_index, "label": p.label, "probability": p.probability} for p in response.tracked]))
    return sessions.Session(image=session.image, image_name=session.image_name, model=answered_by, fill=session.fill,
                            keep_painted=session.keep_painted, steps=steps, pinned=session.pinned)


def replay_table(recorded: sessions.Session, replayed: sessions.Session) -> str:
    lines = [f"{'step':<22} {'recorded (' + (recorded.model or '?') + ')':<36} replayed ({replayed.model})"]
    for i, (a, b) in enumerate(zip(recorded.steps, replayed.steps)):
        def top(step):
            p = step.predictions[0] if step.predictions else None
            return f"{p['label']} {p['probability'] * 100:.1f}%" if p else "-"
        lines.append(f"{(str(i) + ' ' + a.title)[:22]:<22} {top(a):<36} {top(b)}")
    return "\n".join(lines)


def replay_main(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference_service.client replay",
                                     description="Replay a session exported from the page against any model.")
    parser.add_argument("session", type=Path, help="the session's JSON, as the page's Export saves it")
    parser.add_argument("--model", default="", help="model to replay against (default: each step's recorded model)")
    parser.add_argument("--json", type=Path, help="write the replayed session (JSON) here")
    parser.add_argument("--report", type=Path, help="write the replayed session's HTML report here")
    _connection_flags(parser)
    args = parser.parse_args(argv)
    try:
        recorded = sessions.parse(args.session.read_bytes())
    except (OSError, sessions.SessionError) as exc:
        print(f"error: {args.session}: {exc}", file=sys.stderr)
        return 2
    # Without --model, each step goes to the model that answered it when it was recorded.
    replayed = _stub_call(args, lambda stub, md: replay(recorded, stub, md, args.model, args.timeout_s))
    if replayed is None:
        return 1
    print(replay_table(recorded, replayed))
    if args.json:
        args.json.write_text(replayed.to_json())
    if args.report:
        args.report.write_text(sessions.render_html(replayed))
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"replay": replay_main, "explain": explain_main}
    if argv and argv[0] in commands:
        return commands[argv[0]](argv[1:])
    return classify_main(argv)


if __name__ == "__main__":
    sys.exit(main())
