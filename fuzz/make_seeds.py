#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora into fuzz/seeds/<target>/ from the project's own fixtures: the shipped
experiment specs, model files written by the release binary, small .npy/.npz/IDX files in the formats the
tests use, results records and a custom-split assignment. Run from the repository root after a release build:
    python3 fuzz/make_seeds.py
    python3 fuzz/make_seeds.py --pt    # only the pt_file seeds, from tests/fixtures/torch/ (no build needed)
"""
import gzip, io, json, os, struct, subprocess, sys, tempfile, zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = os.path.join(ROOT, "fuzz", "seeds")
BIN = os.path.join(ROOT, "target", "release", "neurosplit")


def put(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def npy(descr, shape, values, fmt):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d, " % s for s in shape) if len(shape) == 1 else ", ".join(map(str, shape)))
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack(
        "<%d%s" % (len(values), fmt), *values)


def main():
    # Specs: every shipped experiment.
    for f in sorted(os.listdir(os.path.join(ROOT, "experiments"))):
        put("spec_toml", f, open(os.path.join(ROOT, "experiments", f), "rb").read())
    # .npy and .npz: 6 x 4 float32 features, int64 labels of 3 classes.
    x = [float(i % 7) / 7 for i in range(24)]
    y = [i % 3 for i in range(6)]
    arrays = {"x_train": npy("<f4", (6, 4), x, "f"), "y_train": npy("<i8", (6,), y, "q"),
              "x_test": npy("<f8", (6, 4), x, "d"), "y_test": npy("|u1", (6,), y, "B")}
    for name, data in arrays.items():
        put("npy", name + ".npy", data)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in arrays.items():
            z.writestr(name + ".npy", data)
    put("npz", "emb.npz", buf.getvalue())
    # IDX: 3 images of 4 x 4 bytes and their labels, plain and gzipped.
    img = struct.pack(">BBBBIII", 0, 0, 8, 3, 3, 4, 4) + bytes(range(48))
    lab = struct.pack(">BBBBI", 0, 0, 8, 1, 3) + bytes([0, 1, 9])
    put("idx", "images", img)
    put("idx", "labels", lab)
    put("idx", "images.gz", gzip.compress(img, mtime=0))
    # Models and results from the release binary.
    with tempfile.TemporaryDirectory() as tmp:
        def run(*args):
            subprocess.run([BIN, *args], cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        run("train", "--clauses", "4", "--k", "3", "--neurons", "4", "--epochs", "20", "--n-train", "200",
            "--n-test", "100", "--save", "dense.safetensors")
        run("expand", "dense.safetensors", "--alpha", "2", "--strategy", "clause", "-o", "fpe.safetensors")
        run("train", "--clauses", "4", "--k", "3", "--hidden", "4,4,4", "--layernorm", "--epochs", "5",
            "--n-train", "200", "--n-test", "100", "--save", "deep.safetensors")
        for m in ["dense", "fpe", "deep"]:
            put("model_file", m + ".safetensors", open(os.path.join(tmp, m + ".safetensors"), "rb").read())
        run("reproduce", "case-study", "--out", "r", "--quiet", "--trials", "2", "--pre-epochs", "5",
            "--post-epochs", "5", "--n-train", "200", "--n-test", "100")
        put("results_jsonl", "trials.jsonl", open(os.path.join(tmp, "r", "trials.jsonl"), "rb").read())
    # A custom split of a [12, 4, 1] model into 2 children per neuron.
    neurons = [[[i for i in range(12) if i % 2 == 0], [i for i in range(12) if i % 2 == 1]] for _ in range(4)]
    put("assignment_json", "split.json", json.dumps({"alpha": 2, "neurons": neurons}))
    put("assignment_json", "list.json", json.dumps([{"alpha": 2, "neurons": neurons}]))


def pt_seeds():
    # pt_file: the torch fixtures as they are, and each one's pickle with its storage lengths in the target's
    # own layout ([n] [len u16 LE]... [data.pkl]), so that mutations reach the unpickler (stdlib only).
    fixtures = os.path.join(ROOT, "tests", "fixtures", "torch")
    for f in sorted(os.listdir(fixtures)):
        if not f.endswith((".pt", ".pth")):
            continue
        data = open(os.path.join(fixtures, f), "rb").read()
        if len(data) <= 16384:
            put("pt_file", f, data)
        if not zipfile.is_zipfile(os.path.join(fixtures, f)):
            continue
        z = zipfile.ZipFile(os.path.join(fixtures, f))
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl")]
        if not pkl:
            continue
        prefix = pkl[0][: -len("data.pkl")]
        records = {n[len(prefix) + 5:]: z.getinfo(n).file_size for n in z.namelist() if n.startswith(prefix + "data/")}
        keys = sorted(records, key=int) if all(k.isdigit() for k in records) else []
        if keys != [str(i) for i in range(len(keys))] or len(keys) > 16:
            continue
        head = bytes([len(keys)]) + b"".join(struct.pack("<H", records[k]) for k in keys)
        put("pt_file", f.rsplit(".", 1)[0] + ".pkl", head + z.read(pkl[0]))


if __name__ == "__main__":
    if sys.argv[1:] == ["--pt"]:
        sys.exit(pt_seeds())
    sys.exit(main())
