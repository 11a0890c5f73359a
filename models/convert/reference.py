"""Record what the ORIGINAL person detector (TF.js CenterNet from
@vladmandic/human, run by tfjs in Node) finds on the golden images, so the
project's Rust pipeline (ONNX Runtime) can be checked against it.

Golden images: the six face-api demo photos and chosen frames of vtest.avi.
Preprocessing is the project's own: letterbox to 512x512 (scale the longer
side to 512 with Pillow's bilinear filter, which fast_image_resize
reproduces, centre on black). The raw 100 detections are mapped back to image
pixels and stored unfiltered; the test applies the project's own thresholds
and NMS to both sides.

usage: reference.py WORK_DIR VTEST_AVI FACES_DIR OUT_JSON
"""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

SIZE = 512
VTEST_FRAMES = [50, 150, 250, 350, 450, 550, 650, 750]


def letterbox(img):
    w, h = img.size
    scale = SIZE / max(w, h)
    nw, nh = int(w * scale + 0.5), int(h * scale + 0.5)
    resized = img.resize((nw, nh), Image.BILINEAR)
    canvas = Image.new("RGB", (SIZE, SIZE))
    ox, oy = (SIZE - nw) // 2, (SIZE - nh) // 2
    canvas.paste(resized, (ox, oy))
    return np.asarray(canvas, np.float32), scale, ox, oy


def run_original(work, tensor, name):
    prefix = os.path.join(work, "ref", name)
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    np.ascontiguousarray(tensor[None], np.float32).tofile(prefix + ".in.f32")
    model = os.path.join(work, "pkgs/human/package/models/centernet.json")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tfjs_run.js")
    env = dict(os.environ, NODE_PATH=os.path.join(work, "js/node_modules"))
    subprocess.run(
        ["node", script, model, prefix + ".in.f32", f"1,{SIZE},{SIZE},3", prefix, "tower_0/detections"],
        check=True, env=env,
    )
    meta = json.load(open(prefix + ".json"))
    return np.fromfile(prefix + ".0.f32", np.float32).reshape(meta["outputs"][0]["shape"])[0], meta["tfjs"]


def detections(work, img, name):
    tensor, scale, ox, oy = letterbox(img)
    raw, tfjs = run_original(work, tensor, name)
    w, h = img.size
    out = []
    for x1, y1, x2, y2, score, cls in raw:
        box = [(x1 - ox) / scale, (y1 - oy) / scale, (x2 - ox) / scale, (y2 - oy) / scale]
        box = [min(max(box[0], 0), w), min(max(box[1], 0), h), min(max(box[2], 0), w), min(max(box[3], 0), h)]
        out.append({"score": round(float(score), 5), "class": int(cls), "box": [round(float(v), 2) for v in box]})
    return out, tfjs


def vtest_frame(path, index):
    png = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", path, "-vf", f"select=eq(n\\,{index})",
         "-vframes", "1", "-pix_fmt", "rgb24", "-f", "image2pipe", "-vcodec", "png", "-"],
        check=True, capture_output=True,
    ).stdout
    from io import BytesIO
    return Image.open(BytesIO(png)).convert("RGB")


def main():
    work, vtest, faces, out_json = sys.argv[1:5]
    images = []
    tfjs = None
    for i in range(1, 7):
        name = f"sample{i}"
        img = Image.open(os.path.join(faces, name + ".jpg")).convert("RGB")
        dets, tfjs = detections(work, img, name)
        images.append({"image": f"faces/{name}.jpg", "size": list(img.size), "detections": dets})
    for n in VTEST_FRAMES:
        img = vtest_frame(vtest, n)
        dets, tfjs = detections(work, img, f"vtest{n}")
        images.append({"image": f"vtest.avi#{n}", "size": list(img.size), "detections": dets})
    doc = {
        "what": "raw detections of the original TF.js CenterNet (human 3.3.6 models/centernet.json) on letterboxed golden images, in image pixels (x1,y1,x2,y2), unfiltered",
        "made_by": "models/convert/convert.sh (reference.py)",
        "tfjs": tfjs,
        "letterbox": {"size": SIZE, "resize": "Pillow bilinear", "pad": "centred, black"},
        "images": images,
    }
    with open(out_json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    for im in images:
        top = [d["score"] for d in im["detections"] if d["class"] == 0 and d["score"] >= 0.2]
        print(im["image"], "person scores >= 0.2:", top)


if __name__ == "__main__":
    main()
