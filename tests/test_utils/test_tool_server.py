"""run_tool forks Python tools from one tool server per process (imports paid once), with the
semantics of a process of their own: environment, stdin, exit status, timeout, stderr."""
import os
import subprocess
import sys

import pytest

from ovdkit.testing import run_tool
from ovdkit.testing.tools import _shared_server

SCRIPT = '''
import os, sys
print('pid', os.getpid(), 'ppid', os.getppid())
print('env', os.environ.get('OVDKIT_TOOL_TEST'), os.environ.get('OMP_NUM_THREADS'))
print('stdin', repr(sys.stdin.read()))
print('argv', sys.argv[1:], 'main', __name__)
print('to stderr', file=sys.stderr)
if sys.argv[1:] == ['sleep']:
    import time
    time.sleep(60)
sys.exit(int(sys.argv[1]) if sys.argv[1:] and sys.argv[1].isdigit() else 0)
'''


@pytest.fixture
def script(tmp_path):
    path = tmp_path / 'tool.py'
    path.write_text(SCRIPT)
    return path


def test_a_tool_is_forked_from_the_server_with_the_callers_environment(script, monkeypatch):
    monkeypatch.setenv('OVDKIT_TOOL_TEST', 'set after the server started')
    server = _shared_server()
    proc = run_tool([script, 'a', 'b'], env=dict(OVDKIT_TOOL_TEST='given'))
    lines = proc.stdout.splitlines()
    assert lines[0].endswith(f'ppid {server.proc.pid}')  # forked by the server
    assert lines[1:] == ['env given 1', "stdin ''", "argv ['a', 'b'] main __main__"]
    assert proc.stderr == 'to stderr\n' and proc.log == proc.stdout + proc.stderr
    assert run_tool([script]).stdout.splitlines()[1] == 'env set after the server started 1'


def test_exit_status_and_check(script):
    assert run_tool([script, '3'], check=False).returncode == 3
    with pytest.raises(AssertionError, match=r'tool\.py 3 exited 3:\n'):
        run_tool([script, '3'])


def test_timeout_kills_the_tool_and_raises_like_subprocess(script):
    with pytest.raises(subprocess.TimeoutExpired) as info:
        run_tool([script, 'sleep'], timeout=1)
    assert 'argv' in info.value.output and info.value.timeout == 1
    assert run_tool([script]).returncode == 0  # the server goes on


def test_an_import_time_variable_gets_a_process_of_its_own(script):
    proc = run_tool([script], env=dict(OMP_NUM_THREADS='2'))
    assert proc.stdout.splitlines()[0].endswith(f'ppid {os.getpid()}')
    assert proc.stdout.splitlines()[1] == 'env None 2' and proc.args[0] == sys.executable
