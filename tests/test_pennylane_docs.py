"""Every ```python block of docs/coming-from-braket.md runs as written (each in a fresh process)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "coming-from-braket.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), flags=re.S | re.M)


def test_the_page_has_snippets():
    assert len(BLOCKS) >= 4


@pytest.mark.timeout(120)
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_snippet_runs(index, tmp_path):
    env = {**os.environ, "QSIM_HOME": str(tmp_path / "home"), "QSIM_NUM_THREADS": "1"}
    env.pop("AMZN_BRAKET_DEVICE_ARN", None)
    p = subprocess.run([sys.executable, "-c", BLOCKS[index]], capture_output=True, text=True, timeout=110,
                       cwd=ROOT, env=env)
    assert p.returncode == 0, f"snippet {index} of {PAGE.name}:\n{BLOCKS[index]}\n--- stderr\n{p.stderr[-3000:]}"
