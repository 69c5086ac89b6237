"""``lane_vmap``: ``jax.vmap`` with the batch axis kept *last* through the computation.

``jax.vmap`` moves the batch axis to the front of most intermediate arrays, so the
small per-simulation work of a bandit round (a few 10×10 matrices) becomes reductions of
length 10 on the fastest-varying axis, which vectorises badly. Keeping simulations on the
last axis turns the same work into long, contiguous, elementwise loops over simulations.

The transform traces the one-simulation function to a jaxpr and re-evaluates it with
every batched value carrying the batch as its trailing axis:

* elementwise primitives, reductions, broadcasts, reshapes, slices, transposes and
  concatenations keep the batch last by construction (sizes of 1 broadcast);
* small ``dot_general`` becomes broadcast-multiply-reduce, also batch-last;
* nested ``jit`` and custom-derivative calls are inlined;
* PRNG keys are carried as one lanes-last array per key word, and ``random_bits`` /
  ``random_split`` / ``random_fold_in`` follow JAX's Threefry algorithm word by word
  (other key types: their implementation's one-key functions), so a hash becomes
  elementwise integer arithmetic over lanes, bit for bit the numbers of ``jax.random``;
* any other primitive (gathers, loops, sorts, ...) falls back to
  ``jax.vmap`` of that one primitive with ``out_axes=-1``, so the result is always what
  ``jax.vmap`` computes, only the layout differs.

Custom derivative rules are dropped by the inlining: do not differentiate through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.extend.random
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax._src.random import prng as jprng
from jax.extend import core as jcore

_ELEMENTWISE = frozenset(
    """add sub mul div rem pow max min neg sign floor ceil round is_finite exp exp2 log
    log1p expm1 tanh logistic sin cos tan asin acos atan atan2 sinh cosh asinh acosh atanh
    sqrt rsqrt cbrt abs not and or xor eq ne lt le gt ge select_n convert_element_type
    integer_pow square erf erfc erf_inv lgamma digamma nextafter shift_left
    shift_right_logical shift_right_arithmetic population_count clz clamp copy copy_p
    reduce_precision real imag conj igamma igammac bitcast_convert_type
    stop_gradient""".split()
)
_REDUCTIONS = frozenset(
    "reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or argmax argmin "
    "cumsum cumprod cummax cummin cumlogsumexp".split()
)
_INLINE = {"pjit": "jaxpr", "jit": "jaxpr", "closed_call": "call_jaxpr",
           "custom_jvp_call": "call_jaxpr", "custom_vjp_call": "call_jaxpr",
           "custom_vjp_call_jaxpr": "fun_jaxpr"}
_DOT_INLINE_MAX = 4096  # largest broadcast product (per simulation) done elementwise


class _B:
    """A value with a trailing batch axis."""

    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x


class _K:
    """A batched array of PRNG keys: one array per key word, each (*keys, lanes).

    Keeping the words apart means a derived key is two plain arrays, never a
    concatenation, which XLA:CPU would compute element by element without SIMD.
    """

    __slots__ = ("words", "impl")

    def __init__(self, words, impl):
        self.words = list(words)
        self.impl = impl

    @classmethod
    def from_data(cls, data, impl) -> _K:
        """From raw key data laid out (*keys, *key_shape, lanes)."""
        n = len(impl.key_shape)
        flat = jnp.reshape(data, data.shape[:-n - 1] + (-1, data.shape[-1]))
        return cls([flat[..., i, :] for i in range(flat.shape[-2])], impl)

    def data(self):
        """Raw key data (*keys, *key_shape, lanes)."""
        stacked = jnp.stack(self.words, axis=-2)
        return jnp.reshape(stacked, stacked.shape[:-2] + tuple(self.impl.key_shape)
                           + stacked.shape[-1:])

    def as_key_array(self):
        """Typed key array (*keys, lanes), for the ``jax.vmap`` fallback."""
        n = len(self.impl.key_shape)
        data = self.data()
        return jprng.random_wrap(jnp.moveaxis(data, -1, data.ndim - n - 1), impl=self.impl)


def _is_key(x) -> bool:
    return jnp.issubdtype(getattr(x, "dtype", None) or np.float32, jax.dtypes.prng_key)


def _key_lanes(x) -> _K:
    """A typed key array batched on its last axis, as :class:`_K`."""
    data = jax.random.key_data(x)
    return _K.from_data(jnp.moveaxis(data, x.ndim - 1, -1), x.dtype._impl)


def _batched(v) -> bool:
    return isinstance(v, (_B, _K))


def _val(v):
    return v.x if isinstance(v, _B) else v


def _ndim(v):
    return np.ndim(_val(v)) - (1 if isinstance(v, _B) else 0)


def _to_rank(v, rank: int, size: int):
    """Array of rank ``rank + 1`` whose last axis is the batch (size 1 if unbatched)."""
    x = _val(v)
    own = _ndim(v)
    shape = np.shape(x)
    if isinstance(v, _B):
        new = (1,) * (rank - own) + shape
    else:
        new = (1,) * (rank - own) + shape + (1,)
    return jnp.reshape(x, new)


def _elementwise(eqn, vals, size):
    rank = max(_ndim(v) for v in vals)
    args = []
    for v in vals:
        if not isinstance(v, _B) and _ndim(v) == 0:
            args.append(_val(v))  # scalars broadcast by themselves
        else:
            args.append(_to_rank(v, rank, size))
    shape = tuple(eqn.outvars[0].aval.shape) + (size,)
    if eqn.primitive.name in ("select_n", "clamp"):  # no implicit broadcasting
        args = [jnp.broadcast_to(a, shape) for a in args]
    out = eqn.primitive.bind(*args, **eqn.params)
    if np.shape(out) != shape:
        out = jnp.broadcast_to(out, shape)
    return [_B(out)]


def _broadcast_operand(v, size):
    x = _val(v)
    return x if isinstance(v, _B) else jnp.broadcast_to(x[..., None], np.shape(x) + (size,))


def _dot_general(eqn, vals, size):
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs_aval, rhs_aval = (v.aval for v in eqn.invars)
    lf = [i for i in range(lhs_aval.ndim) if i not in lc and i not in lb]
    rf = [i for i in range(rhs_aval.ndim) if i not in rc and i not in rb]
    nb, nlf, nrf, nc = len(lb), len(lf), len(rf), len(lc)
    shape = ([lhs_aval.shape[i] for i in lb] + [lhs_aval.shape[i] for i in lf]
             + [rhs_aval.shape[i] for i in rf] + [lhs_aval.shape[i] for i in lc])
    if int(np.prod(shape, dtype=np.int64)) > _DOT_INLINE_MAX:
        return None
    dtype = eqn.params.get("preferred_element_type") or eqn.outvars[0].aval.dtype

    def place(v, batch, free, contract, free_pos):
        """Operand laid out as (batch, lhs free, rhs free, contracted[, lanes])."""
        batched = isinstance(v, _B)
        order = list(batch) + list(free) + list(contract)
        dims = (list(range(nb)) + [free_pos + i for i in range(len(free))]
                + [nb + nlf + nrf + i for i in range(nc)])
        target = tuple(shape)
        if batched:
            order, dims, target = order + [len(order)], dims + [len(shape)], target + (size,)
        x = jnp.transpose(_val(v), order).astype(dtype)
        x = lax.broadcast_in_dim(x, target, dims)
        return x if batched else x[..., None]

    a = place(vals[0], lb, lf, lc, nb)
    b = place(vals[1], rb, rf, rc, nb + nlf)
    out = jnp.sum(a * b, axis=tuple(range(nb + nlf + nrf, nb + nlf + nrf + nc)))
    out = out.astype(eqn.outvars[0].aval.dtype)
    return [_B(jnp.broadcast_to(out, tuple(eqn.outvars[0].aval.shape) + (size,)))]


def _structural(eqn, vals, size):
    """Shape primitives whose batched form only appends the batch axis."""
    name, p = eqn.primitive.name, dict(eqn.params)
    x = vals[0]
    if name == "broadcast_in_dim":
        if len(vals) != 1:
            return None
        n = len(p["shape"])
        p["shape"] = tuple(p["shape"]) + (size,)
        p["broadcast_dimensions"] = tuple(p["broadcast_dimensions"]) + (n,)
        p["sharding"] = None
    elif name == "reshape":
        if len(vals) != 1 or p.get("dimensions") is not None:
            return None
        p["new_sizes"] = tuple(p["new_sizes"]) + (size,)
        if "sharding" in p:
            p["sharding"] = None
    elif name == "squeeze":
        pass
    elif name == "transpose":
        n = len(p["permutation"])
        p["permutation"] = tuple(p["permutation"]) + (n,)
    elif name == "slice":
        p["start_indices"] = tuple(p["start_indices"]) + (0,)
        p["limit_indices"] = tuple(p["limit_indices"]) + (size,)
        if p.get("strides") is not None:
            p["strides"] = tuple(p["strides"]) + (1,)
    elif name == "concatenate":
        return [_B(lax.concatenate([_broadcast_operand(v, size) for v in vals],
                                   p["dimension"]))]
    elif name == "dynamic_slice":
        if any(isinstance(v, _B) for v in vals[1:]):
            return None
        zero = jnp.zeros((), jnp.result_type(_val(vals[1]))) if len(vals) > 1 else 0
        return [_B(lax.dynamic_slice(_val(x), [*map(_val, vals[1:]), zero],
                                     tuple(p["slice_sizes"]) + (size,)))]
    elif name == "dynamic_update_slice":
        if any(isinstance(v, _B) for v in vals[2:]):
            return None
        idx = [*map(_val, vals[2:])]
        zero = jnp.zeros((), jnp.result_type(idx[0])) if idx else 0
        return [_B(lax.dynamic_update_slice(_broadcast_operand(vals[0], size),
                                            _broadcast_operand(vals[1], size),
                                            [*idx, zero]))]
    else:
        return None
    if not isinstance(x, _B):
        return None
    return [_B(eqn.primitive.bind(x.x, **p))]


_RANDOM = frozenset(("random_bits", "random_split", "random_fold_in", "random_wrap",
                     "random_unwrap"))


def _threefry_fast(impl) -> bool:
    """Threefry keys with JAX's default (partitionable) layout: evaluated word by word."""
    return impl is jax.extend.random.threefry_prng_impl and bool(
        jax.config.jax_threefry_partitionable)


def _threefry_keys(eqn, vals, size):
    """random_bits / random_split / random_fold_in of Threefry keys, following JAX's
    partitionable Threefry (``jax._src.random.threefry2x32``) on separate key words."""
    name, p = eqn.primitive.name, eqn.params
    keys = vals[0]
    if isinstance(keys, _K):
        k1, k2 = keys.words
    else:  # unbatched keys, batched messages
        data = jax.random.key_data(keys)
        k1, k2 = data[..., 0, None], data[..., 1, None]
    key_shape = tuple(eqn.invars[0].aval.shape)
    if name == "random_fold_in":
        out_shape = tuple(eqn.outvars[0].aval.shape)
        full = out_shape + (size,)
        lead = (1,) * (len(out_shape) - len(key_shape))
        msgs = vals[1]
        m = _to_rank(msgs, len(out_shape), size) if isinstance(msgs, _B) else jnp.reshape(
            jnp.asarray(_val(msgs)), (1,) * (len(out_shape) - np.ndim(_val(msgs)))
            + np.shape(_val(msgs)) + (1,))
        m = lax.convert_element_type(m, np.uint32)
        b1, b2 = jax.extend.random.threefry2x32_p.bind(
            jnp.broadcast_to(jnp.reshape(k1, lead + k1.shape), full),
            jnp.broadcast_to(jnp.reshape(k2, lead + k2.shape), full),
            jnp.zeros(full, np.uint32), jnp.broadcast_to(m, full))
        return [_K([b1, b2], keys.impl if isinstance(keys, _K) else keys.dtype._impl)]
    shape = tuple(p["shape"])
    full = key_shape + shape + (size,)
    c1, c2 = jprng.iota_2x32_shape(shape)
    counts = [jnp.broadcast_to(jnp.reshape(c, (1,) * len(key_shape) + shape + (1,)), full)
              for c in (c1, c2)]
    kk = [jnp.broadcast_to(jnp.reshape(k, key_shape + (1,) * len(shape) + k.shape[-1:]), full)
          for k in (k1, k2)]
    b1, b2 = jax.extend.random.threefry2x32_p.bind(*kk, *counts)
    if name == "random_split":
        return [_K([b1, b2], keys.impl)]
    width = p["bit_width"]
    dtype = np.dtype(f"uint{width}")
    if width == 64:
        hi, lo = (lax.convert_element_type(b, dtype) for b in (b1, b2))
        return [_B(lax.shift_left(hi, jnp.asarray(32, dtype)) | lo)]
    bits = b1 ^ b2
    return [_B(bits if width == 32 else lax.convert_element_type(bits, dtype))]


def _random(eqn, vals, size):
    """PRNG primitives on lane-batched keys.

    Threefry keys (JAX's default) follow JAX's own algorithm word by word; other key
    types evaluate the key implementation's one-key functions on the raw key data.
    """
    name, p = eqn.primitive.name, eqn.params
    if name == "random_wrap":
        return [_K.from_data(vals[0].x, p["impl"])] if isinstance(vals[0], _B) else None
    if name == "random_unwrap":
        return [_B(vals[0].data())] if isinstance(vals[0], _K) else None
    keys_aval = eqn.invars[0].aval
    impl, shape = keys_aval.dtype._impl, tuple(keys_aval.shape)
    if _threefry_fast(impl):
        return _threefry_keys(eqn, vals, size)
    words = jax.eval_shape(jax.random.key_data, jax.ShapeDtypeStruct(shape, keys_aval.dtype))
    keys = vals[0]
    data = _B(keys.data()) if isinstance(keys, _K) else jax.random.key_data(keys)
    if name == "random_bits":
        fn = jprng.iterated_vmap_unary(
            len(shape), lambda k: impl.random_bits(k, p["bit_width"], p["shape"]))
        args, avals = [data], [words]
    elif name == "random_split":
        fn = jprng.iterated_vmap_unary(len(shape), lambda k: impl.split(k, p["shape"]))
        args, avals = [data], [words]
    else:  # random_fold_in
        msgs_aval = eqn.invars[1].aval
        fn = jprng.iterated_vmap_binary_bcast(shape, tuple(msgs_aval.shape), impl.fold_in)
        args = [data, vals[1]]
        avals = [words, jax.ShapeDtypeStruct(msgs_aval.shape, msgs_aval.dtype)]
    closed = jax.make_jaxpr(fn)(*avals)
    (out,) = _eval(closed.jaxpr, closed.consts, args, size)
    if not isinstance(out, _B):
        out = _B(_broadcast_operand(out, size))
    return [out] if name == "random_bits" else [_K.from_data(out.x, impl)]


def _threefry(eqn, vals, size):
    """The Threefry-2x32 hash: elementwise over its four operands, two results."""
    shape = tuple(eqn.outvars[0].aval.shape) + (size,)
    rank = len(shape) - 1
    args = [jnp.broadcast_to(_to_rank(v, rank, size), shape) for v in vals]
    return [_B(o) for o in eqn.primitive.bind(*args, **eqn.params)]


def _keys_structural(eqn, vals, size):
    """Shape primitives on batched keys, applied to each key word."""
    impl = next(v.impl for v in vals if isinstance(v, _K))
    n = int(np.prod(impl.key_shape))
    per_word = []
    for i in range(n):
        args = []
        for v in vals:
            if isinstance(v, _K):
                args.append(_B(v.words[i]))
            elif _is_key(v):  # an unbatched key operand: its i-th word
                data = jax.random.key_data(v)
                args.append(jnp.reshape(data, data.shape[:v.ndim] + (-1,))[..., i])
            else:
                args.append(v)
        outs = _structural(eqn, args, size)
        if outs is None:
            return None
        per_word.append(outs[0].x)
    return [_K(per_word, impl)]


def _fallback(eqn, vals, size):
    bind_params = eqn.primitive.get_bind_params(eqn.params)
    batched = [_batched(v) for v in vals]

    def one(*args):
        out = eqn.primitive.bind(*args, **bind_params)
        return list(out) if eqn.primitive.multiple_results else [out]

    args = [v.as_key_array() if isinstance(v, _K) else _val(v) for v in vals]
    outs = jax.vmap(one, in_axes=[-1 if b else None for b in batched], out_axes=-1,
                    axis_size=size)(*args)
    return [_key_lanes(o) if _is_key(o) else _B(o) for o in outs]


def _eval(jaxpr, consts: Sequence[Any], args: Sequence[Any], size: int):
    env: dict = {}

    def read(v):
        return v.val if isinstance(v, jcore.Literal) else env[v]

    for var, val in zip(jaxpr.constvars, consts):
        env[var] = val
    for var, val in zip(jaxpr.invars, args):
        env[var] = val
    for eqn in jaxpr.eqns:
        vals = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if not any(_batched(v) for v in vals):
            bind_params = eqn.primitive.get_bind_params(eqn.params)
            out = eqn.primitive.bind(*vals, **bind_params)
            outs = list(out) if eqn.primitive.multiple_results else [out]
        elif name in _INLINE and _INLINE[name] in eqn.params:
            inner = eqn.params[_INLINE[name]]
            if isinstance(inner, jcore.ClosedJaxpr):
                outs = _eval(inner.jaxpr, inner.consts, vals, size)
            else:
                outs = _eval(inner, (), vals, size)
        else:
            outs = None
            if name in _RANDOM:
                outs = _random(eqn, vals, size)
            elif name == "threefry2x32":
                outs = _threefry(eqn, vals, size)
            elif any(isinstance(v, _K) for v in vals):
                outs = _keys_structural(eqn, vals, size)
            elif name in _ELEMENTWISE:
                outs = _elementwise(eqn, vals, size)
            elif name in _REDUCTIONS:
                outs = [_B(eqn.primitive.bind(_val(_to_rank(vals[0], _ndim(vals[0]),
                                                            size)), **eqn.params))]
            elif name == "dot_general":
                outs = _dot_general(eqn, vals, size)
            else:
                outs = _structural(eqn, vals, size)
            if outs is None:
                outs = _fallback(eqn, vals, size)
        for var, val in zip(eqn.outvars, outs):
            env[var] = val
    return [read(v) for v in jaxpr.outvars]


def lane_vmap(fn: Callable, in_axes: Any = 0) -> Callable:
    """Like ``jax.vmap(fn, in_axes, out_axes=-1)`` with inputs batched on their LAST axis.

    Args:
        fn: a function of arrays written for one element of the batch.
        in_axes: a pytree prefix of the positional arguments; ``-1`` (or any non-None
            int) marks arguments batched on their last axis, ``None`` unbatched ones.

    Returns:
        The batched function; every output carries the batch as its last axis.
    """

    def batched(*args):
        axes = in_axes if isinstance(in_axes, (tuple, list)) else (in_axes,) * len(args)
        flags = []
        for a, ax in zip(args, axes):
            prefix, prefix_def = jax.tree_util.tree_flatten(ax, is_leaf=lambda z: z is None)
            for sub, sub_ax in zip(prefix_def.flatten_up_to(a), prefix):
                flags.extend([sub_ax is not None] * len(jax.tree_util.tree_leaves(sub)))
        flat, tree = jax.tree_util.tree_flatten(args)
        sizes = {np.shape(x)[-1] for x, b in zip(flat, flags) if b}
        if len(sizes) != 1:
            raise ValueError(f"lane_vmap needs one batch size on the last axes, got {sizes}")
        (size,) = sizes
        avals = [jax.ShapeDtypeStruct(np.shape(x)[:-1] if b else np.shape(x),
                                      jnp.asarray(x).dtype if not hasattr(x, "dtype")
                                      else x.dtype)
                 for x, b in zip(flat, flags)]
        closed, out_shape = jax.make_jaxpr(
            lambda *fl: fn(*jax.tree_util.tree_unflatten(tree, fl)), return_shape=True
        )(*avals)
        vals = [(_key_lanes(x) if _is_key(x) else _B(x)) if b else x
                for x, b in zip(flat, flags)]
        outs = _eval(closed.jaxpr, closed.consts, vals, size)
        outs = [o.as_key_array() if isinstance(o, _K) else
                o.x if isinstance(o, _B) else _broadcast_operand(o, size) for o in outs]
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(out_shape), outs)

    return batched
