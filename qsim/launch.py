"""How this process was launched, read from the environment only (no imports beyond ``os``), so
that any layer, the kernels included, can ask without importing mpi4py."""

from __future__ import annotations

import os

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
