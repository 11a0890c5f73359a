//! Sizes every Atrium component agrees on.
//!
//! A message that one side accepts and the other cannot even read is a
//! poison pill: the reader's MQTT client drops the connection, the
//! persistent session redelivers the same message, and the whole stream
//! stops. So the limits are layered and written down once, here:
//!
//! | layer | limit | above it |
//! |---|---|---|
//! | event or status payload | [`MAX_EVENT_PAYLOAD`] | central dead-letters it with the reason; the edge never produces one |
//! | camera configuration payload | [`MAX_CONFIG_PAYLOAD`] | the edge refuses it with a clear error and keeps its current configuration |
//! | camera frame payload (snapshot, live) | [`MAX_FRAME_PAYLOAD`] | the edge encodes smaller or skips the frame (counted); central drops it with a log line and a count |
//! | broker `message_size_limit` | [`BROKER_MESSAGE_LIMIT`] | the broker refuses the publish and never forwards it (Mosquitto 2.0 answers PUBACK 0x95, which rumqttc 0.25 reads as a broken connection) |
//! | broker `max_packet_size` | [`BROKER_MAX_PACKET`] | the broker disconnects the sender |
//! | every Atrium client's maximum incoming packet | [`CLIENT_MAX_PACKET`] | cannot happen: above what the broker forwards |
//!
//! Everything the broker accepts therefore reaches every Atrium client
//! intact, and the application decides what to do with it.

/// Largest event or status payload, in bytes (JSON).
pub const MAX_EVENT_PAYLOAD: usize = 64 * 1024;

/// Largest camera configuration payload, in bytes (JSON). A configuration
/// at the line, zone and vertex limits below, with 64-character ids and
/// names, stays under three quarters of it.
pub const MAX_CONFIG_PAYLOAD: usize = 64 * 1024;

/// Largest camera frame payload (snapshot or live frame: JSON with a
/// base64 JPEG), in bytes. A detector-sized JPEG (about 512 × 288) is
/// 15–40 KiB; the edge lowers the quality until it fits.
pub const MAX_FRAME_PAYLOAD: usize = 160 * 1024;

/// Largest request payload (central → edge), in bytes.
pub const MAX_REQUEST_PAYLOAD: usize = 1024;

/// Most person boxes one live frame carries.
pub const MAX_FRAME_BOXES: usize = 64;

/// Most live frames per second an edge agent sends.
pub const MAX_LIVE_FPS: f64 = 2.0;

/// Longest a live request lasts without renewal, in seconds.
pub const MAX_LIVE_FOR_S: u32 = 120;

/// Most counting lines in one camera configuration.
pub const MAX_LINES: usize = 32;

/// Most zones in one camera configuration.
pub const MAX_ZONES: usize = 32;

/// Most vertices of one zone polygon.
pub const MAX_ZONE_VERTICES: usize = 32;

/// The broker's `message_size_limit`: largest payload it accepts at all.
pub const BROKER_MESSAGE_LIMIT: usize = 256 * 1024;

/// The broker's `max_packet_size`: largest whole MQTT packet (payload,
/// topic of up to 64 KiB, properties) it accepts from a client.
pub const BROKER_MAX_PACKET: u32 = 384 * 1024;

/// Largest incoming packet every Atrium MQTT client accepts (rumqttc's
/// default is 10 KiB): above what the broker forwards, with headroom for the
/// properties the broker adds when forwarding.
pub const CLIENT_MAX_PACKET: u32 = BROKER_MAX_PACKET + 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layers_are_ordered() {
        const {
            assert!(MAX_EVENT_PAYLOAD < BROKER_MESSAGE_LIMIT);
            assert!(MAX_CONFIG_PAYLOAD < BROKER_MESSAGE_LIMIT);
            assert!(MAX_FRAME_PAYLOAD < BROKER_MESSAGE_LIMIT);
            // 64 KiB of topic plus a few KiB of properties fit between the
            // payload limit and the packet limit.
            assert!(BROKER_MESSAGE_LIMIT as u32 + 64 * 1024 + 4096 < BROKER_MAX_PACKET);
            assert!(BROKER_MAX_PACKET < CLIENT_MAX_PACKET);
        }
    }
}
