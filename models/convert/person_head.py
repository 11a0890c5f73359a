"""Cut the CenterNet detector down to what the person pipeline uses: the
person heatmap and the box regression, at any input size.

Why: the committed model (human_centernet_coco512.onnx) takes a 512x512
letterbox, so a 4:3 camera frame is a quarter black padding and a 16:9 frame
almost half, and its heatmap head computes 80 COCO classes of which only
person (0) is kept. The backbone and the FPN are fully convolutional (the
three Resize ops use scales [1,1,2,2], the squeeze-excite Reshapes only
touch [1,C,1,1]); only the in-graph decoding (MaxPool peak test, TopK over
80x128x128, BatchGather, Reshapes to [16384,4] and [1,100,4]) is tied to
512x512. This script, by graph surgery on the committed float model:

  - slices the last heatmap convolution (1x1 pointwise, 128 -> 80 channels,
    followed by the Sigmoid) to output channel 0, so `heatmap` is the
    person channel only and identical to channel 0 of the original;
  - drops the decoding subgraph and the `detections` output (the decoding
    is reproduced exactly, for the person channel, by person_decode.py and
    the Rust code);
  - makes H and W symbolic: `images` [1,H,W,3] -> `heatmap` [1,H/4,W/4,1]
    (sigmoid scores) and `wh` [1,H/4,W/4,4] (the raw box regression the
    original decoding reads, already multiplied by the head's 16). H and W
    must be multiples of 32: the stride-2 convolutions carry tf2onnx's
    explicit SAME pads for even sizes (0,0,1,1), which hold at every level
    only then, and the FPN adds each upsampled level to the next;
  - records provenance in the metadata, as onnx_post.py does.

No value_info is kept (the committed model has none; shapes inferred at
512x512 would pin the spatial dims). The result is checked with the ONNX
checker and strict shape inference. Deterministic: the node order and the
initializer order are the source's, so two runs give byte-identical files
(whatever PYTHONHASHSEED).

usage: person_head.py SRC.onnx DST.onnx
  SRC: models/human_centernet_coco512.onnx (the committed float model)
  DST: e.g. .cache/models-convert/out/human_centernet_person.onnx
"""
import hashlib
import sys

import numpy as np
import onnx
from onnx import numpy_helper

PERSON = 0
STRIDE = 4
OUTPUTS = ["heatmap", "wh"]


def producer(graph, name):
    nodes = [n for n in graph.node if name in n.output]
    assert len(nodes) == 1, f"{name}: {len(nodes)} producers"
    return nodes[0]


def slice_person(graph):
    """`heatmap` = Transpose(Sigmoid(Conv(x, W[80,128,1,1], B[80]))):
    keep output channel PERSON of W and B."""
    transpose = producer(graph, "heatmap")
    assert transpose.op_type == "Transpose"
    sigmoid = producer(graph, transpose.input[0])
    assert sigmoid.op_type == "Sigmoid"
    conv = producer(graph, sigmoid.input[0])
    assert conv.op_type == "Conv" and len(conv.input) == 3, conv
    inits = {t.name: t for t in graph.initializer}
    for name in conv.input[1:]:
        users = [n.name for n in graph.node if name in n.input]
        assert users == [conv.name], f"{name} is shared: {users}"
        old = inits[name]
        array = numpy_helper.to_array(old)
        assert array.shape[0] == 80, array.shape
        new = numpy_helper.from_array(np.ascontiguousarray(array[PERSON:PERSON + 1]), name)
        old.CopyFrom(new)
    return conv.name


def keep_outputs(model, outputs):
    """The subgraph that computes `outputs` from the inputs, in the source's
    node order, with the initializers it uses in the source's order."""
    graph = model.graph
    produced = {o: i for i, n in enumerate(graph.node) for o in n.output}
    needed, stack = set(), list(outputs)
    while stack:
        name = stack.pop()
        i = produced.get(name)
        if i is None or i in needed:
            continue
        needed.add(i)
        stack.extend(graph.node[i].input)
    nodes = [n for i, n in enumerate(graph.node) if i in needed]
    used = {x for n in nodes for x in n.input}
    inits = [t for t in graph.initializer if t.name in used]
    dropped = [n.op_type for i, n in enumerate(graph.node) if i not in needed]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(inits)
    outs = {o.name: o for o in graph.output}
    kept = [outs[name] for name in outputs]
    del graph.output[:]
    graph.output.extend(kept)
    del graph.value_info[:]
    return dropped


def set_shape(value, dims):
    shape = value.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, int):
            dim.dim_value = d
        else:
            dim.dim_param = d


def check(model):
    """Checker and strict shape inference; and what makes the graph
    size-independent: every Reshape targets [1,C,1,1] (squeeze-excite) and
    every Resize scales (no `sizes` input)."""
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    for v in inferred.graph.output:
        dims = [d.dim_value or d.dim_param or "?" for d in v.type.tensor_type.shape.dim]
        print(f"  inferred {v.name}: {dims}")
    inits = {t.name: t for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Reshape":
            target = numpy_helper.to_array(inits[n.input[1]]).tolist()
            assert len(target) == 4 and target[0] == 1 and target[2:] == [1, 1], (n.name, target)
        if n.op_type == "Resize":
            assert len(n.input) == 3 and n.input[2], (n.name, list(n.input))
            scales = numpy_helper.to_array(inits[n.input[2]]).tolist()
            assert scales == [1.0, 1.0, 2.0, 2.0], (n.name, scales)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    src, dst = sys.argv[1:3]
    model = onnx.load(src)
    graph = model.graph
    source_meta = {p.key: p.value for p in model.metadata_props}
    conv = slice_person(graph)
    dropped = keep_outputs(model, OUTPUTS)
    set_shape(graph.input[0], [1, "H", "W", 3])
    set_shape(graph.output[0], [1, "H/4", "W/4", 1])
    set_shape(graph.output[1], [1, "H/4", "W/4", 4])
    meta = {
        "source": source_meta.get("source", ""),
        "derived_from": f"models/human_centernet_coco512.onnx sha256:{sha(src)}",
        "made_by": "models/convert/person_head.py: person channel of the heatmap head, "
                   "in-graph decoding removed, H and W symbolic",
        "input": "images NHWC 1xHxWx3 float32 RGB 0..255, H and W multiples of 32; the 512x512 "
                 "letterbox (centred, black) gives exactly the committed model's person detections, "
                 "other sizes shift scores (squeeze-excite means; see models/convert/person_check.py)",
        "output": "heatmap 1x(H/4)x(W/4)x1: person score after sigmoid; "
                  "wh 1x(H/4)x(W/4)x4: distances left, top, right, bottom in input pixels "
                  "from (4*col, 4*row)",
        "decode": "peak = heatmap == max of its 3x3 neighbourhood; box = (4c - wh0, 4r - wh1, "
                  "4c + wh2, 4r + wh3); see models/convert/person_decode.py",
    }
    del model.metadata_props[:]
    for key, value in meta.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    print(f"sliced {conv} to channel {PERSON}; dropped {len(dropped)} decoding nodes "
          f"({', '.join(sorted(set(dropped)))})")
    check(model)
    onnx.save(model, dst)
    print("wrote", dst, sha(dst), [i.name for i in graph.input], [o.name for o in graph.output])


if __name__ == "__main__":
    main()
