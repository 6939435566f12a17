"""tools/webdemo.py as a command: --help, no `make demo` output, the toy world's model served
with no arguments (named without server paths), Ctrl-C."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2

from ovdkit.testing import REPO, run_tool
from ovdkit.testing.detectors import build_checkpoint, toy_scenes
from ovdkit.testing.webdemo_fixtures import request
from ovdkit.toyworld.detector_runs import method_config

NAMES = ['red star', 'blue circle', 'green cross', 'yellow heart']


def test_help_says_what_host_0000_means():
    proc = run_tool(['tools/webdemo.py', '--help'])
    text = ' '.join(proc.stdout.split())
    assert '--host 0.0.0.0 is an explicit choice that exposes the server' in text
    assert '(default 127.0.0.1)' in text
    assert '`make demo`' in text
    assert ("--max-cached-vocabularies MAX_CACHED_VOCABULARIES typed vocabularies whose text "
            "embeddings stay in the embedding cache on disk; beyond it the least recently used "
            "one's files are deleted (default 32") in text


def test_without_make_demo_it_says_to_run_it(tmp_path):
    for toyworld in (tmp_path / 'none', tmp_path):
        (tmp_path / 'vild-ensemble').mkdir(exist_ok=True)  # a run dir with no checkpoint
        proc = run_tool(['tools/webdemo.py', '--toyworld-dir', toyworld], check=False)
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines()[-1] == (
            f'error: no trained toy-world vild-ensemble model in {toyworld / "vild-ensemble"} '
            f'(--toyworld-dir {toyworld}): run `make demo` first, or give --config and '
            f'--checkpoint')
    proc = run_tool(['tools/webdemo.py', '--config', 'c.py'], check=False)
    assert proc.returncode == 2 and 'give both --config and --checkpoint' in proc.stderr


def fake_toy_world(work: Path) -> Path:
    """The files `make demo` leaves that the web demo reads, at fixture scale: a random tiny
    CLIP, a random ViLD-ensemble checkpoint of the shipped config (in a folder since moved:
    ``last_checkpoint`` names the old place), the class lists and validation images."""
    build = work / 'build'
    build.mkdir()
    config = method_config(str(REPO / 'configs' / 'toyworld'), 'vild-ensemble')
    _, checkpoint = build_checkpoint(config, build)
    world = work / 'toyworld'
    (world / 'clip').mkdir(parents=True)
    shutil.copy(build / 'clip.pt', world / 'clip' / 'toyclip.pt')
    run = world / 'vild-ensemble'
    run.mkdir()
    shutil.copy(checkpoint, run / 'iter_2.pth')
    shutil.copy(checkpoint, run / 'iter_10.pth')
    (run / 'last_checkpoint').write_text('/elsewhere/toyworld/vild-ensemble/iter_10.pth')
    annotations = world / 'world' / 'annotations'
    annotations.mkdir(parents=True)
    (annotations / 'base_classes.txt').write_text('\n'.join(NAMES[:2]) + '\n')
    (annotations / 'all_classes.txt').write_text('\n'.join(NAMES) + '\n')
    val = world / 'world' / 'images' / 'val'
    val.mkdir(parents=True)
    for i, image in enumerate(toy_scenes(14)):
        cv2.imwrite(str(val / f'{i + 1:06d}.png'), image)
    return world


def test_toy_world_served_with_no_arguments_until_ctrl_c(tmp_path):
    world = fake_toy_world(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    proc = subprocess.Popen([sys.executable, 'tools/webdemo.py', '--toyworld-dir', str(world),
                             '--port', '0', '--quiet'], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # until it serves (mmengine prints before) or ends
            if line.startswith('serving'):
                break
        else:
            raise AssertionError(f'the server ended: {proc.stderr.read()[-3000:]}')
        assert line.startswith('serving toy world vild-ensemble ('), line
        assert f'{world / "vild-ensemble" / "iter_10.pth"}) on http://127.0.0.1:' in line
        assert line.rstrip().endswith('/ (this machine only); Ctrl-C stops')
        url = line.split(' on ')[1].split(' ')[0]
        status, info = request(url + 'api/info')
        assert status == 200
        # visitors see the model's name, no server path (the console line above has it)
        assert info['model'] == 'toy world vild-ensemble'
        assert str(tmp_path) not in json.dumps(info) and 'iter_10' not in json.dumps(info)
        assert info['vocabulary'] == ', '.join(NAMES)
        assert info['examples'] == [f'{i:06d}.png' for i in range(1, 13)]  # the first 12
        status, result = request(url + 'api/detect', dict(
            example='000003.png', vocabulary='yellow heart, zebra', score_thr=0.0))
        assert status == 200, result
        assert result['vocabulary'] == ['yellow heart', 'zebra'] and result['detections']
        assert {d['name'] for d in result['detections']} <= {'yellow heart', 'zebra'}
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert out.strip().splitlines()[-1] == 'stopped after 1 detections'
    assert 'Traceback' not in err
    # the vocabulary of all names was embedded at start, in the world's cache
    assert list((world / 'embeddings').glob('*.pt'))
