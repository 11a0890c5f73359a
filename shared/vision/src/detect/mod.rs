//! Person detection behind one trait, for two model families.
//!
//! * CenterNet (the bundled `human_centernet_coco512`): NHWC 512×512 input,
//!   0..255, output `detections` [1, 100, 6] = x1, y1, x2, y2 (input
//!   pixels), score, COCO class; and the same network cut to its person
//!   channel (`human_centernet_person`, the default), whose peaks and boxes
//!   are decoded here instead of in the graph;
//! * Ultralytics YOLOv8/YOLO11 ONNX exports, so a site can drop in
//!   `yolo11n.onnx`: NCHW input (640×640 by default), 0..1 with grey
//!   padding, output [1, 4 + classes, N] = centre x, centre y, width, height
//!   (input pixels) and one score per class.
//!
//! Both letterbox the frame, keep the configured classes (person = 0 in
//! COCO) above a score, map boxes back to frame pixels and apply NMS.

mod decode;

use ort::session::Session;
use ort::value::TensorRef;

pub use decode::{PERSON_TOP_K, decode_centernet, decode_centernet_person, decode_yolo};

use crate::error::VisionError;
use crate::geometry::{BBox, nms};
use crate::image::ImageView;
use crate::letterbox::{Layout, Letterbox, Letterboxer, Normalise};
use crate::manifest::Family;
use crate::runtime::{dims, expect_outlet};

/// One detected object, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Detection {
    pub bbox: BBox,
    pub score: f32,
    /// COCO class id (0 = person).
    pub class: u32,
}

/// What to keep of a detector's raw output.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// Minimum score.
    pub score: f32,
    /// IoU above which the weaker of two same-class boxes is dropped.
    pub nms_iou: f32,
    /// Classes to keep (COCO ids; person = 0).
    pub classes: Vec<u32>,
    /// At most this many detections per frame.
    pub max_detections: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            score: 0.3,
            nms_iou: 0.45,
            classes: vec![0],
            max_detections: 100,
        }
    }
}

/// A person detector.
pub trait Detector: Send + std::fmt::Debug {
    /// The model id (manifest id or file name).
    fn model_id(&self) -> &str;

    /// How a `width` × `height` frame is placed in the model input; a caller
    /// that can scale frames cheaply (the edge, with swscale) scales them to
    /// `inner_w` × `inner_h` and calls [`Detector::detect_prescaled`].
    fn letterbox(&self, width: u32, height: u32) -> Letterbox;

    /// Detects in a whole image.
    fn detect(&mut self, image: &ImageView<'_>) -> Result<Vec<Detection>, VisionError>;

    /// Detects in a frame of `frame_w` × `frame_h` that the caller has
    /// already scaled to this detector's inner letterbox size.
    fn detect_prescaled(
        &mut self,
        scaled: &ImageView<'_>,
        frame_w: u32,
        frame_h: u32,
    ) -> Result<Vec<Detection>, VisionError>;
}

/// An ONNX detector of a known family.
pub struct OnnxDetector {
    id: String,
    family: Family,
    session: Session,
    input_name: String,
    output_name: String,
    /// The second output (`wh` of the person head).
    output2_name: Option<String>,
    input_w: u32,
    input_h: u32,
    layout: Layout,
    norm: Normalise,
    config: DetectorConfig,
    tensor: Vec<f32>,
    letterboxer: Letterboxer,
}

impl std::fmt::Debug for OnnxDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxDetector")
            .field("id", &self.id)
            .field("family", &self.family)
            .field("input", &(self.input_w, self.input_h))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OnnxDetector {
    /// Wraps a session, checking that its inputs and outputs are what
    /// `family` needs.
    pub fn new(
        id: &str,
        family: Family,
        session: Session,
        config: DetectorConfig,
    ) -> Result<Self, VisionError> {
        let shape_err = |detail: String| VisionError::Shape {
            model: id.to_owned(),
            detail,
        };
        let mut output2_name = None;
        let (input_name, output_name, input_w, input_h, layout, norm) = match family {
            Family::CenternetPerson => {
                expect_outlet(id, session.inputs(), "input", "images", &[-1, 512, 512, 3])?;
                expect_outlet(id, session.outputs(), "output", "heatmap", &[-1, -1, -1, 1])?;
                expect_outlet(id, session.outputs(), "output", "wh", &[-1, -1, -1, 4])?;
                output2_name = Some("wh".to_owned());
                (
                    "images".to_owned(),
                    "heatmap".to_owned(),
                    512,
                    512,
                    Layout::Nhwc,
                    Normalise::RAW,
                )
            }
            Family::Centernet => {
                expect_outlet(id, session.inputs(), "input", "images", &[-1, 512, 512, 3])?;
                expect_outlet(id, session.outputs(), "output", "detections", &[-1, -1, 6])?;
                (
                    "images".to_owned(),
                    "detections".to_owned(),
                    512,
                    512,
                    Layout::Nhwc,
                    Normalise::RAW,
                )
            }
            Family::Yolo => {
                let [input] = session.inputs() else {
                    return Err(shape_err(format!(
                        "YOLO models have one input, this has {}",
                        session.inputs().len()
                    )));
                };
                let d = dims(input);
                if d.len() != 4 || (d[1] != 3 && d[1] >= 0) {
                    return Err(shape_err(format!(
                        "YOLO input {:?} is {d:?}, expected [1, 3, H, W]",
                        input.name()
                    )));
                }
                let (h, w) = (
                    if d[2] > 0 { d[2] as u32 } else { 640 },
                    if d[3] > 0 { d[3] as u32 } else { 640 },
                );
                let [output] = session.outputs() else {
                    return Err(shape_err(format!(
                        "YOLO models have one output, this has {}",
                        session.outputs().len()
                    )));
                };
                let od = dims(output);
                if od.len() != 3 || (od[1] >= 0 && od[1] < 5) {
                    return Err(shape_err(format!(
                        "YOLO output {:?} is {od:?}, expected [1, 4 + classes, N] (an Ultralytics detect export)",
                        output.name()
                    )));
                }
                (
                    input.name().to_owned(),
                    output.name().to_owned(),
                    w,
                    h,
                    Layout::Nchw,
                    Normalise::YOLO,
                )
            }
            other => {
                return Err(shape_err(format!(
                    "{other:?} is not a person-detector family"
                )));
            }
        };
        Ok(Self {
            id: id.to_owned(),
            family,
            session,
            input_name,
            output_name,
            output2_name,
            input_w,
            input_h,
            layout,
            norm,
            config,
            tensor: vec![0.0; input_w as usize * input_h as usize * 3],
            letterboxer: Letterboxer::new(),
        })
    }

    /// The detector's configuration.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    fn run(
        &mut self,
        lb: &Letterbox,
        frame_w: u32,
        frame_h: u32,
    ) -> Result<Vec<Detection>, VisionError> {
        let shape: [usize; 4] = match self.layout {
            Layout::Nhwc => [1, self.input_h as usize, self.input_w as usize, 3],
            Layout::Nchw => [1, 3, self.input_h as usize, self.input_w as usize],
        };
        let input = TensorRef::from_array_view((shape, &self.tensor[..]))
            .map_err(|e| VisionError::inference(&self.id, e))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => input])
            .map_err(|e| VisionError::inference(&self.id, e))?;
        let (out_shape, data) = outputs[self.output_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| VisionError::inference(&self.id, e))?;
        let dims: Vec<i64> = out_shape.iter().copied().collect();
        let raw = match (self.family, &self.output2_name) {
            (Family::CenternetPerson, Some(second)) => {
                let (wh_shape, wh) = outputs[second.as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(|e| VisionError::inference(&self.id, e))?;
                let wh_dims: Vec<i64> = wh_shape.iter().copied().collect();
                decode_centernet_person(&dims, data, &wh_dims, wh, &self.config)
            }
            (Family::Centernet, _) => decode_centernet(&dims, data, &self.config),
            _ => decode_yolo(&dims, data, &self.config),
        }
        .map_err(|detail| VisionError::Shape {
            model: self.id.clone(),
            detail,
        })?;
        let mapped: Vec<(BBox, f32, u32)> = raw
            .into_iter()
            .map(|(b, s, c)| {
                (
                    lb.box_to_source(b).clip(frame_w as f32, frame_h as f32),
                    s,
                    c,
                )
            })
            .filter(|(b, _, _)| b.area() > 0.0)
            .collect();
        Ok(
            nms(&mapped, self.config.nms_iou, self.config.max_detections)
                .into_iter()
                .map(|i| Detection {
                    bbox: mapped[i].0,
                    score: mapped[i].1,
                    class: mapped[i].2,
                })
                .collect(),
        )
    }
}

impl Detector for OnnxDetector {
    fn model_id(&self) -> &str {
        &self.id
    }

    fn letterbox(&self, width: u32, height: u32) -> Letterbox {
        Letterbox::full(width, height, self.input_w, self.input_h)
    }

    fn detect(&mut self, image: &ImageView<'_>) -> Result<Vec<Detection>, VisionError> {
        let lb = self.letterbox(image.width(), image.height());
        self.letterboxer
            .fill(image, &lb, self.layout, self.norm, &mut self.tensor)?;
        self.run(&lb, image.width(), image.height())
    }

    fn detect_prescaled(
        &mut self,
        scaled: &ImageView<'_>,
        frame_w: u32,
        frame_h: u32,
    ) -> Result<Vec<Detection>, VisionError> {
        let lb = self.letterbox(frame_w, frame_h);
        if (scaled.width(), scaled.height()) != (lb.inner_w, lb.inner_h) {
            return Err(VisionError::Resize(format!(
                "pre-scaled frame is {}x{}, detector {} needs {}x{} for a {frame_w}x{frame_h} frame",
                scaled.width(),
                scaled.height(),
                self.id,
                lb.inner_w,
                lb.inner_h
            )));
        }
        // The letterbox of the scaled image itself places it identically.
        let inner = Letterbox::full(scaled.width(), scaled.height(), self.input_w, self.input_h);
        self.letterboxer
            .fill(scaled, &inner, self.layout, self.norm, &mut self.tensor)?;
        self.run(&lb, frame_w, frame_h)
    }
}
