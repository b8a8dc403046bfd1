"""Triton kernels (interpreted on CPU) against their torch twins, and the whole solver on both paths.

The checks run in a subprocess because TRITON_INTERPRET=1 must be set before Triton is first imported, which
another test module of the same session may already have done.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dm.solve.kernels import triton_available

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not triton_available(), reason="triton is not installed")
def test_triton_kernels_and_solver_match_torch_twins_under_interpreter() -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.solve._triton_interpret_checks"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "triton-interpret checks passed" in proc.stdout
