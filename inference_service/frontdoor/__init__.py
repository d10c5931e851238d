"""The gRPC front door: the server and its servicer, the token check, a stop that takes in the
calls already sent, and the processes of a `--workers` server."""
