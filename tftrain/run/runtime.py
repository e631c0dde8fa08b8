"""Process-level state for a run: TensorFlow's import, seeds, determinism, precision, and
the distribution strategy (the `distribute` group's `_target_`s live here)."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

from tftrain.run.cluster import from_scheduler
from tftrain.errors import TftrainError, full_error


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hide what TensorFlow's C++ runtime prints to fd 2 while it loads.

    Those lines (oneDNN notices, "could not find cuda drivers", cuInit failures) are
    written before absl logging starts, so TF_CPP_MIN_LOG_LEVEL cannot hide them.
    Set TFTRAIN_TF_LOGS=1 to see them.
    """
    if os.environ.get("TFTRAIN_TF_LOGS") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with native_stderr_silenced():  # (the C++ log level is the command's: tools.shell.prepared)
    import tensorflow as tf

    tf.config.list_physical_devices()  # device discovery prints too; do it while silenced
import keras  # noqa: E402
from tensorflow.python.framework.config import disable_op_determinism  # noqa: E402  (no public API)


def setup(seed: int, deterministic: bool, precision: str) -> None:
    """Start each run (each job of a sweep) from the same clean, seeded state."""
    keras.backend.clear_session(free_memory=True)
    forget_earlier_tracing()
    # Keras and TensorFlow cut their own frames out of tracebacks, which users read more
    # easily (the doors turn it off where the frames decide, tftrain.errors.frames_kept);
    # clear_session turns it back on, so TFTRAIN_FULL_ERROR=1 turns it off again here.
    if full_error():
        keras.config.disable_traceback_filtering()
        tf.debugging.disable_traceback_filtering()
    keras.utils.set_random_seed(seed)
    keras.mixed_precision.set_global_policy(precision)
    # Op determinism is process-wide: set it both ways, or a sweep's job after a
    # `deterministic=true` job would silently run deterministic (and without XLA) too.
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        disable_op_determinism()


def forget_earlier_tracing() -> None:
    """Each run (each job of a sweep run in one process) builds a fresh model whose
    tf.functions are traced anew: by design, not the retracing TensorFlow warns of ("5 out
    of the last 11 calls to ... triggered tf.function retracing"), which it counts across
    the process. Counting from each run's start keeps the warning for retracing within one."""
    module = sys.modules.get("tensorflow.python.eager.polymorphic_function.polymorphic_function")
    manager = getattr(module, "_FrequentTracingDetectorManager", None)
    if manager is not None:
        module._frequent_tracing_detector_manager = manager()


def default_strategy() -> tf.distribute.Strategy:
    return tf.distribute.get_strategy()


def mirrored_strategy(cpu_devices: int = 2) -> tf.distribute.Strategy:
    """MirroredStrategy over the GPUs, or over `cpu_devices` logical CPUs when there are none."""
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    split_cpu(cpu_devices)
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cpu_devices)])


def multi_worker_strategy(port: int | None = None) -> tf.distribute.Strategy:
    """Data parallelism over several processes: each takes its role from TF_CONFIG, or from
    the scheduler that started it (tftrain.run.cluster: submitit, Slurm), listening on `port`
    (default: one derived from the job id)."""
    if "TF_CONFIG" in os.environ:
        return tf.distribute.MultiWorkerMirroredStrategy()
    cluster = from_scheduler(port)
    if cluster is None:
        raise TftrainError("distribute=multi_worker needs each process's role: start the "
                           "processes with a scheduler (hydra/launcher=submitit_slurm, or "
                           "hydra/launcher=submitit_local with 2 tasks per node), or set TF_CONFIG "
                           "in each. See README, 'Scaling out'.")
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec({"worker": cluster.workers}), task_type="worker",
        task_id=cluster.index, rpc_layer="grpc")
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)


def split_cpu(devices: int) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration()] * devices
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == devices:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError as error:
        raise TftrainError(
            f"cannot split the CPU into {devices} logical devices: TensorFlow has already "
            "started its devices in this process (a sweep runs its jobs in one process). Run "
            "distributed jobs one per process.") from error


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run folder: yes unless it is a non-chief worker."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    return task_type in (None, "chief") or (task_type == "worker" and resolver.task_id == 0)
