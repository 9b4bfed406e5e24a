"""Type stubs of the Rust extension (see the package docstring)."""

from os import PathLike
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

Layer = Tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], Optional[npt.NDArray[np.bool_]]]
LayerIn = Union[
    npt.NDArray[np.float32],
    Tuple[npt.NDArray[np.float32], Optional[npt.NDArray[np.float32]]],
    Tuple[npt.NDArray[np.float32], Optional[npt.NDArray[np.float32]], Optional[npt.NDArray[np.bool_]]],
]

class NeurosplitError(ValueError):
    """Bad input to neurosplit (arguments, arrays, files); the message says what to fix."""

def expand(
    layers: Sequence[LayerIn],
    alpha: int,
    strategy: str = "random",
    groups: Optional[Sequence[Sequence[int]]] = None,
    seed: int = 0,
    clusters: Optional[int] = None,
) -> Tuple[List[Layer], Dict[str, Any]]:
    """FPE at the same non-zero budget; returns the expanded layers and the accounting."""

def metrics(w: npt.NDArray[np.float32], groups: Optional[Sequence[Sequence[int]]] = None) -> Dict[str, Any]:
    """Gram matrix, per-input feature capacity (total, per group) and mean neuron cosine similarity."""

def theory(
    literals: int,
    k: int,
    clauses: int,
    alpha: int,
    neurons: int,
    samples: int = 0,
    seed: int = 0,
    sampling: str = "independent",
) -> Dict[str, Any]:
    """Closed forms (``exact``) and, with ``samples > 0``, a Monte Carlo estimate (``monte_carlo``)."""

def finetune(
    model: Union[Sequence[LayerIn], str, PathLike[str]],
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.integer[Any]],
    x_test: Optional[npt.NDArray[np.float32]] = None,
    y_test: Optional[npt.NDArray[np.integer[Any]]] = None,
    alpha: Optional[int] = None,
    strategy: str = "random",
    groups: Optional[Sequence[Sequence[int]]] = None,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    l1: float = 0.0,
    l2: float = 0.0,
    seed: int = 0,
    rewire_every: Optional[int] = None,
    rewire_fraction: float = 0.1,
    precision: str = "fp32",
) -> Tuple[List[Layer], Dict[str, Any]]:
    """Optionally expand, retrain at the fixed budget, evaluate; returns the layers and the report."""

def train(
    dims: Sequence[int],
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.integer[Any]],
    init_seed: int = 0,
    **kwargs: Any,
) -> Tuple[List[Layer], Dict[str, Any]]:
    """A fresh dense model of widths ``dims`` trained with :func:`finetune`'s settings."""
