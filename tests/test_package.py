"""Process-wide defaults that importing tacit sets."""

from __future__ import annotations

import os
import subprocess
import sys


def _policy_after_import(environment: dict[str, str]) -> str:
    run = subprocess.run([sys.executable, "-c", "import os, tacit; print(os.environ.get('OMP_WAIT_POLICY'))"],
                         env=environment, capture_output=True, text=True, check=True)
    return run.stdout.strip()


def test_openmp_threads_sleep_unless_the_user_chose_otherwise():
    """numba's OpenMP threads must not spin through the serial work after each parallel region (it slowed the
    exact phyloglm fits 1.5x); a policy the user set is kept."""
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _policy_after_import(base) == "PASSIVE"
    assert _policy_after_import({**base, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
