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

/// The embedder session and its buffers.
pub struct FaceEmbedder {
    id: String,
    session: Session,
    align: AlignConfig,
    dim: usize,
    tensor: Vec<f32>,
}

impl std::fmt::Debug for FaceEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceEmbedder")
            .field("id", &self.id)
            .field("dim", &self.dim)
            .field("align", &self.align)
            .finish_non_exhaustive()
    }
}

impl FaceEmbedder {
    /// Wraps a FaceRes session: input `input` [N, 224, 224, 3] (0..255),
    /// output `embedding` [N, dim].
    pub fn new(id: &str, session: Session, dim: usize) -> Result<Self, VisionError> {
        expect_outlet(id, session.inputs(), "input", "input", &[-1, 224, 224, 3])?;
        expect_outlet(
            id,
            session.outputs(),
            "output",
            "embedding",
            &[-1, dim as i64],
        )?;
        Ok(Self {
            id: id.to_owned(),
            session,
            align: AlignConfig::default(),
            dim,
            tensor: Vec::new(),
        })
    }

    pub fn model_id(&self) -> &str {
        &self.id
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn align_config(&self) -> &AlignConfig {
        &self.align
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
        let n = self.align.size as usize;
        let per = n * n * 3;
        self.tensor.resize(per * items.len(), 0.0);
        for (i, (face, jitter)) in items.iter().enumerate() {
            align_into(
                image,
                face,
                &self.align,
                *jitter,
                &mut self.tensor[i * per..(i + 1) * per],
            );
        }
        let input = TensorRef::from_array_view(([items.len(), n, n, 3], &self.tensor[..]))
            .map_err(|e| VisionError::inference(&self.id, e))?;
        let outputs = self
            .session
            .run(ort::inputs!["input" => input])
            .map_err(|e| VisionError::inference(&self.id, e))?;
        let (_, data) = outputs["embedding"]
            .try_extract_tensor::<f32>()
            .map_err(|e| VisionError::inference(&self.id, e))?;
        if data.len() != items.len() * self.dim {
            return Err(VisionError::Shape {
                model: self.id.clone(),
                detail: format!(
                    "embedding output has {} values for {} faces of {}",
                    data.len(),
                    items.len(),
                    self.dim
                ),
            });
        }
        Ok(data
            .chunks_exact(self.dim)
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
