"""The OpenQASM 3 (Braket dialect) interpreter: walks the ``openqasm3`` AST and builds a ``Circuit``.

Called by: ``qsim.qasm.parse``.  Calls: ``qsim.qasm.syntax`` (source -> AST), ``qsim.qasm.values``
(classical types and operators), ``qsim.qasm.pragmas`` (pragma bodies), ``qsim.qasm.compose``
(dense matrix of a custom gate body for fractional powers) and the circuit layer.  It never imports
the simulator.

Classical code is evaluated eagerly while walking: loops are unrolled, subroutines and custom gates
are inlined, and only gates, measurements, resets and measurement-dependent ``if``s reach the circuit.
Each statement and expression node type has one small handler, registered in a per-class table
(``_STMT`` / ``_EXPR``) and looked up by the node's exact type: a dict lookup, cheaper than
``singledispatchmethod`` on the hot path of a variational loop.

Modifiers: ``ctrl``/``negctrl`` commute with ``pow``/``inv`` (a principal power of ``diag(I, U)`` is
``diag(I, U^k)``), so the interpreter applies every power to the gate first, innermost first, and adds
the controls last, in the order written.  For a built-in gate the powers are simply the ``GateOp``'s
``exponents``; for a custom gate ``inv`` reverses and inverts the body, an integer ``pow`` repeats it,
and a fractional ``pow`` multiplies the body out into one ``unitary`` operation and powers that.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from openqasm3 import ast

from qsim.circuit import gates as _gates
from qsim.circuit import observables as _obs
from qsim.circuit import result_types as _rt
from qsim.circuit.circuit import Circuit
from qsim.circuit.classical import Binary, BitRef, BitsValue, ClassicalExpr, Unary
from qsim.circuit.operations import Conditional, GateOp, Measure, Reset
from qsim.circuit.parameters import FreeParameter, ParameterExpression
from qsim.errors import ProgramError, QsimError
from qsim.qasm import compose as _compose
from qsim.qasm import pragmas as _pragmas
from qsim.qasm import stdgates as _stdgates
from qsim.qasm import syntax as _syntax
from qsim.qasm import values as V

from qsim.qasm import limits as _limits  # read at run time: tests may lower a cap in this one place
from qsim.qasm.limits import loop_limit_message

_BINOP = {op: op.name for op in ast.BinaryOperator}
_UNOP = {op: op.name for op in ast.UnaryOperator}
_ASSIGN = {op: op.name[:-1] for op in ast.AssignmentOperator if op.name != "="}


# ------------------------------------------------------------------------------------- symbols
class QubitReg:
    """Qubit labels bound to a name; ``single`` for ``qubit q;`` (used without an index)."""

    __slots__ = ("labels", "single")

    def __init__(self, labels, single=False):
        self.labels = tuple(labels)
        self.single = single


class Var:
    """A classical variable.  ``depth`` is the measured-branch depth it was declared at; ``bit_base``
    is the index of its first bit in the program's classical bit array (``bit`` variables only)."""

    __slots__ = ("type", "value", "const", "depth", "bit_base", "name")

    def __init__(self, name, type_, value, const=False, depth=0, bit_base=None):
        self.name, self.type, self.value, self.const, self.depth, self.bit_base = \
            name, type_, value, const, depth, bit_base


class GateDef:
    __slots__ = ("name", "params", "qubits", "body", "node")

    def __init__(self, name, params, qubits, body, node):
        self.name, self.params, self.qubits, self.body, self.node = name, params, qubits, body, node


class SubDef:
    __slots__ = ("name", "args", "body", "return_type", "node")

    def __init__(self, name, args, body, return_type, node):
        self.name, self.args, self.body, self.return_type, self.node = name, args, body, return_type, node


class _Frame:
    """A gate or subroutine body: its own scopes; globals are seen only where OpenQASM allows."""

    __slots__ = ("scopes", "kind")

    def __init__(self, kind):
        self.kind = kind  # 'global', 'gate', 'def'
        self.scopes = [{}]


class _Break(Exception):
    def __init__(self, node):
        self.node = node


class _Continue(_Break):
    pass


class _Return(Exception):
    def __init__(self, node, value):
        self.node, self.value = node, value


class _End(Exception):
    def __init__(self, node):
        self.node = node


_STMT: dict = {}
_EXPR: dict = {}


def _stmt(*types):
    def deco(fn):
        for t in types:
            _STMT[t] = fn
        return fn
    return deco


def _expr(*types):
    def deco(fn):
        for t in types:
            _EXPR[t] = fn
        return fn
    return deco


_UNSUPPORTED_STMT = {
    ast.DelayInstruction: "'delay' (timing) is not supported: qsim simulates gates, not schedules",
    ast.CalibrationStatement: "'cal' blocks are not supported: qsim has no pulse-level calibrations",
    ast.CalibrationDefinition: "'defcal' is not supported: qsim has no pulse-level calibrations",
    ast.CalibrationGrammarDeclaration: "'defcalgrammar' is not supported: qsim has no pulse-level calibrations",
    ast.ExternDeclaration: "'extern' functions are not supported: qsim cannot call external code",
}


# ------------------------------------------------------------------------------------- interpreter
class Interpreter:
    """One run over one program; create a new one per ``parse`` call."""

    def __init__(self, source: str, inputs: dict | None, source_name: str, symbolic_inputs: bool = False):
        self.loc = _syntax.Locator(source, source_name)
        self.inputs = dict(inputs or {})
        # float/angle inputs become FreeParameters (gate angles stay expressions of them), for
        # adjoint gradients and for compiled circuits re-bound with new values
        self.symbolic_inputs = symbolic_inputs
        self.global_frame = _Frame("global")
        self.frame = self.global_frame
        self.gates: dict[str, GateDef] = {}
        self.subs: dict[str, SubDef] = {}
        self.ops: list = []                # where instructions go (swapped for branch bodies, gate bodies)
        self.results: list = []
        self.n_qubits = 0                  # labels handed out to declared registers
        self.n_bits = 0                    # bits handed out to declared bit variables
        self.bare_measures = 0             # placeholders for `measure q;` (renumbered at the end)
        self.measured: set[int] = set()    # bit indices some Measure writes
        self.branch_depth = 0              # nesting of measurement-dependent ifs
        self.call_depth = 0
        self.verbatim_pending = None       # the `#pragma braket verbatim` waiting for its box
        self.stmt = None                   # the statement being run (fallback error location)
        self.n_ops = 0

    # ---------------------------------------------------------------- entry
    def run(self, program: ast.Program) -> Circuit:
        try:
            self.run_block(program.statements, new_scope=False)
        except _End:
            pass
        except _Break as b:
            raise self.error(b.node, f"'{'continue' if isinstance(b, _Continue) else 'break'}' outside a loop")
        except _Return as r:
            raise self.error(r.node, "'return' outside a subroutine")
        if self.verbatim_pending is not None:
            raise self.error(self.verbatim_pending, "'#pragma braket verbatim' must be followed by a 'box' block")
        circuit = Circuit()
        first_free = self.n_bits
        for op in self.ops:
            circuit.add(_renumber_bare(op, first_free))
        for r in self.results:
            circuit.add_result_type(r)
        circuit.bit_count = max(circuit.bit_count, self.n_bits + self.bare_measures)
        return circuit

    # ---------------------------------------------------------------- errors
    def error(self, node, message: str) -> ProgramError:
        if node is None or getattr(node, "span", None) is None:
            node = self.stmt
        return self.loc.error(node, message)

    # ---------------------------------------------------------------- scopes
    def declare(self, name: str, symbol, node):
        scope = self.frame.scopes[-1]
        if name in scope or (self.frame is self.global_frame and len(self.frame.scopes) == 1
                             and (name in self.gates or name in self.subs)):
            raise self.error(node, f"'{name}' is already declared in this scope")
        if name in V.CONSTANTS:
            raise self.error(node, f"'{name}' is a built-in constant and cannot be redeclared")
        scope[name] = symbol

    def lookup(self, name: str, node):
        for scope in reversed(self.frame.scopes):
            sym = scope.get(name)
            if sym is not None:
                return sym
        if self.frame is not self.global_frame:
            sym = self.global_frame.scopes[0].get(name)
            if sym is not None:
                if isinstance(sym, Var) and sym.const:
                    return sym
                if isinstance(sym, QubitReg) and self.frame.kind == "def":
                    return sym
                raise self.error(node, f"'{name}' is a global {'qubit' if isinstance(sym, QubitReg) else 'variable'}"
                                       f" and cannot be used inside {'gate' if self.frame.kind == 'gate' else 'subroutine'}"
                                       f" bodies; pass it as an argument")
        if name.startswith("$"):
            return QubitReg((int(name[1:]),), single=True)
        return None

    def lookup_var(self, name: str, node) -> Var:
        sym = self.lookup(name, node)
        if sym is None:
            raise self.error(node, f"'{name}' is not declared")
        if not isinstance(sym, Var):
            raise self.error(node, f"'{name}' is a qubit register, not a classical variable")
        return sym

    # ---------------------------------------------------------------- statements
    def run_block(self, statements, new_scope=True):
        if new_scope:
            self.frame.scopes.append({})
        try:
            for s in statements:
                self.run_stmt(s)
        finally:
            if new_scope:
                self.frame.scopes.pop()

    def run_stmt(self, node):
        self.stmt = node
        if self.verbatim_pending is not None and not isinstance(node, ast.Box):
            raise self.error(self.verbatim_pending, "'#pragma braket verbatim' must be followed by a 'box' block")
        handler = _STMT.get(type(node))
        if handler is None:
            msg = _UNSUPPORTED_STMT.get(type(node))
            raise self.error(node, msg or f"'{type(node).__name__}' statements are not supported")
        handler(self, node)

    def emit(self, op):
        self.n_ops += 1
        if self.n_ops > _limits.MAX_OPERATIONS:
            raise self.error(None, f"the program expands to more than {_limits.MAX_OPERATIONS} operations")
        self.ops.append(op)

    @_stmt(ast.Include)
    def _include(self, node):
        if node.filename != _stdgates.FILENAME:
            raise self.error(node, f"cannot include '{node.filename}': only \"{_stdgates.FILENAME}\" is built in "
                                   f"and qsim does not read files from disk")
        if self.frame is not self.global_frame or len(self.frame.scopes) != 1:
            raise self.error(node, "'include' is only allowed at the top level")
        for stmt in _syntax.parse_ast(_stdgates.LIBRARY).statements:
            name = stmt.name.name
            if name in self.gates:
                raise self.error(node, f"'{_stdgates.FILENAME}' defines gate '{name}', which is already defined")
            self.gates[name] = GateDef(name, [a.name for a in stmt.arguments], [q.name for q in stmt.qubits],
                                       stmt.body, stmt)

    @_stmt(ast.QubitDeclaration)
    def _qubit_decl(self, node):
        if self.frame is not self.global_frame or len(self.frame.scopes) != 1:
            raise self.error(node, "qubits can only be declared at the top level")
        if node.size is None:
            reg = QubitReg((self.n_qubits,), single=True)
        else:
            size = self.const_int(node.size, "qubit register size")
            if size <= 0:
                raise self.error(node.size, f"qubit register '{node.qubit.name}' must have a positive size, got {size}")
            if size > _limits.MAX_REGISTER_SIZE or self.n_qubits + size > _limits.MAX_QUBITS_DECLARED:
                raise self.error(node.size, f"qubit register '{node.qubit.name}' of {size} qubits: at most "
                                            f"{_limits.MAX_REGISTER_SIZE} qubits per register and "
                                            f"{_limits.MAX_QUBITS_DECLARED} in all are accepted "
                                            f"({self.n_qubits} declared before)")
            reg = QubitReg(range(self.n_qubits, self.n_qubits + size))
        self.declare(node.qubit.name, reg, node.qubit)
        self.n_qubits += len(reg.labels)

    @_stmt(ast.ClassicalDeclaration)
    def _classical_decl(self, node):
        t = self.type_of(node.type)
        name = node.identifier.name
        init = node.init_expression
        if isinstance(init, ast.QuantumMeasurement):
            var = self.new_var(name, t, node)
            self.measure_into(init.qubit, [(var, i) for i in range(t.width or 1)] if t.kind == "bit" else None,
                              init, node.identifier)
            return
        value = V.default_value(t) if init is None else self.cast(self.eval(init), t, init)
        self.new_var(name, t, node, value)

    def new_var(self, name, t, node, value=None, const=False):
        if value is None:
            value = V.default_value(t)
        base = None
        if t.kind == "bit":
            base = self.n_bits
            self.n_bits += t.width if t.width is not None else 1
        var = Var(name, t, value, const, self.branch_depth, base)
        self.declare(name, var, getattr(node, "identifier", node))
        return var

    @_stmt(ast.ConstantDeclaration)
    def _const_decl(self, node):
        t = self.type_of(node.type)
        value = self.cast(self.eval(node.init_expression), t, node.init_expression)
        if V.is_symbolic(value):
            raise self.error(node.init_expression, f"const '{node.identifier.name}' cannot depend on a measurement")
        self.new_var(node.identifier.name, t, node, value, const=True)

    @_stmt(ast.IODeclaration)
    def _io_decl(self, node):
        t = self.type_of(node.type)
        name = node.identifier.name
        if node.io_identifier == ast.IOKeyword.output:
            # Output variables are declared like any other; qsim does not report their final values.
            self.new_var(name, t, node)
            return
        if self.symbolic_inputs and t.kind in ("float", "angle") and t.width is None:
            value = FreeParameter(name)
            self.new_var(name, t, node, value % V.TAU if t.kind == "angle" else value, const=False)
            return
        if name not in self.inputs:
            raise self.error(node.identifier, f"missing input '{name}': pass inputs={{'{name}': ...}}")
        raw = self.inputs[name]
        if isinstance(raw, (tuple, np.ndarray)):
            raw = np.asarray(raw).tolist()
        elif isinstance(raw, np.generic):
            raw = raw.item()
        try:
            value = V.cast(raw, t)
        except (V.QasmValueError, TypeError, ValueError) as e:
            raise self.error(node.identifier, f"input '{name}' = {raw!r} does not fit type {t!r}: {e}") from None
        self.new_var(name, t, node, value, const=False)

    @_stmt(ast.AliasStatement)
    def _alias(self, node):
        labels = self.qubit_operand(node.value)
        self.declare(node.target.name, QubitReg(labels[0] if labels[1] else (labels[0],)), node.target)

    @_stmt(ast.ClassicalAssignment)
    def _assign(self, node):
        lv = node.lvalue
        name_node = lv if isinstance(lv, ast.Identifier) else lv.name
        var = self.lookup_var(name_node.name, name_node)
        if var.const:
            raise self.error(lv, f"cannot assign to const '{var.name}'")
        if var.depth < self.branch_depth:
            raise self.error(node, f"assigning to '{var.name}' inside an 'if' that depends on measured values is "
                                   f"not supported (measurement-dependent classical state)")
        rvalue = self.eval(node.rvalue)
        op = _ASSIGN.get(node.op)
        if isinstance(lv, ast.Identifier):
            if op is not None:
                rvalue = self.binop(op, var.value, rvalue, node)
            var.value = self.cast(rvalue, var.type, node.rvalue)
            return
        self.assign_indexed(var, lv.indices, rvalue, op, node)

    def assign_indexed(self, var, indices, rvalue, op, node):
        t = var.type
        if t.kind == "bit" and t.width is not None:
            if len(indices) != 1:
                raise self.error(node, f"'{var.name}' is a bit register and takes one index")
            positions = self.index_positions(indices[0], t.width, var.name, node)
            if isinstance(positions, int):
                old = var.value.cells[positions]
                new = self.binop(op, old, rvalue, node) if op else rvalue
                var.value.cells[positions] = self.cast(new, V.QType("bit"), node)
            else:
                old = V.BitReg([var.value.cells[p] for p in positions])
                new = self.binop(op, old, rvalue, node) if op else rvalue
                sub = self.cast(new, V.QType("bit", len(positions)), node)
                for p, c in zip(positions, sub.cells):
                    var.value.cells[p] = c
            return
        if t.kind != "array":
            raise self.error(node, f"'{var.name}' of type {t!r} cannot be indexed")
        flat = [i for element in indices for i in self._index_list(element)]
        if len(flat) != len(t.dims):
            raise self.error(node, f"assignment to '{var.name}' needs {len(t.dims)} index(es), got {len(flat)}")
        container = var.value
        for depth, (ix, dim) in enumerate(zip(flat, t.dims)):
            i = self.const_index(ix, dim, var.name)
            if depth == len(flat) - 1:
                new = self.binop(op, container[i], rvalue, node) if op else rvalue
                container[i] = self.cast(new, t.base, node)
            else:
                container = container[i]

    def _index_list(self, element):
        if isinstance(element, ast.DiscreteSet):
            raise self.error(element, "a set index is not allowed here")
        return list(element)

    @_stmt(ast.ExpressionStatement)
    def _expr_stmt(self, node):
        self.eval(node.expression)

    # ---------------------------------------------------------------- control flow
    @_stmt(ast.BranchingStatement)
    def _if(self, node):
        cond = self.eval(node.condition)
        if isinstance(cond, V.BitReg):
            cond = V.scalar(cond)
        if isinstance(cond, ClassicalExpr):
            self.conditional(cond, node)
            return
        if isinstance(cond, (list, complex)):
            raise self.error(node.condition, f"'if' condition must be a boolean, got {V.describe(cond)}")
        self.run_block(node.if_block if cond else node.else_block)

    def conditional(self, cond, node):
        saved, depth = self.ops, self.branch_depth
        self.branch_depth += 1
        try:
            bodies = []
            for block in (node.if_block, node.else_block):
                self.ops = []
                try:
                    self.run_block(block)
                except _Break as b:
                    word = "continue" if isinstance(b, _Continue) else "break"
                    raise self.error(b.node, f"'{word}' inside an 'if' that depends on measured values is not "
                                             f"supported") from None
                except _Return as r:
                    raise self.error(r.node, "'return' inside an 'if' that depends on measured values is not "
                                             "supported") from None
                except _End as e:
                    raise self.error(e.node, "'end' inside an 'if' that depends on measured values is not "
                                             "supported") from None
                bodies.append(tuple(self.ops))
        finally:
            self.ops, self.branch_depth = saved, depth
        self.emit(Conditional(cond, bodies[0], bodies[1]))

    @_stmt(ast.ForInLoop)
    def _for(self, node):
        t = self.type_of(node.type)
        name = node.identifier.name
        for count, value in enumerate(self.iteration_values(node.set_declaration), 1):
            if count > _limits.MAX_LOOP_ITERATIONS:
                raise self.error(node, loop_limit_message("for"))
            value = self.cast(value, t, node.set_declaration)
            self.frame.scopes.append({name: Var(name, t, value, False, self.branch_depth)})
            try:
                self.run_block(node.block, new_scope=False)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                self.frame.scopes.pop()

    def iteration_values(self, decl):
        if isinstance(decl, ast.RangeDefinition):
            start, stop, step = self.range_bounds(decl, None, "loop range")
            if step > 0:
                return range(start, stop + 1, step)
            return range(start, stop - 1, step)
        if isinstance(decl, ast.DiscreteSet):
            return [self.known(self.eval(v), v, "a loop set value") for v in decl.values]
        value = self.eval(decl)
        if isinstance(value, V.BitReg):
            if value.symbolic:
                raise self.error(decl, "looping over measured bits is not supported (measurement-dependent "
                                       "values)")
            return list(value.cells)
        if isinstance(value, list):
            return value
        raise self.error(decl, f"cannot loop over {V.describe(value)}")

    @_stmt(ast.WhileLoop)
    def _while(self, node):
        count = 0
        while True:
            cond = self.eval(node.while_condition)
            if V.is_symbolic(cond):
                raise self.error(node.while_condition, "a 'while' condition that depends on measured values is "
                                                       "not supported")
            if not cond:
                return
            count += 1
            if count > _limits.MAX_LOOP_ITERATIONS:
                raise self.error(node, loop_limit_message("while"))
            try:
                self.run_block(node.block)
            except _Continue:
                continue
            except _Break:
                return

    @_stmt(ast.SwitchStatement)
    def _switch(self, node):
        target = self.known(V.scalar(self.eval(node.target)), node.target, "a 'switch' target")
        for values, block in node.cases:
            for v in values:
                if self.known(V.scalar(self.eval(v)), v, "a 'case' value") == target:
                    self.run_block(block.statements)
                    return
        if node.default is not None:
            self.run_block(node.default.statements)

    @_stmt(ast.CompoundStatement)
    def _compound(self, node):
        self.run_block(node.statements)

    @_stmt(ast.BreakStatement)
    def _break(self, node):
        raise _Break(node)

    @_stmt(ast.ContinueStatement)
    def _continue(self, node):
        raise _Continue(node)

    @_stmt(ast.EndStatement)
    def _end(self, node):
        raise _End(node)

    @_stmt(ast.ReturnStatement)
    def _return(self, node):
        value = None
        if isinstance(node.expression, ast.QuantumMeasurement):
            labels, is_reg = self.qubit_operand(node.expression.qubit)
            cells = []
            for q in (labels if is_reg else (labels,)):
                idx = self.bare_placeholder()
                self.emit(Measure(q, idx))
                cells.append(BitRef(idx))
            value = V.BitReg(cells) if is_reg else cells[0]
        elif node.expression is not None:
            value = self.eval(node.expression)
        raise _Return(node, value)

    # ---------------------------------------------------------------- definitions
    @_stmt(ast.QuantumGateDefinition)
    def _gate_def(self, node):
        name = node.name.name
        if self.frame is not self.global_frame or len(self.frame.scopes) != 1:
            raise self.error(node, "gates can only be defined at the top level")
        if name in self.gates or name in self.subs or name in self.global_frame.scopes[0]:
            raise self.error(node.name, f"gate '{name}' is already defined")
        qubits = [q.name for q in node.qubits]
        if len(set(qubits)) != len(qubits):
            raise self.error(node, f"gate '{name}' lists a qubit argument twice: {qubits}")
        self.gates[name] = GateDef(name, [a.name for a in node.arguments], qubits, node.body, node)

    @_stmt(ast.SubroutineDefinition)
    def _def(self, node):
        name = node.name.name
        if self.frame is not self.global_frame or len(self.frame.scopes) != 1:
            raise self.error(node, "subroutines can only be defined at the top level")
        if name in self.gates or name in self.subs or name in self.global_frame.scopes[0]:
            raise self.error(node.name, f"subroutine '{name}' is already defined")
        self.subs[name] = SubDef(name, node.arguments, node.body, node.return_type, node)

    # ---------------------------------------------------------------- quantum statements
    @_stmt(ast.QuantumGate)
    def _gate(self, node):
        self.apply_gate(node, node.name.name, node.arguments, node.qubits, node.modifiers)

    @_stmt(ast.QuantumPhase)
    def _gphase(self, node):
        self.apply_gate(node, "gphase", [node.argument], node.qubits, node.modifiers)

    @_stmt(ast.QuantumBarrier)
    def _barrier(self, node):
        for q in node.qubits:  # names are still checked
            self.qubit_operand(q)

    @_stmt(ast.QuantumReset)
    def _reset(self, node):
        labels, is_reg = self.qubit_operand(node.qubits)
        for q in (labels if is_reg else (labels,)):
            self.emit(Reset(q))

    @_stmt(ast.QuantumMeasurementStatement)
    def _measure(self, node):
        target = node.target
        if target is None:
            labels, is_reg = self.qubit_operand(node.measure.qubit)
            for q in (labels if is_reg else (labels,)):
                self.emit(Measure(q, self.bare_placeholder()))
            return
        self.measure_into(node.measure.qubit, self.bit_cells(target), node, target)

    def bare_placeholder(self) -> int:
        self.bare_measures += 1
        return -self.bare_measures  # renumbered after the declared bits once the walk is done

    def bit_cells(self, target):
        """(var, position) for each bit an l-value names."""
        name_node = target if isinstance(target, ast.Identifier) else target.name
        var = self.lookup_var(name_node.name, name_node)
        if var.type.kind != "bit":
            raise self.error(target, f"'{var.name}' is a {var.type!r}; a measurement can only be stored in bits")
        if isinstance(target, ast.Identifier):
            return [(var, i) for i in range(var.type.width or 1)]
        if var.type.width is None or len(target.indices) != 1:
            raise self.error(target, f"bit '{var.name}' cannot be indexed like that")
        positions = self.index_positions(target.indices[0], var.type.width, var.name, target)
        if isinstance(positions, int):
            return [(var, positions)]
        return [(var, p) for p in positions]

    def measure_into(self, qubit_node, cells, node, target_node):
        if cells is None:
            raise self.error(node, "a measurement can only be stored in bits")
        labels, is_reg = self.qubit_operand(qubit_node)
        labels = labels if is_reg else (labels,)
        if len(labels) != len(cells):
            raise self.error(node, f"cannot store the measurement of {len(labels)} qubit(s) in {len(cells)} bit(s)")
        for q, (var, pos) in zip(labels, cells):
            if var.const:
                raise self.error(target_node, f"cannot measure into const '{var.name}'")
            index = var.bit_base + pos
            old = var.value.cells[pos] if var.type.width is not None else var.value
            if var.depth < self.branch_depth and not (
                    (isinstance(old, BitRef) and old.index == index)
                    or (not isinstance(old, ClassicalExpr) and int(old) == 0 and index not in self.measured)):
                raise self.error(node, f"measuring into '{var.name}' inside an 'if' that depends on measured values "
                                       f"is only supported while the bit holds its last measured value")
            self.emit(Measure(q, index))
            self.measured.add(index)
            if var.type.width is None:
                var.value = BitRef(index)
            else:
                var.value.cells[pos] = BitRef(index)

    @_stmt(ast.Box)
    def _box(self, node):
        self.verbatim_pending = None
        if node.duration is not None:
            raise self.error(node.duration, "a 'box' with a duration is not supported: qsim has no timing")
        self.run_block(node.body)

    @_stmt(ast.Pragma)
    def _pragma(self, node):
        text = node.command
        try:
            pragma = _pragmas.parse_pragma(text)
        except _pragmas.PragmaError as e:
            raise self.pragma_error(node, text, e.offset, e.message) from None
        if isinstance(pragma, _pragmas.VerbatimPragma):
            self.verbatim_pending = node
            return
        if isinstance(pragma, _pragmas.UnitaryPragma):
            self.unitary_pragma(node, text, pragma)
            return
        if self.branch_depth:
            raise self.error(node, "result pragmas inside an 'if' that depends on measured values are not supported")
        try:
            self.results.append(self.result_type(node, text, pragma))
        except QsimError as e:
            if isinstance(e, ProgramError):
                raise
            raise self.pragma_error(node, text, pragma.offset, str(e)) from None

    def pragma_error(self, node, text, offset, message):
        line, _ = self.loc.where(node)
        src = self.loc.source_line(line) or ""
        start = src.find(text)
        col = start + offset + 1 if start >= 0 else None
        return self.loc.error_at(message, line, col)

    def factor_qubits(self, node, text, f, part):
        """The qubits a pragma gives observable factor ``f`` (parsed as ``part``), checked against
        the qubit count the factor acts on."""
        qs = self.pragma_qubits(node, text, f.targets)
        if len(qs) != part.qubit_count:
            raise self.pragma_error(node, text, f.offset,
                                    f"observable '{f.name}' acts on {part.qubit_count} qubit(s) but "
                                    f"{len(qs)} were given: {list(qs)}")
        return qs

    def pragma_qubits(self, node, text, refs) -> tuple[int, ...]:
        out = []
        for ref in refs:
            if ref.name.startswith("$"):
                out.append(int(ref.name[1:]))
                continue
            sym = self.lookup(ref.name, node)
            if not isinstance(sym, QubitReg):
                what = "is not declared" if sym is None else "is not a qubit register"
                raise self.pragma_error(node, text, ref.offset, f"'{ref.name}' {what}")
            labels, index = sym.labels, ref.index
            if index is None:
                out.extend(labels)
                continue
            if isinstance(index, str):
                value = self.lookup_var(index, node).value
                index = self.known(value, node, f"qubit index '{index}'")
            if isinstance(index, int):
                picks = [index]
            elif index[0] == "set":
                picks = index[1]
            else:
                _, a, b, step = index
                for bound in (a, b):  # before building the list: the bounds come from the program text
                    if not -len(labels) <= bound < len(labels):
                        raise self.pragma_error(node, text, ref.offset, f"slice bound {bound} is out of range "
                                                                        f"for '{ref.name}' of size {len(labels)}")
                picks = list(range(a, b + (1 if step > 0 else -1), step))
            for i in picks:
                if not -len(labels) <= i < len(labels):
                    raise self.pragma_error(node, text, ref.offset,
                                            f"index {i} is out of range for '{ref.name}' of size {len(labels)}")
                out.append(labels[i])
        return tuple(out)

    def pragma_matrix(self, node, text, rows, offset) -> np.ndarray:
        if len({len(r) for r in rows}) != 1:
            raise self.pragma_error(node, text, offset, f"matrix rows have different lengths {[len(r) for r in rows]}")
        with np.errstate(all="ignore"):  # 1e400 becomes inf: reported below, not warned about
            m = np.array(rows, dtype=np.complex128)
        if not np.all(np.isfinite(m)):
            bad = next(v for row in rows for v in row if not np.isfinite(complex(v)))
            raise self.pragma_error(node, text, offset,
                                    f"matrix entry {bad!r} is not a finite number (too large for a double?)")
        return m

    def unitary_pragma(self, node, text, p):
        m = self.pragma_matrix(node, text, p.matrix, p.offset)
        targets = self.pragma_qubits(node, text, p.targets)
        dim = 1 << len(targets)
        if m.shape != (dim, dim):
            raise self.pragma_error(node, text, p.offset, f"a unitary on {len(targets)} qubit(s) must be "
                                                          f"{dim}x{dim}, got {m.shape[0]}x{m.shape[1]}")
        if len(set(targets)) != len(targets):
            raise self.pragma_error(node, text, p.offset, f"unitary targets repeat a qubit: {list(targets)}")
        if not _gates.is_unitary(m):
            raise self.pragma_error(node, text, p.offset, f"matrix is not unitary: {m.tolist()}")
        self.emit(GateOp("unitary", targets, unitary=m))

    def adjoint_gradient(self, node, text, p):
        terms = []
        for coeff, factors in p.terms:
            observable, targets = None, []
            for f in factors:
                if f.targets is None:
                    raise self.pragma_error(node, text, f.offset, "every factor of an adjoint_gradient "
                                                                  "observable needs its qubits")
                part = self.observable_factor(node, text, f)
                targets.extend(self.factor_qubits(node, text, f, part))
                observable = part if observable is None else observable @ part
            terms.append((coeff, observable, tuple(targets)))
        try:
            return _rt.AdjointGradient(tuple(terms), None if p.parameters is None else tuple(p.parameters))
        except QsimError as e:
            raise self.pragma_error(node, text, p.offset, str(e)) from None

    def observable_factor(self, node, text, f):
        if f.name != "hermitian":
            return _obs.named(f.name)
        try:
            return _obs.Hermitian(self.pragma_matrix(node, text, f.matrix, f.offset))
        except QsimError as e:
            if isinstance(e, ProgramError):
                raise
            raise self.pragma_error(node, text, f.offset, str(e)) from None

    def result_type(self, node, text, p):
        if p.kind == "adjoint_gradient":
            return self.adjoint_gradient(node, text, p)
        if p.kind == "state_vector":
            return _rt.StateVector()
        if p.kind == "amplitude":
            return _rt.Amplitude(tuple(p.states))
        if p.kind in ("probability", "density_matrix"):
            targets = None if p.targets is None else self.pragma_qubits(node, text, p.targets)
            return (_rt.Probability if p.kind == "probability" else _rt.DensityMatrix)(targets)
        observable, targets = None, []
        for f in p.factors:
            if f.name == "hermitian":
                try:
                    part = _obs.Hermitian(self.pragma_matrix(node, text, f.matrix, f.offset))
                except QsimError as e:
                    if isinstance(e, ProgramError):
                        raise
                    raise self.pragma_error(node, text, f.offset, str(e)) from None
            else:
                part = _obs.named(f.name)
            if f.targets is None:
                if len(p.factors) > 1:
                    raise self.pragma_error(node, text, f.offset, "every factor of a tensor product needs its qubits")
                targets = None
            else:
                targets.extend(self.factor_qubits(node, text, f, part))
            observable = part if observable is None else observable @ part
        cls = {"expectation": _rt.Expectation, "variance": _rt.Variance, "sample": _rt.Sample}[p.kind]
        return cls(observable, None if targets is None else tuple(targets))

    # ---------------------------------------------------------------- gates
    def modifiers(self, mods):
        """([(n_controls, state)...], [exponent...]) in the order written (outermost first)."""
        controls, powers = [], []
        for m in mods:
            kind = m.modifier
            if kind == ast.GateModifierName.inv:
                powers.append(-1.0)
            elif kind == ast.GateModifierName.pow:
                k = self.known(V.scalar(self.eval(m.argument)), m.argument, "a pow() exponent")
                if isinstance(k, (bool, complex)) or not isinstance(k, (int, float)) or \
                        (isinstance(k, float) and not math.isfinite(k)):
                    raise self.error(m.argument, f"pow() exponent must be a finite real number, got {k!r}")
                powers.append(k if isinstance(k, int) else float(k))  # ints stay exact (parity of 10**30+1)
            else:
                n = 1
                if m.argument is not None:
                    n = self.const_int(m.argument, "the number of controls")
                    if n < 1:
                        raise self.error(m.argument, f"ctrl({n}) needs a positive number of controls")
                controls.append((n, 1 if kind == ast.GateModifierName.ctrl else 0))
        return controls, powers

    def apply_gate(self, node, name, arg_nodes, qubit_nodes, mods):
        controls, powers = self.modifiers(mods) if mods else ((), ())
        n_ctrl = sum(n for n, _ in controls)
        states = tuple(s for n, s in controls for _ in range(n))
        custom = self.gates.get(name)
        spec = None
        if custom is None:
            spec = _gates.lookup(name)
            if spec is None:
                raise self.error(node, f"unknown gate '{name}'" + (
                    f" (it is defined in \"{_stdgates.FILENAME}\"; add include \"{_stdgates.FILENAME}\";)"
                    if f"gate {name}" in _stdgates.LIBRARY else ""))
            n_targets, n_params, opt = spec.qubits, spec.params, spec.optional_params
        else:
            n_targets, n_params, opt = len(custom.qubits), len(custom.params), 0
        shown = _shown(name, mods)
        if not n_params <= len(arg_nodes) <= n_params + opt:
            want = str(n_params) if not opt else f"{n_params} to {n_params + opt}"
            raise self.error(node, f"gate '{name}' takes {want} parameter(s), got {len(arg_nodes)}")
        if name == "gphase" and spec is not None:
            # `gphase(g) q;` may list qubits: only the ones consumed by ctrl@ matter.
            if len(qubit_nodes) < n_ctrl:
                raise self.error(node, f"'{shown}' needs {n_ctrl} control qubit(s), got {len(qubit_nodes)}")
            qubit_nodes = qubit_nodes[:n_ctrl]
        elif len(qubit_nodes) != n_ctrl + n_targets:
            detail = f" ({n_ctrl} control(s) + {n_targets} target(s))" if n_ctrl else ""
            raise self.error(node, f"gate '{shown}' acts on {n_ctrl + n_targets} qubit(s){detail}, "
                                   f"got {len(qubit_nodes)}")
        params = tuple(self.angle(a) for a in arg_nodes)
        operands = [self.qubit_operand(q) for q in qubit_nodes]
        width = None
        for (labels, is_reg), qn in zip(operands, qubit_nodes):
            if is_reg:
                if width is None:
                    width = len(labels)
                elif len(labels) != width:
                    raise self.error(qn, f"cannot broadcast '{shown}' over registers of different sizes "
                                         f"({width} and {len(labels)})")
        for i in range(width if width is not None else 1):
            qubits = tuple(labels[i] if is_reg else labels for labels, is_reg in operands)
            if len(set(qubits)) != len(qubits):
                dup = next(q for q in qubits if qubits.count(q) > 1)
                raise self.error(node, f"qubit {dup} is used twice in '{shown}' (qubits {list(qubits)})")
            ctrl_q, targets = qubits[:n_ctrl], qubits[n_ctrl:]
            if custom is None:
                self.emit(GateOp(spec.name, targets, params, ctrl_q, states, tuple(powers)))
            else:
                ops = self.expand_custom(custom, params, targets, node)
                for e in reversed(powers):
                    ops = self.power_ops(ops, e, targets)
                for op in ops:
                    if ctrl_q:
                        op = replace(op, controls=ctrl_q + op.controls, control_states=states + op.control_states)
                    self.emit(op)

    def expand_custom(self, g: GateDef, params, targets, node) -> list:
        if self.call_depth >= _limits.MAX_CALL_DEPTH:
            raise self.error(node, f"gate '{g.name}' nests deeper than {_limits.MAX_CALL_DEPTH} calls "
                                   f"(recursive definition?)")
        frame = _Frame("gate")
        scope = frame.scopes[0]
        for pname, value in zip(g.params, params):
            scope[pname] = Var(pname, V.QType("angle"), value, const=True)
        for qname, q in zip(g.qubits, targets):
            scope[qname] = QubitReg((q,), single=True)
        saved_frame, saved_ops, saved_stmt = self.frame, self.ops, self.stmt
        body_ops = []
        self.frame, self.ops = frame, body_ops
        self.call_depth += 1
        try:
            for s in g.body:
                if not isinstance(s, (ast.QuantumGate, ast.QuantumPhase, ast.QuantumBarrier)):
                    raise self.error(s, f"gate '{g.name}' may only contain gate calls, got "
                                        f"'{type(s).__name__}'")
                self.run_stmt(s)
        finally:
            self.call_depth -= 1
            self.frame, self.ops, self.stmt = saved_frame, saved_ops, saved_stmt
        return body_ops

    def power_ops(self, ops: list, k: float, qubits) -> list:
        if k == int(k) and abs(k) <= _limits.MAX_UNROLLED_POWER:
            k = int(k)
            if k >= 0:
                return ops * k
            inverse = [replace(op, exponents=(-1.0,) + op.exponents) for op in reversed(ops)]
            return inverse * (-k)
        if len(qubits) > _compose.MAX_QUBITS:
            raise self.error(None, f"pow({k}) of a custom gate on {len(qubits)} qubits would need a dense "
                                   f"{1 << len(qubits)}x{1 << len(qubits)} matrix; at most {_compose.MAX_QUBITS} "
                                   f"qubits are supported")
        try:
            u = _compose.compose(ops, qubits)
        except QsimError as e:  # e.g. an unbound parameter
            raise self.error(None, str(e)) from None
        return [GateOp("unitary", tuple(qubits), (), (), (), (k if isinstance(k, int) else float(k),), u)]

    def angle(self, node) -> float:
        v = self.eval(node)
        if isinstance(v, ParameterExpression):
            return v
        if V.is_symbolic(v):
            raise self.error(node, "a gate parameter that depends on measured values is not supported")
        v = V.scalar(v)
        if isinstance(v, complex) or not isinstance(v, (int, float)):
            raise self.error(node, f"gate parameter must be a real number, got {V.describe(v)}")
        v = float(v)
        if not math.isfinite(v):
            raise self.error(node, f"gate parameter is not finite: {v}")
        return v

    # ---------------------------------------------------------------- qubit operands
    def qubit_operand(self, node):
        """(labels, True) for a register-valued operand, (label, False) for a single qubit."""
        if isinstance(node, ast.Identifier):
            sym = self.lookup(node.name, node)
            if sym is None:
                raise self.error(node, f"qubit '{node.name}' is not declared")
            if not isinstance(sym, QubitReg):
                raise self.error(node, f"'{node.name}' is a classical variable, not a qubit")
            return (sym.labels[0], False) if sym.single else (sym.labels, True)
        if isinstance(node, ast.IndexedIdentifier):
            labels, is_reg = self.qubit_operand(node.name)
            name = node.name.name
            for element in node.indices:
                labels, is_reg = self.index_qubits(labels, is_reg, element, name, node)
            return labels, is_reg
        if isinstance(node, ast.IndexExpression):
            labels, is_reg = self.qubit_operand(node.collection)
            name = getattr(node.collection, "name", "register")
            return self.index_qubits(labels, is_reg, node.index, name, node)
        if isinstance(node, ast.Concatenation):
            left, lr = self.qubit_operand(node.lhs)
            right, rr = self.qubit_operand(node.rhs)
            return (left if lr else (left,)) + (right if rr else (right,)), True
        raise self.error(node, f"expected a qubit, got '{type(node).__name__}'")

    def index_qubits(self, labels, is_reg, element, name, node):
        if not is_reg:
            raise self.error(node, f"'{name}' is a single qubit and cannot be indexed")
        positions = self.index_positions(element, len(labels), name, node)
        if isinstance(positions, int):
            return labels[positions], False
        return tuple(labels[p] for p in positions), True

    def index_positions(self, element, size, name, node):
        """An int for a single index, else a list of positions (ranges, sets)."""
        if isinstance(element, ast.DiscreteSet):
            return [self.const_index(v, size, name) for v in element.values]
        if len(element) != 1:
            raise self.error(node, f"'{name}' takes one index, got {len(element)}")
        ix = element[0]
        if isinstance(ix, ast.RangeDefinition):
            start, stop, step = self.range_bounds(ix, size, f"slice of '{name}'")
            for b in (start, stop):
                if not -size <= b < size:
                    raise self.error(ix, f"slice bound {b} is out of range for '{name}' of size {size}")
            start, stop = start % size, stop % size
            return list(range(start, stop + (1 if step > 0 else -1), step))
        return self.const_index(ix, size, name)

    def const_index(self, node, size, name) -> int:
        v = self.eval(node)
        if V.is_symbolic(v):
            raise self.error(node, f"an index into '{name}' that depends on measured values is not supported")
        v = V.scalar(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(node, f"index into '{name}' must be an integer, got {V.describe(v)}")
        if not -size <= v < size:
            raise self.error(node, f"index {v} is out of range for '{name}' of size {size}")
        return v % size

    def range_bounds(self, r, size, what):
        start = 0 if r.start is None else self.int_value(r.start, what)
        if r.end is None:
            if size is None:
                raise self.error(r, f"{what} needs an end value")
            stop = size - 1
        else:
            stop = self.int_value(r.end, what)
        step = 1 if r.step is None else self.int_value(r.step, what)
        if step == 0:
            raise self.error(r, f"{what} has step 0")
        return start, stop, step

    # ---------------------------------------------------------------- classical helpers
    def known(self, v, node, what):
        if V.is_symbolic(v):
            raise self.error(node, f"{what} that depends on measured values is not supported")
        return v

    def int_value(self, node, what) -> int:
        v = V.scalar(self.known(self.eval(node), node, what))
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(node, f"{what} must be an integer, got {V.describe(v)}")
        return v

    def const_int(self, node, what) -> int:
        return self.int_value(node, what)

    def cast(self, value, t, node):
        try:
            return V.cast(value, t)
        except V.QasmValueError as e:
            raise self.error(node, str(e)) from None

    def binop(self, op, a, b, node):
        cap = _limits.MAX_INT_BITS
        if op in ("**", "<<") and type(a) is int and type(b) is int and b > 0 and \
                (a not in (0, 1, -1) if op == "**" else a != 0):
            # a lower bound of the result's bits (exact for powers of two); the check after catches the rest
            bits = (abs(a).bit_length() - 1) * b + 1 if op == "**" else abs(a).bit_length() + b
            if bits > cap:  # refuse before computing: 2**(10**9) would take minutes and gigabytes
                raise self.error(node, f"integer {a} {op} {b} would have about {bits} bits, more than the limit "
                                       f"of {cap}")
        try:
            value = V.binary(op, a, b)
        except V.QasmValueError as e:
            raise self.error(node, str(e)) from None
        if type(value) is int and value.bit_length() > cap:
            raise self.error(node, f"integer result of '{op}' has {value.bit_length()} bits, more than the "
                                   f"limit of {cap}")
        return value

    def type_of(self, node) -> V.QType:
        if isinstance(node, (ast.IntType, ast.UintType, ast.FloatType, ast.AngleType)):
            kind = {ast.IntType: "int", ast.UintType: "uint", ast.FloatType: "float", ast.AngleType: "angle"}[type(node)]
            width = None if node.size is None else self.const_int(node.size, "a type width")
            if width is not None and width <= 0:
                raise self.error(node.size, f"type width must be positive, got {width}")
            if width is not None and width > _limits.MAX_REGISTER_SIZE:
                raise self.error(node.size, f"type width {width} is more than the limit of "
                                            f"{_limits.MAX_REGISTER_SIZE}")
            return V.QType(kind, width)
        if isinstance(node, ast.BitType):
            width = None if node.size is None else self.const_int(node.size, "a bit register size")
            if width is not None and width <= 0:
                raise self.error(node.size, f"bit register size must be positive, got {width}")
            if width is not None and width > _limits.MAX_REGISTER_SIZE:
                raise self.error(node.size, f"bit register size {width} is more than the limit of "
                                            f"{_limits.MAX_REGISTER_SIZE}")
            return V.QType("bit", width)
        if isinstance(node, ast.BoolType):
            return V.QType("bool")
        if isinstance(node, ast.ComplexType):
            return V.QType("complex")
        if isinstance(node, ast.ArrayType):
            dims = [self.const_int(d, "an array dimension") for d in node.dimensions]
            cells = 1
            for d, dn in zip(dims, node.dimensions):
                cells *= max(d, 0)
                if cells > _limits.MAX_REGISTER_SIZE:
                    raise self.error(dn, f"an array of dimensions {dims} has more than "
                                         f"{_limits.MAX_REGISTER_SIZE} elements")
            return V.QType("array", base=self.type_of(node.base_type), dims=dims)
        if isinstance(node, ast.ArrayReferenceType):
            return V.QType("arrayref", base=self.type_of(node.base_type))
        if isinstance(node, (ast.DurationType, ast.StretchType)):
            raise self.error(node, f"'{'duration' if isinstance(node, ast.DurationType) else 'stretch'}' types "
                                   f"are not supported: qsim has no timing")
        raise self.error(node, f"type '{type(node).__name__}' is not supported")

    # ---------------------------------------------------------------- expressions
    def eval(self, node):
        handler = _EXPR.get(type(node))
        if handler is None:
            if isinstance(node, ast.QuantumMeasurement):
                raise self.error(node, "'measure' can only be assigned to bits or returned")
            raise self.error(node, f"'{type(node).__name__}' expressions are not supported")
        return handler(self, node)

    @_expr(ast.IntegerLiteral)
    def _int_lit(self, node):
        return node.value

    @_expr(ast.FloatLiteral)
    def _float_lit(self, node):
        return node.value

    @_expr(ast.ImaginaryLiteral)
    def _imag_lit(self, node):
        return complex(0.0, node.value)

    @_expr(ast.BooleanLiteral)
    def _bool_lit(self, node):
        return node.value

    @_expr(ast.BitstringLiteral)
    def _bitstring(self, node):
        return V.BitReg(V.bits_of_int(node.value, node.width))

    @_expr(ast.DurationLiteral, ast.DurationOf)
    def _duration(self, node):
        raise self.error(node, "durations are not supported: qsim has no timing")

    @_expr(ast.ArrayLiteral)
    def _array_lit(self, node):
        return [self.eval(v) for v in node.values]

    @_expr(ast.Identifier)
    def _ident(self, node):
        name = node.name
        sym = None
        for scope in reversed(self.frame.scopes):
            sym = scope.get(name)
            if sym is not None:
                break
        if sym is None:
            if name in V.CONSTANTS:
                return V.CONSTANTS[name]
            sym = self.lookup(name, node)
            if sym is None:
                raise self.error(node, f"'{name}' is not declared")
        if isinstance(sym, QubitReg):
            raise self.error(node, f"qubit '{name}' cannot be used as a classical value")
        v = sym.value
        if isinstance(v, V.BitReg):
            return V.BitReg(v.cells)  # a copy: later writes to the variable must not change this value
        return v

    @_expr(ast.UnaryExpression)
    def _unary(self, node):
        v = self.eval(node.expression)
        try:
            return V.unary(_UNOP[node.op], v)
        except V.QasmValueError as e:
            raise self.error(node, str(e)) from None

    @_expr(ast.BinaryExpression)
    def _binary(self, node):
        op = _BINOP[node.op]
        a = self.eval(node.lhs)
        if op in ("&&", "||") and not V.is_symbolic(a):  # short-circuit on known values
            if (op == "&&" and not a) or (op == "||" and a):
                return bool(a)
            b = self.eval(node.rhs)
            return b if V.is_symbolic(b) else bool(b)
        return self.binop(op, a, self.eval(node.rhs), node)

    @_expr(ast.Cast)
    def _cast_expr(self, node):
        return self.cast(self.eval(node.argument), self.type_of(node.type), node)

    @_expr(ast.IndexExpression)
    def _index(self, node):
        value = self.eval(node.collection)
        name = getattr(node.collection, "name", "value")
        element = node.index
        if isinstance(value, V.BitReg):
            pos = self.index_positions(element, len(value), name, node)
            return value.cells[pos] if isinstance(pos, int) else V.BitReg([value.cells[p] for p in pos])
        if isinstance(value, list):
            if isinstance(element, ast.DiscreteSet):
                return [value[self.const_index(v, len(value), name)] for v in element.values]
            for ix in element:
                if not isinstance(value, list):
                    raise self.error(node, f"too many indices for '{name}'")
                if isinstance(ix, ast.RangeDefinition):
                    start, stop, step = self.range_bounds(ix, len(value), f"slice of '{name}'")
                    for b in (start, stop):
                        if not -len(value) <= b < len(value):
                            raise self.error(ix, f"slice bound {b} is out of range for '{name}' of size {len(value)}")
                    value = [value[i % len(value)] for i in range(start, stop + (1 if step > 0 else -1), step)]
                else:
                    value = value[self.const_index(ix, len(value), name)]
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            pos = self.index_positions(element, 64, name, node)
            if isinstance(pos, int):
                return V.Bit((value >> pos) & 1)
            return V.BitReg([V.Bit((value >> p) & 1) for p in pos])
        raise self.error(node, f"'{name}' ({V.describe(value)}) cannot be indexed")

    @_expr(ast.Concatenation)
    def _concat(self, node):
        a, b = self.eval(node.lhs), self.eval(node.rhs)
        if isinstance(a, V.BitReg) and isinstance(b, V.BitReg):
            return V.BitReg(a.cells + b.cells)
        if isinstance(a, list) and isinstance(b, list):
            return a + b
        raise self.error(node, f"cannot concatenate {V.describe(a)} and {V.describe(b)}")

    @_expr(ast.SizeOf)
    def _sizeof(self, node):
        target = node.target
        dim = 0 if node.index is None else self.int_value(node.index, "sizeof dimension")
        if isinstance(target, ast.Identifier):
            sym = self.lookup(target.name, target)
            if isinstance(sym, QubitReg):
                if dim != 0:
                    raise self.error(node, f"qubit register '{target.name}' has one dimension")
                return len(sym.labels)
        value = self.eval(target)
        if isinstance(value, V.BitReg):
            if dim != 0:
                raise self.error(node, "a bit register has one dimension")
            return len(value)
        if not isinstance(value, list):
            raise self.error(node, f"sizeof needs an array or register, got {V.describe(value)}")
        for _ in range(dim):
            if not value or not isinstance(value[0], list):
                raise self.error(node, f"sizeof dimension {dim} is out of range")
            value = value[0]
        return len(value)

    @_expr(ast.FunctionCall)
    def _call(self, node):
        name = node.name.name
        sub = self.subs.get(name)
        if sub is not None:
            return self.call_subroutine(sub, node)
        fn = V.FUNCTIONS.get(name)
        if fn is None:
            if name in self.gates or _gates.lookup(name) is not None:
                raise self.error(node, f"'{name}' is a gate; apply it to qubits instead of calling it")
            raise self.error(node, f"unknown function '{name}'")
        arity, f = fn
        if len(node.arguments) != arity:
            raise self.error(node, f"'{name}' takes {arity} argument(s), got {len(node.arguments)}")
        args = [self.eval(a) for a in node.arguments]
        for a, an in zip(args, node.arguments):
            if V.is_symbolic(a):
                raise self.error(an, f"'{name}' of a measurement-dependent value is not supported")
        try:
            return f(*args)
        except V.QasmValueError as e:
            raise self.error(node, f"{name}: {e}") from None

    def call_subroutine(self, sub: SubDef, node):
        if len(node.arguments) != len(sub.args):
            raise self.error(node, f"subroutine '{sub.name}' takes {len(sub.args)} argument(s), "
                                   f"got {len(node.arguments)}")
        if self.call_depth >= _limits.MAX_CALL_DEPTH:
            raise self.error(node, f"subroutine '{sub.name}' nests deeper than {_limits.MAX_CALL_DEPTH} calls")
        frame = _Frame("def")
        scope = frame.scopes[0]
        for arg, an in zip(sub.args, node.arguments):
            pname = arg.name.name
            if isinstance(arg, ast.QuantumArgument):
                labels, is_reg = self.qubit_operand(an)
                if arg.size is None:
                    if is_reg:
                        raise self.error(an, f"argument '{pname}' of '{sub.name}' is one qubit, got a register "
                                             f"of {len(labels)}")
                    scope[pname] = QubitReg((labels,), single=True)
                else:
                    size = self.const_int(arg.size, "a qubit argument size")
                    labels = labels if is_reg else (labels,)
                    if len(labels) != size:
                        raise self.error(an, f"argument '{pname}' of '{sub.name}' is qubit[{size}], got "
                                             f"{len(labels)} qubit(s)")
                    scope[pname] = QubitReg(labels)
                continue
            t = self.type_of(arg.type)
            value = self.eval(an)
            if t.kind == "arrayref":
                if not isinstance(value, list):
                    raise self.error(an, f"argument '{pname}' of '{sub.name}' must be an array, got "
                                         f"{V.describe(value)}")
                if isinstance(an, ast.Identifier):  # pass by reference
                    value = self.lookup_var(an.name, an).value
                readonly = arg.access == ast.AccessControl.readonly
                dims = _dims(value)
                scope[pname] = Var(pname, V.QType("array", base=t.base, dims=dims), value, readonly,
                                   self.branch_depth)
                continue
            scope[pname] = Var(pname, t, self.cast(value, t, an), False, self.branch_depth)
        saved = (self.frame, self.stmt)
        self.frame = frame
        self.call_depth += 1
        result = None
        try:
            self.run_block(sub.body, new_scope=False)
        except _Return as r:
            result = r.value
        except _Break as b:
            raise self.error(b.node, "'break'/'continue' outside a loop") from None
        finally:
            self.call_depth -= 1
            self.frame, self.stmt = saved
        if sub.return_type is not None:
            if result is None:
                raise self.error(node, f"subroutine '{sub.name}' did not return a value")
            result = self.cast(result, self.type_of(sub.return_type), node)
        return result


def _dims(value):
    dims = []
    while isinstance(value, list):
        dims.append(len(value))
        value = value[0] if value else None
    return dims


def _shown(name, mods) -> str:
    parts = []
    for m in mods:
        kind = m.modifier.name
        parts.append(kind + ("(...)" if m.argument is not None else "") + " @ ")
    return "".join(parts) + name


def _renumber_bare(op, first_free):
    """Give `measure q;` placeholders (negative bits) indices after the declared bits."""
    if isinstance(op, Measure) and op.bit < 0:
        return Measure(op.qubit, first_free - op.bit - 1)
    if isinstance(op, Conditional):
        return Conditional(_renumber_expr(op.condition, first_free),
                           tuple(_renumber_bare(o, first_free) for o in op.then_ops),
                           tuple(_renumber_bare(o, first_free) for o in op.else_ops))
    return op


def _renumber_expr(e, first_free):
    if not any(i < 0 for i in e.bits_used()):
        return e
    if isinstance(e, BitRef):
        return BitRef(first_free - e.index - 1)
    if isinstance(e, BitsValue):
        return BitsValue(tuple(first_free - i - 1 if i < 0 else i for i in e.indices))
    if isinstance(e, Unary):
        return Unary(e.op, _renumber_expr(e.operand, first_free))
    if isinstance(e, Binary):
        return Binary(e.op, _renumber_expr(e.left, first_free), _renumber_expr(e.right, first_free))
    return e
