//! BlazeFace (MediaPipe's short-range face detector, with the anchor
//! decoding built into the graph by models/convert): faces and six
//! keypoints in a region of an image, e.g. the upper part of a person box.

use ort::session::Session;
use ort::value::TensorRef;

use super::Face;
use crate::error::VisionError;
use crate::geometry::{BBox, Point, nms};
use crate::image::ImageView;
use crate::letterbox::{Layout, Letterbox, Letterboxer, Normalise};
use crate::runtime::expect_outlet;

const SIZE: u32 = 256;
const ANCHORS: usize = 896;

/// What to keep of BlazeFace's output.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceDetectorConfig {
    pub score: f32,
    pub nms_iou: f32,
    pub max_faces: usize,
}

impl Default for FaceDetectorConfig {
    fn default() -> Self {
        Self {
            score: 0.5,
            nms_iou: 0.3,
            max_faces: 20,
        }
    }
}

/// A BlazeFace session and its buffers.
pub struct FaceDetector {
    id: String,
    session: Session,
    config: FaceDetectorConfig,
    tensor: Vec<f32>,
    letterboxer: Letterboxer,
}

impl std::fmt::Debug for FaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceDetector")
            .field("id", &self.id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FaceDetector {
    /// Wraps a session after checking its inputs and outputs.
    pub fn new(
        id: &str,
        session: Session,
        config: FaceDetectorConfig,
    ) -> Result<Self, VisionError> {
        expect_outlet(id, session.inputs(), "input", "input", &[1, 256, 256, 3])?;
        expect_outlet(id, session.outputs(), "output", "scores", &[1, 896])?;
        expect_outlet(id, session.outputs(), "output", "boxes", &[1, 896, 4])?;
        expect_outlet(
            id,
            session.outputs(),
            "output",
            "keypoints",
            &[1, 896, 6, 2],
        )?;
        Ok(Self {
            id: id.to_owned(),
            session,
            config,
            tensor: vec![0.0; (SIZE * SIZE * 3) as usize],
            letterboxer: Letterboxer::new(),
        })
    }

    pub fn model_id(&self) -> &str {
        &self.id
    }

    pub fn config(&self) -> &FaceDetectorConfig {
        &self.config
    }

    /// Faces in `region` of `image` (the whole image when `None`), best
    /// first. The region is letterboxed into the 256×256 input, so a
    /// region should be roughly square and not much larger than the faces
    /// it may hold: BlazeFace finds faces down to ~1/10 of its input.
    pub fn detect(
        &mut self,
        image: &ImageView<'_>,
        region: Option<BBox>,
    ) -> Result<Vec<Face>, VisionError> {
        let (w, h) = (image.width() as f32, image.height() as f32);
        let region = region.unwrap_or(BBox::new(0.0, 0.0, w, h));
        let lb = Letterbox::new(region, SIZE, SIZE);
        self.letterboxer.fill(
            image,
            &lb,
            Layout::Nhwc,
            Normalise::SIGNED,
            &mut self.tensor,
        )?;
        let input = TensorRef::from_array_view((
            [1usize, SIZE as usize, SIZE as usize, 3],
            &self.tensor[..],
        ))
        .map_err(|e| VisionError::inference(&self.id, e))?;
        let outputs = self
            .session
            .run(ort::inputs!["input" => input])
            .map_err(|e| VisionError::inference(&self.id, e))?;
        let extract = |name: &str, len: usize| -> Result<&[f32], VisionError> {
            let (_, data) = outputs[name]
                .try_extract_tensor::<f32>()
                .map_err(|e| VisionError::inference(&self.id, e))?;
            if data.len() != len {
                return Err(VisionError::Shape {
                    model: self.id.clone(),
                    detail: format!("output {name} has {} values, expected {len}", data.len()),
                });
            }
            Ok(data)
        };
        let scores = extract("scores", ANCHORS)?;
        let boxes = extract("boxes", ANCHORS * 4)?;
        let kps = extract("keypoints", ANCHORS * 12)?;
        let s = SIZE as f32;
        let mut candidates = Vec::new();
        let mut keypoints = Vec::new();
        for i in (0..ANCHORS).filter(|&i| scores[i] >= self.config.score) {
            let b = &boxes[i * 4..i * 4 + 4];
            let bbox = lb.box_to_source(BBox::new(b[0] * s, b[1] * s, b[2] * s, b[3] * s));
            let mut k = [Point::default(); 6];
            for (j, p) in k.iter_mut().enumerate() {
                *p = lb.to_source(Point::new(
                    kps[i * 12 + j * 2] * s,
                    kps[i * 12 + j * 2 + 1] * s,
                ));
            }
            candidates.push((bbox.clip(w, h), scores[i], 0));
            keypoints.push(k);
        }
        Ok(nms(&candidates, self.config.nms_iou, self.config.max_faces)
            .into_iter()
            .map(|i| Face {
                bbox: candidates[i].0,
                score: candidates[i].1,
                keypoints: keypoints[i],
            })
            .collect())
    }
}
