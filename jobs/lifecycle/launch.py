"""How a supervised job's ranks are started: the launcher's command line and its environment.

Who calls this: ``jobs.lifecycle.supervisor`` (it runs the command in the job's code directory).
Each rank runs ``python -m jobs.runtime --job-dir DIR`` (``jobs.runtime.runner``), straight to the
in-rank runtime; ``python -m qsim job exec`` reaches the same code, for jobs run by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jobs.lifecycle import processes
from jobs.lifecycle.limits import configured_hostfile, network_interface, rank_count
from jobs.runtime.environment import inherited_environment
from jobs.store.layout import JobPaths
from qsim.launch import find_mpirun

RANK_PROGRAM = ("-m", "jobs.runtime")


def launcher_command(request: dict, paths: JobPaths, home: Path) -> tuple[list[str], dict[str, str]]:
    """The launcher's command line and the network variables its ranks need.

    On this host alone everything binds to loopback: MPICH's fork-based ``mpiexec.gforker`` (beside
    mpirun in the mpich wheel) has no control port at all, and the ranks' transports are held to
    ``lo`` (UCX_NET_DEVICES, FI_TCP_IFACE, FI_SOCKETS_IFACE). With a hostfile, hydra's ``-iface``
    and the same variables name the interface the hosts share (``limits.network_interface``).
    """
    mpirun = find_mpirun()
    if not mpirun:
        raise RuntimeError("mpirun was not found beside this Python or on PATH (install the 'mpich' wheel "
                           "or set QSIM_MPIRUN)")
    hostfile = configured_hostfile(home)
    iface = network_interface(home)
    n = str(rank_count(request))
    program = [sys.executable, *RANK_PROGRAM, "--job-dir", str(paths.root)]
    net = {"UCX_NET_DEVICES": iface, "FI_TCP_IFACE": iface, "FI_SOCKETS_IFACE": iface}
    openmpi = False
    try:
        openmpi = "Open MPI" in subprocess.run([mpirun, "--version"], capture_output=True, text=True,
                                               timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        pass
    if openmpi:
        cmd = [mpirun, "--oversubscribe", "--mca", "oob_tcp_if_include", iface, "--mca", "btl_tcp_if_include", iface]
        cmd += ["--hostfile", hostfile] if hostfile else []
        return cmd + ["-n", n, *program], net
    gforker = Path(mpirun).with_name("mpiexec.gforker")
    if not hostfile and os.access(gforker, os.X_OK):
        return [str(gforker), "-n", n, *program], net
    cmd = [mpirun, "-iface", iface] + (["-f", hostfile] if hostfile else [])
    return cmd + ["-n", n, *program], net


def launcher_environment(job_id: str, home: Path, network: dict[str, str]) -> dict[str, str]:
    """mpirun's environment (which every rank inherits): the caller's shell filtered by
    ``environment.inherited_environment`` (no secrets, no outer MPI world), the job's markers and
    the launcher's network variables. Each rank then builds its own with ``rank_environment``."""
    env = inherited_environment(os.environ, home)
    if configured_hostfile(home) is None:
        env.update(network)  # one host: loopback, whatever the caller's shell says
    else:
        for k, v in network.items():  # several hosts: the user's own interface settings win
            env.setdefault(k, v)
    env.update({processes.JOB_MARKER: job_id, "QSIM_HOME": str(home), "QSIM_JOBS_SUPERVISED": job_id,
                "PYTHONUNBUFFERED": "1"})
    return env
