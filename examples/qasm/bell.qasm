// A Bell pair with every kind of exact result: run with `python -m qsim run examples/qasm/bell.qasm`
OPENQASM 3.0;
qubit[2] q;
h q[0];
cnot q[0], q[1];
#pragma braket result state_vector
#pragma braket result probability
#pragma braket result expectation z(q[0]) @ z(q[1])
