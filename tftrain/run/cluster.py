"""Where a worker of a multi-worker run is, read from what started it.

`distribute=multi_worker` needs each process's role: the cluster's addresses and this
process's index. A user may give it in TF_CONFIG; a scheduler already knows it. Under
hydra-submitit-launcher (`hydra/launcher=submitit_slurm` or `submitit_local` with
`hydra.launcher.tasks_per_node`/`nodes`), submitit's job environment says which task this
is, how many there are and on which hosts; under a bare `srun`, the SLURM_* variables do.
TensorFlow's own SlurmClusterResolver is not used: it refuses CPU-only tasks. Worker k
listens on port `base + k mod tasks-per-node` of its node's host, `base` derived from the
job id, so every task computes the same cluster without talking to the others.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass

from tftrain.errors import TftrainError


@dataclass(frozen=True)
class Cluster:
    workers: list[str]  # host:port of every worker, by index
    index: int  # this process's

    def tf_config(self) -> str:
        return json.dumps({"cluster": {"worker": self.workers},
                           "task": {"type": "worker", "index": self.index}})


def scheduler_environment():
    """submitit's environment of the running task: a submitit job's (local or Slurm), else
    Slurm's own variables read by submitit; None outside a scheduler."""
    if not os.environ.get("SUBMITIT_EXECUTOR") and "SLURM_PROCID" not in os.environ:
        return None
    try:
        import submitit
        from submitit.slurm.slurm import SlurmJobEnvironment
    except ImportError:
        raise TftrainError("distribute=multi_worker under Slurm reads the tasks' roles with "
                           "submitit: pip install \"tftrain[slurm]\", or set TF_CONFIG.") from None
    return submitit.JobEnvironment() if os.environ.get("SUBMITIT_EXECUTOR") else SlurmJobEnvironment()


def from_scheduler(base_port: int | None = None) -> Cluster | None:
    """The cluster of the scheduler's job this process is a task of, or None."""
    job = scheduler_environment()
    if job is None:
        return None
    tasks, nodes = job.num_tasks, max(job.num_nodes, 1)
    per_node = max(tasks // nodes, 1)
    hosts = list(job.hostnames) or ["localhost"]
    if len(hosts) < nodes:
        raise TftrainError(f"the scheduler gives {nodes} nodes but names {len(hosts)} hosts "
                           f"({', '.join(hosts)}); set TF_CONFIG for each task instead.")
    port = base_port or 20000 + zlib.crc32(str(job.job_id).encode()) % 20000
    workers = [f"{hosts[k // per_node]}:{port + k % per_node}" for k in range(tasks)]
    return Cluster(workers, job.global_rank)
