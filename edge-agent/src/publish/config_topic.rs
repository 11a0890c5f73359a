//! The camera's configuration topic: central publishes lines and zones
//! retained; the publisher's connection receives them and hands each newer
//! version to the pipeline. A configuration that does not parse or check
//! is refused and counted, and the current one stays.

use atrium_proto::CameraConfig;

use super::Driver;
use crate::internal_events::{ConfigRefused, InternalEvent};

impl Driver {
    pub(super) fn on_config(&mut self, payload: &[u8]) {
        if payload.is_empty() {
            return; // a cleared retained message
        }
        let config = match CameraConfig::parse(payload) {
            Ok(c) => c,
            Err(error) => {
                ConfigRefused {
                    error: &error,
                    bytes: payload.len(),
                    topic: &self.config_topic,
                }
                .emit(&self.shared.metrics);
                return;
            }
        };
        if self.config_version.is_some_and(|v| config.version <= v) {
            return;
        }
        self.config_version = Some(config.version);
        tracing::info!(
            version = config.version,
            lines = config.lines.len(),
            zones = config.zones.len(),
            "camera configuration received"
        );
        // The pipeline has stopped: nothing is left to apply it to.
        let _ = self.config_tx.send(config);
    }
}
