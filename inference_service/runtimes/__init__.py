"""Where the models run: onnxruntime on the CPU or a GPU, the loaded models and their metadata."""
