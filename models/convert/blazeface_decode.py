"""Build BlazeFace's anchor decoding into the ONNX graph.

The TF.js BlazeFace model outputs raw regressions per anchor (two feature
maps: 16x16 with 2 anchors per cell, 8x8 with 6); human decodes them in
JavaScript. Decoding in the graph keeps every consumer (edge, central, tests)
from re-implementing it. Outputs after this step:
  scores    [1,896]      sigmoid of the logit
  boxes     [1,896,4]    x1,y1,x2,y2, normalised to the 256x256 input
  keypoints [1,896,6,2]  x,y normalised; right eye, left eye, nose, mouth,
                         right ear, left ear (the subject's right/left)

usage: blazeface_decode.py SRC DST
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 256


def anchor_centres():
    centres = []
    for stride, per_cell in ((SIZE // 16, 2), (SIZE // 8, 6)):
        cells = (SIZE + stride - 1) // stride
        for y in range(cells):
            for x in range(cells):
                centres += [[stride * (x + 0.5), stride * (y + 0.5)]] * per_cell
    return np.array(centres, np.float32)


def main():
    src, dst = sys.argv[1:3]
    anchors = anchor_centres()
    assert anchors.shape == (896, 2)
    model = onnx.load(src)
    g = model.graph

    def const(name, value):
        g.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    const("bf_anchor", anchors[None])
    const("bf_anchor_kp", anchors[None, :, None, :])
    const("bf_inv_size", np.array(1.0 / SIZE, np.float32))
    const("bf_half", np.array(0.5, np.float32))
    const("bf_axis2", np.array([2], np.int64))
    const("bf_kp_shape", np.array([1, 896, 6, 2], np.int64))
    for name, (start, end) in {"logit": (0, 1), "centre": (1, 3), "size": (3, 5), "kp": (5, 17)}.items():
        const(f"bf_{name}_from", np.array([start], np.int64))
        const(f"bf_{name}_to", np.array([end], np.int64))

    def slice_(name):
        return helper.make_node("Slice", ["bf_raw", f"bf_{name}_from", f"bf_{name}_to", "bf_axis2"], [f"bf_{name}_raw"])

    N = helper.make_node
    g.node.extend([
        N("Concat", ["scores_16", "regressors_16"], ["bf_map16"], axis=2),
        N("Concat", ["scores_8", "regressors_8"], ["bf_map8"], axis=2),
        N("Concat", ["bf_map16", "bf_map8"], ["bf_raw"], axis=1),
        slice_("logit"),
        N("Sigmoid", ["bf_logit_raw"], ["bf_prob"]),
        N("Squeeze", ["bf_prob", "bf_axis2"], ["scores"]),
        slice_("centre"),
        N("Add", ["bf_centre_raw", "bf_anchor"], ["bf_centre_px"]),
        slice_("size"),
        N("Mul", ["bf_size_raw", "bf_half"], ["bf_half_size"]),
        N("Sub", ["bf_centre_px", "bf_half_size"], ["bf_tl"]),
        N("Add", ["bf_centre_px", "bf_half_size"], ["bf_br"]),
        N("Concat", ["bf_tl", "bf_br"], ["bf_box_px"], axis=2),
        N("Mul", ["bf_box_px", "bf_inv_size"], ["boxes"]),
        slice_("kp"),
        N("Reshape", ["bf_kp_raw", "bf_kp_shape"], ["bf_kp_pairs"]),
        N("Add", ["bf_kp_pairs", "bf_anchor_kp"], ["bf_kp_px"]),
        N("Mul", ["bf_kp_px", "bf_inv_size"], ["keypoints"]),
    ])
    del g.output[:]
    g.output.extend([
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 896]),
        helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 896, 4]),
        helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, [1, 896, 6, 2]),
    ])
    for key, value in {
        "source": "npm @vladmandic/human@3.3.6 models/blazeface.json (upstream: Google MediaPipe BlazeFace, Apache-2.0)",
        "input": "input NHWC 1x256x256x3 float32 RGB scaled x/127.5-1; letterbox the face region to a square",
        "output": "scores 1x896 (sigmoid); boxes 1x896x4 x1,y1,x2,y2 normalised; keypoints 1x896x6x2 normalised",
    }.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    print("wrote", dst)


if __name__ == "__main__":
    main()
