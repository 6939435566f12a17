"""Running the repository's command-line tools from tests: one process a command
(:func:`run_tool`), or forked from one interpreter that imported the stack once
(:class:`ToolServer`)."""
import atexit
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: The repository root (``ovdkit`` is installed from ``projects/ovdkit`` in editable mode).
REPO = Path(__file__).resolve().parents[3]
#: The smoke config: a Faster R-CNN R-18 FPN on :func:`ovdkit.testing.make_coco_fixture` data.
SMOKE_CONFIG = 'configs/smoke/faster-rcnn_r18_fpn_1xb4-40i_coco-fixture.py'
#: The image scale the real-data configs are run at on fixtures (``Resize`` options).
FIXTURE_SCALE = (128, 96)


#: Variables the stack reads when it is imported: a command that sets them to other values
#: than the tool server's runs as its own interpreter.
IMPORT_TIME_VARIABLES = ('PYTHONPATH', 'PYTHONHOME', 'PYTHONWARNINGS', 'OMP_NUM_THREADS',
                         'MKL_NUM_THREADS')
_SHARED_SERVER = {}


def load_tool(path: str):
    """A tool of the repository (``'tools/demo.py'``) imported as a module, so that a test
    calls its functions (``main(argv)``) in this process."""
    spec = importlib.util.spec_from_file_location(
        'ovdkit_tool_' + path.replace('/', '_')[:-3], REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(args, cwd=REPO, env=None, timeout=600, check=True):
    """Runs ``python <args>`` (or a shell script) from the repo root; returns the process.

    ``proc.stdout`` is the tool's output proper; ``proc.log`` is stdout followed by stderr
    (logs and progress bars), for assertions on the whole log. A Python tool run from the repo
    root is forked from this process's :class:`ToolServer` (one per process, started on first
    use: no command pays the stack's imports again), with the environment it would have had;
    one that changes an import-time variable (:data:`IMPORT_TIME_VARIABLES`), a shell script,
    or another ``cwd`` gets a process of its own. A command past ``timeout`` raises
    ``subprocess.TimeoutExpired`` either way.
    """
    full_env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable,
                    PYTHONWARNINGS='ignore')
    full_env.update(env or {})
    cmd = list(map(str, args))
    server = _shared_server() if cmd[0].endswith('.py') else None
    if server and Path(cwd).resolve() == REPO.resolve() and all(
            full_env.get(k) == server.env.get(k) for k in IMPORT_TIME_VARIABLES):
        proc = server.run(cmd, env=full_env, timeout=timeout)
    else:
        cmd = ([sys.executable] if cmd[0].endswith('.py') else ['bash']) + cmd
        proc = subprocess.run(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)
        proc.log = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f'{" ".join(map(str, proc.args))} exited {proc.returncode}:\n'
                             f'{proc.log[-6000:]}')
    return proc


def _server_env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')


def _shared_server() -> 'ToolServer':
    """This process's tool server (a new one after a fork or once it has exited)."""
    server = _SHARED_SERVER.get(os.getpid())
    if server is None or server.proc.poll() is not None:
        server = ToolServer(Path(tempfile.mkdtemp(prefix='ovdkit_tool_server_')))
        _SHARED_SERVER[os.getpid()] = server
        atexit.register(server.close)
    return server


def fixture_data_options(root):
    """``--cfg-options`` pointing the smoke config's loaders and evaluators at ``root``."""
    return [f'train_dataloader.dataset.data_root={root}/',
            f'val_dataloader.dataset.data_root={root}/',
            f'test_dataloader.dataset.data_root={root}/',
            f'val_evaluator.ann_file={root}/annotations/instances_val.json',
            f'test_evaluator.ann_file={root}/annotations/instances_val.json']


def config_pipelines(cfg):
    """(dotted key, pipeline list) of every dataset of the config's dataloaders, wrapped
    (``dataset``) or concatenated (``datasets``) ones included."""
    def walk(key, dataset):
        if 'pipeline' in dataset:
            yield key + '.pipeline', dataset['pipeline']
        elif 'datasets' in dataset:
            for i, part in enumerate(dataset['datasets']):
                yield from walk(f'{key}.datasets.{i}', part)
        else:
            yield from walk(key + '.dataset', dataset['dataset'])

    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        yield from walk(f'{loader}.dataset', cfg[loader]['dataset'])


class ToolServer:
    """A ``tool_forkserver.py`` process: runs one command at a time as a forked process."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.count = 0
        self.lock = threading.Lock()  # one command at a time
        self.env = _server_env()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name('tool_forkserver.py'))], cwd=REPO,
            env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, args, env=None, timeout=None) -> 'ToolStep':
        """Runs ``python <args>`` (``env``: its whole environment, default the server's);
        raises ``subprocess.TimeoutExpired`` once it has run ``timeout`` seconds (killed with
        what it started)."""
        with self.lock:
            self.count += 1
            out, err = (self.work / f'{id(self)}_{self.count}.{k}' for k in ('out', 'err'))
            start = time.monotonic()
            self.proc.stdin.write(json.dumps(dict(
                args=[str(a) for a in args], out=str(out), err=str(err), env=env,
                timeout=timeout)) + '\n')
            self.proc.stdin.flush()
            reply = json.loads(self.proc.stdout.readline())
        stdout, stderr = out.read_text(), err.read_text()
        out.unlink()
        err.unlink()
        if reply.get('timeout'):
            raise subprocess.TimeoutExpired(['python'] + [str(a) for a in args], timeout,
                                            output=stdout, stderr=stderr)
        return ToolStep(args, reply['returncode'], stdout, stderr,
                        time.monotonic() - start, reply['cpu'])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


class ToolStep:
    """One command's outcome: ``args`` (``python`` first, as typed), ``returncode``, ``stdout``,
    ``stderr``, ``log`` (stdout + stderr), and its ``wall`` / ``cpu`` seconds (user + system
    time of its process and children)."""

    def __init__(self, args, returncode, stdout, stderr, wall, cpu) -> None:
        self.args = ['python'] + [str(a) for a in args]
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        self.log = stdout + stderr
        self.wall, self.cpu = wall, cpu

    def __str__(self) -> str:
        return ' '.join(self.args[1:])
