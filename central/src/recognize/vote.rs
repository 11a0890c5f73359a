//! Deciding who a track is from several face observations.
//!
//! One frame can fool a single nearest-neighbour search (a blurry frame, a
//! half-turned head, a look-alike), so an observation only *votes*, and a
//! track is decided when several votes agree. An observation votes for its
//! best person only if that person is above the threshold and ahead of the
//! runner-up person by a margin; a person the observation resembles no
//! less than it resembles a "not this person" example of them is struck
//! off first. The track is decided for the person with at least
//! `min_votes` votes and more than anyone else; after `max_observations`
//! without that, it is `unknown`. A decided track is decided again, from
//! its later observations, only when they agree on someone else (a
//! tracker can pass one id from a person to another).

use std::collections::HashMap;

use uuid::Uuid;

/// How votes are cast and counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoteConfig {
    /// Cosine similarity a person must reach (the model's calibrated
    /// same-person threshold).
    pub threshold: f32,
    /// How far the best person must be ahead of the runner-up person.
    pub margin: f32,
    /// Agreeing votes needed to decide a person.
    pub min_votes: usize,
    /// Observations after which an undecided track is `unknown`.
    pub max_observations: usize,
}

impl Default for VoteConfig {
    fn default() -> Self {
        Self {
            threshold: 0.64,
            margin: 0.05,
            min_votes: 2,
            max_observations: 5,
        }
    }
}

/// One observation's vote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ballot {
    /// The person voted for, if any.
    pub person: Option<Uuid>,
    /// Similarity to the best remaining person (0 when there is none).
    pub similarity: f32,
    /// Similarity to the second-best person (0 when there is none).
    pub runner_up: f32,
}

/// Casts one observation's vote.
///
/// `candidates`: (person, similarity) for the nearest templates, any order,
/// several per person allowed (the best counts). `negatives`: per person,
/// the observation's highest similarity to that person's rejected
/// examples.
pub fn cast(
    candidates: &[(Uuid, f32)],
    negatives: &HashMap<Uuid, f32>,
    cfg: &VoteConfig,
) -> Ballot {
    let mut best_per_person: HashMap<Uuid, f32> = HashMap::new();
    for &(p, s) in candidates {
        let e = best_per_person.entry(p).or_insert(f32::MIN);
        *e = e.max(s);
    }
    let mut ranked: Vec<(Uuid, f32)> = best_per_person
        .into_iter()
        .filter(|(p, s)| negatives.get(p).is_none_or(|n| n < s))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let similarity = ranked.first().map_or(0.0, |r| r.1);
    let runner_up = ranked.get(1).map_or(0.0, |r| r.1);
    let person = ranked
        .first()
        .filter(|(_, s)| *s >= cfg.threshold && *s - runner_up >= cfg.margin)
        .map(|(p, _)| *p);
    Ballot {
        person,
        similarity: similarity.max(0.0),
        runner_up: runner_up.max(0.0),
    }
}

/// A track's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Person {
        person: Uuid,
        /// Mean similarity of the agreeing votes.
        mean_similarity: f32,
        observations: usize,
    },
    Unknown {
        /// The best similarity any observation reached to anyone.
        best_similarity: f32,
        observations: usize,
    },
}

impl Decision {
    /// Whom it names.
    pub fn person(&self) -> Option<Uuid> {
        match self {
            Self::Person { person, .. } => Some(*person),
            Self::Unknown { .. } => None,
        }
    }

    /// How many observations it was decided from.
    pub fn observations(&self) -> usize {
        match self {
            Self::Person { observations, .. } | Self::Unknown { observations, .. } => *observations,
        }
    }

    /// What the API and the database call `confidence` (kept for
    /// compatibility, docs/decisions.md): how sure the decision is, 0..1.
    /// A person: the mean similarity of the agreeing votes. Unknown:
    /// 1 − the best similarity reached, so "far from everyone enrolled"
    /// reads as high confidence that it is nobody.
    pub fn confidence(&self) -> f32 {
        match self {
            Self::Person {
                mean_similarity, ..
            } => *mean_similarity,
            Self::Unknown {
                best_similarity, ..
            } => (1.0 - best_similarity).clamp(0.0, 1.0),
        }
    }
}

/// Counts a track's ballots, oldest first. `None`: not decided yet.
pub fn decide(ballots: &[Ballot], cfg: &VoteConfig) -> Option<Decision> {
    let mut tally: HashMap<Uuid, (usize, f32)> = HashMap::new();
    for b in ballots {
        if let Some(p) = b.person {
            let t = tally.entry(p).or_insert((0, 0.0));
            t.0 += 1;
            t.1 += b.similarity;
        }
    }
    let mut ranked: Vec<(Uuid, usize, f32)> =
        tally.into_iter().map(|(p, (n, sum))| (p, n, sum)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let second = ranked.get(1).map_or(0, |r| r.1);
    if let Some(&(person, votes, sum)) = ranked.first()
        && votes >= cfg.min_votes.max(1)
        && votes > second
    {
        return Some(Decision::Person {
            person,
            mean_similarity: sum / votes as f32,
            observations: ballots.len(),
        });
    }
    if ballots.len() >= cfg.max_observations.max(1) {
        let best = ballots.iter().map(|b| b.similarity).fold(0.0, f32::max);
        return Some(Decision::Unknown {
            best_similarity: best,
            observations: ballots.len(),
        });
    }
    None
}

/// Whether `new`, decided from a track's observations after its current
/// decision, replaces it. `current`: `None` if the track is undecided,
/// else the person it was decided for (`None` inside: unknown, rejected or
/// erased). Only a different person replaces a decision: observations
/// that stop voting (a turned head) do not make a recognised track
/// unknown.
pub fn supersedes(current: Option<Option<Uuid>>, new: &Decision) -> bool {
    match (current, new) {
        (None, _) => true,
        (Some(cur), Decision::Person { person, .. }) => cur != Some(*person),
        (Some(_), Decision::Unknown { .. }) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    const CFG: VoteConfig = VoteConfig {
        threshold: 0.72,
        margin: 0.05,
        min_votes: 2,
        max_observations: 5,
    };

    fn vote(candidates: &[(u128, f32)]) -> Ballot {
        let c: Vec<(Uuid, f32)> = candidates.iter().map(|&(p, s)| (id(p), s)).collect();
        cast(&c, &HashMap::new(), &CFG)
    }

    #[test]
    fn a_clear_best_person_gets_the_vote() {
        let b = vote(&[(1, 0.85), (2, 0.60), (1, 0.80)]);
        assert_eq!(b.person, Some(id(1)));
        assert!((b.similarity - 0.85).abs() < 1e-6);
        assert!((b.runner_up - 0.60).abs() < 1e-6);
    }

    #[test]
    fn below_threshold_or_without_margin_there_is_no_vote() {
        assert_eq!(vote(&[(1, 0.70), (2, 0.30)]).person, None);
        // 0.80 vs 0.77: above the threshold but only 0.03 ahead.
        let b = vote(&[(1, 0.80), (2, 0.77)]);
        assert_eq!(b.person, None);
        assert!((b.similarity - 0.80).abs() < 1e-6);
        // Two templates of the same person are not a runner-up.
        assert_eq!(vote(&[(1, 0.80), (1, 0.79)]).person, Some(id(1)));
        assert_eq!(vote(&[]).person, None);
    }

    #[test]
    fn a_negative_example_strikes_the_person_off_for_close_observations() {
        let cands = [(id(1), 0.80), (id(2), 0.50)];
        let mut neg = HashMap::new();
        neg.insert(id(1), 0.90);
        let b = cast(&cands, &neg, &CFG);
        assert_eq!(
            b.person, None,
            "closer to the rejected example than to person 1"
        );
        assert!((b.similarity - 0.50).abs() < 1e-6);
        // A negative far from this observation does not matter.
        neg.insert(id(1), 0.40);
        assert_eq!(cast(&cands, &neg, &CFG).person, Some(id(1)));
        // Striking off the best lets a clear second person win.
        let cands = [(id(1), 0.88), (id(2), 0.81), (id(3), 0.60)];
        neg.insert(id(1), 0.95);
        assert_eq!(cast(&cands, &neg, &CFG).person, Some(id(2)));
    }

    fn ballot(person: Option<u128>, s: f32) -> Ballot {
        Ballot {
            person: person.map(id),
            similarity: s,
            runner_up: 0.3,
        }
    }

    #[test]
    fn two_agreeing_votes_decide_with_their_mean_similarity() {
        assert_eq!(decide(&[ballot(Some(1), 0.8)], &CFG), None);
        let d = decide(
            &[
                ballot(Some(1), 0.8),
                ballot(None, 0.5),
                ballot(Some(1), 0.9),
            ],
            &CFG,
        );
        match d {
            Some(
                d @ Decision::Person {
                    person,
                    mean_similarity,
                    observations,
                },
            ) => {
                assert_eq!(person, id(1));
                assert!((mean_similarity - 0.85).abs() < 1e-6);
                assert!((d.confidence() - 0.85).abs() < 1e-6);
                assert_eq!(observations, 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_tie_waits_and_a_majority_wins() {
        let tie = [
            ballot(Some(1), 0.8),
            ballot(Some(2), 0.8),
            ballot(Some(1), 0.8),
            ballot(Some(2), 0.8),
        ];
        assert_eq!(decide(&tie, &CFG), None);
        let mut more = tie.to_vec();
        more.push(ballot(Some(2), 0.9));
        assert!(matches!(
            decide(&more, &CFG),
            Some(Decision::Person { person, observations: 5, .. }) if person == id(2)
        ));
    }

    #[test]
    fn no_agreement_after_max_observations_is_unknown() {
        let mut b = vec![
            ballot(None, 0.6),
            ballot(Some(1), 0.75),
            ballot(None, 0.5),
            ballot(None, 0.4),
        ];
        assert_eq!(decide(&b, &CFG), None);
        b.push(ballot(None, 0.55));
        match decide(&b, &CFG) {
            Some(
                d @ Decision::Unknown {
                    best_similarity,
                    observations,
                },
            ) => {
                assert!((best_similarity - 0.75).abs() < 1e-6);
                assert!(
                    (d.confidence() - 0.25).abs() < 1e-6,
                    "the API's confidence of an unknown is 1 - best similarity"
                );
                assert_eq!(observations, 5);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_a_different_person_replaces_a_decision() {
        let ada = Decision::Person {
            person: id(1),
            mean_similarity: 0.9,
            observations: 2,
        };
        let unknown = Decision::Unknown {
            best_similarity: 0.5,
            observations: 5,
        };
        assert!(supersedes(None, &ada));
        assert!(supersedes(None, &unknown));
        // The tracker handed the track to someone else.
        assert!(supersedes(Some(Some(id(2))), &ada));
        // An unknown (or rejected) track later recognised.
        assert!(supersedes(Some(None), &ada));
        // Same person again, or a person who stops voting: no change.
        assert!(!supersedes(Some(Some(id(1))), &ada));
        assert!(!supersedes(Some(Some(id(1))), &unknown));
        assert!(!supersedes(Some(None), &unknown));
    }

    #[test]
    fn rejected_person_never_wins_a_track_near_the_rejected_face() {
        // The same face seen five times, each time closest to person 1,
        // whom a user rejected for this face.
        let mut neg = HashMap::new();
        neg.insert(id(1), 0.93);
        let ballots: Vec<Ballot> = (0..5)
            .map(|i| {
                let s = 0.85 + 0.01 * i as f32;
                cast(&[(id(1), s), (id(2), 0.40)], &neg, &CFG)
            })
            .collect();
        assert!(ballots.iter().all(|b| b.person.is_none()));
        assert!(matches!(
            decide(&ballots, &CFG),
            Some(Decision::Unknown { .. })
        ));
    }
}
