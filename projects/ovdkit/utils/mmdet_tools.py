"""Runs mmdet's own command-line tools (shipped inside the mmdet package) with OVDKit loaded.

OVDKit's ``tools/train.py`` and ``tools/test.py`` are these tools, not forks of them: the CLI is
mmdet's, option for option. Two things are added before the tool starts: ``import ovdkit``
(registries and the checkpoint allow-list) and, for ``--launcher pytorch|slurm|mpi`` on a machine
without CUDA, :func:`enable_cpu_distributed`. ``--cfg-options`` are checked against the config
first (:func:`~ovdkit.utils.config_variables.check_cfg_options`), and an
:class:`~ovdkit.utils.config_variables.OVDConfigError` (a setting that cannot work as given)
ends the tool with one ``error:`` line and exit status 2 instead of a traceback; a
:class:`ToolRunError` (a run that finished without a usable result) with one ``error:`` line
and exit status 1. The tool scripts pass their own input checks, the errors they report as one
line, and a context to run in (``tools/test.py``: strict checkpoints, no empty evaluation).
"""
import argparse
import contextlib
import os
import runpy
import sys
from pathlib import Path
from typing import Callable, ContextManager, List, Optional, Sequence, Tuple, Type

import torch

from .config_variables import OVDConfigError, check_cfg_options


class ToolRunError(RuntimeError):
    """A tool run that ended without a usable result (exit status 1, one ``error:`` line)."""


def mmdet_tool_path(name: str) -> Path:
    """Returns the path of one of mmdet's tools, e.g. ``'train.py'``.

    Raises:
        FileNotFoundError: if the installed mmdet does not ship it (mmdet installed without
            its ``.mim`` files).
    """
    import mmdet
    path = Path(mmdet.__file__).parent / '.mim' / 'tools' / name
    if not path.is_file():
        raise FileNotFoundError(f'mmdet {mmdet.__version__} at {path.parent.parent.parent} '
                                f'does not ship tools/{name}; reinstall mmdet from its wheel')
    return path


def _launcher(argv: Sequence[str]) -> str:
    for i, arg in enumerate(argv):
        if arg == '--launcher' and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith('--launcher='):
            return arg.split('=', 1)[1]
    return 'none'


def enable_cpu_distributed() -> None:
    """Makes mmengine's ``pytorch`` launcher work on CPU-only machines.

    mmengine 0.10.7 calls ``torch.cuda.set_device(LOCAL_RANK)`` before it initialises the
    process group, and wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both fail without
    CUDA. Here the process group uses gloo (nccl needs GPUs) and CPU modules get DDP without
    device ids. Only called when CUDA is unavailable, and it says so on stderr.
    """
    import mmengine.dist.utils as dist_utils
    from mmengine.model import MMDistributedDataParallel

    def init_dist_pytorch_cpu(backend: str, init_backend: str = 'torch', **kwargs) -> None:
        if backend != 'gloo':
            print(f'[ovdkit] no CUDA device: process group backend {backend!r} -> \'gloo\'',
                  file=sys.stderr)
        torch.distributed.init_process_group(backend='gloo', **kwargs)

    original_init = MMDistributedDataParallel.__init__

    def ddp_init(self, module, detect_anomalous_params: bool = False, **kwargs):
        if all(p.device.type == 'cpu' for p in module.parameters()):
            kwargs.pop('device_ids', None)  # torch's DDP rejects device ids for CPU modules
        original_init(self, module, detect_anomalous_params=detect_anomalous_params, **kwargs)

    original_slurm = dist_utils._init_dist_slurm

    def init_dist_slurm_cpu(backend: str, port=None, init_backend: str = 'torch',
                            **kwargs) -> None:
        # mmengine's slurm set-up (ranks and master address from SLURM_*) minus its
        # torch.cuda.set_device(SLURM_LOCALID): there is no device to select.
        set_device = torch.cuda.set_device
        torch.cuda.set_device = lambda device: None
        try:
            original_slurm('gloo', port=port, init_backend=init_backend, **kwargs)
        finally:
            torch.cuda.set_device = set_device

    dist_utils._init_dist_pytorch = init_dist_pytorch_cpu
    dist_utils._init_dist_slurm = init_dist_slurm_cpu
    MMDistributedDataParallel.__init__ = ddp_init
    print(f'[ovdkit] no CUDA device: rank {os.environ.get("RANK", "?")} trains on CPU',
          file=sys.stderr)


def init_tool_distributed(launcher: str) -> None:
    """Joins the process group of a ``--launcher pytorch|slurm|mpi`` run (nothing for ``none``).

    GPUs: nccl, one rank per device (mmengine picks ``LOCAL_RANK``'s). No CUDA: gloo on CPU
    (:func:`enable_cpu_distributed`), one thread per rank: ranks that each take every core
    slow one another several times over.
    """
    if launcher == 'none':
        return
    from mmengine.dist import init_dist
    if not torch.cuda.is_available():
        torch.set_num_threads(1)
        enable_cpu_distributed()
    init_dist(launcher, backend='nccl' if torch.cuda.is_available() else 'gloo')


def finish_tool_distributed() -> None:
    """Leaves the process group joined by :func:`init_tool_distributed`, if any.

    A rank that exits with the group still open can abort at interpreter exit ("terminate
    called without an active exception": gloo's threads are destroyed while running) after
    its work is done, failing the launcher although every file was written.
    """
    import torch.distributed as torch_dist
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def check_tool_cfg_options(argv: Sequence[str]) -> None:
    """Runs :func:`check_cfg_options` on the config and ``--cfg-options`` of a tool's argv."""
    from mmengine.config import Config, DictAction

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('config', nargs='?')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args, _ = parser.parse_known_args(list(argv))
    if args.config and args.cfg_options and Path(args.config).is_file():
        check_cfg_options(Config.fromfile(args.config), args.cfg_options)


def run_mmdet_tool(name: str, argv: List[str],
                   check_inputs: Optional[Callable[[str, Sequence[str]], None]] = None,
                   context: Optional[ContextManager] = None,
                   user_errors: Tuple[Type[BaseException], ...] = ()) -> None:
    """Runs ``mmdet/.mim/tools/<name>`` as ``__main__`` with the given arguments.

    Args:
        name: Tool file name, e.g. ``'train.py'`` or ``'test.py'``.
        argv: Command-line arguments after the program name.
        check_inputs: Called as ``check_inputs(name, argv)`` before the tool starts; raises
            :class:`OVDConfigError` for an input that cannot work.
        context: Entered around the tool's run.
        user_errors: Other exception types that mean bad input (a missing file, weights that
            cannot be loaded...): reported as one ``error:`` line, exit status 2.
    """
    # OVDKit's modules and checkpoint allow-list are registered: importing this module
    # imported the ovdkit package (its __init__ does both).
    if _launcher(argv) != 'none' and not torch.cuda.is_available():
        enable_cpu_distributed()
    path = mmdet_tool_path(name)
    try:
        check_tool_cfg_options(argv)
        if check_inputs is not None:
            check_inputs(name, argv)
        sys.argv = [str(path), *argv]
        with context if context is not None else contextlib.nullcontext():
            runpy.run_path(str(path), run_name='__main__')
        # mmdet's tools leave a launcher's process group open; closed here, no rank aborts
        # at exit after its work is done.
        finish_tool_distributed()
    except (OVDConfigError, *user_errors) as exc:
        print(f'error: {one_line(exc)}', file=sys.stderr)
        sys.exit(2)
    except ToolRunError as exc:
        print(f'error: {one_line(exc)}', file=sys.stderr)
        sys.exit(1)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (a ``KeyError``'s without its quotes)."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return ' '.join(str(text).split()) or type(exc).__name__
