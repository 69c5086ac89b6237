"""Where the partitions' work runs: in this process, or on Dask workers (a local cluster
of worker processes, or a running Dask scheduler's cluster).

Dask rather than Ray: the work is a map over files followed by a sum, which Dask's
``Client.map`` / ``gather`` does with no service to run (a ``LocalCluster`` is a few
processes started from Python, as in CI), the same code reaches a cluster through a
scheduler address (Slurm, Kubernetes and cloud deployments are Dask's own), and the
install is small and pure Python (the ``dask`` extra). Results come back in file order
and are merged in that order whatever worker ran them, so a run on workers sums exactly
as a run here does.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from common.errors import ConfigError


def _local(fn: Callable, files: Sequence[str], progress: bool, what: str) -> list:
    """``fn(file)`` for every file here, in order, with a progress bar."""
    if progress:
        from tqdm.auto import tqdm

        files = tqdm(files, desc=what, unit="file")
    return [fn(f) for f in files]


def _client(workers: int, scheduler: str | None):
    """A Dask client of ``workers`` local processes, or of the scheduler at
    ``scheduler``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("stream.workers > 0 (or stream.scheduler) runs on Dask: install "
                          "it with pip install -e \".[dask]\"") from None
    if scheduler:
        return Client(scheduler)
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0", worker_dashboard_address=None)
    return Client(cluster)


def _on_dask(client, fn: Callable, files: Sequence[str], progress: bool, what: str) -> list:
    """``fn(file)`` for every file on the client's workers; results in file order."""
    futures = client.map(fn, list(files), pure=False)
    if progress:
        from distributed import as_completed
        from tqdm.auto import tqdm

        for _ in tqdm(as_completed(futures), total=len(futures), desc=what, unit="file"):
            pass
    return client.gather(futures)


@contextlib.contextmanager
def executor(workers: int = 0, scheduler: str | None = None, progress: bool = False
             ) -> Iterator[Callable[..., list]]:
    """A ``run(fn, plan, files, what) -> [fn(plan, file) for file in files]`` that runs
    here (``workers=0``, no scheduler) or on Dask; the cluster lives as long as the
    context."""
    if not workers and not scheduler:
        yield lambda fn, plan, files, what: _local(functools.partial(fn, plan), files,
                                                   progress, what)
        return
    client = _client(workers, scheduler)
    try:
        def run(fn: Callable, plan: Any, files: Sequence[str], what: str) -> list:
            return _on_dask(client, functools.partial(fn, plan), files, progress, what)
        yield run
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None and not scheduler:
            cluster.close()
