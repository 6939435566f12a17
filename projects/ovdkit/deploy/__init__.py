"""Deployment: ONNX export with the vocabulary as a graph input, onnxruntime inference."""
from .exportable_detector import ExportableOVDetector, decode_deltas
from .onnx_detector import ONNXDetector
from .onnx_export import export_onnx, sidecar_path

__all__ = ['ExportableOVDetector', 'ONNXDetector', 'decode_deltas', 'export_onnx', 'sidecar_path']
