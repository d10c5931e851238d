"""`python -m inference_service`: run the gRPC inference server (one process, or `--workers N`
front-ends feeding one model process)."""

import os

# numpy's matrix products here are small (a mask's change); OpenBLAS's own threads would only
# spin on the cores that onnxruntime needs. Must be set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import asyncio  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402

from inference_service.frontdoor.security import EXPOSED_WITHOUT_TOKEN, open_to_others  # noqa: E402
from inference_service.settings import build_parser, print_env  # noqa: E402

log = logging.getLogger("inference_service")


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.print_env:
        return print_env(parser, args, sys.argv[1:] if argv is None else list(argv))
    if open_to_others(args.host, args.auth_token) and not args.allow_unauthenticated:
        parser.error(EXPOSED_WITHOUT_TOKEN.format(host=args.host))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if open_to_others(args.host, args.auth_token):
        log.warning("serving %s with no token (--allow-unauthenticated): anyone who reaches the port can use "
                    "the service", args.host)
    if args.workers > 1:
        from inference_service.frontdoor import workers
        raise SystemExit(workers.run(args, sys.argv[1:] if argv is None else list(argv)))
    from inference_service.frontdoor.server import serve
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
