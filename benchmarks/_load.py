"""Client threads that connect without pause for as long as a ``with`` block lasts."""

from __future__ import annotations

import threading
import time


class Load:
    """``threads`` threads, each calling :meth:`connect` in a loop; :attr:`rate` is the number
    of connections per second over the block (subclasses count in :attr:`handshakes`).

    Attributes:
        cpu: The process's CPU time over the block (seconds), every thread included.
    """

    threads = 2

    def __init__(self) -> None:
        self.handshakes = 0
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(self.threads)]

    def connect(self, index: int) -> None:
        """One connection from thread ``index``; raise to count a failure."""
        raise NotImplementedError

    def _run(self, index: int) -> None:
        while not self._stop.is_set():
            try:
                self.connect(index)
            except Exception as e:  # noqa: BLE001 - every failure is counted and shown
                with self.lock:
                    self.failures.append(f"{type(e).__name__}: {e}")

    def __enter__(self) -> Load:
        self.started = time.perf_counter()
        self._cpu_started = time.process_time()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.elapsed = time.perf_counter() - self.started
        self.cpu = time.process_time() - self._cpu_started

    @property
    def rate(self) -> float:
        """Connections per second."""
        return self.handshakes / self.elapsed
