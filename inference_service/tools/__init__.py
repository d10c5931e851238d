"""Model tools beside `python -m inference_service.export`: importing any ONNX classifier, writing
a Triton repository."""
