//! Adaptive load control, following the planning document's throttling
//! steps: when the CPU (or inference latency) is over budget, first detect
//! less often and slow face work, then pause face work; recover one step at
//! a time when load falls back under 70 %.
//!
//! | level | detection | faces |
//! |---|---|---|
//! | 0 | every `base_every` frames | every `face_interval` |
//! | 1 | every `base_every` frames | every 2 × `face_interval` |
//! | 2 | every 2 × `base_every` | every 2 × `face_interval` |
//! | 3 | every 2 × `base_every` | paused |
//! | 4 (minimal) | every 3 × `base_every` | paused |
//!
//! Pure: measurements in, a level out; the pipeline applies it.

/// Thresholds (percent CPU; latency as a fraction of the frame interval).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveConfig {
    /// Warning: step up one level above this CPU %.
    pub cpu_warning: f32,
    /// Critical: step up two levels above this CPU %.
    pub cpu_critical: f32,
    /// Recover one level per tick below this CPU %.
    pub cpu_recover: f32,
    /// Seconds between decisions.
    pub interval_s: f32,
    /// Detect on every Nth frame at level 0.
    pub base_every: u32,
    /// Allow the controller to change anything at all.
    pub enabled: bool,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        Self {
            cpu_warning: 80.0,
            cpu_critical: 90.0,
            cpu_recover: 70.0,
            interval_s: 5.0,
            base_every: 1,
            enabled: true,
        }
    }
}

/// One tick's measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// System CPU use, percent of all cores.
    pub cpu_percent: f32,
    /// Median detection time divided by the time available per detected
    /// frame (1.0 = exactly at budget).
    pub latency_ratio: f32,
}

/// What the pipeline should do at a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub level: u8,
    pub detect_every: u32,
    /// Multiplier on the face interval; `None` = face work paused.
    pub face_slowdown: Option<u32>,
}

pub const MAX_LEVEL: u8 = 4;

/// The controller.
#[derive(Debug, Clone)]
pub struct Controller {
    config: AdaptiveConfig,
    level: u8,
}

impl Controller {
    pub fn new(config: AdaptiveConfig) -> Self {
        Self { config, level: 0 }
    }

    pub fn level(&self) -> u8 {
        self.level
    }

    /// The plan for the current level.
    pub fn plan(&self) -> Plan {
        let b = self.config.base_every.max(1);
        let (detect_every, face_slowdown) = match self.level {
            0 => (b, Some(1)),
            1 => (b, Some(2)),
            2 => (2 * b, Some(2)),
            3 => (2 * b, None),
            _ => (3 * b, None),
        };
        Plan {
            level: self.level,
            detect_every,
            face_slowdown,
        }
    }

    /// Decides the next level from a tick's load.
    pub fn tick(&mut self, load: Load) -> Plan {
        if !self.config.enabled {
            return self.plan();
        }
        let c = &self.config;
        let step_up = if load.cpu_percent > c.cpu_critical || load.latency_ratio > 1.5 {
            2
        } else if load.cpu_percent > c.cpu_warning || load.latency_ratio > 1.0 {
            1
        } else {
            0
        };
        if step_up > 0 {
            self.level = (self.level + step_up).min(MAX_LEVEL);
        } else if load.cpu_percent < c.cpu_recover && load.latency_ratio < 0.8 {
            self.level = self.level.saturating_sub(1);
        }
        self.plan()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(cpu: f32) -> Load {
        Load {
            cpu_percent: cpu,
            latency_ratio: 0.5,
        }
    }

    #[test]
    fn warning_slows_faces_first_then_detection() {
        let mut c = Controller::new(AdaptiveConfig::default());
        assert_eq!(
            c.tick(load(85.0)),
            Plan {
                level: 1,
                detect_every: 1,
                face_slowdown: Some(2)
            }
        );
        assert_eq!(
            c.tick(load(85.0)),
            Plan {
                level: 2,
                detect_every: 2,
                face_slowdown: Some(2)
            }
        );
    }

    #[test]
    fn critical_jumps_two_levels_and_pauses_faces() {
        let mut c = Controller::new(AdaptiveConfig::default());
        c.tick(load(85.0));
        let p = c.tick(load(95.0));
        assert_eq!(p.level, 3);
        assert_eq!(p.face_slowdown, None);
        assert_eq!(
            c.tick(load(99.0)).level,
            MAX_LEVEL,
            "never beyond minimal mode"
        );
        assert_eq!(c.plan().detect_every, 3);
    }

    #[test]
    fn recovery_is_gradual_and_needs_cpu_under_70() {
        let mut c = Controller::new(AdaptiveConfig::default());
        c.tick(load(95.0));
        c.tick(load(95.0));
        assert_eq!(c.level(), 4);
        assert_eq!(c.tick(load(75.0)).level, 4, "between 70 and 80: hold");
        let levels: Vec<u8> = (0..5).map(|_| c.tick(load(40.0)).level).collect();
        assert_eq!(levels, vec![3, 2, 1, 0, 0]);
    }

    #[test]
    fn slow_inference_counts_like_high_cpu() {
        let mut c = Controller::new(AdaptiveConfig::default());
        let p = c.tick(Load {
            cpu_percent: 30.0,
            latency_ratio: 1.2,
        });
        assert_eq!(p.level, 1);
        let p = c.tick(Load {
            cpu_percent: 30.0,
            latency_ratio: 2.0,
        });
        assert_eq!(p.level, 3);
    }

    #[test]
    fn base_rate_scales_every_level_and_disabled_holds() {
        let mut c = Controller::new(AdaptiveConfig {
            base_every: 3,
            ..Default::default()
        });
        assert_eq!(c.plan().detect_every, 3);
        c.tick(load(95.0));
        assert_eq!(c.plan().detect_every, 6);
        let mut off = Controller::new(AdaptiveConfig {
            enabled: false,
            ..Default::default()
        });
        assert_eq!(off.tick(load(99.0)).level, 0);
    }
}
