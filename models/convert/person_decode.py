"""Reference decoding of the CenterNet outputs, exactly as the committed
model's in-graph decoding computes it, and its person-only form for
human_centernet_person.onnx (made by person_head.py). The Rust decoder
implements decode_person().

What the committed graph (human_centernet_coco512.onnx, nodes after the
outputs `heatmap` [1,128,128,80] and `wh` [1,128,128,4], NHWC) does, read
node by node (tf2onnx names in brackets):

  1. Peak test [max_pooling2d/MaxPool, Equal, Cast, mul_1]: MaxPool 3x3,
     stride 1, pads 1 on each side (padding never wins: ONNX MaxPool pads
     with -inf, like TF's SAME max-pool), per class channel. A cell is a peak
     iff heatmap == maxpool(heatmap) exactly (float equality, so every cell of
     a plateau of equal maxima is a peak); score = heatmap * peak, i.e. the
     sigmoid score at peaks, 0 elsewhere.
  2. Selection [Reshape [1,-1], TopKV2 k=100 sorted]: the scores are
     flattened in NHWC order, index i = (row*128 + col)*80 + class, and the
     100 largest over all classes and positions are taken, largest first;
     equal scores keep the lower index first (ONNX Runtime's TopK, and TF's
     top_k). No threshold: if fewer than 100 cells are peaks, zero scores
     fill the list.
  3. Index arithmetic [floordiv_1, Div, mod, mod_1], int32:
       pos = i // 80, class = i - pos*80, row = pos // 128, col = pos - row*128.
  4. Box [BatchGather (Reshape wh to [16384,4], Gather row row*128+col),
     strided_slice_9..12, mul_3/mul_6 by 4.0, sub/sub_1/add_1/add_2], float32:
       (l, t, r, b) = wh[row, col, 0:4]
       x1 = 4*col - l,  y1 = 4*row - t,  x2 = 4*col + r,  y2 = 4*row + b
     in input pixels. The grid point of cell (row, col) is (4*col, 4*row):
     no half-cell offset (+0.5 / +2 px), no offset regression, no clipping.
     `wh` already includes the head's scale: wh = 16 * (1x1 conv output)
     [tower_0/mul], so l, t, r, b are distances in input pixels from the grid
     point to the left, top, right and bottom edges.
  5. Output [concat_1] `detections` [1,100,6] = x1, y1, x2, y2, score, class
     (class as float).

Person only (person_head.py's model: `heatmap` [1,H/4,W/4,1], the same
person channel; `wh` [1,H/4,W/4,4]; h = H/4, w = W/4 rows and columns):

  peak(r, c)  <=>  s = heatmap[r, c] equals the max of heatmap over rows
                   r-1..r+1 and columns c-1..c+1 clipped to the grid;
  keep peaks with s >= threshold, order by s descending, ties by lower
  r*w + c first, take the first top_k;
  box = (4c - wh[r,c,0], 4r - wh[r,c,1], 4c + wh[r,c,2], 4r + wh[r,c,3]),
  computed in float32 (4*c is exact).

For the person class this equals the original's rows with class 0 and
score >= threshold, except that the original keeps only the top 100 peaks
over all 80 classes: on a crowded frame a low person score can fall out of
the original's list while decode_person keeps it (person_check.py reports
such cases). The NMS, the mapping to frame pixels and the clipping happen
after this, in the Rust code, as for the original model.

usage (library):
    from person_decode import decode_person
    boxes, scores = decode_person(heatmap, wh, threshold=0.3, top_k=100)
"""
import numpy as np

STRIDE = 4


def maxpool3x3(x):
    """3x3 max over the first two axes (rows, columns) of x [h, w, ...],
    stride 1, the window clipped at the border (= -inf padding)."""
    h, w = x.shape[:2]
    pad = np.full((h + 2, w + 2) + x.shape[2:], -np.inf, dtype=x.dtype)
    pad[1:-1, 1:-1] = x
    out = pad[0:h, 0:w].copy()
    for dr in range(3):
        for dc in range(3):
            np.maximum(out, pad[dr:dr + h, dc:dc + w], out=out)
    return out


def _grid(heatmap, wh):
    heatmap = np.asarray(heatmap, np.float32)
    wh = np.asarray(wh, np.float32)
    if heatmap.ndim == 4:
        assert heatmap.shape[0] == 1, heatmap.shape
        heatmap = heatmap[0]
    if wh.ndim == 4:
        wh = wh[0]
    assert heatmap.ndim == 3 and wh.shape == heatmap.shape[:2] + (4,), (heatmap.shape, wh.shape)
    return heatmap, wh


def _boxes(wh, rows, cols):
    x = cols.astype(np.float32) * np.float32(STRIDE)
    y = rows.astype(np.float32) * np.float32(STRIDE)
    d = wh[rows, cols]
    return np.stack([x - d[:, 0], y - d[:, 1], x + d[:, 2], y + d[:, 3]], axis=1).astype(np.float32)


def decode_original(heatmap, wh, k=100):
    """The committed model's `detections` [k, 6] (x1, y1, x2, y2, score,
    class) from its `heatmap` [1,h,w,C] and `wh` [1,h,w,4], step by step as
    the graph computes it (any h, w, C; the graph has h = w = 128, C = 80)."""
    heatmap, wh = _grid(heatmap, wh)
    h, w, classes = heatmap.shape
    scores = heatmap * (heatmap == maxpool3x3(heatmap)).astype(np.float32)
    flat = scores.reshape(-1)
    index = np.arange(flat.size)
    order = np.lexsort((index, -flat))[:k]  # largest first, lower index first on ties
    pos, cls = order // classes, order % classes
    rows, cols = pos // w, pos % w
    out = np.empty((len(order), 6), np.float32)
    out[:, :4] = _boxes(wh, rows, cols)
    out[:, 4] = flat[order]
    out[:, 5] = cls
    return out


def decode_person(heatmap, wh, threshold=0.3, top_k=100):
    """Person peaks of human_centernet_person.onnx's outputs: `heatmap`
    [1,h,w,1] (or [h,w]) and `wh` [1,h,w,4]. Returns (boxes [n,4] float32,
    x1, y1, x2, y2 in input pixels; scores [n] float32), best first, at most
    top_k, all with score >= threshold."""
    heatmap = np.asarray(heatmap, np.float32)
    if heatmap.ndim == 2:
        heatmap = heatmap[:, :, None]
    heatmap, wh = _grid(heatmap, wh)
    assert heatmap.shape[2] == 1, f"one channel expected, got {heatmap.shape}"
    s = heatmap[:, :, 0]
    h, w = s.shape
    peak = (s == maxpool3x3(s)) & (s >= np.float32(threshold))
    index = np.flatnonzero(peak)
    score = s.reshape(-1)[index]
    order = np.lexsort((index, -score))[:top_k]
    index, score = index[order], score[order]
    rows, cols = index // w, index % w
    return _boxes(wh, rows, cols), score
