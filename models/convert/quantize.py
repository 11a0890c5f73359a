"""Make an 8-bit (static, QDQ) copy of the CenterNet person detector.

Why: ONNX Runtime runs int8 convolutions faster than float on CPUs with
VNNI, and the edge runs the person detector on every sampled frame. Static
quantization needs activation ranges, so the float model is run on a fixed
list of calibration images (calibration.txt: source, sha256, variation),
letterboxed exactly as the Rust code does (longer side to 512 with Pillow's
bilinear filter, centred on black). vtest.avi and the six face-api demo
photos are the golden test's images and are never used for calibration.

This model is unusually sensitive to quantization: batch norm folded into
the weights left some channels feeding depthwise convolutions with values
near 0.5 and filters with coefficients up to 70 that nearly cancel, so
per-tensor 8-bit activations there are amplified into box-size errors
(uniform noise of +-0.05 on the stem's output alone breaks the golden test;
quantizing everything gives a median IoU of 0.89 against the original).
Hence, by default (measured on the golden images and all of vtest.avi;
other choices stay available as options to compare):
  - the inputs of depthwise convolutions are range-equalized first (see
    equalize(): an exactly equivalent float model, folded into the weights);
  - Percentile (99.999) calibration, QUInt8 activations, QInt8 per-channel
    weights (per-tensor weights, symmetric QInt8 activations, reduce_range
    and MinMax all match the original less well);
  - the blocks that break the golden test when quantized stay float:
    the stem and first block, expanded_conv_11 and _14, the FPN's c4/c3
    upsampling, the head's concatenations and squeeze-excite, and the two
    output heads (class heatmap, box size);
  - the in-graph decoding (Sigmoid, 3x3 max-pool peak test, TopK, box
    arithmetic) always stays float: an 8-bit heatmap makes neighbouring
    scores equal, which the `Equal(heatmap, maxpool(heatmap))` peak test
    reads as extra peaks.

Reproducible: calibration order is the list's and the calibrators are
deterministic; two runs give byte-identical files (whatever PYTHONHASHSEED).
Images from Debian's opencv-doc package are fetched with `apt-get download`
into $WORK/calib (the version is pinned in the list, every file's sha256 is
checked).

usage: quantize.py [options] FLOAT.onnx CALIBRATION.txt OUT.onnx
  options (defaults give the recommended model):
    --method minmax|percentile|entropy   calibration method (percentile)
    --percentile P                       for --method percentile (99.999)
    --equalize ALPHA                     equalization strength, 0 = off (1.0)
    --float-blocks B1,B2,...             blocks kept float (FLOAT_BLOCKS; see blocks())
    --per-tensor                         per-tensor weights (default per-channel)
    --symmetric                          symmetric int8 activations (QInt8)
    --reduce-range                       7-bit weights (for CPUs without VNNI)
    --ops Conv,Add,...                   op types to quantize (OPS)
    --exclude NAME_SUBSTRING             also keep nodes whose name contains it float
    --preprocess                         run quant_pre_process first (no gain here)
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from PIL import Image

SIZE = 512
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
WORK = os.environ.get("WORK", os.path.join(ROOT, ".cache", "models-convert"))

# Op types quantized by default: the backbone's and the FPN's compute and the
# ops that connect them, so that no float island sits between two convs.
OPS = ["Conv", "Add", "Mul", "Clip", "Relu", "GlobalAveragePool", "Reshape", "Resize", "Concat"]
# Blocks kept in float by default (see blocks()).
FLOAT_BLOCKS = ["Conv", "expanded_conv", "expanded_conv_11", "expanded_conv_14", "c4_upsample", "c3_upsample",
                "head", "cls_head", "wh_head"]
# The output heads' final convolutions (separable: depthwise + pointwise).
HEADS = ["centernet_cls_output", "centernet_wh_output"]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_deb(spec):
    """`package=version` -> a directory with the package's files."""
    name = spec.replace("=", "_").replace(":", "%3a")
    dest = os.path.join(WORK, "calib", name)
    if not os.path.isdir(dest):
        tmp = tempfile.mkdtemp(dir=os.path.join(WORK, "calib"))
        subprocess.run(["apt-get", "download", spec], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deb = [f for f in os.listdir(tmp) if f.endswith(".deb")]
        if len(deb) != 1:
            sys.exit(f"quantize: apt-get download {spec} gave {deb}")
        subprocess.run(["dpkg-deb", "-x", os.path.join(tmp, deb[0]), os.path.join(tmp, "x")], check=True)
        os.rename(os.path.join(tmp, "x"), dest)
        shutil.rmtree(tmp)
    return dest


def resolve(source):
    """A calibration.txt source -> a local path.

    `deb:PACKAGE=VERSION:PATH` is PATH inside that Debian package; anything
    else is relative to the repository root."""
    if source.startswith("deb:"):
        _, spec, path = source.split(":", 2)
        os.makedirs(os.path.join(WORK, "calib"), exist_ok=True)
        return os.path.join(fetch_deb(spec), path)
    return os.path.join(ROOT, source)


def read_list(path):
    """calibration.txt -> [(source, sha256, variation)]."""
    items = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                source, digest, variation = line.split()
                items.append((source, digest, variation))
    return items


def vary(img, variation):
    """A synthetic variation of a calibration photo: `-` (none), `flip`
    (mirror left-right), `gain=G` (pixel values times G, clipped: a darker
    or brighter exposure), or several joined by `+`."""
    for v in variation.split("+"):
        if v == "-":
            continue
        if v == "flip":
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        elif v.startswith("gain="):
            a = np.asarray(img, np.float32) * float(v[5:])
            img = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))
        else:
            sys.exit(f"quantize: unknown variation {v!r}")
    return img


def letterbox(img):
    """As models/convert/reference.py and the Rust letterboxer."""
    w, h = img.size
    scale = SIZE / max(w, h)
    nw, nh = int(w * scale + 0.5), int(h * scale + 0.5)
    resized = img.resize((nw, nh), Image.BILINEAR)
    canvas = Image.new("RGB", (SIZE, SIZE))
    canvas.paste(resized, ((SIZE - nw) // 2, (SIZE - nh) // 2))
    return np.asarray(canvas, np.float32)


def calibration_tensors(list_path):
    tensors = []
    for source, digest, variation in read_list(list_path):
        path = resolve(source)
        got = sha256(path)
        if got != digest:
            sys.exit(f"quantize: {source} has sha256 {got}, calibration.txt says {digest}")
        img = vary(Image.open(path).convert("RGB"), variation)
        tensors.append(letterbox(img)[None])
    return tensors


class Reader(CalibrationDataReader):
    def __init__(self, input_name, tensors):
        self.input_name = input_name
        self.tensors = tensors
        self.i = 0

    def get_next(self):
        if self.i >= len(self.tensors):
            return None
        self.i += 1
        return {self.input_name: self.tensors[self.i - 1]}

    def rewind(self):
        self.i = 0


def _attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def equalize(model, tensors, alpha):
    """Per-channel range equalization of the inputs of depthwise convolutions
    (in the spirit of Nagel et al. 2019, "Data-Free Quantization Through
    Weight Equalization and Bias Correction"). Changes the float model into
    an equivalent one; returns how many tensors it equalized.

    Why: in this model (batch norm folded into the weights) some channels
    feeding a depthwise convolution carry values of about 0.5 while others
    reach 80, and the depthwise filters of the small channels have
    coefficients up to 70 that nearly cancel. Activations are quantized
    per tensor, so the small channels get a few levels and the depthwise
    filter amplifies that error; quantizing the first convolution alone
    takes the heatmap's SNR to 4 dB. Dividing channel i of such a tensor by
    s_i (folded into the convolution that produces it) and multiplying the
    depthwise filter i by s_i gives every channel a similar range at no cost.

    The tensor T feeding a depthwise conv must come from a Conv through Relu
    (homogeneous: relu(x / s) = relu(x) / s) or through hard-swish as the
    graph spells it, x * relu6(x + 3) / 6: with x' = x / s, the `x + 3`
    branch is fed x' * s (one inserted per-channel Mul) and the result is
    exactly hard-swish(x) / s. Every Conv consuming T gets its input channel
    i multiplied by s_i; any other consumer (a residual Add) is fed T' * s.
    s_i = (r_i / R) ** alpha, with r_i the channel's largest |value| on the
    calibration images and R the largest r_i."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    consumers = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def const(name):
        return numpy_helper.to_array(inits[name]) if name in inits else None

    def only(tensor, nodes):
        return sorted(id(n) for n in consumers.get(tensor, [])) == sorted(id(n) for n in nodes)

    plans = []  # (T, producing conv, kind, extra nodes)
    for d in graph.node:
        if d.op_type != "Conv" or _attr(d, "group", 1) == 1:
            continue
        t = d.input[0]
        if any(t == p[0] for p in plans) or t not in producer:
            continue
        p = producer[t]
        if p.op_type == "Relu" and p.input[0] in producer and producer[p.input[0]].op_type == "Conv":
            conv = producer[p.input[0]]
            if only(p.input[0], [p]):
                plans.append((t, conv, "relu", None))
        elif p.op_type == "Mul":
            # hard-swish: mul_1 = Mul(Mul(const 1/6, x), Clip(Add(x, 3), 0, 6))
            a, b = (producer.get(i) for i in p.input)
            if a is not None and a.op_type == "Clip":
                a, b = b, a
            if a is None or b is None or a.op_type != "Mul" or b.op_type != "Clip":
                continue
            add = producer.get(b.input[0])
            if add is None or add.op_type != "Add":
                continue
            x = [i for i in a.input if i not in inits]
            if len(x) != 1 or x[0] not in add.input or x[0] not in producer:
                continue
            conv = producer[x[0]]
            if conv.op_type == "Conv" and only(x[0], [a, add]):
                plans.append((t, conv, "hswish", (add, x[0])))
    if not plans:
        return 0

    # Per-channel ranges of the tensors to equalize, on the calibration images.
    import onnxruntime as ort
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    names = [t for t, *_ in plans] + [c.output[0] for _, c, *_ in plans]
    for t in names:
        probe.graph.output.add().name = t
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    ranges = [None] * len(names)
    for x in tensors:
        for k, v in enumerate(sess.run(names, {graph.input[0].name: x})):
            r = np.abs(v).max(axis=(0, 2, 3))
            ranges[k] = r if ranges[k] is None else np.maximum(ranges[k], r)
    ranges = list(zip(ranges[:len(plans)], ranges[len(plans):]))

    def set_init(name, array):
        inits[name].CopyFrom(numpy_helper.from_array(array.astype(np.float32), name))

    uses = {}
    for n in graph.node:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1

    def own(node, index):
        """Give node a private copy of an initializer input before changing it."""
        name = node.input[index]
        if uses[name] > 1:
            new = f"{name}_eq_{node.name}"
            graph.initializer.add().CopyFrom(numpy_helper.from_array(const(name), new))
            inits[new] = graph.initializer[-1]
            uses[name] -= 1
            uses[new] = 1
            node.input[index] = new
        return node.input[index]

    new_nodes = []  # (insert before this node, node)
    for (t, conv, kind, extra), (r, rx) in zip(plans, ranges):
        # s_i equalizes T's channels, but never lets a channel of the
        # producing conv's output (before the activation: hard-swish maps
        # x << 0 near 0, so a quiet T channel can hide a loud x) exceed
        # that tensor's own largest channel.
        big = r.max()
        s = np.where(r > 1e-6 * big, (r / big) ** alpha, 1.0)
        s = np.clip(np.maximum(s, rx / rx.max()), 1e-3, 1.0).astype(np.float32)
        # Producer: output channel i divided by s_i.
        w = const(own(conv, 1))
        set_init(conv.input[1], w / s.reshape(-1, *([1] * (w.ndim - 1))))
        if len(conv.input) > 2:
            set_init(own(conv, 2), const(conv.input[2]) / s)
        scale = s.reshape(1, -1, 1, 1)
        if kind == "hswish":
            add, x = extra
            sname = f"{t}_eq_scale"
            graph.initializer.add().CopyFrom(numpy_helper.from_array(scale, sname))
            inits[sname] = graph.initializer[-1]
            mul = onnx.helper.make_node("Mul", [x, sname], [f"{x}_eq_restored"], name=f"{add.name}_eq_restore")
            add.input[list(add.input).index(x)] = mul.output[0]
            new_nodes.append((add, mul))
        # Consumers of T: convs take channel i times s_i, others get T restored.
        restore = None
        for c in list(consumers[t]):
            if c.op_type == "Conv":
                w = const(own(c, 1))
                if _attr(c, "group", 1) == 1:
                    set_init(c.input[1], w * s.reshape(1, -1, 1, 1))
                else:
                    set_init(c.input[1], w * s.reshape(-1, 1, 1, 1))
            else:
                if restore is None:
                    sname = f"{t}_eq_scale_out"
                    graph.initializer.add().CopyFrom(numpy_helper.from_array(scale, sname))
                    inits[sname] = graph.initializer[-1]
                    restore = onnx.helper.make_node("Mul", [t, sname], [f"{t}_eq_restored"], name=f"{t}_eq_restore")
                    new_nodes.append((c, restore))
                for k, i in enumerate(c.input):
                    if i == t:
                        c.input[k] = restore.output[0]
    # Insert the new nodes just before their first consumer (keeps the graph sorted).
    for before, node in new_nodes:
        nodes = list(graph.node)
        k = next(j for j, n in enumerate(nodes) if n is before or n.name == before.name)
        graph.node.insert(k, node)
    return len(plans)


def blocks(model):
    """Node name -> the network block it belongs to: `Conv` (the stem),
    `expanded_conv`, `expanded_conv_1` ... `_14` (MobileNetV3), `extern1`,
    `c2_reverse` ... (the FPN laterals), `c5_upsample` ... (the FPN top-down
    path), `head` (the FPN's concatenations and the head's squeeze-excite),
    `cls_head` and `wh_head` (the output convolutions) and `decode`. Nodes tf2onnx left unnamed (`Conv__g10`) take their
    producer's block."""
    import re
    producer = {o: n for n in model.graph.node for o in n.output}
    out = {}
    for n in model.graph.node:
        m = (re.search(r"MobilenetV3/(Conv|expanded_conv(?:_\d+)?)/", n.name)
             or re.search(r"CenternetHead/(c\d_reverse|c\d_upsample)", n.name)
             or re.search(r"(extern1)", n.name))
        if m:
            out[n.name] = m.group(1)
        elif "centernet_cls_output" in n.name:
            out[n.name] = "cls_head"
        elif "centernet_wh_output" in n.name:
            out[n.name] = "wh_head"
        elif "CenternetHead" in n.name:
            out[n.name] = "head"
        else:
            for i in n.input:
                if i in producer and producer[i].name in out:
                    out[n.name] = out[producer[i].name]
                    break
            else:
                out[n.name] = "decode"
    return out


def float_nodes(model, float_blocks, extra):
    """Names of nodes to leave in float: the decoding after the heads (all
    nodes downstream of the heads' outputs), every node of `float_blocks`,
    and any whose name contains an `extra` substring."""
    graph = model.graph
    head_convs = [n for n in graph.node if n.op_type == "Conv" and any(h in n.name for h in HEADS)]
    if not head_convs:
        sys.exit("quantize: no output head convolutions found (is this CenterNet?)")
    # The heads' pointwise convs are those whose input comes from the heads' depthwise convs.
    produced = {t for n in head_convs for t in n.output}
    last = [n for n in head_convs if any(i in produced for i in n.input)]
    tainted = {t for n in last for t in n.output}
    excluded = set()
    for n in graph.node:  # topologically sorted
        if any(i in tainted for i in n.input):
            excluded.add(n.name)
            tainted.update(n.output)
    block = blocks(model)
    unknown = set(float_blocks) - set(block.values())
    if unknown:
        sys.exit(f"quantize: no block named {sorted(unknown)}; blocks: {sorted(set(block.values()))}")
    excluded.update(n for n, b in block.items() if b in float_blocks)
    for sub in extra:
        excluded.update(n.name for n in graph.node if sub in n.name)
    return sorted(excluded)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("float_model")
    ap.add_argument("calibration")
    ap.add_argument("out")
    ap.add_argument("--method", choices=["minmax", "percentile", "entropy"], default="percentile")
    ap.add_argument("--percentile", type=float, default=99.999)
    ap.add_argument("--per-tensor", action="store_true")
    ap.add_argument("--symmetric", action="store_true")
    ap.add_argument("--reduce-range", action="store_true")
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--exclude", action="append", default=[])
    ap.add_argument("--float-blocks", default=",".join(FLOAT_BLOCKS))
    ap.add_argument("--preprocess", action="store_true")
    ap.add_argument("--equalize", type=float, default=1.0, metavar="ALPHA")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="quantize.")
    try:
        src = args.float_model
        if args.preprocess:
            from onnxruntime.quantization.shape_inference import quant_pre_process
            src = os.path.join(tmp, "pre.onnx")
            quant_pre_process(args.float_model, src, skip_symbolic_shape=True)
        model = onnx.load(src)
        input_name = model.graph.input[0].name
        tensors = calibration_tensors(args.calibration)
        if args.equalize > 0:
            n = equalize(model, tensors, args.equalize)
            src = os.path.join(tmp, "equalized.onnx")
            onnx.save(model, src)
            print(f"equalized the inputs of {n} depthwise convolutions (alpha {args.equalize})")
        float_blocks = [b for b in args.float_blocks.split(",") if b]
        exclude = float_nodes(model, float_blocks, args.exclude)
        method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                  "entropy": CalibrationMethod.Entropy}[args.method]
        extra = {"ActivationSymmetric": args.symmetric}
        if args.method == "percentile":
            extra["CalibPercentile"] = args.percentile
        out_tmp = os.path.join(tmp, "out.onnx")
        quantize_static(
            src, out_tmp, Reader(input_name, tensors),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=args.ops.split(","),
            per_channel=not args.per_tensor,
            reduce_range=args.reduce_range,
            activation_type=QuantType.QInt8 if args.symmetric else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude,
            calibrate_method=method,
            extra_options=extra,
        )
        q = onnx.load(out_tmp)
        # Provenance, as models/convert/onnx_post.py records it for the float files.
        meta = {p.key: p.value for p in q.metadata_props}
        meta["quantization"] = (
            f"static QDQ int8 by models/convert/quantize.py: {args.method}"
            f"{' ' + str(args.percentile) if args.method == 'percentile' else ''} calibration on "
            f"{len(tensors)} images ({os.path.basename(args.calibration)}), "
            f"{'depthwise inputs equalized (alpha ' + str(args.equalize) + '), ' if args.equalize > 0 else ''}"
            f"activations {'QInt8 symmetric' if args.symmetric else 'QUInt8'}, weights QInt8 "
            f"{'per-tensor' if args.per_tensor else 'per-channel'}{' reduce_range' if args.reduce_range else ''}; "
            f"float: decoding, blocks {','.join(float_blocks) or 'none'}"
            f"{', nodes matching ' + ','.join(args.exclude) if args.exclude else ''}"
            f"; from float sha256 {sha256(args.float_model)}"
        )
        del q.metadata_props[:]
        for k in sorted(meta):
            q.metadata_props.add(key=k, value=meta[k])
        onnx.save(q, args.out)
    finally:
        shutil.rmtree(tmp)
    print(f"{args.out}: {len(exclude)} nodes float, sha256 {sha256(args.out)}")


if __name__ == "__main__":
    main()
