//! The ingest writer's decisions, as a state machine with no I/O: after a
//! commit attempt, a spool write or a replay, what happens to the batch and
//! when the next attempt is due. The driver (`ingest::Writer`) does the
//! database, spool and broker work and passes `now`.
//!
//! # Rules
//! * A batch is acknowledged to the broker only once it is durable:
//!   committed, or written (and synced) to the local spool.
//! * **Transient** database errors (deadlock, serialization failure, lock
//!   timeout, a cancelled statement) retry the same batch after a short
//!   back-off; after [`MAX_TRANSIENT`] retries in a row the batch is
//!   treated like an outage. A transient error never dead-letters anything.
//! * **Unavailable** (no connection, connection lost mid-transaction,
//!   server shutting down): the batch goes to the spool; spooled messages
//!   are replayed, oldest first, with a growing back-off while the database
//!   stays away. While anything is spooled, new batches are spooled too,
//!   so replay keeps their order.
//! * **Refused** (the database judged the data): the batch is committed
//!   message by message and only the messages it refuses are
//!   dead-lettered, with PostgreSQL's reason.
//! * When even the spool cannot take a batch (full, disk error), nothing is
//!   acknowledged: the broker keeps the messages and its in-flight window
//!   stops delivery until the batch is durable.

use std::time::{Duration, Instant};

use atrium_worker::Backoff;

/// Transient failures of one batch before it is treated as an outage.
pub const MAX_TRANSIENT: u32 = 5;

/// How a commit attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Committed,
    /// Try the same again shortly.
    Transient(String),
    /// The database cannot be reached.
    Unavailable(String),
    /// The database refused this data.
    Refused(String),
}

/// What to do with the batch next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Durable: acknowledge it to the broker.
    Ack,
    /// Commit the same batch again at this instant.
    RetryAt(Instant),
    /// Commit message by message, dead-lettering what is refused.
    OneByOne,
    /// Write it to the spool (then [`WriterState::after_spool`]).
    Spool,
    /// Not durable anywhere: keep it unacknowledged and try again then.
    Hold(Instant),
}

/// The writer's state.
#[derive(Debug)]
pub struct WriterState {
    /// Back-off between transient retries of one batch.
    transient: Backoff,
    transient_attempts: u32,
    /// Back-off between replays (and held batches) while the database is
    /// away.
    outage: Backoff,
    database_up: bool,
    next_replay: Option<Instant>,
}

impl Default for WriterState {
    fn default() -> Self {
        Self::new()
    }
}

impl WriterState {
    pub fn new() -> Self {
        Self {
            transient: Backoff::new(Duration::from_millis(50), Duration::from_secs(2)),
            transient_attempts: 0,
            outage: Backoff::new(Duration::from_millis(500), Duration::from_secs(5)),
            database_up: true,
            next_replay: None,
        }
    }

    /// Whether the last attempt reached the database.
    pub fn database_up(&self) -> bool {
        self.database_up
    }

    /// Whether a new batch must go to the spool to keep replay order.
    pub fn must_spool(&self, spooled: u64) -> bool {
        spooled > 0
    }

    /// After a commit of a new batch (or of one message of a split batch).
    pub fn after_commit(&mut self, outcome: &Outcome, now: Instant) -> Next {
        match outcome {
            Outcome::Committed => {
                self.up();
                Next::Ack
            }
            Outcome::Transient(_) => {
                self.transient_attempts += 1;
                if self.transient_attempts > MAX_TRANSIENT {
                    self.transient_attempts = 0;
                    self.transient.reset();
                    self.down();
                    Next::Spool
                } else {
                    Next::RetryAt(now + self.transient.next_delay())
                }
            }
            Outcome::Unavailable(_) => {
                self.transient_attempts = 0;
                self.transient.reset();
                self.down();
                Next::Spool
            }
            Outcome::Refused(_) => {
                self.transient_attempts = 0;
                self.transient.reset();
                // The database answered: it is up.
                self.database_up = true;
                Next::OneByOne
            }
        }
    }

    /// After writing a batch to the spool: acknowledge it, or hold it.
    pub fn after_spool(&mut self, written: bool, now: Instant) -> Next {
        if written {
            // Replay soon, but not before the outage back-off.
            self.next_replay.get_or_insert(now);
            Next::Ack
        } else {
            Next::Hold(now + self.outage.next_delay())
        }
    }

    /// Whether spooled messages should be replayed now.
    pub fn replay_due(&self, spooled: u64, now: Instant) -> bool {
        spooled > 0 && self.next_replay.is_none_or(|t| t <= now)
    }

    /// After replaying a batch from the spool (`Refused` has already been
    /// split by the driver; its outcome is that of the split).
    pub fn after_replay(&mut self, outcome: &Outcome, now: Instant) {
        match outcome {
            Outcome::Committed => {
                self.up();
                self.next_replay = Some(now);
            }
            Outcome::Transient(_) => {
                self.next_replay = Some(now + self.transient.next_delay());
            }
            Outcome::Unavailable(_) | Outcome::Refused(_) => {
                self.down();
                self.next_replay = Some(now + self.outage.next_delay());
            }
        }
    }

    /// Reading the spool failed: try again later, with the outage
    /// back-off, instead of spinning.
    pub fn after_read_error(&mut self, now: Instant) {
        self.next_replay = Some(now + self.outage.next_delay());
    }

    /// The instant of the next replay, if one is scheduled.
    pub fn next_replay(&self) -> Option<Instant> {
        self.next_replay
    }

    fn up(&mut self) {
        self.database_up = true;
        self.transient_attempts = 0;
        self.transient.reset();
        self.outage.reset();
    }

    fn down(&mut self) {
        self.database_up = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn a_committed_batch_is_acknowledged() {
        let mut s = WriterState::new();
        assert_eq!(s.after_commit(&Outcome::Committed, t0()), Next::Ack);
        assert!(s.database_up());
    }

    #[test]
    fn a_transient_error_retries_the_same_batch_with_a_growing_delay() {
        let mut s = WriterState::new();
        let now = t0();
        let mut delays = Vec::new();
        for _ in 0..MAX_TRANSIENT {
            match s.after_commit(&Outcome::Transient("40P01".into()), now) {
                Next::RetryAt(at) => delays.push((at - now).as_millis()),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(delays, vec![50, 75, 112, 168, 253]);
        assert!(s.database_up(), "a deadlock is not an outage");
    }

    #[test]
    fn too_many_transient_errors_in_a_row_spool_the_batch_never_dead_letter_it() {
        let mut s = WriterState::new();
        let now = t0();
        for _ in 0..MAX_TRANSIENT {
            assert!(matches!(
                s.after_commit(&Outcome::Transient("40001".into()), now),
                Next::RetryAt(_)
            ));
        }
        assert_eq!(
            s.after_commit(&Outcome::Transient("40001".into()), now),
            Next::Spool
        );
        // The count starts again for the next batch.
        assert!(matches!(
            s.after_commit(&Outcome::Transient("40001".into()), now),
            Next::RetryAt(_)
        ));
    }

    #[test]
    fn a_success_resets_the_transient_count() {
        let mut s = WriterState::new();
        let now = t0();
        for _ in 0..MAX_TRANSIENT {
            s.after_commit(&Outcome::Transient("x".into()), now);
        }
        assert_eq!(s.after_commit(&Outcome::Committed, now), Next::Ack);
        assert!(matches!(
            s.after_commit(&Outcome::Transient("x".into()), now),
            Next::RetryAt(at) if at - now == Duration::from_millis(50)
        ));
    }

    #[test]
    fn an_outage_spools_and_marks_the_database_down() {
        let mut s = WriterState::new();
        assert_eq!(
            s.after_commit(&Outcome::Unavailable("refused".into()), t0()),
            Next::Spool
        );
        assert!(!s.database_up());
    }

    #[test]
    fn a_refused_batch_is_split_and_the_database_counts_as_up() {
        let mut s = WriterState::new();
        s.after_commit(&Outcome::Unavailable("x".into()), t0());
        assert_eq!(
            s.after_commit(&Outcome::Refused("22P02".into()), t0()),
            Next::OneByOne
        );
        assert!(s.database_up());
    }

    #[test]
    fn a_spooled_batch_is_acknowledged_and_replay_becomes_due() {
        let mut s = WriterState::new();
        let now = t0();
        assert!(!s.replay_due(0, now), "nothing spooled");
        assert_eq!(s.after_spool(true, now), Next::Ack);
        assert!(s.replay_due(3, now));
        assert!(s.must_spool(3));
        assert!(!s.must_spool(0));
    }

    #[test]
    fn a_batch_the_spool_cannot_take_is_held_unacknowledged_with_back_off() {
        let mut s = WriterState::new();
        let now = t0();
        assert_eq!(
            s.after_spool(false, now),
            Next::Hold(now + Duration::from_millis(500))
        );
        assert_eq!(
            s.after_spool(false, now),
            Next::Hold(now + Duration::from_millis(750))
        );
    }

    #[test]
    fn replay_backs_off_while_the_database_is_away_and_continues_at_once_when_it_is_back() {
        let mut s = WriterState::new();
        let now = t0();
        s.after_replay(&Outcome::Unavailable("x".into()), now);
        assert!(!s.replay_due(5, now + Duration::from_millis(499)));
        assert!(s.replay_due(5, now + Duration::from_millis(500)));
        s.after_replay(&Outcome::Unavailable("x".into()), now);
        assert_eq!(s.next_replay(), Some(now + Duration::from_millis(750)));
        s.after_replay(&Outcome::Committed, now);
        assert!(s.replay_due(5, now), "the rest follows immediately");
        assert!(s.database_up());
    }

    #[test]
    fn a_spool_read_error_waits_instead_of_spinning() {
        let mut s = WriterState::new();
        let now = t0();
        s.after_read_error(now);
        assert!(!s.replay_due(1, now));
        assert!(s.replay_due(1, now + Duration::from_millis(500)));
    }

    #[test]
    fn a_transient_replay_error_retries_soon() {
        let mut s = WriterState::new();
        let now = t0();
        s.after_replay(&Outcome::Transient("40P01".into()), now);
        assert_eq!(s.next_replay(), Some(now + Duration::from_millis(50)));
        assert!(s.database_up());
    }
}
