"""Runs `python -m tf2onnx.convert ARGS` under numpy 2.

tf2onnx 1.17 still calls `np.product` and `np.cast`, which numpy 2 removed;
we alias them before handing over to tf2onnx's own command line.
"""
import runpy
import sys

import numpy as np

np.product = np.prod
if not hasattr(np, "cast"):
    np.cast = lambda x: x
sys.argv = ["tf2onnx.convert"] + sys.argv[1:]
runpy.run_module("tf2onnx.convert", run_name="__main__")
