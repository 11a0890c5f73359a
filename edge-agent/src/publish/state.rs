//! The publisher's state: what is in flight, what the broker took, what it
//! refused, and when each spooled event may leave the spool. It changes
//! state and says what to do; it never touches the network, the spool or
//! the clock (callers pass `now`), so every rule has a unit test. The
//! driver (`publish::run`) feeds it rumqttc's events and carries out its
//! answers. Half of the file is those tests, one per transition.
//!
//! # Rules
//! * **Matching.** rumqttc reports every publish as it writes it
//!   (`Outgoing::Publish(pkid)`), in the order the publish calls were
//!   made, and only this task publishes. A FIFO of what was asked for,
//!   matched against those reports, maps packet ids to spool sequence
//!   numbers. With a clean start rumqttc drops what it had in flight when
//!   the connection breaks, so the FIFO starts empty on every connection.
//! * **Only a success removes.** A PUBACK with `Success` means the broker
//!   took the event. `NoMatchingSubscribers` means it had nobody to give it
//!   to and dropped it (central has never subscribed, or its session
//!   expired): for Atrium that is not delivered. It and every failure code
//!   keep the event; sending new events stops, and the refused events are
//!   sent again after a back-off (the broker refuses everything for the
//!   same reason, so flooding it helps nobody). The first success ends the
//!   episode, and whatever is still refused is sent again at once. A
//!   resend that leaves nothing in flight and nothing refused (the events
//!   left the spool meanwhile) ends the pause too.
//! * **Linger.** The broker saves its state every few seconds, so a
//!   broker crash can forget an event it already acknowledged. An accepted
//!   event therefore stays in the spool until the connection that carried
//!   it has stayed up for `linger` (longer than the broker's autosave
//!   interval); if the connection breaks first, it is sent again, like
//!   everything else not yet removed. Delivery is at least once; central
//!   stores each event id once.
//! * **Reconnect.** After a disconnect everything still in the spool is
//!   sent again from the oldest event, in order.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use atrium_worker::Backoff;
use rumqttc::v5::mqttbytes::v5::PubAckReason;

/// Settings of the state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Events awaiting a PUBACK at once.
    pub window: usize,
    /// How long an accepted event stays in the spool while its connection
    /// stays up.
    pub linger: Duration,
    /// First and longest delay before refused events are sent again.
    pub refused_initial: Duration,
    pub refused_max: Duration,
}

/// What was handed to rumqttc, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Event(u64),
    Other,
}

/// State of one connection.
#[derive(Debug, Default)]
struct Conn {
    requested: VecDeque<Sent>,
    by_pkid: HashMap<u16, u64>,
    in_flight: usize,
    /// Highest sequence number handed over on this connection.
    sent_through: u64,
    /// Accepted events and when they may leave the spool.
    lingering: VecDeque<(u64, Instant)>,
    /// Refused on this connection, to send again at `retry_at`.
    refused: BTreeSet<u64>,
    retry_at: Option<Instant>,
}

/// A refusal episode: the broker refuses events (for `reason`) and no new
/// ones are sent until it accepts one again.
#[derive(Debug, Clone, PartialEq)]
struct Episode {
    reason: PubAckReason,
}

/// What a PUBACK meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acked {
    /// Not an event of this connection (a status publish, or a packet id
    /// from before a reconnect).
    Other,
    /// The broker took the event; it leaves the spool now (`remove`) or
    /// after the linger.
    Accepted { seq: u64, remove: bool },
    /// The broker did not take it; it is sent again after `retry_in`.
    Refused {
        seq: u64,
        reason: PubAckReason,
        retry_in: Duration,
    },
}

/// What has become due at `now`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Due {
    /// Events to remove from the spool.
    pub remove: Vec<u64>,
    /// Refused events to send again (in order).
    pub resend: Vec<u64>,
}

/// The publisher's state.
#[derive(Debug)]
pub struct PublishState {
    settings: Settings,
    conn: Option<Conn>,
    episode: Option<Episode>,
    refusals: Backoff,
}

/// Whether a PUBACK reason means the broker took the event.
pub fn accepted(reason: &PubAckReason) -> bool {
    *reason == PubAckReason::Success
}

impl PublishState {
    pub fn new(settings: Settings) -> Self {
        let refusals = Backoff::new(settings.refused_initial, settings.refused_max);
        Self {
            settings,
            conn: None,
            episode: None,
            refusals,
        }
    }

    pub fn connected(&self) -> bool {
        self.conn.is_some()
    }

    /// A CONNACK arrived: a fresh connection, nothing in flight. Sending
    /// starts again from the oldest spooled event, even during a refusal
    /// episode (whose back-off keeps growing if the broker still refuses).
    pub fn on_connected(&mut self) {
        self.conn = Some(Conn::default());
        self.episode = None;
    }

    /// The connection broke: forget what was in flight or lingering (it is
    /// all still spooled and is sent again).
    pub fn on_disconnected(&mut self) {
        self.conn = None;
    }

    /// Where the next batch of spooled events starts and how many may be
    /// sent, if sending is allowed now.
    pub fn next_batch(&self) -> Option<(u64, usize)> {
        let c = self.conn.as_ref()?;
        // During an episode only the refused events (and what is already
        // in flight) are worth sending; once both are gone without an
        // answer, a new event is the next probe.
        let paused = self.episode.is_some() && (c.in_flight > 0 || !c.refused.is_empty());
        if paused || c.in_flight >= self.settings.window {
            return None;
        }
        Some((c.sent_through, self.settings.window - c.in_flight))
    }

    /// An event was handed to rumqttc.
    pub fn requested_event(&mut self, seq: u64) {
        if let Some(c) = &mut self.conn {
            c.requested.push_back(Sent::Event(seq));
            c.in_flight += 1;
            c.sent_through = c.sent_through.max(seq);
        }
    }

    /// Something else (a status) was handed to rumqttc.
    pub fn requested_other(&mut self) {
        if let Some(c) = &mut self.conn {
            c.requested.push_back(Sent::Other);
        }
    }

    /// rumqttc wrote a publish with packet id `pkid`.
    pub fn on_outgoing_publish(&mut self, pkid: u16) {
        if let Some(c) = &mut self.conn
            && let Some(Sent::Event(seq)) = c.requested.pop_front()
        {
            c.by_pkid.insert(pkid, seq);
        }
    }

    /// A PUBACK arrived.
    pub fn on_puback(&mut self, pkid: u16, reason: PubAckReason, now: Instant) -> Acked {
        let Some(c) = &mut self.conn else {
            return Acked::Other;
        };
        let Some(seq) = c.by_pkid.remove(&pkid) else {
            return Acked::Other;
        };
        c.in_flight = c.in_flight.saturating_sub(1);
        if accepted(&reason) {
            self.episode = None;
            self.refusals.reset();
            if !c.refused.is_empty() {
                // The broker takes events again: what it refused before
                // need not wait out the back-off.
                c.retry_at = Some(now);
            }
            if self.settings.linger.is_zero() {
                return Acked::Accepted { seq, remove: true };
            }
            c.lingering.push_back((seq, now + self.settings.linger));
            return Acked::Accepted { seq, remove: false };
        }
        c.refused.insert(seq);
        let retry_in = match c.retry_at {
            // Later refusals of the same burst share its timer.
            Some(at) if at > now => at - now,
            // A first refusal, or one of a resend: wait longer each time.
            _ => {
                let d = self.refusals.next_delay();
                c.retry_at = Some(now + d);
                d
            }
        };
        self.episode = Some(Episode { reason });
        Acked::Refused {
            seq,
            reason,
            retry_in,
        }
    }

    /// Events whose linger is over, and refused events whose back-off is
    /// over. The caller sends `resend` with [`PublishState::requested_event`]
    /// (or [`PublishState::forget`] for any no longer spooled).
    pub fn due(&mut self, now: Instant) -> Due {
        let mut due = Due::default();
        let Some(c) = &mut self.conn else {
            return due;
        };
        while let Some(&(seq, at)) = c.lingering.front() {
            if at > now {
                break;
            }
            c.lingering.pop_front();
            due.remove.push(seq);
        }
        if let Some(at) = c.retry_at
            && at <= now
        {
            c.retry_at = None;
            due.resend = std::mem::take(&mut c.refused).into_iter().collect();
        }
        due
    }

    /// A refused event that is no longer in the spool.
    pub fn forget(&mut self, seq: u64) {
        if let Some(c) = &mut self.conn {
            c.refused.remove(&seq);
        }
    }

    /// A resend that could not be handed over now (rumqttc's request
    /// queue was full): it stays refused and is tried again after the
    /// initial back-off.
    pub fn resend_later(&mut self, seq: u64, now: Instant) {
        if let Some(c) = &mut self.conn {
            c.refused.insert(seq);
            if c.retry_at.is_none() {
                c.retry_at = Some(now + self.settings.refused_initial);
            }
        }
    }

    /// When [`PublishState::due`] has something next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let c = self.conn.as_ref()?;
        let linger = c.lingering.front().map(|&(_, at)| at);
        let retry = c.retry_at.filter(|_| !c.refused.is_empty());
        match (linger, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Why the broker is refusing events, while it is.
    pub fn refusing(&self) -> Option<&PubAckReason> {
        self.episode.as_ref().map(|e| &e.reason)
    }

    /// Events handed over and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.conn.as_ref().map_or(0, |c| c.in_flight)
    }

    /// Accepted events still in the spool for their linger.
    pub fn lingering(&self) -> usize {
        self.conn.as_ref().map_or(0, |c| c.lingering.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(linger_ms: u64) -> Settings {
        Settings {
            window: 4,
            linger: Duration::from_millis(linger_ms),
            refused_initial: Duration::from_secs(1),
            refused_max: Duration::from_secs(8),
        }
    }

    fn connected(linger_ms: u64) -> PublishState {
        let mut s = PublishState::new(settings(linger_ms));
        s.on_connected();
        s
    }

    /// Hands `seqs` over and has rumqttc write them with pkids 1, 2, …
    fn send(s: &mut PublishState, seqs: &[u64], first_pkid: u16) {
        for &seq in seqs {
            s.requested_event(seq);
        }
        for (i, _) in seqs.iter().enumerate() {
            s.on_outgoing_publish(first_pkid + i as u16);
        }
    }

    #[test]
    fn nothing_is_sent_while_disconnected() {
        let s = PublishState::new(settings(0));
        assert_eq!(s.next_batch(), None);
        assert!(!s.connected());
    }

    #[test]
    fn a_new_connection_starts_from_the_oldest_event_with_a_full_window() {
        let s = connected(0);
        assert_eq!(s.next_batch(), Some((0, 4)));
    }

    #[test]
    fn the_window_shrinks_with_what_is_in_flight_and_the_next_batch_follows_it() {
        let mut s = connected(0);
        send(&mut s, &[1, 2, 3], 1);
        assert_eq!(s.next_batch(), Some((3, 1)));
        s.requested_event(4);
        assert_eq!(s.next_batch(), None, "window full");
        assert_eq!(s.in_flight(), 4);
    }

    #[test]
    fn a_success_without_linger_removes_the_event_at_once() {
        let mut s = connected(0);
        send(&mut s, &[7], 1);
        let now = Instant::now();
        assert_eq!(
            s.on_puback(1, PubAckReason::Success, now),
            Acked::Accepted {
                seq: 7,
                remove: true
            }
        );
        assert_eq!(s.in_flight(), 0);
    }

    #[test]
    fn packet_ids_map_to_the_events_in_the_order_they_were_requested() {
        let mut s = connected(0);
        s.requested_event(10);
        s.requested_other(); // a status between two events
        s.requested_event(11);
        s.on_outgoing_publish(5);
        s.on_outgoing_publish(6);
        s.on_outgoing_publish(7);
        let now = Instant::now();
        assert_eq!(
            s.on_puback(7, PubAckReason::Success, now),
            Acked::Accepted {
                seq: 11,
                remove: true
            }
        );
        assert_eq!(s.on_puback(6, PubAckReason::Success, now), Acked::Other);
        assert_eq!(
            s.on_puback(5, PubAckReason::Success, now),
            Acked::Accepted {
                seq: 10,
                remove: true
            }
        );
    }

    #[test]
    fn an_accepted_event_lingers_until_its_connection_has_stayed_up_long_enough() {
        let mut s = connected(5000);
        send(&mut s, &[1, 2], 1);
        let t0 = Instant::now();
        assert_eq!(
            s.on_puback(1, PubAckReason::Success, t0),
            Acked::Accepted {
                seq: 1,
                remove: false
            }
        );
        s.on_puback(2, PubAckReason::Success, t0 + Duration::from_secs(1));
        assert_eq!(s.lingering(), 2);
        assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(5)));
        assert_eq!(s.due(t0 + Duration::from_secs(4)), Due::default());
        assert_eq!(s.due(t0 + Duration::from_secs(5)).remove, vec![1]);
        assert_eq!(s.due(t0 + Duration::from_secs(6)).remove, vec![2]);
        assert_eq!(s.lingering(), 0);
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn a_disconnect_forgets_lingering_events_so_they_are_sent_again() {
        let mut s = connected(5000);
        send(&mut s, &[1, 2, 3], 1);
        let t0 = Instant::now();
        s.on_puback(1, PubAckReason::Success, t0);
        s.on_disconnected();
        assert_eq!(s.due(t0 + Duration::from_secs(60)), Due::default());
        assert_eq!(s.next_batch(), None);
        s.on_connected();
        assert_eq!(
            s.next_batch(),
            Some((0, 4)),
            "everything from the oldest again"
        );
        assert_eq!(s.lingering(), 0);
        // A PUBACK for a packet id of the old connection means nothing now.
        assert_eq!(s.on_puback(2, PubAckReason::Success, t0), Acked::Other);
    }

    #[test]
    fn a_failure_keeps_the_event_pauses_sending_and_resends_after_the_back_off() {
        let mut s = connected(0);
        send(&mut s, &[1, 2], 1);
        let t0 = Instant::now();
        assert_eq!(
            s.on_puback(1, PubAckReason::NotAuthorized, t0),
            Acked::Refused {
                seq: 1,
                reason: PubAckReason::NotAuthorized,
                retry_in: Duration::from_secs(1)
            }
        );
        assert_eq!(s.refusing(), Some(&PubAckReason::NotAuthorized));
        assert_eq!(s.next_batch(), None, "no new events while refused");
        // The rest of the burst shares the episode's timer.
        assert_eq!(
            s.on_puback(
                2,
                PubAckReason::NotAuthorized,
                t0 + Duration::from_millis(200)
            ),
            Acked::Refused {
                seq: 2,
                reason: PubAckReason::NotAuthorized,
                retry_in: Duration::from_millis(800)
            }
        );
        assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert!(s.due(t0 + Duration::from_millis(900)).resend.is_empty());
        assert_eq!(s.due(t0 + Duration::from_secs(1)).resend, vec![1, 2]);
    }

    #[test]
    fn events_refused_in_a_window_that_then_succeeds_are_sent_again_at_once() {
        // After a broker restart: the first events find no subscriber, the
        // later ones of the same window find central again.
        let mut s = connected(0);
        send(&mut s, &[1, 2, 3, 4], 1);
        let t0 = Instant::now();
        s.on_puback(1, PubAckReason::NoMatchingSubscribers, t0);
        s.on_puback(2, PubAckReason::NoMatchingSubscribers, t0);
        let t1 = t0 + Duration::from_millis(100);
        s.on_puback(3, PubAckReason::Success, t1);
        assert_eq!(s.refusing(), None, "the success ends the episode");
        assert_eq!(s.next_deadline(), Some(t1), "no back-off to wait out");
        assert_eq!(s.due(t1).resend, vec![1, 2]);
        s.on_puback(4, PubAckReason::Success, t1);
        assert_eq!(s.next_batch(), Some((4, 4)));
    }

    #[test]
    fn a_resend_whose_events_left_the_spool_does_not_stall_sending() {
        let mut s = connected(0);
        send(&mut s, &[1], 1);
        let t0 = Instant::now();
        s.on_puback(1, PubAckReason::NotAuthorized, t0);
        assert_eq!(s.next_batch(), None);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(s.due(t1).resend, vec![1]);
        s.forget(1); // no longer spooled: nothing is sent
        assert_eq!(
            s.next_batch(),
            Some((1, 4)),
            "the next new event is the probe"
        );
        assert_eq!(s.refusing(), Some(&PubAckReason::NotAuthorized));
    }

    #[test]
    fn a_resend_the_request_queue_could_not_take_is_tried_again() {
        let mut s = connected(0);
        send(&mut s, &[5], 1);
        let t0 = Instant::now();
        s.on_puback(1, PubAckReason::QuotaExceeded, t0);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(s.due(t1).resend, vec![5]);
        s.resend_later(5, t1);
        assert_eq!(s.next_batch(), None, "still paused");
        assert_eq!(s.next_deadline(), Some(t1 + Duration::from_secs(1)));
        assert_eq!(s.due(t1 + Duration::from_secs(1)).resend, vec![5]);
    }

    #[test]
    fn refusals_back_off_longer_each_time_and_a_success_ends_the_episode() {
        let mut s = connected(0);
        let mut now = Instant::now();
        let mut delays = Vec::new();
        for pkid in 1..=4u16 {
            s.requested_event(1);
            s.on_outgoing_publish(pkid);
            match s.on_puback(pkid, PubAckReason::QuotaExceeded, now) {
                Acked::Refused { retry_in, .. } => delays.push(retry_in.as_secs_f64()),
                other => panic!("{other:?}"),
            }
            now += Duration::from_secs(60);
            assert_eq!(s.due(now).resend, vec![1]);
        }
        assert_eq!(delays, vec![1.0, 1.5, 2.25, 3.375]);
        s.requested_event(1);
        s.on_outgoing_publish(9);
        assert_eq!(
            s.on_puback(9, PubAckReason::Success, now),
            Acked::Accepted {
                seq: 1,
                remove: true
            }
        );
        assert_eq!(s.refusing(), None);
        assert!(s.next_batch().is_some(), "sending resumes");
        // The next refusal starts from the initial delay again.
        s.requested_event(2);
        s.on_outgoing_publish(10);
        assert!(matches!(
            s.on_puback(10, PubAckReason::UnspecifiedError, now),
            Acked::Refused { retry_in, .. } if retry_in == Duration::from_secs(1)
        ));
    }

    #[test]
    fn no_matching_subscribers_is_not_delivered() {
        let mut s = connected(0);
        send(&mut s, &[3], 1);
        assert!(matches!(
            s.on_puback(1, PubAckReason::NoMatchingSubscribers, Instant::now()),
            Acked::Refused { seq: 3, .. }
        ));
        assert!(!accepted(&PubAckReason::NoMatchingSubscribers));
    }

    #[test]
    fn a_refused_event_that_left_the_spool_is_forgotten() {
        let mut s = connected(0);
        send(&mut s, &[1, 2], 1);
        let t0 = Instant::now();
        s.on_puback(1, PubAckReason::NotAuthorized, t0);
        s.on_puback(2, PubAckReason::NotAuthorized, t0);
        s.forget(1);
        assert_eq!(s.due(t0 + Duration::from_secs(1)).resend, vec![2]);
    }

    #[test]
    fn a_reconnect_during_a_refusal_sends_everything_again() {
        let mut s = connected(0);
        send(&mut s, &[1], 1);
        s.on_puback(1, PubAckReason::NotAuthorized, Instant::now());
        s.on_disconnected();
        s.on_connected();
        assert_eq!(s.refusing(), None);
        assert_eq!(s.next_batch(), Some((0, 4)));
    }
}
