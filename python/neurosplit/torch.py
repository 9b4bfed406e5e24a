"""FPE on a ``torch.nn.Sequential``, with the masks kept fixed in your own training loop.

Importable without PyTorch; the functions import ``torch`` when called. The masks are attached with
``torch.nn.utils.prune.custom_from_mask``, so ``module.weight`` is ``weight_orig * weight_mask`` in every forward
pass: a masked weight stays exactly 0 whatever the optimizer does to ``weight_orig``. Call
``torch.nn.utils.prune.remove(module, "weight")`` to make them permanent before saving a plain state dict.

Supported models: ``nn.Sequential`` of ``nn.Linear`` layers with parameter-free activations between them
(``nn.ReLU``, ...), the shape neurosplit trains (``Linear, ReLU, ..., Linear``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _neurosplit

__all__ = ["layers_of", "expand_sequential", "load_into", "apply_masks"]


def _linears(net: Any) -> List[Any]:
    import torch.nn as nn

    if not isinstance(net, nn.Sequential):
        raise _neurosplit.NeurosplitError("invalid model: expected a torch.nn.Sequential")
    linears = []
    for i, m in enumerate(net):
        if isinstance(m, nn.Linear):
            linears.append(m)
        elif any(True for _ in m.parameters(recurse=False)):
            raise _neurosplit.NeurosplitError(
                f"invalid model: module {i} ({type(m).__name__}) has parameters; only Linear layers and "
                "parameter-free activations are supported"
            )
    if not linears:
        raise _neurosplit.NeurosplitError("invalid model: the Sequential has no nn.Linear layer")
    return linears


def layers_of(net: Any) -> List[Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]]:
    """The ``(weight, bias, mask)`` tuples of a Sequential's Linear layers (a pruned layer's effective weight
    ``weight_orig * weight_mask`` and its mask; ``None`` for an unpruned layer)."""
    out = []
    for m in _linears(net):
        w = m.weight.detach().float().cpu().numpy().astype(np.float32)
        b = (
            m.bias.detach().float().cpu().numpy().astype(np.float32)
            if m.bias is not None
            else np.zeros(w.shape[0], dtype=np.float32)
        )
        mask = getattr(m, "weight_mask", None)
        mask = None if mask is None else mask.detach().cpu().numpy() != 0
        out.append((np.ascontiguousarray(w), b, mask))
    return out


def apply_masks(net: Any, masks: Sequence[Optional[np.ndarray]]) -> Any:
    """Attach one fixed mask per Linear layer (``None`` = dense) with ``prune.custom_from_mask``."""
    import torch
    from torch.nn.utils import prune

    linears = _linears(net)
    if len(masks) != len(linears):
        raise _neurosplit.NeurosplitError(
            f"invalid masks: {len(masks)} given for {len(linears)} Linear layers"
        )
    for m, mask in zip(linears, masks):
        if mask is None:
            continue
        if hasattr(m, "weight_mask"):
            prune.remove(m, "weight")
        prune.custom_from_mask(m, "weight", torch.as_tensor(np.asarray(mask, dtype=bool)))
    return net


def _rebuild(net: Any, layers: Sequence[Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]]) -> Any:
    """A new Sequential like ``net`` (same activations) whose Linear layers hold ``layers``."""
    import copy

    import torch
    import torch.nn as nn

    modules = []
    it = iter(layers)
    for m in net:
        if isinstance(m, nn.Linear):
            w, b, _ = next(it)
            lin = nn.Linear(w.shape[1], w.shape[0], bias=True)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
                lin.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))
            modules.append(lin.to(m.weight.device, m.weight.dtype))
        else:
            modules.append(copy.deepcopy(m))
    out = nn.Sequential(*modules)
    return apply_masks(out, [mask for _, _, mask in layers])


def expand_sequential(
    net: Any,
    alpha: int,
    strategy: str = "random",
    groups: Optional[Sequence[Sequence[int]]] = None,
    seed: int = 0,
) -> Tuple[Any, Dict[str, Any]]:
    """FPE of a ``torch.nn.Sequential`` at the same non-zero budget: returns ``(wider_net, report)``, the wider
    net with its masks attached (``prune.custom_from_mask``) so they stay fixed while you train it."""
    layers = layers_of(net)
    wide, report = _neurosplit.expand(
        layers, alpha, strategy, groups=None if groups is None else [list(g) for g in groups], seed=seed
    )
    return _rebuild(net, wide), report


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
