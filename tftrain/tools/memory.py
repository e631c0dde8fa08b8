"""How much memory the batch finder's candidates use at their peak, and how much they may.

On a GPU, TensorFlow's own figures: the peak of what its allocator handed out
(`get_memory_info`, reset before each batch size), kept under 60% of the card's memory
(Ultralytics AutoBatch's default share: the rest is for fragmentation, cuDNN's workspaces
and a longer run's growth). On a CPU, the process's peak resident memory (Linux's VmHWM,
reset before each batch size), kept under half of what the process may use: what the
machine (or its cgroup) has available, plus what the process holds already.
"""

from __future__ import annotations

import contextlib
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Protocol

GPU_SHARE = 0.6
CPU_SHARE = 0.5


class Memory(Protocol):
    limit: float | None  # bytes a candidate's peak may reach; None: unknown, no cap
    described: str  # what is measured, and against what

    def reset(self) -> None:
        """Start measuring a new peak."""

    def peak(self) -> int | None:
        """The peak since `reset`, in bytes."""


class ProcessMemory:
    """The process's resident memory: a CPU's tensors live there."""

    def __init__(self) -> None:
        available = process_may_use()
        self.limit = CPU_SHARE * available if available else None
        self.described = ("peak memory: this process's resident memory, " +
                          (f"kept under {gigabytes(self.limit)} (half of the "
                           f"{gigabytes(available)} it may use)" if available
                           else "with no cap (what is available is unknown here)"))

    def reset(self) -> None:
        with contextlib.suppress(OSError):  # Linux: VmHWM restarts from the memory held now
            Path("/proc/self/clear_refs").write_text("5")

    def peak(self) -> int | None:
        status = proc_fields(Path("/proc/self/status"))
        if "VmHWM" in status:
            return status["VmHWM"]
        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else KiB
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


class GpuMemory:
    """TensorFlow's allocator on the first GPU (a mirrored run's replicas each hold as much)."""

    def __init__(self, device: str = "GPU:0") -> None:
        total = gpu_total()
        self.device = device
        self.limit = GPU_SHARE * total if total else None
        self.described = (f"peak memory: TensorFlow's on {device}, " +
                          (f"kept under {gigabytes(self.limit)} (60% of {gigabytes(total)})"
                           if total else "with no cap (nvidia-smi could not say the card's size)"))

    def reset(self) -> None:
        import tensorflow as tf

        tf.config.experimental.reset_memory_stats(self.device)

    def peak(self) -> int | None:
        import tensorflow as tf

        return int(tf.config.experimental.get_memory_info(self.device)["peak"])


def memory_meter() -> Memory:
    """The GPU's figures where TensorFlow sees one, else the process's."""
    from tftrain.run import runtime  # noqa: F401  (first: quiets TensorFlow as it loads)
    import tensorflow as tf

    return GpuMemory() if tf.config.list_physical_devices("GPU") else ProcessMemory()


def out_of_memory() -> tuple[type[BaseException], ...]:
    """What training raises when a batch does not fit."""
    import tensorflow as tf

    return (tf.errors.ResourceExhaustedError, MemoryError)


def proc_fields(path: Path) -> dict[str, int]:
    """The `Name: N kB` lines of a /proc file, in bytes ({} where there is none)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            fields[name] = int(parts[0]) * 1024
    return fields


def process_may_use() -> int | None:
    """What is available to the machine (or to this cgroup, if less), plus what this
    process holds already; None where the system does not say."""
    held = proc_fields(Path("/proc/self/status")).get("VmRSS", 0)
    available = proc_fields(Path("/proc/meminfo")).get("MemAvailable")
    if available is None:
        return None
    cgroup = Path("/sys/fs/cgroup")
    with contextlib.suppress(OSError, ValueError):
        ceiling = int((cgroup / "memory.max").read_text())  # "max": no limit, ValueError
        available = min(available, ceiling - int((cgroup / "memory.current").read_text()))
    return available + held


def gpu_total() -> int | None:
    """The first GPU's memory in bytes, as nvidia-smi says (TensorFlow does not)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=memory.total", "--format=csv,noheader,nounits",
                              "-i", "0"], capture_output=True, text=True, timeout=10).stdout
        return int(out.split()[0]) * 2 ** 20
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def gigabytes(value: float | None) -> str:
    return f"{(value or 0) / 1e9:.1f} GB"
