"""How this process was launched, read from the environment only (no imports beyond ``os``), so
that any layer, the kernels included, can ask without importing mpi4py."""

from __future__ import annotations

import os

# What MPICH prints when MPI itself fails to start (inside MPI_Init, before any rank's program runs):
# MPICH 5's UCX start-up does so now and then on a loaded host. Launchers that retry such a start
# (the jobs supervisor, the test suite's mpirun helper) recognise it by this pattern.
MPI_START_FAILURE = r"Fatal error in (?:internal_|P?MPI_)Init\w*"

# Set by MPICH/Hydra, Open MPI, MPICH's mpiexec and PMIx launchers respectively.
MPI_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE")


def launched_under_mpi() -> bool:
    """True when this process is one of several MPI ranks."""
    for var in MPI_SIZE_VARS:
        try:
            if int(os.environ.get(var, "1")) > 1:
                return True
        except ValueError:
            continue
    return False


def find_mpirun() -> str | None:
    """The ``mpirun`` to launch ranks with: ``$QSIM_MPIRUN``, else the one installed beside this
    interpreter (the ``mpich`` wheel puts it in the interpreter's scripts directory, which is not
    always on PATH, e.g. after ``pip install --user`` or with an unactivated venv), else PATH."""
    import shutil
    import sys
    import sysconfig

    explicit = os.environ.get("QSIM_MPIRUN")
    if explicit:
        return explicit
    dirs = [os.path.dirname(sys.executable), sysconfig.get_path("scripts")]
    try:
        dirs.append(sysconfig.get_path("scripts", f"{os.name}_user"))
    except KeyError:
        pass
    for name in ("mpirun", "mpiexec"):
        for d in dirs:
            candidate = os.path.join(d, name)
            if d and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    return shutil.which("mpirun") or shutil.which("mpiexec")
