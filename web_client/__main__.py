"""`python -m web_client --port 8000 --inference-addr 127.0.0.1:50051`: serve the page."""

from __future__ import annotations

import argparse
import logging

from werkzeug.serving import make_server

from maskscope.flags import add_flag


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m web_client", description="Maskscope's web page.")
    add_flag(parser, "--host", default="127.0.0.1", help="address to bind; 0.0.0.0 to serve other machines")
    add_flag(parser, "--port", type=int, default=8000, help="HTTP port (0: pick a free one and print it)")
    add_flag(parser, "--inference-addr", default="127.0.0.1:50051", help="the inference service, host:port")
    add_flag(parser, "--inference-tls-ca-file", default="", help="CA certificate (PEM): reach the service over TLS")
    add_flag(parser, "--inference-tls-server-name", default="", help="name to check the service's certificate against")
    add_flag(parser, "--inference-auth-token", default="", help="the inference service's shared token, if any")
    add_flag(parser, "--max-upload-mb", type=float, default=16, help="largest upload, in MiB")
    add_flag(parser, "--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from web_client import create_app
    app = create_app({"INFERENCE_ADDR": args.inference_addr,
                      "INFERENCE_TLS_CA_FILE": args.inference_tls_ca_file,
                      "INFERENCE_TLS_SERVER_NAME": args.inference_tls_server_name,
                      "INFERENCE_AUTH_TOKEN": args.inference_auth_token,
                      "MAX_CONTENT_LENGTH": int(args.max_upload_mb * (1 << 20))})
    # A threaded server (never debug mode): each WebSocket holds a thread for its painting session.
    server = make_server(args.host, args.port, app, threaded=True)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Maskscope web page on http://{host}:{server.server_port}/ "
          f"(inference service {args.inference_addr})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
