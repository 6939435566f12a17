"""One thread that runs the web demo's jobs one at a time, behind a bounded admission."""
import contextlib
import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable, Iterator, Optional


class BusyError(RuntimeError):
    """Every admission slot is taken: the request is refused, not queued."""


class SerialWorker:
    """Runs submitted functions on one thread, in arrival order.

    A request first takes one of ``max_pending`` slots (:meth:`slot`), which it keeps while its
    body is read, while its job waits and while it runs; with every slot taken it is refused at
    once with :class:`BusyError`. So at most ``max_pending`` requests hold memory, at most one
    job runs (the detector is never entered by two threads: on a 2-core machine two forward
    passes at once only slow each other), and a waiting request waits behind at most
    ``max_pending - 1`` others.

    Args:
        max_pending: Requests admitted at once (running + waiting + being read).
        name: Name of the worker thread.
    """

    def __init__(self, max_pending: int = 32, name: str = 'ovdkit-webdemo-worker') -> None:
        if max_pending < 1:
            raise ValueError(f'max_pending must be >= 1, got {max_pending}')
        self.max_pending = max_pending
        self._slots = threading.BoundedSemaphore(max_pending)
        self._held = 0
        self._lock = threading.Lock()
        self._jobs: 'queue.Queue' = queue.Queue(maxsize=max_pending + 1)  # + the stop marker
        self.jobs_done = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Requests holding a slot now."""
        return self._held

    @property
    def waiting(self) -> int:
        """Jobs submitted and not yet started (the running one excluded)."""
        return self._jobs.qsize()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Holds one admission slot for the duration of the ``with`` block.

        Raises:
            BusyError: all ``max_pending`` slots are taken.
        """
        if not self._slots.acquire(blocking=False):
            raise BusyError(f'busy: {self.max_pending} requests are already being served or '
                            f'waiting; try again in a moment')
        with self._lock:
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1
            self._slots.release()

    def run(self, fn: Callable[..., Any], *args, timeout: Optional[float] = None,
            **kwargs) -> Any:
        """Runs ``fn(*args, **kwargs)`` on the worker thread and returns its result.

        Call it inside :meth:`slot`: the queue holds at most ``max_pending`` jobs.

        Args:
            fn: The job.
            timeout: Seconds to wait for the result; a job still waiting then is dropped.

        Raises:
            TimeoutError: no result within ``timeout`` seconds.
            Exception: whatever ``fn`` raised.
        """
        future: Future = Future()
        self._jobs.put_nowait((future, fn, args, kwargs))
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()  # skipped by the worker if it has not started yet
            raise

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001  (handed to the waiting request)
                future.set_exception(exc)
            else:
                future.set_result(result)
            finally:
                self.jobs_done += 1
            # the worker keeps no reference to a finished job's data
            job = future = fn = args = kwargs = result = None

    def close(self, timeout: Optional[float] = None) -> None:
        """Stops the thread: jobs still waiting are cancelled (their callers get
        :class:`~concurrent.futures.CancelledError`), the running one is waited for."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join(timeout)
