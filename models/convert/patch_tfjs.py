"""Make an old TF.js graph model loadable by current TensorFlow / tf2onnx.

The @vladmandic/human model.json files were written by an old tfjs-converter
that left out op attributes current TensorFlow requires: `TArgs` on the fused
ops and every attribute that has since gained a default (e.g. TopKV2's
`index_type`). We add them from TensorFlow's own op registry.

usage: patch_tfjs.py SRC_DIR NAME DST_DIR   (writes DST_DIR/NAME.json + shards)
"""
import json
import os
import shutil
import sys

from google.protobuf import json_format
from tensorflow.python.framework import op_def_registry

FUSED = {"_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedDepthwiseConv2dNative", "_FusedMatMul"}


def registry_name(op):
    return "_FusedDepthwiseConv2dNative" if op == "FusedDepthwiseConv2dNative" else op


def patch_nodes(nodes, counts):
    for node in nodes:
        op = node["op"]
        attrs = node.setdefault("attr", {})
        opdef = op_def_registry.get(registry_name(op))
        if opdef is None or op == "Const":
            continue
        wants_targs = any(a.name == "TArgs" for a in opdef.attr)
        if op in FUSED and wants_targs and "TArgs" not in attrs:
            dtype = attrs.get("T", {"type": "DT_FLOAT"})["type"]
            nargs = int(attrs.get("num_args", {"i": "0"}).get("i", "0"))
            attrs["TArgs"] = {"list": {"type": [dtype] * nargs}}
            counts["TArgs"] += 1
        for a in opdef.attr:
            if a.name in attrs or not a.HasField("default_value"):
                continue
            if op == "FusedDepthwiseConv2dNative" and a.name == "explicit_paddings":
                continue
            attrs[a.name] = json_format.MessageToDict(a.default_value)
            counts["defaults"] += 1


def main():
    src, name, dst = sys.argv[1:4]
    os.makedirs(dst, exist_ok=True)
    with open(os.path.join(src, name + ".json")) as f:
        model = json.load(f)
    counts = {"TArgs": 0, "defaults": 0}
    patch_nodes(model["modelTopology"]["node"], counts)
    for fn in model["modelTopology"].get("library", {}).get("function", []):
        patch_nodes(fn.get("nodeDef", []), counts)
    with open(os.path.join(dst, name + ".json"), "w") as f:
        json.dump(model, f)
    for group in model["weightsManifest"]:
        for shard in group["paths"]:
            shutil.copy(os.path.join(src, shard), os.path.join(dst, shard))
    print(f"{name}: added {counts['TArgs']} TArgs and {counts['defaults']} default attributes")


if __name__ == "__main__":
    main()
