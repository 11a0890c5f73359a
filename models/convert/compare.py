"""Check that freshly converted models compute what the committed ones do.

tf2onnx's graph optimisers do not always emit the same graph for
CenterNet (equivalent rewrites, such as where a Reshape lands, vary between
runs), so byte equality is checked first and, failing that, both models are
run with ONNX Runtime on the same deterministic input and their outputs
compared.

usage: compare.py NEW.onnx COMMITTED.onnx   (exit 1 if they differ)
"""
import hashlib
import sys

import numpy as np
import onnxruntime as ort

TOLERANCE = 1e-4


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def main():
    new, committed = sys.argv[1:3]
    if sha(new) == sha(committed):
        print(f"{committed}: byte-identical")
        return 0
    a, b = session(new), session(committed)
    rng = np.random.default_rng(7)
    feeds = {}
    for inp in a.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in inp.shape]
        feeds[inp.name] = rng.random(shape, dtype=np.float32) * 255
    names = sorted(o.name for o in a.get_outputs())
    worst = 0.0
    for name, x, y in zip(names, a.run(names, feeds), b.run(names, feeds)):
        worst = max(worst, float(np.abs(x - y).max()))
    verdict = "equivalent" if worst <= TOLERANCE else "DIFFERENT"
    print(f"{committed}: not byte-identical, {verdict} (max |diff| {worst:.2e} over {names})")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
