//! The hand-off between decoding and inference: "latest frame wins".
//!
//! Decoding runs at the camera's rate; inference may be slower. Queuing
//! frames would add latency without bound, so the hand-off holds one frame:
//! a new frame replaces an unconsumed one, which is counted as dropped.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use atrium_vision::RgbImage;
use chrono::{DateTime, Utc};

/// A decoded frame ready for inference.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Counts frames since the agent started.
    pub seq: u64,
    /// Wall-clock capture time (arrival at the agent).
    pub captured: DateTime<Utc>,
    /// Seconds since the agent started (monotonic), for the tracker.
    pub t: f64,
    /// Milliseconds into the camera session by the camera's clock.
    pub stream_ms: Option<i64>,
    /// The camera's frame size.
    pub width: u32,
    pub height: u32,
    /// The frame scaled to the detector's letterbox inner size.
    pub scaled: RgbImage,
    /// The full-resolution frame, attached when face work wants one.
    pub full: Option<Arc<RgbImage>>,
}

#[derive(Debug, Default)]
struct Slot {
    frame: Option<Frame>,
    closed: bool,
}

/// The one-frame hand-off.
#[derive(Debug, Default)]
pub struct Handoff {
    slot: Mutex<Slot>,
    ready: Condvar,
}

/// What `take` found.
#[derive(Debug)]
pub enum Taken {
    Frame(Box<Frame>),
    /// Nothing within the timeout.
    Empty,
    /// The producer is gone.
    Closed,
}

impl Handoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// Offers a frame; returns true if it replaced an unconsumed one.
    pub fn put(&self, frame: Frame) -> bool {
        let Ok(mut slot) = self.slot.lock() else {
            return false;
        };
        let replaced = slot.frame.replace(frame).is_some();
        self.ready.notify_one();
        replaced
    }

    /// Waits up to `timeout` for a frame.
    pub fn take(&self, timeout: Duration) -> Taken {
        let Ok(slot) = self.slot.lock() else {
            return Taken::Closed;
        };
        let Ok((mut slot, _)) = self
            .ready
            .wait_timeout_while(slot, timeout, |s| s.frame.is_none() && !s.closed)
        else {
            return Taken::Closed;
        };
        match slot.frame.take() {
            Some(f) => Taken::Frame(Box::new(f)),
            None if slot.closed => Taken::Closed,
            None => Taken::Empty,
        }
    }

    /// Whether the producer has closed the hand-off.
    pub fn is_closed(&self) -> bool {
        self.slot.lock().map(|s| s.closed).unwrap_or(true)
    }

    /// No more frames will come.
    pub fn close(&self) {
        if let Ok(mut slot) = self.slot.lock() {
            slot.closed = true;
        }
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64) -> Frame {
        Frame {
            seq,
            captured: Utc::now(),
            t: 0.0,
            stream_ms: None,
            width: 2,
            height: 1,
            scaled: RgbImage::from_raw(2, 1, vec![0; 6]).unwrap(),
            full: None,
        }
    }

    #[test]
    fn the_latest_frame_wins_and_replacements_are_reported() {
        let h = Handoff::new();
        assert!(!h.put(frame(1)));
        assert!(h.put(frame(2)), "frame 1 was never taken");
        match h.take(Duration::from_millis(1)) {
            Taken::Frame(f) => assert_eq!(f.seq, 2),
            other => panic!("{other:?}"),
        }
        assert!(matches!(h.take(Duration::from_millis(1)), Taken::Empty));
    }

    #[test]
    fn a_waiting_consumer_wakes_for_a_frame_and_for_close() {
        let h = Arc::new(Handoff::new());
        let h2 = h.clone();
        let t =
            std::thread::spawn(move || matches!(h2.take(Duration::from_secs(10)), Taken::Frame(_)));
        h.put(frame(7));
        assert!(t.join().unwrap());
        let h3 = h.clone();
        let t =
            std::thread::spawn(move || matches!(h3.take(Duration::from_secs(10)), Taken::Closed));
        h.close();
        assert!(t.join().unwrap());
    }
}
