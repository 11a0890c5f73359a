"""A Python "peer" of the edge agent's benchmark, to compare frame rates with.

Why it exists: `scripts/bench-edge` says how fast the Rust edge agent decodes,
detects, tracks and counts on a video file. Those numbers mean little alone;
this script is what a competent Python developer would write for the same job
with the usual libraries -- OpenCV to decode, ONNX Runtime to detect,
supervision's ByteTrack and LineZone to track and count -- so that
"edge-agent fps / peer fps" is one command (`scripts/bench-peer`).

What it measures (one stage per process, so the peak RSS is that stage's):
  decode  cv2.VideoCapture reading every frame (no inference; threads=0).
  detect  decode + letterbox + inference + post-processing per frame.
  full    detect + sv.Detections + sv.ByteTrack().update_with_detections
          + sv.LineZone.trigger on a vertical line, counting in/out.
Every frame of the file is processed as fast as possible (not real time).
The clock starts after the model is loaded, before the file is opened, and
stops after the last frame -- as `edge-agent bench` times its passes.

How it is fair:
  * same model file (models/human_centernet_coco512.onnx) and the same
    ONNX Runtime build: onnxruntime==1.32.0 from PyPI ships the very
    libonnxruntime.so.1.32.0 that scripts/setup unpacks for the Rust agent;
  * same session settings: CPU execution provider, intra-op threads = N
    (--threads, 1 or 2), inter-op threads 1; graph optimisation level
    ORT_ENABLE_ALL (ORT's default, what a peer gets) unless --graph-opt says
    otherwise (the Rust agent asks ort for Level3, i.e. ORT_ENABLE_LAYOUT);
  * same letterbox: longer side scaled to 512 (bilinear, cv2.INTER_LINEAR),
    centred, black padding, RGB float 0..255 NHWC;
  * same post-processing: class 0 (person), score >= 0.3, boxes mapped back
    to frame pixels and clipped, then greedy NMS at IoU 0.45
    (cv2.dnn.NMSBoxes) -- thresholds read from models/models.toml, as the
    agent reads them;
  * same line as the agent's bench: a = (0.45, 0.3), b = (0.45, 0.8) in
    normalised coordinates, triggered by the box's bottom centre (the
    agent's Anchor::BottomCentre);
  * single-threaded decode, like the agent's bench (1 decoder thread):
    cv2.setNumThreads(1) for resize/colour conversion, and VideoCapture
    opened with CAP_PROP_N_THREADS = 1 for FFmpeg's decoder. (The
    environment variable OPENCV_FFMPEG_CAPTURE_OPTIONS="threads;1" does not
    do it: OpenCV hands those options to the demuxer, and on vtest.mp4 the
    H.264 decoder still started its two frame threads, av:h264:df0/df1.
    CAP_PROP_N_THREADS removes them; MS-MPEG4 in vtest.avi has no frame
    threading either way.) The `os_threads` field prints the process's
    thread count at the end of the run so this can be checked.

Not the same (see the report in scripts/bench-peer's output): the agent's
"full pipeline" also runs face detection and embedding twice a second and
serialises events to JSON; the peer's "full" does not. OpenCV decodes to a
full-size BGR image and then resizes; the agent scales straight from YUV.

Output: one machine-readable line per run, e.g.
  peer stage=detect threads=1 frames=795 seconds=70.1 fps=11.34 rss_mib=180.2 ...
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tomllib
import warnings
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MODEL_ID = "human_centernet_coco512"
INPUT_SIZE = 512
PERSON = 0
LINE_A = (0.45, 0.3)
LINE_B = (0.45, 0.8)


def thresholds(models_dir: Path) -> tuple[float, float]:
    """Score and NMS IoU thresholds from models.toml (0.3, 0.45 as shipped)."""
    try:
        with open(models_dir / "models.toml", "rb") as f:
            t = tomllib.load(f)["models"][MODEL_ID]["thresholds"]
        return float(t["score"]), float(t["nms_iou"])
    except (OSError, KeyError):
        return 0.3, 0.45


class Detector:
    """CenterNet person detector: letterbox, ONNX Runtime, filter, NMS."""

    def __init__(self, model: Path, threads: int, graph_opt: str, score: float, iou: float):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = {
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "layout": ort.GraphOptimizationLevel.ORT_ENABLE_LAYOUT,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        }[graph_opt]
        self.session = ort.InferenceSession(
            str(model), sess_options=so, providers=["CPUExecutionProvider"]
        )
        # The model has other outputs (wh, heatmap); only `detections` is
        # asked for, as the agent does.
        self.input_name = "images"
        self.output_name = "detections"
        self.score = score
        self.iou = iou
        self.tensor = np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), np.float32)
        self.geometry: tuple[int, int] | None = None

    def _layout(self, w: int, h: int) -> None:
        scale = min(INPUT_SIZE / w, INPUT_SIZE / h)
        nw = min(max(round(w * scale), 1), INPUT_SIZE)
        nh = min(max(round(h * scale), 1), INPUT_SIZE)
        self.nw, self.nh = nw, nh
        self.px, self.py = (INPUT_SIZE - nw) // 2, (INPUT_SIZE - nh) // 2
        # Input pixels -> frame pixels, undoing the rounding of nw/nh.
        self.sx, self.sy = w / nw, h / nh
        self.tensor.fill(0.0)  # black padding, kept for every later frame
        self.geometry = (w, h)

    def detect(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returns (xyxy float32 [n,4] in frame pixels, scores [n]), best first."""
        h, w = frame_bgr.shape[:2]
        if self.geometry != (w, h):
            self._layout(w, h)
        small = cv2.resize(frame_bgr, (self.nw, self.nh), interpolation=cv2.INTER_LINEAR)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        self.tensor[0, self.py : self.py + self.nh, self.px : self.px + self.nw] = rgb
        out = self.session.run([self.output_name], {self.input_name: self.tensor})[0][0]
        keep = (np.rint(out[:, 5]) == PERSON) & (out[:, 4] >= self.score)
        d = out[keep]
        boxes = np.empty((len(d), 4), np.float32)
        boxes[:, 0] = (d[:, 0] - self.px) * self.sx
        boxes[:, 1] = (d[:, 1] - self.py) * self.sy
        boxes[:, 2] = (d[:, 2] - self.px) * self.sx
        boxes[:, 3] = (d[:, 3] - self.py) * self.sy
        np.clip(boxes[:, 0::2], 0, w, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0, h, out=boxes[:, 1::2])
        scores = d[:, 4].astype(np.float32)
        wh = boxes[:, 2:] - boxes[:, :2]
        ok = (wh[:, 0] > 0) & (wh[:, 1] > 0)
        boxes, scores, wh = boxes[ok], scores[ok], wh[ok]
        if len(boxes) == 0:
            return boxes, scores
        xywh = np.concatenate([boxes[:, :2], wh], axis=1)
        idx = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), self.score, self.iou)
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        return boxes[idx], scores[idx]


def open_video(path: Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    if not cap.isOpened():
        sys.exit(f"peer: cannot open {path}")
    return cap


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def os_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def run(args: argparse.Namespace) -> str:
    cv2.setNumThreads(1)
    score, iou = thresholds(args.model.parent)
    detector = None
    if args.stage != "decode":
        detector = Detector(args.model, args.threads, args.graph_opt, score, iou)
    tracker = line = None
    if args.stage == "full":
        with warnings.catch_warnings():
            # sv.ByteTrack is deprecated in favour of the `trackers` package;
            # the deprecation notice is not part of the measurement.
            warnings.simplefilter("ignore", FutureWarning)
            import supervision as sv

            probe = open_video(args.input)
            fps = probe.get(cv2.CAP_PROP_FPS) or 30.0
            w = int(probe.get(cv2.CAP_PROP_FRAME_WIDTH))
            h = int(probe.get(cv2.CAP_PROP_FRAME_HEIGHT))
            probe.release()
            tracker = sv.ByteTrack(frame_rate=fps)
        line = sv.LineZone(
            start=sv.Point(LINE_A[0] * w, LINE_A[1] * h),
            end=sv.Point(LINE_B[0] * w, LINE_B[1] * h),
            triggering_anchors=[sv.Position.BOTTOM_CENTER],
        )
        person = np.zeros(0, np.int64)
        track_ids: set[int] = set()

    frames = 0
    detections = 0
    threads_seen = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    cap = open_video(args.input)
    while args.limit <= 0 or frames < args.limit:
        ok, frame = cap.read()
        if not ok:
            break
        frames += 1
        if frames == 10:
            threads_seen = os_threads()
        if detector is None:
            continue
        boxes, scores = detector.detect(frame)
        detections += len(boxes)
        if tracker is None:
            continue
        if len(person) != len(boxes):
            person = np.zeros(len(boxes), np.int64)
        dets = sv.Detections(xyxy=boxes, confidence=scores, class_id=person)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            tracked = tracker.update_with_detections(dets)
        line.trigger(tracked)
        if tracked.tracker_id is not None:
            track_ids.update(int(t) for t in tracked.tracker_id)
    cap.release()
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0

    fields = [
        "peer",
        f"stage={args.stage}",
        f"threads={args.threads if detector else 0}",
        f"frames={frames}",
        f"seconds={seconds:.2f}",
        f"fps={frames / seconds if seconds > 0 else 0.0:.2f}",
        f"rss_mib={peak_rss_mib():.1f}",
        # CPU seconds of all the process's threads: well under seconds x
        # threads means the pass was starved by something else running.
        f"cpu_s={cpu:.2f}",
    ]
    if detector is not None:
        fields.append(f"dets_per_frame={detections / max(frames, 1):.2f}")
        fields.append(f"graph_opt={args.graph_opt}")
    if tracker is not None:
        fields += [f"in={line.in_count}", f"out={line.out_count}", f"tracks={len(track_ids)}"]
    fields.append(f"os_threads={threads_seen}")
    return " ".join(fields)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", type=Path, default=ROOT / "tests/fixtures/vtest.avi")
    p.add_argument("--model", type=Path, default=ROOT / f"models/{MODEL_ID}.onnx")
    p.add_argument("--stage", choices=["decode", "detect", "full"], default="detect")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    p.add_argument(
        "--graph-opt",
        choices=["all", "layout", "extended", "basic"],
        default="all",
        help="ONNX Runtime graph optimisation level (default: all, ORT's default)",
    )
    p.add_argument("--limit", type=int, default=0, help="stop after N frames (0: all)")
    args = p.parse_args()
    if not args.input.is_file():
        sys.exit(f"peer: {args.input}: no such file")
    print(run(args), flush=True)


if __name__ == "__main__":
    main()
