"""Inference on any vocabulary: :class:`OVDInferencer` (mmdet's DetInferencer + a vocabulary),
:class:`ONNXInferencer` (an exported detector behind the same interface) and
:class:`FolderDemo` (either one over images and folders, writing drawings and detections)."""
from .detection_drawing import name_palette
from .folder_demo import FolderDemo, check_image, check_out_dir, list_images
from .onnx_inferencer import ONNXInferencer
from .ov_inferencer import OVDInferencer, open_vocabulary_heads

__all__ = ['FolderDemo', 'ONNXInferencer', 'OVDInferencer',
           'check_image', 'check_out_dir', 'list_images', 'name_palette',
           'open_vocabulary_heads']
