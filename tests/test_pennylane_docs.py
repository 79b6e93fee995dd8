"""Every ```python block of docs/coming-from-braket.md runs as written.

The blocks run one after another in one fresh process (each in its own namespace), so that
PennyLane and the Braket SDK are imported once; a failure names the block.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "coming-from-braket.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), flags=re.S | re.M)

RUNNER = """\
import json, sys, traceback
blocks = json.loads(sys.stdin.read())
for i, source in enumerate(blocks):
    try:
        exec(compile(source, f"<block {i} of coming-from-braket.md>", "exec"), {"__name__": "__main__"})
    except BaseException:
        print(f"BLOCK {i} FAILED:\\n{source}", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
"""


@pytest.mark.timeout(180)
def test_every_python_block_runs(tmp_path):
    assert len(BLOCKS) >= 4
    env = {**os.environ, "QSIM_HOME": str(tmp_path / "home"), "QSIM_NUM_THREADS": "1"}
    env.pop("AMZN_BRAKET_DEVICE_ARN", None)
    p = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(BLOCKS), capture_output=True, text=True,
                       timeout=170, cwd=ROOT, env=env)
    assert p.returncode == 0, p.stderr[-4000:]
