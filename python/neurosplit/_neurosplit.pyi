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

def reproduce(
    name_or_path: Union[str, PathLike[str]],
    out: Optional[Union[str, PathLike[str]]] = None,
    set: Optional[Sequence[str]] = None,
    shard: Optional[str] = None,
    threads: int = 0,
    trials: Optional[int] = None,
    seed: Optional[int] = None,
    holm: bool = False,
    device: str = "cpu",
    data_dir: Optional[Union[str, PathLike[str]]] = None,
    results: Optional[Union[str, PathLike[str]]] = None,
    merge_shards: Optional[int] = None,
    json: Optional[Union[str, PathLike[str]]] = None,
) -> Tuple[List[Dict[str, Any]], Optional[PathLike[str]]]:
    """Run an experiment spec as ``neurosplit reproduce`` does; one dict per trial x model, and the report's path."""

DENSE_CROSSOVER: float
"""Density from which the engine runs a layer dense (``neurosplit::sparse::DENSE_CROSSOVER``)."""

class SparseKernel:
    """neurosplit's CPU kernels for one masked ``[out, in]`` layer on feature-major ``[features, batch]``
    float32 buffers (used by :class:`neurosplit.torch.SparseLinear`); the GIL is released while they run."""

    def __init__(self, mask: Any, format: str = "auto", threads: int = 1) -> None: ...
    @property
    def nnz(self) -> int: ...
    @property
    def format(self) -> str: ...
    @property
    def threads(self) -> int: ...
    def forward(
        self,
        w: npt.NDArray[np.float32],
        version: int,
        x: npt.NDArray[np.float32],
        bias: Optional[npt.NDArray[np.float32]],
        y: npt.NDArray[np.float32],
    ) -> None: ...
    def backward(
        self,
        w: npt.NDArray[np.float32],
        version: int,
        x: npt.NDArray[np.float32],
        dy: npt.NDArray[np.float32],
        dx: Optional[npt.NDArray[np.float32]] = None,
        dw: Optional[npt.NDArray[np.float32]] = None,
    ) -> None: ...
    @staticmethod
    def transpose(src: npt.NDArray[np.float32], dst: npt.NDArray[np.float32]) -> None: ...
