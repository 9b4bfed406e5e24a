"""What PyTorch and numpy users hold goes in: torch tensors, lists, float16/float64, any integer label dtype; every
bad input is a NeurosplitError that says what is wrong, never a TypeError or a crash."""

import numpy as np
import pytest

import neurosplit
from neurosplit import NeurosplitError

from test_api import dense, nnz, problem


def as_(layers, f):
    return [(f(w), f(b), m) for w, b, m in layers]


def test_float16_float64_and_lists_give_the_float32_result():
    ref, _ = neurosplit.expand(dense(), 2, seed=0)
    for conv in (lambda a: a.astype(np.float64), lambda a: a.tolist()):
        got, _ = neurosplit.expand(as_(dense(), conv), 2, seed=0)
        for (w, b, m), (w2, b2, m2) in zip(ref, got):
            np.testing.assert_array_equal(w, w2)
            np.testing.assert_array_equal(m, m2)
    got, _ = neurosplit.expand(as_(dense(), lambda a: a.astype(np.float16)), 2, seed=0)
    assert nnz(got) == nnz(dense())


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64])
def test_labels_of_any_integer_dtype(dtype):
    x, y, xt, yt = problem()
    _, rep = neurosplit.finetune(dense(), x, y.astype(dtype), xt, yt.astype(dtype), epochs=1, batch_size=100)
    _, ref = neurosplit.finetune(dense(), x, y, xt, yt, epochs=1, batch_size=100)
    assert rep["test_acc_after"] == ref["test_acc_after"]


def test_non_contiguous_and_fortran_arrays():
    x, y, xt, yt = problem()
    xf = np.asfortranarray(x)
    _, a = neurosplit.finetune(dense(), xf, y, xt, yt, epochs=1, batch_size=100)
    _, b = neurosplit.finetune(dense(), x, y, xt, yt, epochs=1, batch_size=100)
    assert a["test_acc_after"] == b["test_acc_after"]
    w = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    np.testing.assert_allclose(neurosplit.metrics(w[:, ::2])["gram"], neurosplit.metrics(w[:, ::2].copy())["gram"])


def bad(fn, match):
    with pytest.raises(NeurosplitError, match=match):
        fn()


def test_bad_inputs_are_neurosplit_errors():
    x, y, _, _ = problem()
    w, b, _ = dense()[0]
    bad(lambda: neurosplit.expand([], 2), "empty")
    bad(lambda: neurosplit.expand(5, 2), "layers")
    bad(lambda: neurosplit.expand([(w.astype(np.int64), b)] + dense()[1:], 2), "floating-point")
    bad(lambda: neurosplit.expand([(w[None], b)] + dense()[1:], 2), "2-D")
    bad(lambda: neurosplit.expand([(np.zeros((0, 6), np.float32), np.zeros(0, np.float32))] + dense()[1:], 2), "empty")
    w_nan = w.copy()
    w_nan[1, 2] = np.nan
    bad(lambda: neurosplit.expand([(w_nan, b)] + dense()[1:], 2), r"NaN at index \[1, 2\] is not finite")
    bad(lambda: neurosplit.expand([(w, b[:2])] + dense()[1:], 2), "bias")
    bad(lambda: neurosplit.expand([(w, b, np.ones((2, 2), bool))] + dense()[1:], 2), "mask shape")
    bad(lambda: neurosplit.expand([(w, b, np.full(w.shape, "a"))] + dense()[1:], 2), "mask")
    bad(lambda: neurosplit.expand([("text", b)] + dense()[1:], 2), "floating-point")
    bad(lambda: neurosplit.expand(dense(), 2, "clause", groups=[[0, 1], [2, 99]]), "99|group")
    bad(lambda: neurosplit.expand(dense(), 2, "clause", groups=[[0, -1]]), "groups|-1")
    bad(lambda: neurosplit.expand(dense(), -2), "alpha")
    bad(lambda: neurosplit.expand(dense(), "two"), "alpha")
    x_inf = x.copy()
    x_inf[3, 0] = np.inf
    bad(lambda: neurosplit.finetune(dense(), x_inf, y, epochs=1), r"inf at index \[3, 0\] is not finite")
    bad(lambda: neurosplit.finetune(dense(), x, y.astype(np.float32), epochs=1), "integers")
    bad(lambda: neurosplit.finetune(dense(), x, -y - 1, epochs=1), "class index")
    bad(lambda: neurosplit.finetune(dense(), x, y[:-1], epochs=1), "labels")
    bad(lambda: neurosplit.finetune(dense(), x, y[:, None], epochs=1), "1-D")
    bad(lambda: neurosplit.finetune(dense(), x[0], y, epochs=1), "2-D")
    bad(lambda: neurosplit.finetune(dense(), x, y, epochs="ten"), "epochs")
    bad(lambda: neurosplit.metrics(np.zeros((0, 3), np.float32)), "empty")
    bad(lambda: neurosplit.metrics(object()), "w")


def test_torch_tensors_go_in():
    torch = pytest.importorskip("torch")
    x, y, xt, yt = problem()
    layers = [(torch.from_numpy(w).requires_grad_(), torch.from_numpy(b), m) for w, b, m in dense()]
    got, _ = neurosplit.expand(layers, 2, seed=0)
    ref, _ = neurosplit.expand(dense(), 2, seed=0)
    np.testing.assert_array_equal(got[0][0], ref[0][0])
    _, a = neurosplit.finetune(dense(), torch.from_numpy(x).double(), torch.from_numpy(y).to(torch.uint8),
                               torch.from_numpy(xt), torch.from_numpy(yt), epochs=1, batch_size=100)
    _, b = neurosplit.finetune(dense(), x, y, xt, yt, epochs=1, batch_size=100)
    assert a["test_acc_after"] == b["test_acc_after"]
    # A pruned layer's float mask (what torch.nn.utils.prune keeps) is a mask.
    m = torch.from_numpy((np.abs(dense()[0][0]) > 0.5).astype(np.float32))
    got, _ = neurosplit.expand([(torch.from_numpy(dense()[0][0]) * m, None, m)] + dense()[1:], 2, seed=0)
    assert nnz(got) == int(m.sum()) + dense()[1][0].size
