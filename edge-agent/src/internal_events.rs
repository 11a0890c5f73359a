//! What the agent tells operators about itself, one type per happening,
//! each emitting its log line and its metric together (vector's
//! internal-events pattern), so a call site cannot log without counting
//! or count without logging.

use atrium_proto::event::EventKind;
use uuid::Uuid;

use crate::metrics::{Kind, Metrics};

/// A happening worth a log line and a metric.
pub trait InternalEvent {
    fn emit(self, metrics: &Metrics);
}

/// The adaptive controller moved to another load level.
#[derive(Debug, Clone, Copy)]
pub struct LoadLevelChanged {
    pub from: u8,
    pub to: u8,
    pub cpu_percent: f32,
    pub inference_ms: f32,
}

impl InternalEvent for LoadLevelChanged {
    fn emit(self, m: &Metrics) {
        if self.from != self.to {
            tracing::warn!(
                from = self.from,
                to = self.to,
                cpu = self.cpu_percent,
                inference_ms = self.inference_ms,
                "adaptive load level changed"
            );
        }
        m.load_level.set(i64::from(self.to));
    }
}

/// An event that could not be spooled: it is lost.
#[derive(Debug, Clone, Copy)]
pub struct EventUnspooled<'a> {
    pub error: &'a atrium_spool::SpoolError,
    pub id: Uuid,
    pub kind: EventKind,
}

impl InternalEvent for EventUnspooled<'_> {
    fn emit(self, m: &Metrics) {
        m.events_unspooled.inc();
        tracing::error!(
            error = %self.error,
            id = %self.id,
            kind = self.kind.as_str(),
            lost_total = m.events_unspooled.get(),
            "could not spool an event: it is lost"
        );
    }
}

/// The spool's quota made room by dropping its oldest events.
#[derive(Debug, Clone, Copy)]
pub struct SpoolOverflowed {
    pub dropped: u64,
    pub dropped_total: u64,
}

impl InternalEvent for SpoolOverflowed {
    fn emit(self, m: &Metrics) {
        m.spool_dropped.inc_by(self.dropped);
        tracing::warn!(
            dropped = self.dropped,
            dropped_total = self.dropped_total,
            "spool quota reached: oldest events dropped"
        );
    }
}

/// A camera configuration from central that does not parse or check.
#[derive(Debug, Clone, Copy)]
pub struct ConfigRefused<'a> {
    pub error: &'a atrium_proto::config::ConfigError,
    pub bytes: usize,
    pub topic: &'a str,
}

impl InternalEvent for ConfigRefused<'_> {
    fn emit(self, m: &Metrics) {
        m.config_refused.inc();
        tracing::error!(
            error = %self.error,
            bytes = self.bytes,
            topic = self.topic,
            "refusing the camera configuration from central; keeping the current one"
        );
    }
}

/// Where a frame was dropped: a newer one replaced it in the hand-off, or
/// the decode queue was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropStage {
    Handoff,
    DecodeQueue,
}

/// A frame dropped before inference (counted only: a busy camera drops
/// many, and the rate is on `/metrics` and in the heartbeat).
#[derive(Debug, Clone, Copy)]
pub struct FrameDropped {
    pub stage: DropStage,
}

impl InternalEvent for FrameDropped {
    fn emit(self, m: &Metrics) {
        let stage = match self.stage {
            DropStage::Handoff => "handoff",
            DropStage::DecodeQueue => "decode_queue",
        };
        m.frames_dropped.get_or_create(&Kind::of(stage)).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_moves_its_metric() {
        let m = Metrics::new();
        LoadLevelChanged {
            from: 0,
            to: 2,
            cpu_percent: 95.0,
            inference_ms: 80.0,
        }
        .emit(&m);
        assert_eq!(m.load_level.get(), 2);
        SpoolOverflowed {
            dropped: 3,
            dropped_total: 3,
        }
        .emit(&m);
        assert_eq!(m.spool_dropped.get(), 3);
        FrameDropped {
            stage: DropStage::Handoff,
        }
        .emit(&m);
        FrameDropped {
            stage: DropStage::Handoff,
        }
        .emit(&m);
        assert_eq!(
            m.frames_dropped.get_or_create(&Kind::of("handoff")).get(),
            2
        );
        assert_eq!(
            m.frames_dropped
                .get_or_create(&Kind::of("decode_queue"))
                .get(),
            0
        );
    }
}
