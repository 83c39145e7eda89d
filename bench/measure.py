"""Shared by the benchmarks: run a command as a user would and measure it."""

from __future__ import annotations

import os
import subprocess
import sys
import time


def run_child(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd`` in a new process; return (wall seconds, peak resident memory in GB). Exits on failure."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status:
        sys.exit(f"failed: {' '.join(cmd)}")
    return seconds, usage.ru_maxrss / 1e6
