"""Making a trained model smaller and faster: quantization, pruning, compile, ONNX, and the report (nnml accelerate)."""
