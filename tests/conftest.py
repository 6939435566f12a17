"""Shared test helpers: repository paths and running the project's command-line tools."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_tool(args, cwd=REPO, env=None, timeout=600, check=True):
    """Runs ``python <args>`` (or a shell script) from the repo root; returns the process.

    ``proc.stdout`` is the tool's output proper; ``proc.log`` is stdout followed by stderr
    (logs and progress bars), for assertions on the whole log.
    """
    full_env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable,
                    PYTHONWARNINGS='ignore')
    full_env.update(env or {})
    cmd = list(map(str, args))
    if cmd[0].endswith('.py'):
        cmd = [sys.executable] + cmd
    else:
        cmd = ['bash'] + cmd
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)
    proc.log = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} exited {proc.returncode}:\n{proc.log[-6000:]}')
    return proc


@pytest.fixture(scope='session')
def coco_fixture(tmp_path_factory):
    """A generated COCO-format dataset: its root folder (images/, annotations/)."""
    from ovdkit.testing import make_coco_fixture
    root = tmp_path_factory.mktemp('coco_fixture')
    make_coco_fixture(str(root), num_train=16, num_val=8)
    return root
