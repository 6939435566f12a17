#!/usr/bin/env python
"""Exports a ViLD-text / ViLD / ViLD-ensemble detector to ONNX with the vocabulary as an input.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT --out model.onnx [--opset 17]
        [--absolute-paths] [--cfg-options KEY=VALUE ...]

Writes model.onnx and model.json (what the graph expects: the CLIP model and weights id of the
embeddings, D, the training vocabulary, the input pipeline and normalisation, score threshold,
NMS and max detections); the CLIP weights file and the embedding cache are recorded relative to
model.json (a folder with the model, CLIP file and cache runs wherever it is copied), or
absolute with --absolute-paths. Run it with ovdkit.deploy.ONNXDetector or
tools/demo.py --onnx model.onnx. Prints the graph's inputs and outputs; the last stdout line
is a JSON object. The checkpoint loads strictly: a missing, unexpected or mis-shaped weight is
an error naming the first keys. Exit status 2 on a setup error (one line naming the culprit).
"""
import argparse
import json
import sys

from mmengine.config import DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--out', required=True, help='the .onnx file (sidecar .json beside it)')
    p.add_argument('--opset', type=int, default=17, help='ONNX opset (>= 16)')
    p.add_argument('--absolute-paths', action='store_true',
                   help='record the CLIP weights file and the embedding cache folder as '
                        'absolute paths (default: relative to the sidecar)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='config overrides, as in tools/test.py')
    return p.parse_args(argv)


def describe(value) -> str:
    """``input 'image': float32 [1, 3, height, width]`` for a graph input or output."""
    import onnx
    dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
    return f"'{value.name}': {dtype} [{', '.join(map(str, dims))}]"


def main(argv=None) -> int:
    args = parse_args(argv)
    import onnx

    from ovdkit.deploy import export_onnx
    from ovdkit.utils.strict_checkpoint import check_checkpoint_file
    try:
        check_checkpoint_file(args.checkpoint)  # a truncated file: before the model is built
        meta = export_onnx(args.config, args.checkpoint, args.out, opset=args.opset,
                           cfg_options=args.cfg_options, absolute_paths=args.absolute_paths)
    except (FileNotFoundError, TypeError, ValueError) as exc:
        print(f'export_onnx: error: {exc}', file=sys.stderr)
        return 2
    graph = onnx.load(args.out).graph
    for value in graph.input:
        print(f'input {describe(value)}')
    for value in graph.output:
        print(f'output {describe(value)}')
    print(json.dumps(dict(onnx=args.out, inputs=[v.name for v in graph.input],
                          outputs=[v.name for v in graph.output], opset=meta['opset'],
                          clip_model=meta['clip_model'], clip_weights_id=meta['clip_weights_id'],
                          embed_dim=meta['embed_dim'], ensemble=meta['ensemble'] is not None)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
