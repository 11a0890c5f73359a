//! The writer: commits the batches [`super::collect`] validated (or spools
//! them while the database is away), replays the spool, and acknowledges
//! to the broker only what is durable. The rules are [`super::state`]'s;
//! this module carries them out. Commit, spool and replay stay in one file
//! (about 450 lines without its tests) because each path must keep the
//! same durability rule for the same batch: split apart, they would each
//! need the whole writer.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atrium_proto::event::EventBody;
use atrium_spool::Spool;
use rumqttc::v5::AsyncClient;
use tokio::sync::{mpsc, watch};

use super::collect::{Collected, Msg, Validator};
use super::state::{Next, Outcome, WriterState};
use super::write::{self, Batch, DeadLetter};
use super::{IngestConfig, IngestHandle};
use crate::internal_events::{
    BatchCommitted, CommitRetried, DatabaseAvailability, InternalEvent, SpoolReadFailed,
    SpoolRecordsUndecodable,
};
use crate::live::LiveEvent;
use crate::metrics::Metrics;

/// Spool record: topic length (u16 LE), topic, payload.
pub(super) fn encode_record(topic: &str, payload: &[u8]) -> Vec<u8> {
    let t = topic.as_bytes();
    let mut out = Vec::with_capacity(2 + t.len() + payload.len());
    out.extend_from_slice(&(t.len().min(u16::MAX as usize) as u16).to_le_bytes());
    out.extend_from_slice(&t[..t.len().min(u16::MAX as usize)]);
    out.extend_from_slice(payload);
    out
}

fn decode_record(rec: &[u8]) -> Option<(String, Vec<u8>)> {
    let len = u16::from_le_bytes([*rec.first()?, *rec.get(1)?]) as usize;
    let topic = std::str::from_utf8(rec.get(2..2 + len)?).ok()?.to_owned();
    Some((topic, rec.get(2 + len..)?.to_vec()))
}

pub(super) struct Writer {
    pub(super) cfg: IngestConfig,
    pub(super) pool: deadpool_postgres::Pool,
    pub(super) client: AsyncClient,
    pub(super) handle: IngestHandle,
    pub(super) spool: Arc<Mutex<Spool>>,
    pub(super) metrics: Arc<Metrics>,
    /// Validates what the writer builds itself: spooled messages and
    /// single messages after a refused batch.
    pub(super) validator: Validator,
    pub(super) state: WriterState,
    /// Dead letters not yet committed (corrupt spool bytes found at start).
    pub(super) orphans: Vec<DeadLetter>,
    /// When each meter's power was last announced live (throttle).
    pub(super) power_sent: std::collections::HashMap<String, Instant>,
}

/// A meter's power is announced live at most this often (per instance).
pub const POWER_UPDATE_EVERY: Duration = Duration::from_secs(5);

impl Writer {
    /// Commits the batches `collect` validated, acknowledging each once it
    /// is durable, and replays the spool when due.
    pub(super) async fn run(
        mut self,
        mut batches: mpsc::Receiver<Collected>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut refresh_tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            let replay_at = self.replay_wake();
            let collected = tokio::select! {
                c = batches.recv() => match c {
                    Some(c) => c,
                    None => return,
                },
                _ = tokio::time::sleep_until(replay_at.unwrap_or_else(tokio::time::Instant::now)), if replay_at.is_some() => {
                    self.replay().await;
                    continue;
                }
                _ = refresh_tick.tick() => {
                    self.validator.refresh_registries().await;
                    continue;
                }
                _ = stop.changed() => return,
            };
            let Collected {
                mut pending,
                msgs,
                batch,
            } = collected;
            let mut batch = Some(batch);
            // Until the batch is durable it stays unacknowledged with the
            // broker; `Hold` waits (the broker's window stops delivery).
            loop {
                match self.make_durable(&msgs, batch.take()).await {
                    Next::Ack => break,
                    Next::Hold(at) => {
                        tokio::select! {
                            _ = tokio::time::sleep_until(at.into()) => {}
                            _ = stop.changed() => return,
                        }
                        // The spool is full: only replay (once the database
                        // is back) makes room, so it must run here too.
                        self.replay().await;
                    }
                    other => {
                        // Not durable: leave the batch unacknowledged (the
                        // broker redelivers it) rather than lose it.
                        tracing::error!(
                            ?other,
                            "ingest state machine returned an unexpected step; not acknowledging"
                        );
                        pending.clear();
                        break;
                    }
                }
            }
            for p in pending.drain(..) {
                if let Err(e) = self.client.ack(&p).await {
                    tracing::warn!(error = %e, "ack not queued; the broker will redeliver");
                }
            }
        }
    }

    /// When the next replay is due, if anything is spooled.
    fn replay_wake(&self) -> Option<tokio::time::Instant> {
        let spooled = self.spool.lock().map(|s| s.pending()).unwrap_or(0);
        if spooled == 0 && self.orphans.is_empty() {
            return None;
        }
        let now = self.cfg.clock.instant();
        Some(
            self.state
                .next_replay()
                .filter(|t| *t > now)
                .unwrap_or(now)
                .into(),
        )
    }

    /// One attempt to commit `batch`.
    async fn commit_batch(&mut self, batch: &Batch) -> Outcome {
        match self.try_commit(batch).await {
            Ok(()) => Outcome::Committed,
            Err(e) => e,
        }
    }

    async fn try_commit(&mut self, batch: &Batch) -> Result<(), Outcome> {
        let started = Instant::now(); // a measurement, not a clock read
        let mut client = self
            .pool
            .get()
            .await
            .map_err(|e| Outcome::Unavailable(e.to_string()))?;
        let tx = client.transaction().await.map_err(outcome)?;
        let written = write::write(&tx, batch).await.map_err(outcome)?;
        // Live events go out through PostgreSQL NOTIFY, which is delivered
        // on commit and to every central instance, so a dashboard on any
        // instance sees what any instance committed, exactly once.
        let mut live = live_events(batch, &written.new_ids);
        live.extend(self.system_events(&written.devices));
        live.extend(
            crate::recognize::process(
                &tx,
                &batch.events,
                &written.new_ids,
                &self.cfg.recognize,
                &self.cfg.face_index,
            )
            .await
            .map_err(outcome)?,
        );
        crate::live::notify(&tx, &live).await.map_err(outcome)?;
        tx.commit().await.map_err(outcome)?;
        let now = self.cfg.clock.now();
        BatchCommitted {
            messages: batch.len(),
            events: batch.events.len(),
            new_events: written.new_events,
            device_points: written.devices.new_points,
            device_duplicates: written.devices.duplicate_points,
            device_events: written.devices.new_events.len() as u64,
            dead_letters: written.dead_letters,
            took: started.elapsed(),
            lag: batch.events.iter().map(|(e, _)| now - e.ts).max(),
        }
        .emit(&self.metrics);
        Ok(())
    }

    /// Commits a batch, retrying transient errors and splitting refused
    /// batches, until it is committed, or the database is away
    /// (`Unavailable`). `batch` is `build(msgs)` plus `extra` dead letters
    /// (unreadable spool records) that a split must not forget.
    async fn commit_with_retries(
        &mut self,
        batch: Batch,
        msgs: &[Msg],
        extra: &[DeadLetter],
    ) -> Outcome {
        loop {
            let outcome = self.commit_batch(&batch).await;
            match self.state.after_commit(&outcome, self.cfg.clock.instant()) {
                Next::Ack => return Outcome::Committed,
                Next::RetryAt(at) => {
                    CommitRetried {
                        reason: &outcome,
                        whole_batch: true,
                    }
                    .emit(&self.metrics);
                    tokio::time::sleep_until(at.into()).await;
                }
                Next::OneByOne => {
                    tracing::error!(reason = ?outcome, "database refused a batch; committing message by message");
                    let outcome = self.commit_one_by_one(msgs).await;
                    if outcome != Outcome::Committed {
                        return outcome;
                    }
                    return self.commit_dead_letters_one_by_one(extra).await;
                }
                Next::Spool | Next::Hold(_) => return outcome,
            }
        }
    }

    /// The database refused a batch (not an outage): commit message by
    /// message, dead-lettering each one it refuses, so one bad row cannot
    /// stop ingest. Ends early, `Unavailable`, if the database goes away.
    async fn commit_one_by_one(&mut self, msgs: &[Msg]) -> Outcome {
        for m in msgs {
            let batch = self
                .validator
                .build(std::slice::from_ref(m), self.cfg.clock.instant())
                .await;
            let mut outcome = self.commit_batch(&batch).await;
            loop {
                match (
                    &outcome,
                    self.state.after_commit(&outcome, self.cfg.clock.instant()),
                ) {
                    (_, Next::Ack) => break,
                    (_, Next::RetryAt(at)) => {
                        CommitRetried {
                            reason: &outcome,
                            whole_batch: false,
                        }
                        .emit(&self.metrics);
                        tokio::time::sleep_until(at.into()).await;
                        outcome = self.commit_batch(&batch).await;
                    }
                    (Outcome::Refused(reason), Next::OneByOne) => {
                        let dead = DeadLetter {
                            topic: m.0.clone(),
                            reason: format!("database refused the message: {reason}"),
                            payload: m.1.clone(),
                        };
                        match self.commit_dead_letters_one_by_one(&[dead]).await {
                            Outcome::Committed => break,
                            other => return other,
                        }
                    }
                    (_, _) => return outcome,
                }
            }
        }
        Outcome::Committed
    }

    /// Commits dead letters one at a time (after a refused batch), with
    /// the same retries. One the database refuses even as a dead letter is
    /// logged with its reason: nothing more can be done with it here.
    async fn commit_dead_letters_one_by_one(&mut self, dead: &[DeadLetter]) -> Outcome {
        for d in dead {
            let batch = Batch {
                dead: vec![d.clone()],
                ..Batch::default()
            };
            loop {
                let outcome = self.commit_batch(&batch).await;
                match self.state.after_commit(&outcome, self.cfg.clock.instant()) {
                    Next::Ack => break,
                    Next::RetryAt(at) => {
                        self.metrics.commit_retries.inc();
                        tokio::time::sleep_until(at.into()).await;
                    }
                    Next::OneByOne => {
                        tracing::error!(
                            topic = d.topic,
                            reason = d.reason,
                            ?outcome,
                            "dead letter refused too"
                        );
                        break;
                    }
                    Next::Spool | Next::Hold(_) => return outcome,
                }
            }
        }
        Outcome::Committed
    }

    /// Commits or spools a new batch. `Ack` when the messages are durable.
    /// `built` is `msgs` already validated, if it was (a batch that waits
    /// out a full spool is validated again when it is tried again, against
    /// the registry of then).
    async fn make_durable(&mut self, msgs: &[Msg], built: Option<Batch>) -> Next {
        let spooled = self.spool.lock().map(|s| s.pending()).unwrap_or(0);
        if !self.state.must_spool(spooled) {
            let batch = match built {
                Some(b) => b,
                None => self.validator.build(msgs, self.cfg.clock.instant()).await,
            };
            match self.commit_with_retries(batch, msgs, &[]).await {
                Outcome::Committed => {
                    self.set_database_up(true);
                    return Next::Ack;
                }
                e => {
                    self.set_database_up(false);
                    tracing::warn!(error = ?e, messages = msgs.len(), "database write failed; spooling");
                }
            }
        }
        let written = self.spool_batch(msgs);
        self.state.after_spool(written, self.cfg.clock.instant())
    }

    /// Writes messages to the spool (also while older messages are still
    /// spooled, to keep their order). False if it cannot take them.
    fn spool_batch(&self, msgs: &[Msg]) -> bool {
        let Ok(mut spool) = self.spool.lock() else {
            return false;
        };
        // The spool would drop its oldest records to make room (the edge's
        // policy); central must not, so it refuses instead and leaves the
        // messages unacknowledged with the broker.
        let needed: u64 = msgs
            .iter()
            .map(|(t, p)| (t.len() + p.len() + 64) as u64)
            .sum();
        if spool.bytes() + needed > self.cfg.spool_max_bytes {
            tracing::error!(
                spooled = spool.pending(),
                "ingest spool full while the database is down; leaving messages with the broker"
            );
            return false;
        }
        for (topic, payload) in msgs {
            if let Err(e) = spool.append(&encode_record(topic, payload)) {
                tracing::error!(error = %e, "ingest spool write failed; leaving messages with the broker");
                // What was appended of this batch stays spooled and is
                // committed twice at worst (idempotent); the batch is not
                // acknowledged, so the broker delivers it again.
                return false;
            }
        }
        if let Err(e) = spool.sync() {
            tracing::error!(error = %e, "ingest spool sync failed; leaving messages with the broker");
            return false;
        }
        self.metrics.spool_depth.set(spool.pending() as i64);
        true
    }

    fn set_database_up(&self, up: bool) {
        let changed = self.handle.database_up.swap(up, Ordering::Relaxed) != up;
        DatabaseAvailability { up, changed }.emit(&self.metrics);
    }

    /// Commits spooled messages, oldest first, while the database takes
    /// them. Records that cannot be decoded go to the dead letters with
    /// their raw bytes.
    async fn replay(&mut self) {
        if !self.orphans.is_empty() {
            let batch = Batch {
                dead: std::mem::take(&mut self.orphans),
                ..Batch::default()
            };
            let orphans = batch.dead.clone();
            let outcome = self.commit_with_retries(batch.clone(), &[], &orphans).await;
            self.state.after_replay(&outcome, self.cfg.clock.instant());
            if outcome != Outcome::Committed {
                self.orphans = batch.dead;
                return;
            }
        }
        loop {
            let now = self.cfg.clock.instant();
            let spooled = self.spool.lock().map(|s| s.pending()).unwrap_or(0);
            if !self.state.replay_due(spooled, now) {
                return;
            }
            let records = match self.spool.lock() {
                Ok(s) => s.read_after(0, self.cfg.batch_size),
                Err(_) => return,
            };
            let records = match records {
                Ok(r) => r,
                Err(e) => {
                    SpoolReadFailed { error: &e, spooled }.emit(&self.metrics);
                    self.state.after_read_error(now);
                    return;
                }
            };
            let mut msgs = Vec::with_capacity(records.len());
            let mut undecodable = Vec::new();
            for r in &records {
                match &r.payload {
                    Ok(bytes) => match decode_record(bytes) {
                        Some(m) => msgs.push(m),
                        None => undecodable.push(DeadLetter {
                            topic: String::new(),
                            reason: format!(
                                "ingest spool record {} does not decode as topic + payload",
                                r.seq
                            ),
                            payload: bytes.clone(),
                        }),
                    },
                    Err(e) => undecodable.push(DeadLetter {
                        topic: String::new(),
                        reason: format!("ingest spool record unreadable: {e}"),
                        payload: match e {
                            atrium_spool::SpoolError::Corrupt { raw, .. } => raw.clone(),
                            _ => Vec::new(),
                        },
                    }),
                }
            }
            let mut batch = self.validator.build(&msgs, self.cfg.clock.instant()).await;
            if !undecodable.is_empty() {
                SpoolRecordsUndecodable {
                    records: undecodable.len(),
                }
                .emit(&self.metrics);
                batch.dead.extend(undecodable.iter().cloned());
            }
            let outcome = self.commit_with_retries(batch, &msgs, &undecodable).await;
            self.state.after_replay(&outcome, self.cfg.clock.instant());
            match outcome {
                Outcome::Committed => {
                    self.set_database_up(true);
                    if let Ok(mut s) = self.spool.lock() {
                        for r in &records {
                            if let Err(e) = s.ack(r.seq) {
                                tracing::error!(error = %e, "ingest spool acknowledgement failed");
                            }
                        }
                        if let Err(e) = s.sync() {
                            tracing::error!(error = %e, "ingest spool sync failed");
                        }
                        self.metrics.spool_depth.set(s.pending() as i64);
                        tracing::info!(
                            replayed = records.len(),
                            left = s.pending(),
                            "replayed spooled messages"
                        );
                    }
                }
                e => {
                    self.set_database_up(false);
                    tracing::debug!(error = ?e, "database still unreachable");
                    return;
                }
            }
        }
    }
}

impl Writer {
    /// What WebSocket clients get from the building systems' part of a
    /// batch: fire zones and lifts that changed state, new alarms and
    /// faults (`system_status`), and each meter's newest power at most
    /// every [`POWER_UPDATE_EVERY`] (`power_update`). Devices going online
    /// or offline are announced by `systems::watch`, which also sees
    /// silence.
    fn system_events(&mut self, w: &super::write_devices::DevicesWritten) -> Vec<LiveEvent> {
        use serde_json::json;
        let mut out = Vec::new();
        for f in &w.fire_changes {
            out.push(LiveEvent::system(
                "system_status",
                &f.site,
                &f.device,
                f.ts,
                json!({"change": "fire", "kind": "fire", "zone": f.zone, "state": f.state,
                       "previous": f.previous, "test_mode": f.test_mode}),
            ));
        }
        for l in &w.lift_changes {
            out.push(LiveEvent::system(
                "system_status",
                &l.site,
                &l.device,
                l.ts,
                json!({"change": "lift", "kind": "lift", "mode": l.mode, "previous": l.previous}),
            ));
        }
        for e in &w.new_events {
            let kind = e.event.get("type").and_then(|t| t.as_str());
            if matches!(kind, Some("alarm" | "fault")) {
                out.push(LiveEvent::system(
                    "system_status",
                    &e.site,
                    &e.device,
                    e.ts,
                    json!({"change": "event", "kind": e.kind, "severity": e.severity, "event": e.event}),
                ));
            }
        }
        // The newest reading of each meter in the batch.
        let mut newest: std::collections::HashMap<&str, &super::write_devices::PowerSeen> =
            std::collections::HashMap::new();
        for p in &w.power {
            let e = newest.entry(p.device.as_str()).or_insert(p);
            if p.ts > e.ts {
                *e = p;
            }
        }
        let now = self.cfg.clock.instant();
        for (meter, p) in newest {
            let Some(kw) = p.power_kw else { continue };
            let due = self
                .power_sent
                .get(meter)
                .is_none_or(|t| now.duration_since(*t) >= POWER_UPDATE_EVERY);
            if due {
                self.power_sent.insert(meter.to_owned(), now);
                out.push(LiveEvent::system(
                    "power_update",
                    &p.site,
                    meter,
                    p.ts,
                    json!({"power_kw": kw}),
                ));
            }
        }
        out
    }
}

/// What WebSocket clients get from a batch: newly stored events of the
/// live kinds (a redelivered event is not announced twice) and statuses.
fn live_events(batch: &Batch, new_ids: &std::collections::HashSet<uuid::Uuid>) -> Vec<LiveEvent> {
    let mut out = Vec::new();
    for (e, raw) in &batch.events {
        let live = matches!(
            e.body,
            EventBody::LineCrossed { .. }
                | EventBody::Occupancy { .. }
                | EventBody::ZoneViolation { .. }
                | EventBody::CameraStatus { .. }
                | EventBody::PersonDetected { .. }
        );
        if live && new_ids.contains(&e.id) {
            out.push(LiveEvent::from_event(e, raw));
        }
    }
    out.extend(batch.statuses.iter().map(LiveEvent::from_status));
    out
}

/// Classifies a database error: which failures are worth retrying
/// (transient), which mean the database is away (spool), and which are a
/// judgement on the data (dead-letter).
fn outcome(e: tokio_postgres::Error) -> Outcome {
    let Some(code) = e.code() else {
        // No SQLSTATE: the connection broke (also mid-transaction) or the
        // server never answered.
        return Outcome::Unavailable(e.to_string());
    };
    let c = code.code();
    // "db error" alone would tell the operator nothing.
    let text = match e.as_db_error() {
        Some(d) => format!("{} ({c})", d.message()),
        None => e.to_string(),
    };
    // 40xxx: transaction rollback (serialization failure, deadlock);
    // 55P03 lock not available; 57014 statement cancelled (timeout).
    // 40002 (integrity constraint violation) is a judgement on the data.
    if (c.starts_with("40") && c != "40002") || c == "55P03" || c == "57014" {
        return Outcome::Transient(text);
    }
    // 08xxx connection exceptions; 57Pxx the server is shutting down or
    // starting; 53xxx out of resources (disk full, too many connections).
    if c.starts_with("08") || c.starts_with("57") || c.starts_with("53") {
        return Outcome::Unavailable(text);
    }
    Outcome::Refused(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_records_round_trip() {
        let r = encode_record("atrium/v1/hq/cam/a/event", b"{\"x\":1}");
        assert_eq!(
            decode_record(&r),
            Some(("atrium/v1/hq/cam/a/event".into(), b"{\"x\":1}".to_vec()))
        );
        assert_eq!(decode_record(&[5, 0, b'a']), None);
    }
}
