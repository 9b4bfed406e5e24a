"""neurosplit: Fixed Parameter Expansion (FPE) from "Expand Neurons, Not Parameters" (arXiv 2510.04500).

Split every hidden neuron of a trained MLP into ``alpha`` children with disjoint inputs and keep training at
exactly the same number of non-zero weights. The engine is Rust; arrays go in and out as numpy arrays.

A model is a list of ``(weight, bias, mask)`` tuples, input layer first: ``weight`` float32 ``[out, in]``
(``torch.nn.Linear.weight``), ``bias`` float32 ``[out]``, ``mask`` bool ``[out, in]`` or ``None``.

* :func:`expand` -- FPE of a model (alternating expansion of hidden layers 0, 2, ... when deep)
* :func:`metrics` -- Gram matrix, feature capacity, neuron cosine similarity of a weight matrix
* :func:`theory` -- coverage and collision probabilities of a random FPE layer (Sec. 2.5)
* :func:`finetune` / :func:`train` -- train with the Rust engine (the GIL is released)
* :mod:`neurosplit.torch` -- apply an expansion to a ``torch.nn.Sequential`` with fixed masks

Arrays may be anything numpy can view (numpy arrays, torch CPU tensors, lists); float16/float64 are converted
to float32 and labels may have any integer dtype. Errors are :class:`NeurosplitError` (a ``ValueError``) with the
engine's messages, for bad arrays (dtype, shape, NaN/Inf) and bad arguments alike.
"""

import functools as _functools
import inspect as _inspect
import operator as _operator
from typing import Any as _Any, Callable as _Callable

from . import _neurosplit
from ._neurosplit import NeurosplitError


_INTS = {"alpha", "seed", "clusters", "epochs", "batch_size", "literals", "k", "clauses", "neurons", "samples",
         "rewire_every", "init_seed"}
_FLOATS = {"lr", "l1", "l2", "rewire_fraction"}
_STRS = {"strategy", "sampling"}


def _culprits(f: _Callable[..., _Any], args: _Any, kwargs: _Any) -> str:
    """The scalar arguments of a call that do not have their type or sign, as ``'alpha', 'seed'``."""
    try:
        bound = _inspect.signature(f).bind(*args, **kwargs).arguments
    except (TypeError, ValueError):
        return ""
    bad = []
    for k, v in bound.items():
        if v is None:
            continue
        if k in _INTS:
            try:
                ok = _operator.index(v) >= 0
            except TypeError:
                ok = False
        elif k in _FLOATS:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        elif k in _STRS:
            ok = isinstance(v, str)
        else:
            continue
        if not ok:
            bad.append(repr(k))
    return ", ".join(bad)


def _checked(f: _Callable[..., _Any]) -> _Callable[..., _Any]:
    """``f`` with an argument of the wrong type or sign (``alpha="two"``, ``epochs=-1``), which the binding layer
    reports as TypeError or OverflowError, raised as :class:`NeurosplitError` naming the argument."""

    @_functools.wraps(f)
    def call(*args: _Any, **kwargs: _Any) -> _Any:
        try:
            return f(*args, **kwargs)
        except (TypeError, OverflowError) as e:
            names = _culprits(f, args, kwargs)
            what = f"argument {names}" if names else "argument"
            hint = " (expected a non-negative integer)" if isinstance(e, OverflowError) else ""
            raise NeurosplitError(f"invalid {what}: {e}{hint}") from None

    return call


expand = _checked(_neurosplit.expand)
finetune = _checked(_neurosplit.finetune)
metrics = _checked(_neurosplit.metrics)
theory = _checked(_neurosplit.theory)
train = _checked(_neurosplit.train)

__all__ = ["NeurosplitError", "expand", "finetune", "metrics", "theory", "train"]

# :func:`reproduce` -- run one of the paper's experiments as ``neurosplit reproduce`` does (records and report)
from ._neurosplit import reproduce  # noqa: E402

__all__.append("reproduce")
