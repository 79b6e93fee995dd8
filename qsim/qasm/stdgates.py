"""The built-in ``stdgates.inc``: the OpenQASM 3 standard gate names, in terms of Braket's gates.

Called by: ``qsim.qasm.interpreter`` when a program says ``include "stdgates.inc";``.

Most standard names are already built-in gates or aliases in ``qsim.circuit.gates`` (``x``, ``h``, ``s``,
``rz``, ``cx``/``CX``, ``ccx``, ``p``, ``cp``/``cphase``, ``id``, ``sdg``, ``tdg``, ``swap``, ``cswap``, ...) with
the same matrices as the standard library, so only the remaining ones are defined here.  Each is
defined to have exactly the matrix of the OpenQASM 3 definition, including phases, because the
phase becomes physical under ``ctrl @``:

* ``sx = pow(1/2) @ x`` is Braket's ``v``; ``sxdg`` its inverse ``vi``.
* ``cu(θ, φ, λ, γ) = p(γ) a; ctrl @ U(θ, φ, λ) a, b``: ``γ`` is a phase on the control.
* ``u1(λ) = U(0, 0, λ)``, ``u2(φ, λ) = U(π/2, φ, λ)``, ``u3(θ, φ, λ) = U(θ, φ, λ)`` (the Qiskit/qelib1
  matrices; some drafts of stdgates.inc add a ``gphase`` to u2/u3, see the module tests).
"""

LIBRARY = """
gate phase(λ) a { phaseshift(λ) a; }
gate sx a { v a; }
gate sxdg a { vi a; }
gate crx(θ) a, b { ctrl @ rx(θ) a, b; }
gate cry(θ) a, b { ctrl @ ry(θ) a, b; }
gate crz(θ) a, b { ctrl @ rz(θ) a, b; }
gate ch a, b { ctrl @ h a, b; }
gate cu(θ, φ, λ, γ) a, b { phaseshift(γ) a; ctrl @ U(θ, φ, λ) a, b; }
gate u1(λ) a { U(0, 0, λ) a; }
gate u2(φ, λ) a { U(π/2, φ, λ) a; }
gate u3(θ, φ, λ) a { U(θ, φ, λ) a; }
"""

FILENAME = "stdgates.inc"
