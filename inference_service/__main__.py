"""`python -m inference_service`: run the gRPC inference server."""

from inference_service.server import main

if __name__ == "__main__":
    main()
