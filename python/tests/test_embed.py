"""neurosplit.embed on a handful of generated images with stand-in encoders (no download, no pretrained weights)."""

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

# Pillow decodes the images; CI installs it, so only a local run without it skips.
if os.environ.get("CI"):
    import PIL  # noqa: F401
else:
    pytest.importorskip("PIL")
from PIL import Image

PKG = Path(__file__).resolve().parents[1] / "neurosplit"


def _load_embed():
    """neurosplit.embed; straight from its file when the compiled engine is not built (embed does not need it)."""
    try:
        from neurosplit import embed

        return embed
    except ImportError:
        spec = importlib.util.spec_from_file_location("neurosplit_embed_under_test", PKG / "embed.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        return mod


embed = _load_embed()

CLASSES = ["cat", "ant", "bird"]  # not sorted: labels must follow the sorted names (ant, bird, cat)


def make_images(root: Path, per_class=None):
    """split/class/N.png images whose mean colour encodes (split, class, index), 8 x 8 pixels."""
    per_class = per_class or {"train": 4, "test": 2}
    for s, split in enumerate(["train", "test"]):
        for c, cls in enumerate(CLASSES):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(per_class[split]):
                # file names 1, 2, ..., 10: natural order must put 2 before 10
                px = np.full((8, 8, 3), (10 * c + 5, 20 * i + 3, 100 * s + 7), np.uint8)
                Image.fromarray(px).save(d / f"{i + 1}.png")
    (root / "README.txt").write_text("not an image\n")
    return root


class MeanColour(embed.Encoder):
    """A numpy stand-in: mean R, G, B of each image and a constant; counts its calls."""

    name = "mean-colour"

    def __init__(self):
        self.calls = 0
        self.images = 0

    def settings(self):
        return {"encoder": self.name, "preprocessing": "none"}

    def encode(self, images):
        self.calls += 1
        self.images += len(images)
        return np.stack(
            [np.concatenate([np.asarray(im.convert("RGB"), np.float32).mean((0, 1)), [1.0]]) for im in images]
        )


def test_folder_layout_labels_order_and_values(tmp_path):
    root = make_images(tmp_path / "imgs", {"train": 11, "test": 2})
    enc = MeanColour()
    r = embed.embed(root, enc, batch_size=4, progress=False)
    assert r.metadata["classes"] == ["ant", "bird", "cat"]
    assert r.x_train.dtype == np.float32 and r.y_train.dtype == np.int64
    assert r.x_train.shape == (33, 4) and r.x_test.shape == (6, 4)
    np.testing.assert_array_equal(r.y_train, np.repeat([0, 1, 2], 11))
    np.testing.assert_array_equal(r.y_test, np.repeat([0, 1, 2], 2))
    # class c of the sorted list is CLASSES.index(name); file i+1 has green 20 i + 3, in natural order
    for label, name in enumerate(r.metadata["classes"]):
        rows = r.x_train[r.y_train == label]
        np.testing.assert_allclose(rows[:, 0], 10 * CLASSES.index(name) + 5)
        np.testing.assert_allclose(rows[:, 1], 20 * np.arange(11) + 3)
        np.testing.assert_allclose(rows[:, 2], 7)
    np.testing.assert_allclose(r.x_test[:, 2], 107)
    assert r.metadata["counts"] == {"train": 33, "test": 6}
    assert r.metadata["source_checksum"].startswith("folder-sha256:")
    assert enc.images == 39


def test_archive_equals_folder_and_checksum(tmp_path):
    root = make_images(tmp_path / "imgs")
    arc = tmp_path / "imgs.tar.gz"
    with tarfile.open(arc, "w:gz") as t:
        t.add(root, arcname="data")  # a leading folder is allowed
    a = embed.embed(root, MeanColour(), progress=False)
    b = embed.embed(arc, MeanColour(), progress=False)
    for k in ["x_train", "y_train", "x_test", "y_test"]:
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    import hashlib

    assert b.metadata["source_checksum"] == "sha256:" + hashlib.sha256(arc.read_bytes()).hexdigest()
    # the folder digest changes when one image changes
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "test" / "ant" / "1.png")
    c = embed.embed(root, MeanColour(), progress=False)
    assert c.metadata["source_checksum"] != a.metadata["source_checksum"]


def test_per_class_limits_take_the_first_images(tmp_path):
    root = make_images(tmp_path / "imgs", {"train": 5, "test": 3})
    r = embed.embed(root, MeanColour(), train_per_class=2, test_per_class=1, progress=False)
    np.testing.assert_array_equal(r.y_train, [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(r.y_test, [0, 1, 2])
    np.testing.assert_allclose(r.x_train[:2, 1], [3, 23])
    assert r.metadata["available"] == {"train": 15, "test": 9}
    assert r.metadata["per_class_limit"] == {"train": 2, "test": 1}


def test_chunks_resume_and_stale_chunks_are_recomputed(tmp_path):
    root = make_images(tmp_path / "imgs", {"train": 5, "test": 2})
    chunks = tmp_path / "chunks"
    first = MeanColour()
    # stop after two new chunks: nothing returned, two chunk files on disk
    assert embed.embed(root, first, chunk=4, chunks_dir=chunks, max_chunks=2, progress=False) is None
    # the test split first, round-robin over the classes: the first chunk of the first two classes
    assert sorted(p.name for p in chunks.iterdir()) == ["test-0000-00000.npz", "test-0001-00000.npz"]
    assert first.images == 4
    second = MeanColour()
    r = embed.embed(root, second, chunk=4, chunks_dir=chunks, progress=False)
    assert second.images == 15 + 6 - 4  # only the unfinished chunks
    full = embed.embed(root, MeanColour(), progress=False)
    np.testing.assert_array_equal(r.x_train, full.x_train)
    np.testing.assert_array_equal(r.x_test, full.x_test)
    # a rerun computes nothing
    third = MeanColour()
    embed.embed(root, third, chunk=4, chunks_dir=chunks, progress=False)
    assert third.images == 0
    # other encoder settings, or a torn chunk file: recomputed, not reused

    class Other(MeanColour):
        def settings(self):
            return {"encoder": self.name, "preprocessing": "other"}

    other = Other()
    embed.embed(root, other, chunk=4, chunks_dir=chunks, progress=False)
    assert other.images == 21
    (chunks / "test-0000-00000.npz").write_bytes(b"torn")
    fourth = Other()
    embed.embed(root, fourth, chunk=4, chunks_dir=chunks, progress=False)
    assert fourth.images == 2
    # a larger per-class limit reuses the chunks of a smaller one (chunk boundaries are per class)
    fifth = Other()
    embed.embed(root, fifth, chunk=2, chunks_dir=tmp_path / "c2", train_per_class=2, progress=False)
    sixth = Other()
    r6 = embed.embed(root, sixth, chunk=2, chunks_dir=tmp_path / "c2", train_per_class=4, progress=False)
    assert sixth.images == 6 and r6.x_train.shape[0] == 12


def test_save_writes_the_npz_the_specs_read(tmp_path):
    root = make_images(tmp_path / "imgs")
    r = embed.embed(root, MeanColour(), progress=False)
    out = tmp_path / "out" / "emb.npz"
    embed.save(r, out)
    with np.load(out, allow_pickle=False) as z:
        assert set(z.files) == {"x_train", "y_train", "x_test", "y_test", "metadata"}
        assert z["x_train"].dtype == np.float32 and z["y_test"].dtype == np.int64
        meta = json.loads(str(z["metadata"]))
    assert meta == json.loads((tmp_path / "out" / "emb.npz.json").read_text())
    assert meta["encoder"] == "mean-colour" and meta["counts"] == {"train": 12, "test": 6}


def test_bad_sources_are_clear_errors(tmp_path):
    with pytest.raises(embed.EmbedError, match="no such folder"):
        embed.open_source(tmp_path / "missing")
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(embed.EmbedError, match="no images"):
        embed.open_source(tmp_path / "empty")
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(embed.EmbedError, match="not a readable tar"):
        embed.open_source(tmp_path / "junk.tar.gz")
    root = make_images(tmp_path / "imgs")
    (root / "train" / "ant" / "9.png").write_bytes(b"broken")
    with pytest.raises(embed.EmbedError, match="not a readable image"):
        embed.embed(root, MeanColour(), progress=False)
    with pytest.raises(embed.EmbedError, match="per-class"):
        embed.embed(root, MeanColour(), train_per_class=-1, progress=False)


def test_importing_neurosplit_does_not_import_torch():
    code = "import sys, neurosplit; assert 'torch' not in sys.modules, 'torch imported'"
    try:
        import neurosplit  # noqa: F401
    except ImportError:
        pytest.skip("the compiled engine is not built")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tiny_torch_module_encoder(tmp_path):
    if not os.environ.get("NEUROSPLIT_REQUIRE_TORCH"):
        pytest.importorskip("torch")
    import torch

    class Tiny(embed.Encoder):
        """A fixed random 1x1 convolution + average pool through the tool's own preprocessing."""

        name = "tiny-torch"

        def __init__(self):
            torch.manual_seed(0)
            self.net = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())

        def encode(self, images):
            with torch.inference_mode():
                return self.net(embed.pil_to_tensor(images, 16, "unit")).numpy()

    root = make_images(tmp_path / "imgs")
    a = embed.embed(root, Tiny(), batch_size=5, progress=False)
    b = embed.embed(root, Tiny(), batch_size=2, chunk=3, chunks_dir=tmp_path / "c", progress=False)
    assert a.x_train.shape == (12, 5) and a.x_train.dtype == np.float32
    np.testing.assert_allclose(a.x_train, b.x_train, rtol=1e-5, atol=1e-6)
    # the [-1, 1] scaling: a constant image of value v maps to 2 v / 255 - 1 before the convolution
    x = embed.pil_to_tensor([Image.fromarray(np.full((4, 4, 3), 255, np.uint8))], 8, "unit")
    assert x.shape == (1, 3, 8, 8) and torch.allclose(x, torch.ones_like(x))


def test_cli_runs_as_a_script_with_the_stand_in_refused(tmp_path):
    # the command line knows only the real encoders; an unknown one is refused by argparse (exit 2)
    root = make_images(tmp_path / "imgs")
    p = subprocess.run(
        [sys.executable, str(PKG / "embed.py"), str(root), str(tmp_path / "o.npz"), "--encoder", "nope"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2 and "invalid choice" in p.stderr
