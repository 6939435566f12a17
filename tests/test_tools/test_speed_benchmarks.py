"""The speed benchmarks at fixture scale (tools/benchmark/real_scale.py, vild_step_time.py):
every section runs and reports its figures."""
import json

import pytest

from ovdkit.testing import run_tool


def test_real_scale_benchmark_reports_every_ratio(tmp_path):
    # 65 names: OV-COCO's configs against Faster R-CNN; 80: OV-LVIS's against Mask R-CNN
    proc = run_tool(['tools/benchmark/real_scale.py', '--names', '65,80', '--batch-sizes', '2',
                     '--rounds', '1', '--threads', '1', '--scale', '64,64', '--proposals', '20',
                     '--models', 'vild_text', '--work-dir', tmp_path], timeout=600)
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ('vild_text_over_faster_rcnn_65', 'vild_text_over_mask_rcnn_80',
                'onnx_over_torch_65', 'onnx_over_torch_80', 'per_image_batch_over_loop'):
        assert figures[key] > 0, key
    for model in ('faster_rcnn_65', 'vild_text_65', 'mask_rcnn_80', 'vild_text_80'):
        assert figures[f'ms_{model}_b2'] > 0 and f'ms_{model}_b1' not in figures
        # 20 proposals: at most 20 detections an image per name (the NMS is per name)
        names = int(model.rsplit('_', 1)[1])
        assert 0 <= figures[f'detections_{model}'] <= 20 * names
    assert figures['vild_text_over_mask_rcnn_80'] == round(
        figures['ms_vild_text_80_b2'] / figures['ms_mask_rcnn_80_b2'], 3)
    assert figures['scale'] == '64x64' and figures['threads'] == 1
    assert (tmp_path / 'ov-lvis_vild_text.py').is_file() and (tmp_path / 'vild_text.onnx').is_file()


@pytest.mark.parametrize('argv,message', [
    (['--names', '65,1'], 'every vocabulary size must be >= 2'),
    (['--models', 'vild_text,vild'], "--models: unknown ['vild']"),
    (['--scale', '64'], '--scale two sizes >= 32'),
])
def test_bad_arguments_are_named(argv, message):
    proc = run_tool(['tools/benchmark/real_scale.py', *argv], check=False, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr


@pytest.mark.parametrize('argv,image', [
    (['--batch-size', '2', '--regions', '4'], '128x128'),
    (['--real-scale', '--image-size', '128,192', '--regions', '8'], '192x128'),
])
def test_training_step_benchmark_times_the_three_models(argv, image):
    proc = run_tool(['tools/benchmark/vild_step_time.py', '--steps', '1', '--warmup', '0',
                     *argv], timeout=300)
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures['image'] == image and figures['real_scale'] == ('--real-scale' in argv)
    assert figures['batch_size'] == 2 and figures['steps'] == 1
    for key in ('ms_faster_rcnn', 'ms_vild_text', 'ms_vild'):
        assert figures[key] > 0
    assert figures['vild_over_faster_rcnn'] == pytest.approx(
        figures['ms_vild'] / figures['ms_faster_rcnn'], abs=2e-3)
