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

Errors are :class:`NeurosplitError` (a ``ValueError``) with the engine's messages.
"""

from ._neurosplit import NeurosplitError, expand, finetune, metrics, theory, train

__all__ = ["NeurosplitError", "expand", "finetune", "metrics", "theory", "train"]

# :func:`reproduce` -- run one of the paper's experiments as ``neurosplit reproduce`` does (records and report)
from ._neurosplit import reproduce  # noqa: E402

__all__.append("reproduce")
