"""Command-line client of the inference service.

    python -m inference_service.client IMAGE [--mask PNG] [--model M]       classify (a table)
    python -m inference_service.client explain IMAGE [--class N] [--out MAP.png]   occlusion map
    python -m inference_service.client search IMAGE [--keep] [--out TINTED.png]   what flips it / keeps it
    python -m inference_service.client folder DIR --search flip|keep | --rule R --out REPORT.html
    python -m inference_service.client replay SESSION.json [--model M] [--report R.html]
    python -m inference_service.client health                                 exit 0 when SERVING
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from maskscope import session as sessions
from maskscope.client import Client, ServiceError
from maskscope.fills import BY_NAME as FILLS
from maskscope.flags import add_flag
from maskscope.folder import RULES, check_rule, run_folder
from maskscope.photos import PhotoError, as_photo, mask_png


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    add_flag(parser, "--addr", default="127.0.0.1:50051", help="inference service address, host:port")
    add_flag(parser, "--timeout-s", type=float, default=30.0, help="deadline for each call, in seconds")
    add_flag(parser, "--tls-ca-file", default="", help="CA certificate (PEM): connect with TLS")
    add_flag(parser, "--tls-server-name", default="", help="name to check the server's certificate against")
    add_flag(parser, "--auth-token", default="", secret=True, help="the server's shared token, if it requires one")


def _client_call(args, call):
    """Runs call(client) on a Client made from the connection flags; errors to stderr, and None."""
    with Client(args.addr, timeout_s=args.timeout_s, tls_ca_file=args.tls_ca_file or None,
                tls_server_name=args.tls_server_name, auth_token=args.auth_token) as client:
        try:
            return call(client)
        except ServiceError as exc:
            print(f"error: {exc}", file=sys.stderr)
        except PhotoError as exc:  # refused before sending, as the server would have refused it
            print(f"error: INVALID_ARGUMENT: {exc}", file=sys.stderr)
        except OSError as exc:
            print(f"error: {exc}", file=sys.stderr)
    return None


def classify_main(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference_service.client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", type=Path, help="PNG, JPEG, WebP, ... to classify")
    parser.add_argument("--mask", type=Path, help="PNG of the same size: painted (non-zero alpha) pixels are hidden")
    parser.add_argument("--model", default="", help="model name (default: the server's default)")
    parser.add_argument("--fill", choices=sorted(FILLS), default="gray", help="what painted pixels become")
    parser.add_argument("--keep-painted", action="store_true", help="keep only the painted area instead")
    parser.add_argument("--top-k", type=int, default=0, help="classes to print (0: five, or all of a model with fewer)")
    parser.add_argument("--track", type=int, action="append", default=[], metavar="CLASS",
                        help="also print this class index's probability, whatever its rank (repeatable)")
    _connection_flags(parser)
    args = parser.parse_args(argv)
    result = _client_call(args, lambda client: client.classify(
        args.image, args.mask, fill=args.fill, keep_painted=args.keep_painted, model=args.model, top_k=args.top_k,
        track=args.track))
    if result is None:
        return 1
    print(result)
    return 0


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

    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total} occluded copies", end="\n" if done == total else "", file=sys.stderr, flush=True)

    explanation = _client_call(args, lambda client: client.explain(
        args.image, args.mask, class_index=args.class_index, fill=args.fill, model=args.model,
        patch_size=args.patch, stride=args.stride, progress=progress))
    if explanation is None:
        return 1
    print(explanation)
    if args.out:
        explanation.to_image().save(args.out, "PNG")
        print(f"map written to {args.out}")
    return 0


def replay(session: sessions.Session, client: Client, model: str) -> sessions.Session:
    """Sends the session's photo and every step's mask to `model`; returns the session as it answered."""
    recorded = recorded_labels(session)
    track = set(session.pinned)  # and the first step's top class, as the page tracks it
    if session.steps[0].predictions:
        track.add(session.steps[0].predictions[0]["class_index"])
    labels = {m.name: m.labels for m in client.models()} if model else {}
    photo, steps, answered_by = as_photo(session.image), [], model
    for step in session.steps:
        target = model or step.model
        # Another model may number its classes otherwise (or lack them): follow them by label there.
        follow = tracked_on(labels[target], recorded, track) if target in labels and target != step.model \
            else sorted(track)
        # Bulk: nobody waits on one step of a replay, painters on the same server do.
        result = client.classify(photo, step.mask or None, fill=step.fill, keep_painted=step.keep_painted,
                                 model=target, track=follow, bulk=True)
        answered_by = result.model
        steps.append(sessions.Step(title=step.title, mask=step.mask, model=result.model, fill=step.fill,
                                   keep_painted=step.keep_painted, predictions=[asdict(p) for p in result.predictions],
                                   tracked=[asdict(p) for p in result.tracked]))
    return sessions.Session(image=session.image, image_name=session.image_name, model=answered_by, fill=session.fill,
                            keep_painted=session.keep_painted, steps=steps, pinned=session.pinned)


def recorded_labels(session: sessions.Session) -> dict[int, str]:
    """Class index -> label, of every class the session's answers name."""
    return {p["class_index"]: p["label"] for step in session.steps for p in step.predictions + step.tracked}


def tracked_on(labels: tuple[str, ...], recorded: dict[int, str], track: set[int]) -> list[int]:
    """The recorded classes `track` as another model's class indices: the same index where that
    model gives it the same label (ImageNet's two cranes stay apart), else its first class of
    that label; a class it has no label for is not followed."""
    indices = set()
    for index in track:
        label = recorded.get(index)
        if index < len(labels) and labels[index] == label:
            indices.add(index)
        elif label in labels:
            indices.add(labels.index(label))
    return sorted(indices)


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
    replayed = _client_call(args, lambda client: replay(recorded, client, args.model))
    if replayed is None:
        return 1
    print(replay_table(recorded, replayed))
    if args.json:
        args.json.write_text(replayed.to_json())
    if args.report:
        args.report.write_text(sessions.render_html(replayed))
    return 0


def search_main(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference_service.client search",
                                     description="What flips it: the least area of regions whose hiding changes "
                                                 "the top class (--keep: that alone keeps it).")
    parser.add_argument("image", type=Path)
    parser.add_argument("--keep", action="store_true", help="what keeps it, everything else hidden")
    parser.add_argument("--mask", type=Path, help="hidden from the start (a PNG of the image's size)")
    parser.add_argument("--regions", type=Path, help="your own regions: an 8-bit PNG of region numbers (as Segments)")
    parser.add_argument("--model", default="")
    parser.add_argument("--class", dest="class_index", type=int, help="class index (default: the top class)")
    parser.add_argument("--fill", choices=sorted(FILLS), default="gray")
    parser.add_argument("--keep-share", type=float, default=0.0,
                        help="keep: the share of its probability the class must keep (0: 0.9)")
    parser.add_argument("--max-classifications", type=int, default=0, help="the search's budget (0: the server's)")
    parser.add_argument("--out", type=Path, help="write the photo with the hidden part darkened as a PNG")
    parser.add_argument("--mask-out", type=Path, help="write what is hidden as a mask PNG (to classify, or paint)")
    _connection_flags(parser)
    args = parser.parse_args(argv)

    def progress(done: int, budget: int) -> None:
        print(f"\r{done} classified (at most {budget})", end="", file=sys.stderr, flush=True)

    def call(client):
        regions = None
        if args.regions:
            from PIL import Image
            with Image.open(args.regions) as labels:
                regions = np.asarray(labels)
        return client.search(args.image, args.mask, goal="keep" if args.keep else "flip", class_index=args.class_index,
                             fill=args.fill, model=args.model, regions=regions, keep_share=args.keep_share,
                             max_classifications=args.max_classifications, progress=progress)

    found = _client_call(args, call)
    print(file=sys.stderr)
    if found is None:
        return 1
    print(found)
    if args.out:
        found.to_image().save(args.out, "PNG")
        print(f"photo written to {args.out}")
    if args.mask_out:
        args.mask_out.write_bytes(mask_png(found.hidden))
        print(f"mask written to {args.mask_out}")
    return 0


def folder_main(argv) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference_service.client folder",
                                     description="A search or a mask rule over every photo of a folder: one HTML "
                                                 "report, sorted by effect, with how often the class survives.")
    parser.add_argument("folder", type=Path)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--search", choices=("flip", "keep"), help="what flips (or keeps) each photo's class")
    what.add_argument("--rule", help=f"hide by a rule: {', '.join(RULES)} (the photo's own region N)")
    parser.add_argument("--out", type=Path, default=Path("maskscope-folder.html"), help="the report (HTML)")
    parser.add_argument("--model", default="")
    parser.add_argument("--fill", choices=sorted(FILLS), default="gray")
    parser.add_argument("--max-classifications", type=int, default=0, help="each search's budget (0: the server's)")
    parser.add_argument("--concurrency", type=int, default=8, help="photos in flight at once (1-64)")
    parser.add_argument("--bulk", action="store_true",
                        help="yield to painters on a shared server (slower on a CPU: bulk work runs a copy at a time)")
    _connection_flags(parser)
    args = parser.parse_args(argv)
    if args.rule is not None:
        try:
            check_rule(args.rule)
        except ValueError as exc:
            parser.error(str(exc))

    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total} photos", end="", file=sys.stderr, flush=True)

    try:
        run = _client_call(args, lambda client: run_folder(
            client, args.folder, search=args.search, rule=args.rule, model=args.model, fill=args.fill,
            max_classifications=args.max_classifications, concurrency=args.concurrency, bulk=args.bulk,
            progress=progress))
    except ValueError as exc:
        parser.error(str(exc))
    print(file=sys.stderr)
    if run is None:
        return 1
    print(run)
    print(f"report written to {run.save(args.out)}")
    return 0


def health_main(argv) -> int:
    """The container images' HEALTHCHECK: 0 when the service's gRPC health check says SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from maskscope.channel import make_channel, token_metadata
    parser = argparse.ArgumentParser(prog="python -m inference_service.client health",
                                     description=health_main.__doc__)
    _connection_flags(parser)
    args = parser.parse_args(argv)
    with make_channel(args.addr, tls_ca_file=args.tls_ca_file or None, tls_server_name=args.tls_server_name) as channel:
        try:
            status = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=args.timeout_s, metadata=token_metadata(args.auth_token)).status
        except grpc.RpcError as exc:
            print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    print(health_pb2.HealthCheckResponse.ServingStatus.Name(status))
    return 0 if status == health_pb2.HealthCheckResponse.SERVING else 1


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"replay": replay_main, "explain": explain_main, "search": search_main, "folder": folder_main,
                "health": health_main}
    if argv and argv[0] in commands:
        return commands[argv[0]](argv[1:])
    return classify_main(argv)


if __name__ == "__main__":
    sys.exit(main())
