"""Runs OVDKit's command-line tools as forked processes of one interpreter that imported the
stack once (what multiprocessing's forkserver does): each command is its own process, started
from the tool's file with its argv and exiting with its status, without paying the imports.

Protocol (one JSON object a line): stdin ``{"args": ["tools/train.py", ...], "out": PATH,
"err": PATH, "env": {...}, "timeout": SECONDS or null}``; stdout ``{"returncode": N, "cpu":
SECONDS}`` once the command has ended (CPU: user + system time of the command's process and its
children, from ``os.wait4``), or ``{"timeout": true, "cpu": SECONDS}`` when it ran past
``timeout`` and its process group was killed. The command gets ``env`` as its whole environment
(variables read at import time, such as ``OMP_NUM_THREADS``, are those of the server) and
``/dev/null`` as stdin.
"""
import json
import os
import runpy
import signal
import sys
import time
import traceback

# The imports every tool makes; done here once, before any fork (no thread has started yet).
import lvis.eval  # noqa: F401,E402
import mmdet.apis  # noqa: F401
import mmengine.runner  # noqa: F401
import open_clip  # noqa: F401
import pycocotools.coco  # noqa: F401
import torch  # noqa: F401

import ovdkit  # noqa: F401


def run_child(args, out, err, env=None) -> int:
    """In the forked process: the tool as ``__main__`` with ``args``; its exit status."""
    os.setpgid(0, 0)  # its own process group: a timeout kills what it started too
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)  # the server's stdin is the protocol
    os.close(stdin)
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    sys.argv = list(args)
    code = 0
    try:
        runpy.run_path(args[0], run_name='__main__')
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001  (reported as Python would, status 1)
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def wait_child(pid: int, timeout=None) -> dict:
    """Waits for ``pid``; kills its process group once ``timeout`` seconds have passed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done, status, usage = os.wait4(pid, 0 if deadline is None else os.WNOHANG)
        if done:
            return dict(returncode=os.waitstatus_to_exitcode(status),
                        cpu=usage.ru_utime + usage.ru_stime)
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, _, usage = os.wait4(pid, 0)
            return dict(timeout=True, cpu=usage.ru_utime + usage.ru_stime)
        time.sleep(0.02)


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os._exit(run_child(request['args'], request['out'], request['err'],
                               request.get('env')))
        print(json.dumps(wait_child(pid, request.get('timeout'))), flush=True)


if __name__ == '__main__':
    main()
