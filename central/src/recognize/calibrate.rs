//! Calibrating the same-person threshold on a site's own photos: every
//! pair of embeddings of one person (genuine) and of two people
//! (impostor), their similarity distributions, ROC AUC, the true-accept
//! rate at a chosen false-accept rate, and the threshold that keeps false
//! accepts at or under a target.
//!
//! Written here rather than taken from a statistics crate: it is a sort
//! and a few counts over at most a few million pairs, and the definitions
//! (ties, "at or above the threshold") must be exactly the ones the
//! recognition vote uses.

use std::collections::BTreeMap;

use atrium_vision::face::Embedding;

/// Why a set cannot be calibrated on.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalibrateError {
    #[error(
        "a calibration needs at least 2 persons with 2 or more usable photos each (found {0}); impostor and genuine pairs both come from them"
    )]
    TooFewPersons(usize),
    #[error("photos of {0} come from different models: embed them with one model")]
    MixedModels(String),
}

/// Five numbers and a count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub min: f32,
    pub p5: f32,
    pub median: f32,
    pub p95: f32,
    pub max: f32,
}

impl Summary {
    /// Of an ascending, non-empty slice.
    fn of(sorted: &[f32]) -> Self {
        let q = |p: f64| {
            // Nearest rank.
            let i = ((p * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1);
            sorted[i]
        };
        Self {
            n: sorted.len(),
            min: sorted[0],
            p5: q(0.05),
            median: q(0.5),
            p95: q(0.95),
            max: sorted[sorted.len() - 1],
        }
    }
}

/// Accept rates at one threshold (a pair is accepted at or above it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Operating {
    pub threshold: f32,
    /// Genuine pairs accepted.
    pub tar: f64,
    /// Impostor pairs accepted.
    pub far: f64,
}

/// What a calibration found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub persons: usize,
    pub photos: usize,
    pub genuine: Summary,
    pub impostor: Summary,
    /// Probability that a genuine pair scores above an impostor pair
    /// (ties count half).
    pub auc: f64,
    /// The lowest threshold with FAR ≤ 1 %, and its TAR.
    pub at_far_1: Operating,
    /// The lowest threshold with FAR ≤ 0.1 %, and its TAR.
    pub at_far_01: Operating,
    /// The suggested threshold (FAR ≤ 0.1 %, rounded up to 0.01).
    pub suggested: Operating,
    /// Below this many impostor pairs a FAR of 0.1 % cannot be told from 0.
    pub few_impostors: bool,
}

/// Genuine and impostor similarities (ascending) of every pair.
pub fn pairs(samples: &[(String, Embedding)]) -> Result<(Vec<f32>, Vec<f32>), CalibrateError> {
    let mut genuine = Vec::new();
    let mut impostor = Vec::new();
    for (i, (pa, a)) in samples.iter().enumerate() {
        for (pb, b) in &samples[i + 1..] {
            let s = a
                .cosine(b)
                .ok_or_else(|| CalibrateError::MixedModels(format!("{pa} and {pb}")))?;
            if pa == pb {
                genuine.push(s);
            } else {
                impostor.push(s);
            }
        }
    }
    genuine.sort_by(f32::total_cmp);
    impostor.sort_by(f32::total_cmp);
    Ok((genuine, impostor))
}

/// The fraction of `sorted` (ascending) at or above `t`.
fn rate_at_or_above(sorted: &[f32], t: f32) -> f64 {
    let below = sorted.partition_point(|&s| s < t);
    (sorted.len() - below) as f64 / sorted.len() as f64
}

/// The lowest threshold whose false-accept rate is at most `far`.
fn threshold_for_far(impostor: &[f32], far: f64) -> f32 {
    // At most k impostor pairs may be at or above the threshold: put it
    // just above the (k+1)-th highest.
    let k = (far * impostor.len() as f64).floor() as usize;
    if k >= impostor.len() {
        return impostor[0];
    }
    let above = impostor[impostor.len() - 1 - k];
    above.next_up()
}

/// TAR and FAR at `threshold` over ascending genuine and impostor similarities.
pub fn operating(genuine: &[f32], impostor: &[f32], threshold: f32) -> Operating {
    Operating {
        threshold,
        tar: rate_at_or_above(genuine, threshold),
        far: rate_at_or_above(impostor, threshold),
    }
}

/// Mann–Whitney U over the two ascending lists.
fn auc(genuine: &[f32], impostor: &[f32]) -> f64 {
    let mut wins = 0.0f64;
    for &g in genuine {
        let below = impostor.partition_point(|&s| s < g);
        let equal = impostor[below..].partition_point(|&s| s <= g);
        wins += below as f64 + 0.5 * equal as f64;
    }
    wins / (genuine.len() as f64 * impostor.len() as f64)
}

/// Calibrates on `samples`: (person, embedding of one of their photos).
pub fn calibrate(samples: &[(String, Embedding)]) -> Result<Report, CalibrateError> {
    let mut per_person: BTreeMap<&str, usize> = BTreeMap::new();
    for (p, _) in samples {
        *per_person.entry(p.as_str()).or_default() += 1;
    }
    let with_two = per_person.values().filter(|&&n| n >= 2).count();
    if with_two < 2 {
        return Err(CalibrateError::TooFewPersons(with_two));
    }
    let (genuine, impostor) = pairs(samples)?;
    let t1 = threshold_for_far(&impostor, 0.01);
    let t01 = threshold_for_far(&impostor, 0.001);
    let suggested = ((t01 * 100.0).ceil() / 100.0).min(1.0);
    Ok(Report {
        persons: per_person.len(),
        photos: samples.len(),
        genuine: Summary::of(&genuine),
        impostor: Summary::of(&impostor),
        auc: auc(&genuine, &impostor),
        at_far_1: operating(&genuine, &impostor, t1),
        at_far_01: operating(&genuine, &impostor, t01),
        suggested: operating(&genuine, &impostor, suggested),
        few_impostors: impostor.len() < 1000,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A unit vector at `angle` radians in the plane: cosine of two is the
    /// cosine of their angle difference, so similarities are known exactly.
    fn at(person: &str, angle: f32) -> (String, Embedding) {
        (
            person.to_owned(),
            Embedding::new("m", vec![angle.cos(), angle.sin()]),
        )
    }

    #[test]
    fn pairs_are_split_by_person_and_sorted() {
        let s = [at("a", 0.0), at("a", 0.5), at("b", 2.0), at("b", 2.2)];
        let (g, i) = pairs(&s).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(i.len(), 4);
        assert!((g[0] - 0.5f32.cos()).abs() < 1e-6 && (g[1] - 0.2f32.cos()).abs() < 1e-6);
        assert!(i.windows(2).all(|w| w[0] <= w[1]));
        assert!(
            (i[3] - 1.5f32.cos()).abs() < 1e-6,
            "a@0.5 vs b@2.0 is the closest impostor"
        );
    }

    #[test]
    fn separated_people_give_auc_one_and_a_threshold_between_them() {
        // Two tight clusters far apart.
        let s = [
            at("a", 0.0),
            at("a", 0.1),
            at("a", 0.2),
            at("b", 1.5),
            at("b", 1.6),
            at("b", 1.7),
        ];
        let r = calibrate(&s).unwrap();
        assert_eq!(r.auc, 1.0);
        assert_eq!((r.genuine.n, r.impostor.n), (6, 9));
        assert!(r.suggested.threshold > r.impostor.max);
        assert!(r.suggested.threshold <= r.genuine.min);
        assert_eq!((r.suggested.tar, r.suggested.far), (1.0, 0.0));
        assert!(r.few_impostors);
    }

    #[test]
    fn overlap_lowers_auc_and_the_far_target_decides_the_threshold() {
        let s = [
            at("a", 0.0),
            at("a", 1.0),
            at("b", 0.4),
            at("b", 1.3),
            at("c", 2.5),
        ];
        let r = calibrate(&s).unwrap();
        assert!(r.auc < 1.0 && r.auc > 0.0, "{}", r.auc);
        assert_eq!(r.at_far_01.far, 0.0, "0.1 % of 8 impostor pairs is none");
        assert!(r.at_far_01.threshold > r.impostor.max);
    }

    #[test]
    fn too_few_persons_with_two_photos_are_refused() {
        let s = [at("a", 0.0), at("a", 0.1), at("b", 1.0), at("c", 2.0)];
        assert_eq!(calibrate(&s), Err(CalibrateError::TooFewPersons(1)));
        assert_eq!(calibrate(&[]), Err(CalibrateError::TooFewPersons(0)));
    }

    #[test]
    fn embeddings_of_different_models_are_refused() {
        let mut s = vec![at("a", 0.0), at("a", 0.1), at("b", 1.0), at("b", 1.1)];
        s[3].1.model = "other".into();
        assert!(matches!(calibrate(&s), Err(CalibrateError::MixedModels(_))));
    }
}
