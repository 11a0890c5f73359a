//! Face embeddings: aligned crops → the embedder → L2-normalised vectors
//! that carry the id of the model that made them, since vectors from
//! different models (or versions) must never be compared.

use ort::session::Session;
use ort::value::TensorRef;

use super::Face;
use super::align::{AlignConfig, Jitter, align_into};
use crate::error::VisionError;
use crate::image::ImageView;
use crate::runtime::expect_outlet;

/// An L2-normalised face embedding.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Embedding {
    /// The embedder's model id (manifest id).
    pub model: String,
    pub values: Vec<f32>,
}

impl Embedding {
    /// Normalises `values` to unit length (a zero vector stays zero).
    pub fn new(model: impl Into<String>, mut values: Vec<f32>) -> Self {
        let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            values.iter_mut().for_each(|v| *v /= norm);
        }
        Self {
            model: model.into(),
            values,
        }
    }

    pub fn dim(&self) -> usize {
        self.values.len()
    }

    /// Cosine similarity, or `None` when the two come from different
    /// models or have different dimensions.
    pub fn cosine(&self, other: &Embedding) -> Option<f32> {
        (self.model == other.model && self.dim() == other.dim()).then(|| {
            self.values
                .iter()
                .zip(&other.values)
                .map(|(a, b)| a * b)
                .sum()
        })
    }
}

/// How to feed one embedder: the manifest's input and output, the crop its
/// family was trained on, and the value range of its input.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedderSpec {
    pub input: String,
    pub output: String,
    pub dim: usize,
    pub align: AlignConfig,
    /// Input values for pixel 0 and pixel 255.
    pub range: [f32; 2],
}

/// The embedder session and its buffers.
pub struct FaceEmbedder {
    id: String,
    session: Session,
    spec: EmbedderSpec,
    tensor: Vec<f32>,
}

impl std::fmt::Debug for FaceEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceEmbedder")
            .field("id", &self.id)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl FaceEmbedder {
    /// Wraps an embedder session, checking it has `spec`'s input
    /// [N, size, size, 3] and output [N, dim].
    pub fn new(id: &str, session: Session, spec: EmbedderSpec) -> Result<Self, VisionError> {
        let side = i64::from(spec.align.size);
        expect_outlet(
            id,
            session.inputs(),
            "input",
            &spec.input,
            &[-1, side, side, 3],
        )?;
        expect_outlet(
            id,
            session.outputs(),
            "output",
            &spec.output,
            &[-1, spec.dim as i64],
        )?;
        Ok(Self {
            id: id.to_owned(),
            session,
            spec,
            tensor: Vec::new(),
        })
    }

    pub fn model_id(&self) -> &str {
        &self.id
    }

    pub fn dim(&self) -> usize {
        self.spec.dim
    }

    pub fn align_config(&self) -> &AlignConfig {
        &self.spec.align
    }

    /// Embeds each face (one batch).
    pub fn embed(
        &mut self,
        image: &ImageView<'_>,
        faces: &[Face],
    ) -> Result<Vec<Embedding>, VisionError> {
        let items: Vec<(Face, Jitter)> = faces.iter().map(|f| (*f, Jitter::NONE)).collect();
        self.embed_jittered(image, &items)
    }

    /// Embeds each face with a deliberate crop perturbation.
    pub fn embed_jittered(
        &mut self,
        image: &ImageView<'_>,
        items: &[(Face, Jitter)],
    ) -> Result<Vec<Embedding>, VisionError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let n = self.spec.align.size as usize;
        let per = n * n * 3;
        self.tensor.resize(per * items.len(), 0.0);
        let [lo, hi] = self.spec.range;
        let gain = (hi - lo) / 255.0;
        for (i, (face, jitter)) in items.iter().enumerate() {
            let crop = &mut self.tensor[i * per..(i + 1) * per];
            align_into(image, face, &self.spec.align, *jitter, crop);
            if (lo, gain) != (0.0, 1.0) {
                crop.iter_mut().for_each(|v| *v = lo + *v * gain);
            }
        }
        let input = TensorRef::from_array_view(([items.len(), n, n, 3], &self.tensor[..]))
            .map_err(|e| VisionError::inference(&self.id, e))?;
        let outputs = self
            .session
            .run(ort::inputs![self.spec.input.as_str() => input])
            .map_err(|e| VisionError::inference(&self.id, e))?;
        let (_, data) = outputs[self.spec.output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| VisionError::inference(&self.id, e))?;
        let dim = self.spec.dim;
        if data.len() != items.len() * dim {
            return Err(VisionError::Shape {
                model: self.id.clone(),
                detail: format!(
                    "embedding output has {} values for {} faces of {dim}",
                    data.len(),
                    items.len(),
                ),
            });
        }
        Ok(data
            .chunks_exact(dim)
            .map(|v| Embedding::new(self.id.clone(), v.to_vec()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_unit_length_and_only_compare_within_a_model() {
        let a = Embedding::new("m", vec![3.0, 4.0]);
        assert_eq!(a.values, vec![0.6, 0.8]);
        let b = Embedding::new("m", vec![4.0, -3.0]);
        assert!(a.cosine(&b).unwrap().abs() < 1e-6);
        assert!((a.cosine(&a).unwrap() - 1.0).abs() < 1e-6);
        assert_eq!(a.cosine(&Embedding::new("other", vec![3.0, 4.0])), None);
        assert_eq!(a.cosine(&Embedding::new("m", vec![1.0, 0.0, 0.0])), None);
        assert_eq!(Embedding::new("m", vec![0.0, 0.0]).values, vec![0.0, 0.0]);
    }
}
