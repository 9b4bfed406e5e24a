"""FPE on your own PyTorch module, kept in your own training loop, on neurosplit's kernels.

Importable without PyTorch; the functions import ``torch`` when called.

* :func:`expand_` -- widen the Linear layers of your module in place with FPE at the same non-zero budget and
  install the masks with ``torch.nn.utils.prune.custom_from_mask``: ``module.weight`` is then
  ``weight_orig * weight_mask`` in every forward pass, so a masked weight stays exactly 0 whatever your optimizer
  does to ``weight_orig``. Call ``torch.nn.utils.prune.remove(layer, "weight")`` to make a mask permanent.
* :class:`SparseLinear` -- a drop-in ``nn.Module`` for a masked ``nn.Linear`` whose forward and backward run
  neurosplit's CSR (or bitmask) CPU kernels.

**Which Linear layers form the MLP, and in what order.** The module's submodules are walked in registration
order (the order ``__init__`` assigned them, which is ``named_children()``'s), descending into ``nn.Sequential``
and ``nn.ModuleList``; for an ``nn.Sequential`` that is its index order. Every ``nn.Linear`` met is the next layer
of the MLP; an ``nn.LayerNorm`` over the previous Linear's outputs is that layer's norm (widened with it, every
child neuron copying its parent's gain and bias, as the engine does); submodules without parameters (ReLU,
Dropout, ...) are allowed anywhere. Any other submodule with parameters, a LayerNorm that does not follow a
Linear of its width, or consecutive Linear layers whose widths do not chain (``out_features`` of one equal to
``in_features`` of the next) make the order ambiguous: :class:`~neurosplit.NeurosplitError`. So
``nn.Sequential(Linear, ReLU, Dropout, Linear)`` and a module that assigns ``self.fc1``, ``self.norm1``,
``self.fc2`` in that order both work, whatever their ``forward`` does with them; register the layers in the
order ``forward`` applies them.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _neurosplit

__all__ = [
    "SparseLinear",
    "apply_masks",
    "expand_",
    "expand_sequential",
    "layers_of",
    "load_into",
    "mlp_layers",
]

NeurosplitError = _neurosplit.NeurosplitError


def mlp_layers(module: Any) -> List[Tuple[str, Any, Optional[Tuple[str, Any]]]]:
    """The MLP of ``module`` by the rule of the module docs: ``(name, linear, norm)`` per Linear layer, input
    layer first, ``norm`` the ``(name, LayerNorm)`` over its outputs or ``None``."""
    import torch.nn as nn

    if not isinstance(module, nn.Module):
        raise NeurosplitError(f"invalid model: expected a torch.nn.Module, got {type(module).__name__}")
    walked: List[Tuple[str, Any]] = []

    def walk(prefix: str, m: Any) -> None:
        for name, child in m.named_children():
            full = f"{prefix}{name}"
            if isinstance(child, (nn.Sequential, nn.ModuleList)):
                walk(full + ".", child)
            else:
                walked.append((full, child))

    if isinstance(module, (nn.Linear, nn.LayerNorm)):
        raise NeurosplitError(
            "invalid model: a single layer is not an MLP; pass the module that holds its layers"
        )
    walk("", module)
    out: List[Tuple[str, Any, Optional[Tuple[str, Any]]]] = []
    for name, m in walked:
        if isinstance(m, nn.Linear):
            if out and out[-1][1].out_features != m.in_features:
                prev = out[-1]
                raise NeurosplitError(
                    f"invalid model: the Linear layers are ambiguous: '{prev[0]}' gives {prev[1].out_features} "
                    f"outputs but the next registered Linear '{name}' takes {m.in_features} inputs; register "
                    "the layers in the order forward applies them (see neurosplit.torch's docs)"
                )
            out.append((name, m, None))
        elif isinstance(m, nn.LayerNorm):
            shape = tuple(m.normalized_shape)
            if not out or out[-1][2] is not None or shape != (out[-1][1].out_features,):
                raise NeurosplitError(
                    f"invalid model: LayerNorm '{name}' (over {shape}) does not follow a Linear layer of that "
                    "width; only a LayerNorm over a Linear layer's outputs is supported"
                )
            out[-1] = (out[-1][0], out[-1][1], (name, m))
        elif any(True for _ in m.parameters()):
            raise NeurosplitError(
                f"invalid model: submodule '{name}' ({type(m).__name__}) has parameters; only Linear, LayerNorm "
                "and parameter-free modules (activations, Dropout) are supported"
            )
    if not out:
        raise NeurosplitError("invalid model: the module has no nn.Linear layer")
    if out[-1][2] is not None:
        raise NeurosplitError(
            f"invalid model: LayerNorm '{out[-1][2][0]}' follows the output layer; FPE widens hidden layers only"
        )
    return out


def _linears(net: Any) -> List[Any]:
    return [lin for _, lin, _ in mlp_layers(net)]


def _effective(lin: Any) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    w = lin.weight.detach().float().cpu().numpy()
    b = (
        lin.bias.detach().float().cpu().numpy()
        if lin.bias is not None
        else np.zeros(w.shape[0], dtype=np.float32)
    )
    mask = getattr(lin, "weight_mask", None)
    mask = None if mask is None else mask.detach().cpu().numpy() != 0
    return np.ascontiguousarray(w, dtype=np.float32), np.ascontiguousarray(b, dtype=np.float32), mask


def layers_of(net: Any) -> List[Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]]:
    """The ``(weight, bias, mask)`` tuples of a module's MLP (see the module docs): a pruned layer's effective
    weight ``weight_orig * weight_mask`` and its mask; ``None`` for an unpruned layer."""
    return [_effective(lin) for lin in _linears(net)]


def apply_masks(net: Any, masks: Sequence[Optional[np.ndarray]]) -> Any:
    """Attach one fixed mask per Linear layer (``None`` = dense) with ``prune.custom_from_mask``."""
    import torch
    from torch.nn.utils import prune

    linears = _linears(net)
    if len(masks) != len(linears):
        raise NeurosplitError(f"invalid masks: {len(masks)} given for {len(linears)} Linear layers")
    for m, mask in zip(linears, masks):
        if mask is None:
            continue
        if hasattr(m, "weight_mask"):
            prune.remove(m, "weight")
        prune.custom_from_mask(m, "weight", torch.as_tensor(np.asarray(mask, dtype=bool)))
    return net


def _set_linear(lin: Any, w: np.ndarray, b: np.ndarray, mask: Optional[np.ndarray]) -> None:
    """Resize ``lin`` in place to ``w``'s shape and load ``w``, ``b`` (kept without a bias if it had none)
    and ``mask`` (re-attached with ``prune.custom_from_mask``)."""
    import torch
    import torch.nn as nn
    from torch.nn.utils import prune

    if hasattr(lin, "weight_mask"):
        prune.remove(lin, "weight")
    like = lin.weight
    lin.weight = nn.Parameter(torch.from_numpy(np.array(w, dtype=np.float32)).to(like.device, like.dtype))
    if lin.bias is not None:
        lin.bias = nn.Parameter(torch.from_numpy(np.array(b, dtype=np.float32)).to(like.device, like.dtype))
    lin.out_features, lin.in_features = w.shape
    if mask is not None:
        prune.custom_from_mask(lin, "weight", torch.as_tensor(np.asarray(mask, dtype=bool), device=like.device))


def _widen_norm(norm: Any, alpha: int) -> None:
    """Every neuron of the normalised layer was split into ``alpha`` children ``p*alpha + j``: each copies its
    parent's gain and bias (``LayerNorm::split`` in the engine)."""
    import torch
    import torch.nn as nn

    with torch.no_grad():
        if norm.weight is not None:
            norm.weight = nn.Parameter(norm.weight.detach().repeat_interleave(alpha).clone())
        if norm.bias is not None:
            norm.bias = nn.Parameter(norm.bias.detach().repeat_interleave(alpha).clone())
    norm.normalized_shape = (norm.normalized_shape[0] * alpha,)


def expand_(
    module: Any,
    alpha: int,
    strategy: str = "random",
    seed: int = 0,
    groups: Optional[Sequence[Sequence[int]]] = None,
    clusters: Optional[int] = None,
) -> Dict[str, Any]:
    """FPE of ``module``'s MLP (see the module docs for which layers) **in place**, at the same non-zero budget:
    hidden layers 0, 2, ... are split into ``alpha`` children each (as ``neurosplit.expand``), the following
    layers' inputs widened, their LayerNorms widened with them, and every layer's mask installed with
    ``prune.custom_from_mask`` so that it stays fixed through your optimizer's steps. Returns the engine's
    report (``budget``, ``nnz_final``, ``dims_after``, ...).

    Build the optimizer **after** calling this: the widened layers hold new parameters."""
    entries = mlp_layers(module)
    if len(entries) < 2:
        raise NeurosplitError("invalid model: FPE needs a hidden layer (at least two Linear layers)")
    layers = [_effective(lin) for _, lin, _ in entries]
    wide, report = _neurosplit.expand(
        layers,
        alpha,
        strategy,
        groups=None if groups is None else [list(g) for g in groups],
        seed=seed,
        clusters=clusters,
    )
    for (_, lin, norm), (w, b, mask) in zip(entries, wide):
        grown = w.shape[0] // lin.out_features
        _set_linear(lin, w, b, mask)
        if norm is not None and grown > 1:
            _widen_norm(norm[1], grown)
    return report


def expand_sequential(
    net: Any,
    alpha: int,
    strategy: str = "random",
    groups: Optional[Sequence[Sequence[int]]] = None,
    seed: int = 0,
) -> Tuple[Any, Dict[str, Any]]:
    """FPE of a copy of ``net``: returns ``(wider_net, report)``, ``net`` untouched (see :func:`expand_`)."""
    import copy

    wide = copy.deepcopy(net)
    report = expand_(wide, alpha, strategy, seed=seed, groups=groups)
    return wide, report


# ------------------------------------------------------------------------------------------------------------
# SparseLinear: neurosplit's kernels inside torch autograd
# ------------------------------------------------------------------------------------------------------------


def _feature_major(t: Any) -> Any:
    """A ``[b, f]`` float32 CPU tensor as the kernels' ``[f, b]`` contiguous layout: its transpose itself when
    that is contiguous (no copy), else one blocked transpose."""
    import torch

    tt = t.t()
    if tt.is_contiguous():
        return tt
    t = t.contiguous()
    out = torch.empty((t.shape[1], t.shape[0]), dtype=torch.float32)
    _neurosplit.SparseKernel.transpose(t.numpy(), out.numpy())
    return out


def _np(t: Any) -> Any:
    return t.detach().numpy()


_Function: Any = None


def _function() -> Any:
    """The autograd function (defined on first use, so that this module imports without torch)."""
    global _Function
    if _Function is not None:
        return _Function
    import torch
    from torch.autograd.function import once_differentiable

    class SparseLinearFunction(torch.autograd.Function):
        """``y = x W^T + b`` on a kernel's mask; gradients for ``x``, ``W`` (live entries only) and ``b``."""

        @staticmethod
        def forward(ctx: Any, x: Any, weight: Any, bias: Any, kernel: Any) -> Any:  # type: ignore[override]
            out_f, in_f = weight.shape
            lead = x.shape[:-1]
            x2 = x.reshape(-1, in_f)
            xt = _feature_major(x2)
            b = x2.shape[0]
            y = torch.empty((out_f, b), dtype=torch.float32)
            version = weight._version
            kernel.forward(_np(weight), version, _np(xt), None if bias is None else _np(bias), y.numpy())
            ctx.save_for_backward(xt, weight)
            ctx.kernel, ctx.version, ctx.lead, ctx.has_bias = kernel, version, lead, bias is not None
            # The output is the kernel's [out, b] buffer seen as [b, out]: no copy.
            return y.t().reshape(*lead, out_f)

        @staticmethod
        @once_differentiable
        def backward(ctx: Any, gy: Any) -> Any:  # type: ignore[override]
            xt, weight = ctx.saved_tensors
            out_f, in_f = weight.shape
            gy2 = gy.reshape(-1, out_f)
            if gy2.dtype != torch.float32:
                gy2 = gy2.float()
            b = gy2.shape[0]
            need_x, need_w, need_b = ctx.needs_input_grad[:3]
            dx = torch.empty((in_f, b), dtype=torch.float32) if need_x else None
            dw = torch.zeros((out_f, in_f), dtype=torch.float32) if need_w else None
            if need_x or need_w:
                dyt = _feature_major(gy2)
                ctx.kernel.backward(
                    _np(weight),
                    ctx.version,
                    _np(xt),
                    _np(dyt),
                    None if dx is None else dx.numpy(),
                    None if dw is None else dw.numpy(),
                )
            db = gy2.sum(0) if (need_b and ctx.has_bias) else None
            gx = dx.t().reshape(*ctx.lead, in_f) if dx is not None else None
            return gx, dw, db, None

    _Function = SparseLinearFunction
    return _Function


_SparseLinear: Any = None


def __getattr__(name: str) -> Any:
    # SparseLinear is an nn.Module subclass, defined on first access so that this module imports without torch.
    global _SparseLinear
    if name == "SparseLinear":
        if _SparseLinear is None:
            _SparseLinear = _make_sparse_linear()
        return _SparseLinear
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _make_sparse_linear() -> Any:
    import math

    import torch
    import torch.nn as nn

    def tensor(value: Any, what: str, shape: Tuple[int, ...]) -> Any:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            if value.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.bool,
                                   torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
                raise NeurosplitError(f"invalid {what}: dtype {value.dtype} is not supported")
            t = value.to(torch.float32)
        else:
            try:
                a = np.asarray(value)
            except Exception as e:  # noqa: BLE001 - whatever numpy refuses, say so
                raise NeurosplitError(f"invalid {what}: cannot be read as an array ({e})") from None
            if a.dtype.kind not in "fiub":
                raise NeurosplitError(f"invalid {what}: dtype {a.dtype} is not numeric")
            t = torch.from_numpy(np.array(a, dtype=np.float32))
        if tuple(t.shape) != shape:
            raise NeurosplitError(f"invalid {what}: shape {tuple(t.shape)}, expected {shape}")
        if not bool(torch.isfinite(t).all()):
            raise NeurosplitError(f"invalid {what}: holds NaN or infinite values")
        return t.contiguous().clone()

    class SparseLinear(nn.Module):
        """A masked ``nn.Linear`` whose forward and backward run neurosplit's CPU kernels.

        ``SparseLinear(in_features, out_features, weight=None, bias=None, mask=None, threads=1, format="auto")``:
        ``weight`` ``[out, in]`` (default: ``nn.Linear``'s initialisation), ``bias`` ``[out]`` (default zeros;
        ``False`` for none), ``mask`` ``[out, in]`` bool or 0/1 (default: the non-zeros of ``weight``); each may be
        a tensor, a numpy array or anything numpy can view. ``SparseLinear.from_linear(linear, mask=None, threads=1)``
        takes an ``nn.Linear`` (its ``prune`` mask if it has one).

        Parameters ``weight`` (dense ``[out, in]``, zeros off the mask, so optimizers, ``state_dict`` and
        ``load_state_dict`` see what an ``nn.Linear`` has) and ``bias``; buffer ``weight_mask``. The weight
        gradient is computed on the live entries only and is 0 elsewhere, so weights off the mask stay 0 through
        optimizer steps (SGD, Adam, AdamW, with or without weight decay). ``format``: ``"auto"`` runs CSR below the
        engine's dense crossover density (``neurosplit._neurosplit.DENSE_CROSSOVER``) and a masked dense product
        from it up, as the engine picks per layer; ``"csr"`` and ``"bitmask"`` force one. ``threads``: pieces each
        product is cut into, on neurosplit's own worker threads (the GIL is released while a kernel runs).

        Inputs are ``[..., in_features]`` CPU tensors; float16/float64 inputs are converted to float32 (the
        kernels' type). A batch whose transpose is contiguous is read in place; others are transposed once per call
        into the kernels' feature-major layout. The output is a transposed view of the kernel's buffer (no copy).
        """

        def __init__(
            self,
            in_features: int,
            out_features: int,
            weight: Any = None,
            bias: Any = None,
            mask: Any = None,
            threads: int = 1,
            format: str = "auto",
        ) -> None:
            super().__init__()
            for v, what in ((in_features, "in_features"), (out_features, "out_features")):
                if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                    raise NeurosplitError(f"invalid {what}: expected a positive integer, got {v!r}")
            if not isinstance(threads, int) or isinstance(threads, bool) or threads <= 0:
                raise NeurosplitError(f"invalid threads: expected a positive integer, got {threads!r}")
            if format not in ("auto", "csr", "bitmask"):
                raise NeurosplitError(f"invalid format: '{format}' is not auto, csr or bitmask")
            self.in_features, self.out_features = in_features, out_features
            shape = (out_features, in_features)
            if weight is None:
                w = torch.empty(shape)
                nn.init.kaiming_uniform_(w, a=math.sqrt(5))
            else:
                w = tensor(weight, "weight", shape)
            m = (w != 0) if mask is None else (tensor(mask, "mask", shape) != 0)
            self.weight = nn.Parameter(w * m)
            if bias is False:
                self.register_parameter("bias", None)
            elif bias is None:
                self.bias = nn.Parameter(torch.zeros(out_features))
            else:
                self.bias = nn.Parameter(tensor(bias, "bias", (out_features,)))
            self.register_buffer("weight_mask", m.to(torch.float32))
            self.threads, self.format = threads, format
            self._build()

        @classmethod
        def from_linear(cls, linear: Any, mask: Any = None, threads: int = 1, format: str = "auto") -> Any:
            """A SparseLinear with ``linear``'s weight and bias; ``mask`` defaults to ``linear``'s ``prune``
            mask (``weight_mask``) or else its non-zeros."""
            if not isinstance(linear, nn.Linear):
                raise NeurosplitError(f"invalid layer: expected an nn.Linear, got {type(linear).__name__}")
            if mask is None:
                mask = getattr(linear, "weight_mask", None)
            return cls(
                linear.in_features,
                linear.out_features,
                weight=linear.weight,
                bias=False if linear.bias is None else linear.bias,
                mask=mask,
                threads=threads,
                format=format,
            )

        def _build(self) -> None:
            m = self.weight_mask.detach().cpu().numpy() != 0
            density = m.sum() / max(m.size, 1)
            self._dense = self.format == "auto" and density >= _neurosplit.DENSE_CROSSOVER
            self._kernel = _neurosplit.SparseKernel(
                m, "csr" if self.format == "auto" else self.format, self.threads
            )

        def __getstate__(self) -> Dict[str, Any]:
            # The kernel (a Rust object) is rebuilt from the mask: copy.deepcopy and torch.save(module) work.
            state = self.__dict__.copy()
            state.pop("_kernel", None)
            return state

        def __setstate__(self, state: Dict[str, Any]) -> None:
            self.__dict__.update(state)
            self._build()

        def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
            super()._load_from_state_dict(*args, **kwargs)
            self._build()

        @property
        def nnz(self) -> int:
            """Live entries of the mask."""
            return int(self._kernel.nnz)

        def forward(self, x: Any) -> Any:
            if not isinstance(x, torch.Tensor):
                raise NeurosplitError(f"invalid input: expected a torch.Tensor, got {type(x).__name__}")
            if x.device.type != "cpu" or self.weight.device.type != "cpu":
                raise NeurosplitError("invalid input: SparseLinear runs on the CPU; move the tensors with .cpu()")
            if x.dim() == 0 or x.shape[-1] != self.in_features:
                raise NeurosplitError(
                    f"invalid input: shape {tuple(x.shape)}, expected [..., {self.in_features}]"
                )
            if x.dtype != torch.float32:
                if not x.is_floating_point():
                    raise NeurosplitError(f"invalid input: dtype {x.dtype}, expected floating point")
                x = x.to(torch.float32)
            if self.weight.dtype != torch.float32:
                raise NeurosplitError(f"invalid weight: dtype {self.weight.dtype}; SparseLinear runs in float32")
            if self._dense:
                return torch.nn.functional.linear(x, self.weight * self.weight_mask, self.bias)
            return _function().apply(x, self.weight, self.bias, self._kernel)

        def extra_repr(self) -> str:
            return (
                f"in_features={self.in_features}, out_features={self.out_features}, nnz={self.nnz}, "
                f"format={'dense' if self._dense else self._kernel.format}, threads={self.threads}"
            )

    SparseLinear.__name__ = SparseLinear.__qualname__ = "SparseLinear"
    SparseLinear.__module__ = __name__
    return SparseLinear


def load_into(net: Any, path: str) -> Any:
    """Load a file written by ``neurosplit ... --format pt`` into ``net`` (a Sequential of the file's shape) and
    attach its masks; returns ``net``. Needs the ``safetensors`` package."""
    import torch
    from safetensors.torch import load_file

    state = load_file(path)
    masks = {k[: -len(".weight_mask")]: v for k, v in state.items() if k.endswith(".weight_mask")}
    plain = {k: v for k, v in state.items() if not k.endswith(".weight_mask")}
    for m in net.modules():
        if hasattr(m, "weight_mask"):
            from torch.nn.utils import prune

            prune.remove(m, "weight")
    net.load_state_dict(plain, strict=True)
    from torch.nn.utils import prune

    for name, mask in masks.items():
        prune.custom_from_mask(net.get_submodule(name), "weight", mask.to(torch.bool))
    return net
