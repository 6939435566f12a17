"""Trains and evaluates toy-world detector configs (mmengine Runner), one process per job.

Each method is an ordinary config (``configs/toyworld/`` in the repository, found through an
explicit folder); a job points its paths (world, CLIP checkpoint, embedding cache, region
store, work dir) at the caller's files, exactly what ``--cfg-options`` would do on the
command line. A job is a plain description (:class:`DetectorJob`); :func:`run_jobs` runs
several side by side in subprocesses, each with an equal share of the CPU threads: small
detectors make more training steps per second as one-thread processes side by side than as one
process with all the threads. Nothing here knows the pipeline.
"""
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..utils.atomic_io import write_json_atomic
from .detection_pictures import draw_examples

#: Method name -> config file name, in the order the demo reports them.
METHOD_CONFIGS = {
    'vild-text': 'vild-text_r18_fpn_1xb8-300i_toyworld.py',
    'vild': 'vild_r18_fpn_1xb8-300i_toyworld.py',
    'vild-ensemble': 'vild-ensemble_r18_fpn_1xb8-300i_toyworld.py',
    'grounding': 'grounding_r18_fpn_1xb8-300i_toyworld.py',
}
#: The shared base detector (a closed-vocabulary Faster R-CNN on base boxes) and its config.
BASE_DETECTOR = 'base-detector'
BASE_DETECTOR_CONFIG = 'faster-rcnn_r18_fpn_1xb8-1500i_toyworld-base.py'
#: Methods that distil CLIP regions (they need the region store).
REGION_METHODS = ('vild', 'vild-ensemble')


def method_config(config_dir: str, method: str) -> str:
    """Path of ``method``'s config in ``config_dir``.

    Raises:
        ValueError: unknown method (lists the known ones).
        FileNotFoundError: the config is not in ``config_dir`` (names both).
    """
    names = dict(METHOD_CONFIGS, **{BASE_DETECTOR: BASE_DETECTOR_CONFIG})
    if method not in names:
        raise ValueError(f'unknown toy-world method {method!r}; available: '
                         f'{", ".join(names)}')
    path = Path(config_dir) / names[method]
    if not path.is_file():
        raise FileNotFoundError(f'config_dir {config_dir}: no {names[method]} '
                                f'(the toy-world configs, configs/toyworld/ in the repository)')
    return str(path)


def toyworld_cfg_options(world_dir: str, clip_path: Optional[str], embedding_dir: Optional[str],
                         out_dir: str, region_store: Optional[str] = None,
                         num_base_classes: Optional[int] = None) -> Dict[str, object]:
    """``--cfg-options`` that point a toy-world config at one world, CLIP and work dir.

    ``clip_path`` ``None``: a closed-vocabulary config (the base detector), whose linear
    classifier gets ``num_base_classes`` outputs instead of a vocabulary."""
    world = f'{world_dir}/'
    head = 'model.roi_head.bbox_head.'
    options = {
        'work_dir': str(out_dir),
        'train_dataloader.dataset.data_root': world,
        'val_dataloader.dataset.data_root': world,
        'test_dataloader.dataset.data_root': world,
        'val_evaluator.ann_file': f'{world}annotations/val.json',
        'test_evaluator.ann_file': f'{world}annotations/val.json',
    }
    if clip_path is None:
        if num_base_classes is not None:
            options[head + 'num_classes'] = int(num_base_classes)
    else:
        options.update({
            head + 'vocabulary.classes': f'{world}annotations/base_classes.txt',
            head + 'vocabulary.pretrained': str(clip_path),
            head + 'vocabulary.cache_dir': str(embedding_dir),
            head + 'test_vocabulary.classes': f'{world}annotations/all_classes.txt',
        })
    if region_store is not None:
        options['region_store'] = str(region_store)
    return options


def set_max_iters(cfg, max_iters: int) -> None:
    """Sets the schedule's length, every scheduler stretched or shrunk in proportion (a
    50-iteration warm-up of 800 is 31 of 500; a cosine still ends at its floor), and the one
    checkpoint is the last one."""
    old = cfg.train_cfg.max_iters
    cfg.train_cfg.max_iters = max_iters
    for sched in cfg.get('param_scheduler', []):
        begin = min(max_iters - 1, round(sched.get('begin', 0) * max_iters / old))
        end = max(begin + 1, round(sched.get('end', old) * max_iters / old))
        sched.update(begin=begin, end=end)
        if 'T_max' in sched:
            sched['T_max'] = end - begin
    cfg.default_hooks.checkpoint.interval = max_iters


def load_job_config(config: str, cfg_options: Dict, max_iters: Optional[int] = None,
                    snapshot_iter: Optional[int] = None):
    """The job's mmengine ``Config``: the file, the options, the schedule length, the region
    store set in every ``LoadCLIPRegions`` (its pipeline was built from the file's variable
    before the option could change it) and, with ``snapshot_iter``, a checkpoint also kept at
    that iteration (``iter_<snapshot_iter>.pth`` beside the last one)."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    options = dict(cfg_options)
    store = options.pop('region_store', None)
    cfg.merge_from_dict(options)
    if max_iters:
        set_max_iters(cfg, max_iters)
    cfg.train_cfg.val_begin = cfg.train_cfg.max_iters + 1  # evaluated once, by the test loop
    if snapshot_iter:
        last = cfg.train_cfg.max_iters
        if not 0 < snapshot_iter < last:
            raise ValueError(f'{config}: snapshot_iter must be in [1, {last - 1}] (max_iters '
                             f'{last}), got {snapshot_iter}')
        # Saved every snapshot_iter iterations and at the end; every one of them kept.
        cfg.default_hooks.checkpoint.update(interval=snapshot_iter,
                                            max_keep_ckpts=last // snapshot_iter + 1)
    if store is not None:
        dataset = cfg.train_dataloader.dataset
        # with image labels, the box-labelled dataset is the first of a concatenation
        for transform in (dataset.datasets[0] if 'datasets' in dataset else dataset).pipeline:
            if transform['type'] == 'LoadCLIPRegions':
                transform['store'] = store
    return cfg


@dataclasses.dataclass
class DetectorJob:
    """One detector to train on base boxes and test on every category.

    Args:
        method: Name reported with the result.
        config: Config file.
        cfg_options: Overrides (see :func:`toyworld_cfg_options`).
        out_dir: Work dir of the run (``result.json``, checkpoint, logs, pictures).
        max_iters: Training iterations; ``None`` keeps the config's schedule.
        inputs: JSON-ready provenance (world spec, CLIP weights id, region store...): with
            the resolved config it makes the digest that decides whether a rerun is skipped.
        synonym_classes: A vocabulary file of the same classes with synonyms
            (``red square|red box``): the trained detector is tested on it too, after the
            test on the config's vocabulary (``*_ap50_synonyms`` in the result).
        snapshot_iter: An iteration whose checkpoint is kept too (``iter_<n>.pth``), for
            work that can start before the job ends (:meth:`RunningJobs.wait_for_checkpoint`).
    """

    method: str
    config: str
    cfg_options: Dict
    out_dir: str
    max_iters: Optional[int] = None
    inputs: List = dataclasses.field(default_factory=list)
    synonym_classes: Optional[str] = None
    snapshot_iter: Optional[int] = None

    @property
    def result_path(self) -> Path:
        return Path(self.out_dir) / 'result.json'

    def digest(self) -> str:
        """Digest of the resolved config and the provenance."""
        cfg = load_job_config(self.config, self.cfg_options, self.max_iters, self.snapshot_iter)
        # The config's values as JSON, not its pretty_text: yapf's formatting is slow, and it
        # would be paid for every job before the jobs start and twice more in each job.
        described = [self.inputs, json.dumps(cfg.to_dict(), sort_keys=True, default=repr)]
        if self.synonym_classes:  # left out otherwise: runs without synonyms keep their digest
            described.append(self.synonym_classes)
        text = json.dumps(described, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def finished_result(self) -> Optional[Dict]:
        """The stored result when it was made from the same inputs, else ``None``."""
        if not self.result_path.is_file():
            return None
        previous = json.loads(self.result_path.read_text())
        return previous if previous.get('inputs_digest') == self.digest() else None


def run_job(job: DetectorJob) -> Dict:
    """Trains and tests ``job`` in this process (skipped when its result is up to date).

    Returns:
        ``novel_ap50`` / ``base_ap50`` / ``all_ap50`` (percent), iterations, seconds of
        training and of testing, checkpoint, pictures, config and inputs digest.
    """
    from mmengine.runner import Runner

    from ..utils.formatted_once_config import FormattedOnceConfig
    finished = job.finished_result()
    if finished is not None:
        return finished
    cfg = load_job_config(job.config, job.cfg_options, job.max_iters, job.snapshot_iter)
    out_dir = Path(job.out_dir)
    max_iters = cfg.train_cfg.max_iters
    # CPU seconds next to wall seconds: on a shared machine only the former says what the
    # step costs.
    start, cpu_start = time.perf_counter(), time.process_time()
    runner = Runner.from_cfg(FormattedOnceConfig.of(cfg))
    runner.train()
    trained, cpu_trained = time.perf_counter(), time.process_time()
    metrics = runner.test()
    tested, cpu_tested = time.perf_counter(), time.process_time()
    pictures = [str(p) for p in draw_examples(runner, out_dir / 'detections')]
    synonyms = _test_with_synonyms(runner, job.synonym_classes) if job.synonym_classes else {}
    result = dict(
        **_ap50s(metrics), **synonyms,
        iterations=max_iters, train_s=round(trained - start, 1),
        test_s=round(tested - trained, 1), s_per_iter=round((trained - start) / max_iters, 3),
        train_cpu_s=round(cpu_trained - cpu_start, 1),
        test_cpu_s=round(cpu_tested - cpu_trained, 1),
        threads=int(os.environ.get('OMP_NUM_THREADS', 0)) or None,
        config=Path(job.config).name, pictures=pictures,
        checkpoint=str(out_dir / f'iter_{max_iters}.pth'), inputs_digest=job.digest())
    write_json_atomic(result, job.result_path)
    return result


def _test_with_synonyms(runner, classes: str) -> Dict[str, Optional[float]]:
    """Tests again with every open-vocabulary head on ``classes`` (the same classes in the
    same order, with synonyms: outputs keep each class's first name, so the labels index the
    dataset's classes as before); ``novel_ap50_synonyms``... in percent."""
    from mmengine.model import is_model_wrapper

    from ..models import open_vocabulary_heads
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    heads = open_vocabulary_heads(model)
    if not heads:
        raise ValueError(f'synonym_classes={classes!r}: the model of {runner.cfg.filename} has '
                         f'no open-vocabulary head to test with synonyms')
    names = runner.test_dataloader.dataset.metainfo['classes']
    for _, head in heads:
        resolved = head.use_vocabulary(classes)
        if tuple(resolved) != tuple(names):
            raise ValueError(f'synonym_classes={classes!r}: its classes {list(resolved)} are '
                             f'not the dataset\'s {list(names)} in order')
    return {f'{key}_synonyms': value for key, value in _ap50s(runner.test()).items()}


def _ap50s(metrics: Dict) -> Dict[str, Optional[float]]:
    """Novel / base / all AP50 in percent; a closed-vocabulary detector evaluated on the base
    categories (mmdet's ``CocoMetric``) has only a base figure."""
    if 'coco/novel_ap50' not in metrics:
        return dict(novel_ap50=None, base_ap50=round(100 * float(metrics['coco/bbox_mAP_50']), 1),
                    all_ap50=None)
    return {key: round(100 * float(metrics[f'coco/{key}']), 1)
            for key in ('novel_ap50', 'base_ap50', 'all_ap50')}


def _last_iteration(log: Path) -> str:
    """``'150/500'`` from the last ``Iter(train) [150/500]`` line of an mmengine log."""
    if not log.is_file():
        return 'starting'
    with open(log, 'rb') as f:
        f.seek(max(0, log.stat().st_size - 8192))
        tail = f.read().decode(errors='replace')
    marks = [line.split('Iter(train) [', 1)[1].split(']', 1)[0].strip()
             for line in tail.splitlines() if 'Iter(train) [' in line]
    if 'Iter(test)' in tail:
        return 'testing'
    return marks[-1].replace(' ', '') if marks else 'starting'


# The child imports this module by name (``-m`` would import it twice: once as ``__main__``).
_CHILD = f'from {__name__} import main; main()'


class RunningJobs:
    """Detector jobs started by :func:`start_jobs`; :meth:`wait` collects their results."""

    def __init__(self, jobs: Sequence[DetectorJob], results: Dict[str, Dict],
                 procs: List, progress: bool, poll_s: float) -> None:
        self.jobs, self.results, self.procs = list(jobs), results, procs
        self.progress, self.poll_s = progress, poll_s

    def wait(self) -> Dict[str, Dict]:
        """Waits for every job and returns method -> result, in the jobs' order.

        Raises:
            RuntimeError: a job failed (names it and shows the end of its log).
        """
        last_print = time.perf_counter()
        while any(proc.poll() is None for _, proc, _ in self.procs):
            time.sleep(0.5)
            if self.progress and time.perf_counter() - last_print >= self.poll_s:
                last_print = time.perf_counter()
                states = [f'{job.method}: ' + (_last_iteration(log) if proc.poll() is None
                                               else 'done') for job, proc, log in self.procs]
                print('  ' + '  '.join(states), flush=True)
        for job, proc, log in self.procs:
            if proc.returncode != 0:
                tail = log.read_text(errors='replace')[-3000:]
                raise RuntimeError(f'toy-world detector {job.method} failed (exit '
                                   f'{proc.returncode}, log {log}):\n{tail}')
            self.results[job.method] = json.loads(job.result_path.read_text())
        return {job.method: self.results[job.method] for job in self.jobs}

    def wait_for_checkpoint(self, method: str, iteration: int) -> str:
        """Waits until ``method``'s job has saved its checkpoint of ``iteration`` (mmengine
        names a checkpoint in ``last_checkpoint`` once it is written) and returns its path;
        at once for a job that was skipped.

        Raises:
            RuntimeError: the job ended without that checkpoint (names it and the log).
        """
        job = next(job for job in self.jobs if job.method == method)
        out_dir = Path(job.out_dir)
        path = out_dir / f'iter_{iteration}.pth'
        running = [(proc, log) for j, proc, log in self.procs if j.method == method]
        while running and not _saved_since(out_dir, iteration):
            proc, log = running[0]
            if proc.poll() is not None:
                break
            time.sleep(0.5)
        if not path.is_file():
            where = f', log {running[0][1]}' if running else ''
            raise RuntimeError(f'toy-world detector {method} has no checkpoint of iteration '
                               f'{iteration} ({path} missing{where})')
        return str(path)


def _saved_since(out_dir: Path, iteration: int) -> bool:
    """Whether mmengine's ``last_checkpoint`` in ``out_dir`` names ``iter_<n>.pth``, n >=
    ``iteration``."""
    marker = out_dir / 'last_checkpoint'
    if not marker.is_file():
        return False
    name = Path(marker.read_text().strip()).stem
    return name.startswith('iter_') and int(name[5:]) >= iteration


def start_jobs(jobs: Sequence[DetectorJob], threads: int = 2, progress: bool = True,
               poll_s: float = 20.0) -> RunningJobs:
    """Starts the jobs side by side, one subprocess each, and returns at once.

    Jobs whose result is up to date are skipped (``skipped: <method>`` on stdout). The
    others share ``threads`` CPU threads equally (at least one each); each writes its log to
    ``<out_dir>/run.log``; while :meth:`RunningJobs.wait` waits, a line of every job's
    iteration is printed each ``poll_s``.
    """
    results: Dict[str, Dict] = {}
    pending = []
    for job in jobs:
        finished = job.finished_result()
        if finished is not None:
            print(f'skipped: {job.method} (result up to date: {job.result_path})', flush=True)
            results[job.method] = finished
        else:
            pending.append(job)
    per_job = max(1, threads // max(1, len(pending)))
    procs = []
    for job in pending:
        Path(job.out_dir).mkdir(parents=True, exist_ok=True)
        # A rerun's old checkpoints would pass for this run's (wait_for_checkpoint).
        for old in [*Path(job.out_dir).glob('iter_*.pth'), Path(job.out_dir) / 'last_checkpoint']:
            old.unlink(missing_ok=True)
        spec_path = Path(job.out_dir) / 'job.json'
        write_json_atomic(dataclasses.asdict(job), spec_path)
        log = Path(job.out_dir) / 'run.log'
        env = dict(os.environ, OMP_NUM_THREADS=str(per_job), MKL_NUM_THREADS=str(per_job))
        with open(log, 'w') as log_file:
            proc = subprocess.Popen([sys.executable, '-c', _CHILD, str(spec_path)], env=env,
                                    stdout=log_file, stderr=subprocess.STDOUT)
        procs.append((job, proc, log))
        print(f'training {job.method} ({per_job} thread{"s" * (per_job > 1)}, log: {log})',
              flush=True)
    return RunningJobs(jobs, results, procs, progress, poll_s)


def run_jobs(jobs: Sequence[DetectorJob], threads: int = 2, progress: bool = True,
             poll_s: float = 20.0) -> Dict[str, Dict]:
    """Runs the jobs side by side (:func:`start_jobs`) and returns method -> result.

    Raises:
        RuntimeError: a job failed (names it and shows the end of its log).
    """
    return start_jobs(jobs, threads, progress, poll_s).wait()


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Runs the one job described by the file ``JOB.json`` (the subprocess of
    :func:`run_jobs`; also ``python -m ovdkit.toyworld.detector_runs JOB.json``)."""
    import torch
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1:
        raise SystemExit('usage: python -m ovdkit.toyworld.detector_runs JOB.json')
    threads = int(os.environ.get('OMP_NUM_THREADS', 0))
    if threads:
        torch.set_num_threads(threads)
    run_job(DetectorJob(**json.loads(Path(argv[0]).read_text())))


if __name__ == '__main__':
    main()
