"""``qsim.device(arn)``: ARNs, options, programs as Circuit / OpenQASM text / braket.ir Program, free
parameters and inputs, seeds, and the Task object."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qsim
from oracle import Oracle, assert_close
from qsim import Circuit, FreeParameter, ValidationError
from qsim.circuit import observables as obs


def test_device_by_arn_and_unknown_arn():
    dev = qsim.device("local:qsim/statevector")
    assert dev.arn == "local:qsim/statevector"
    assert qsim.device().arn == dev.arn
    import qsim.device as device_module

    assert device_module.STATEVECTOR_ARN in device_module.KNOWN_DEVICES
    assert qsim.device is device_module and callable(qsim.device)
    with pytest.raises(ValidationError, match="unknown device ARN 'local:nope'.*local:qsim/statevector"):
        qsim.device("local:nope")
    with pytest.raises(ValidationError, match="precision 'quad'"):
        qsim.device(precision="quad")


def test_properties():
    props = qsim.device().properties
    assert props["deviceArn"] == "local:qsim/statevector"
    assert {"h", "cnot", "ccnot", "gphase", "unitary", "ms", "U"} <= set(props["supportedOperations"])
    assert props["supportedModifiers"] == ["ctrl", "negctrl", "pow", "inv"]
    assert set(props["supportedResultTypes"]) == {"expectation", "variance", "probability", "sample",
                                                  "statevector", "densitymatrix", "amplitude", "adjoint_gradient"}
    assert props["qubitCount"] >= 20 and props["ranks"] == 1


def test_task_object():
    task = qsim.device().run(Circuit().h(0).probability())
    assert task.state() == "COMPLETED"
    res = task.result()
    assert task.id == res.task_metadata["id"]
    assert_close(res.values[0], [0.5, 0.5], 1e-15)


def test_free_parameters_bound_from_inputs():
    theta, phi = FreeParameter("theta"), FreeParameter("phi")
    c = Circuit().rx(0, theta).ry(1, 2 * phi + 0.1).cnot(0, 1).rz(1, theta / 2 - phi).state_vector()
    inputs = {"theta": 0.7, "phi": -0.4}
    got = qsim.device().run(c, inputs=inputs).result().values[0]
    bound = Circuit().rx(0, 0.7).ry(1, 2 * -0.4 + 0.1).cnot(0, 1).rz(1, 0.35 + 0.4).state_vector()
    assert_close(got, Oracle(bound).state_vector(), 1e-13)
    with pytest.raises(ValidationError, match="phi"):
        qsim.device().run(c, inputs={"theta": 1.0})
    with pytest.raises(ValidationError, match="real number"):
        qsim.device().run(c, inputs={"theta": "x", "phi": 1.0})


def test_openqasm_text_and_braket_program_objects():
    from braket.ir.openqasm import Program

    src = ("OPENQASM 3.0;\ninput float theta;\nqubit[2] q;\nrx(theta) q[0];\ncnot q[0], q[1];\n"
           "#pragma braket result probability\n")
    want = [math.cos(0.35) ** 2, 0, 0, math.sin(0.35) ** 2]
    dev = qsim.device()
    assert_close(dev.run(src, inputs={"theta": 0.7}).result().values[0], want, 1e-14)
    assert_close(dev.run(Program(source=src, inputs={"theta": 0.7})).result().values[0], want, 1e-14)
    with pytest.raises(ValidationError, match="a program must be"):
        dev.run(42)


def test_seed_option_and_run_seed():
    c = Circuit().h(0).h(1).measure([0, 1])
    a = qsim.device(seed=5).run(c, shots=100).result()
    b = qsim.device().run(c, shots=100, seed=5).result()
    np.testing.assert_array_equal(a.measurements, b.measurements)
    c2 = qsim.device(seed=5).run(c, shots=100, seed=6).result()
    assert not np.array_equal(a.measurements, c2.measurements)
    unseeded = qsim.device().run(c, shots=10).result()
    assert isinstance(unseeded.additional_metadata["qsimMetadata"]["seed"], int)  # recorded for replay
    replay = qsim.device().run(c, shots=10, seed=unseeded.additional_metadata["qsimMetadata"]["seed"]).result()
    np.testing.assert_array_equal(replay.measurements, unseeded.measurements)


def test_precision_and_fusion_options_agree():
    c = Circuit().h(0).t(0).rx(0, 0.3).cnot(0, 1).ry(1, 0.2).s(1).xx(0, 1, 0.5).state_vector()
    c.expectation(obs.Y() @ obs.X(), [0, 1])
    ref = Oracle(c)
    for options, tol in (({}, 1e-13), ({"fusion": False}, 1e-13), ({"precision": "single"}, 1e-6)):
        res = qsim.device(**options).run(c).result()
        assert_close(res.values[0], ref.state_vector(), tol, str(options))
        assert abs(res.values[1] - ref.expectation(obs.Y() @ obs.X(), (0, 1))) < tol


def test_circuit_api_errors_are_clear():
    with pytest.raises(ValidationError, match="unknown gate 'foo'"):
        Circuit().gate("foo", (0,))
    with pytest.raises(ValidationError, match="takes 1 parameter"):
        Circuit().rx(0)
    with pytest.raises(ValidationError, match="appears twice"):
        Circuit().cnot(1, 1)
    with pytest.raises(ValidationError, match="negative"):
        Circuit().h(-1)
    with pytest.raises(ValidationError, match="not unitary"):
        Circuit().unitary([[1, 1], [0, 1]], [0])
    with pytest.raises(ValidationError, match="control_state"):
        Circuit().x(0, control=[1, 2], control_state="1")
    with pytest.raises(ValidationError, match="not finite"):
        Circuit().rx(0, float("nan"))


def test_modifier_keywords_of_the_circuit_api():
    c = Circuit().h(0).x(2, control=[0, 1], control_state="10").rx(1, 0.4, power=0.5)
    c.swap(0, 2, power=0.5).h(1, power=-1).state_vector()
    assert_close(qsim.device().run(c).result().values[0], Oracle(c).state_vector(), 1e-13)
    # control_state as an int is read big-endian over the controls
    c1 = Circuit().x(2, control=[0, 1], control_state=2).state_vector()
    c2 = Circuit().x(2, control=[0, 1], control_state="10").state_vector()
    assert c1.instructions[0].control_states == c2.instructions[0].control_states == (1, 0)
