"""``prefetch(a, i)``: a hint to bring the cache line holding ``a[i]`` into the second-level cache
(LLVM's ``llvm.prefetch``, read, locality 2: ``prefetcht1`` on x86), for a kernel to issue while it
computes on data it already holds.  No bounds check and no effect on results: an index past the
array is a hint the CPU may drop.  Callable from compiled code only.

Users (measured in their docstrings): ``qsim.kernels.dense`` asks for the next tile's rows while it
multiplies the current one; ``qsim.kernels.onequbit``'s near band for the next buffer's worth of
pairs while it updates the current one.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_I32 = ir.IntType(32)


@intrinsic
def prefetch(typingctx, arr, idx):
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(8).as_pointer())
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, _I32, _I32, _I32])
        # the name's suffix follows the pointer type: p0 (opaque pointers), p0i8 (older LLVMs)
        fn = builder.module.declare_intrinsic("llvm.prefetch", [ptr.type], fnty)
        # (address, 0 = read, locality 2 = keep in L2 and above, 1 = data cache)
        builder.call(fn, [ptr, ir.Constant(_I32, 0), ir.Constant(_I32, 2), ir.Constant(_I32, 1)])
        return context.get_dummy_value()

    return sig, codegen
