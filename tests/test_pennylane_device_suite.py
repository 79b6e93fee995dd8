"""PennyLane's own device test suite (``pennylane.devices.tests``) against ``qsim.qubit``.

Run as PennyLane documents it (``pytest <pennylane>/devices/tests --device qsim.qubit``), in a
subprocess, once analytic and once with shots (the two at once); a test fails if any test of the suite fails or errors.
What the suite skips on qsim.qubit, and why, is listed in docs/coming-from-braket.md.  The sampled
run uses 10 000 shots rather than the suite's default of 10^6 to stay within a minute; its own
``flaky`` retries absorb the shot noise of its 0.05 tolerance.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pennylane.devices.tests
import pytest

SUITE = os.path.dirname(pennylane.devices.tests.__file__)


MODES = {"analytic": ["--shots", "None"], "shots": ["--shots", "10000"]}


def start_suite(*extra) -> subprocess.Popen:
    env = dict(os.environ, QSIM_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "pytest", SUITE, "--device", "qsim.qubit", "-q", "-p", "no:cacheprovider",
           "--no-success-flaky-report", "--tb=short", "-rfE", "-W", "ignore::DeprecationWarning", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=SUITE)


def finish_suite(proc: subprocess.Popen, timeout=600):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    proc = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|xfailed|errors?|xpassed)", summary)}
    return proc, counts


@pytest.fixture(scope="module")
def suites(request):
    """Both runs of the suite (one thread each) start together, when the first test asks: the two
    take about as long as one on two cores, and the pytest process only waits meanwhile."""
    selected = [item.callspec.params["mode"] for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec")]
    procs = {mode: start_suite(*MODES[mode]) for mode in MODES if mode in selected}
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("mode", list(MODES))
def test_pennylane_device_suite(suites, mode):
    proc, counts = finish_suite(suites[mode])
    detail = f"\n{' '.join(MODES[mode])}: {counts}\n--- stdout (tail)\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, detail
    assert not counts.get("failed") and not counts.get("error") and not counts.get("errors"), detail
    # The suite really ran: ~380 analytic / ~365 sampled tests pass today.
    assert counts.get("passed", 0) >= 300, detail
