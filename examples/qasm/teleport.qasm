// Quantum teleportation with mid-circuit measurement and feed-forward.
// q[0] starts in ry(0.7)|0>; after teleportation q[2] holds that state, so
// P(q[2] = 1) = sin(0.35)^2 = 0.1176.  Run with shots: each shot follows its own outcomes.
//   python -m qsim run examples/qasm/teleport.qasm --shots 1000 --seed 7
OPENQASM 3.0;
qubit[3] q;
bit[3] c;
ry(0.7) q[0];
h q[1];
cnot q[1], q[2];
cnot q[0], q[1];
h q[0];
c[0] = measure q[0];
c[1] = measure q[1];
if (c[1] == 1) { x q[2]; }
if (c[0] == 1) { z q[2]; }
c[2] = measure q[2];
#pragma braket result probability q[2]
