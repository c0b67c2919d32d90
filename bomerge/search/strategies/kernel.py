"""Loading BoTorch's fused qLogNEHVI kernel without inheriting a dead process's build lock.

Used by every strategy whose acquisition is qLogNEHVI (``gp``), and by CI to build the
kernel once before the test suite.
"""

from __future__ import annotations


def load_acquisition_kernel() -> None:
    """Load BoTorch's fused qLogNEHVI C++ kernel once per process, safely.

    BoTorch JIT-compiles (or re-checks) that kernel on the first qLogNEHVI of a process,
    under torch's ``FileBaton``: a bare ``lock`` file in the torch extensions folder that is
    deleted when the build ends. A process killed with SIGKILL inside that window leaves
    the file behind, and every later process then waits on it forever. bomerge holds an
    ``flock`` (released by the kernel when its holder dies) around the load, so a ``lock``
    file found while holding it was left by a killed bomerge process and is removed.
    """
    import fcntl
    import os
    from pathlib import Path

    from bomerge.search.ax_logging import quiet_ax

    quiet_ax()  # BoTorch's import chain reaches Ax's loggers
    from botorch.acquisition.multi_objective import logei
    from torch.utils.cpp_extension import _get_build_directory

    if logei._load_attempted:
        return
    try:
        build = Path(_get_build_directory("logei_fused_ext", verbose=False))
    except Exception:  # noqa: BLE001 - no extensions folder: BoTorch falls back to Python
        logei._try_load_fused_kernel()
        return
    guard = os.open(build.parent / "logei_fused_ext.bomerge-lock",
                    os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(guard, fcntl.LOCK_EX)
        (build / "lock").unlink(missing_ok=True)
        logei._try_load_fused_kernel()
    finally:
        fcntl.flock(guard, fcntl.LOCK_UN)
        os.close(guard)
