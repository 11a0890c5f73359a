//! The building a demo (and anyone trying Atrium without a building) is
//! fed from: deterministic, seeded devices that publish what real gateways
//! would. `atrium-iot-sim` (`central/src/bin/atrium-iot-sim.rs`) connects
//! each device with its own certificate and publishes what [`Fleet::tick`]
//! returns; this module is the model alone, so tests can check it without
//! a broker.
//!
//! The building: a main meter with sub-meters (floors, plant) that cover
//! about 85 % of it, so the "unmetered" remainder is visible; daily load
//! shapes (a night base load, office hours on weekdays rising to a peak,
//! weekends low) in the site's local time; lighting circuits that follow
//! the counted occupancy when it is given (otherwise office hours); two
//! lifts moving between floors; a door controller granting and now and then
//! denying badges; a fire panel with three zones, a weekly test (test mode
//! with a pre-alarm) and one alarm scenario (a zone in alarm for two
//! minutes, then back to normal) at a configurable time.
//! The same seed and the same times give the same payloads.

use chrono::{DateTime, Datelike, Duration, FixedOffset, Offset, Timelike, Utc, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use atrium_proto::iot::DeviceKind;
use atrium_proto::topic::DeviceChannel;

/// A simulated device, as an installer registers it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimDevice {
    pub id: String,
    pub kind: DeviceKind,
    pub name: String,
    pub parent: Option<String>,
    pub location: String,
    pub floor: i32,
}

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    pub device: String,
    pub kind: DeviceKind,
    pub channel: DeviceChannel,
    pub retain: bool,
    pub payload: Value,
}

/// What the fleet is made of.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    /// Power meters: one main meter and `meters - 1` sub-meters (at
    /// least 1).
    pub meters: usize,
    /// The site's offset from UTC, for the load shapes' office hours.
    pub utc_offset: FixedOffset,
    /// Seconds between telemetry points.
    pub interval_s: u32,
    /// When the alarm scenario starts (none: never).
    pub alarm_at: Option<DateTime<Utc>>,
    /// Device ids are prefixed with this (several simulated buildings on
    /// one broker).
    pub prefix: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            meters: 4,
            utc_offset: Utc.fix(),
            interval_s: 10,
            alarm_at: None,
            prefix: String::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct Meter {
    id: String,
    /// Share of the main meter's load (the main meter: 1).
    share: f64,
    register_kwh: f64,
    last_kw: f64,
}

#[derive(Debug, Clone)]
struct Lift {
    id: String,
    floor: i32,
    target: i32,
    trips: u64,
    floors: (i32, i32),
}

/// The simulated building.
#[derive(Debug, Clone)]
pub struct Fleet {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    devices: Vec<SimDevice>,
    meters: Vec<Meter>,
    lifts: Vec<Lift>,
    lighting: String,
    circuits: Vec<String>,
    doors: String,
    panel: String,
    zones: Vec<(String, &'static str)>,
    seq: u64,
    last: Option<DateTime<Utc>>,
}

/// Office hours' load relative to the peak, by local time: 0.25 at night,
/// ramping up from 07:00 to a plateau 09:00–17:00, down by 19:00; at
/// weekends 0.3 at most.
pub fn load_shape(local: DateTime<FixedOffset>) -> f64 {
    let h = f64::from(local.hour()) + f64::from(local.minute()) / 60.0;
    let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
    let day = if !(7.0..19.0).contains(&h) {
        0.0
    } else if h < 9.0 {
        (h - 7.0) / 2.0
    } else if h < 17.0 {
        1.0
    } else {
        (19.0 - h) / 2.0
    };
    let base = 0.25;
    if weekend {
        base + 0.05 * day
    } else {
        base + 0.75 * day
    }
}

impl Fleet {
    pub fn new(cfg: SimConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let p = &cfg.prefix;
        let n = cfg.meters.max(1);
        let main = format!("{p}meter-main");
        let mut devices = vec![SimDevice {
            id: main.clone(),
            kind: DeviceKind::PowerMeter,
            name: "Main incomer".into(),
            parent: None,
            location: "LV switch room".into(),
            floor: -1,
        }];
        let mut meters = vec![Meter {
            id: main.clone(),
            share: 1.0,
            register_kwh: rng.random_range(10_000.0..90_000.0),
            last_kw: 0.0,
        }];
        // Sub-meters share 85 % of the main load, unevenly.
        let weights: Vec<f64> = (1..n).map(|_| rng.random_range(0.5..1.5)).collect();
        let total: f64 = weights.iter().sum();
        for (i, w) in weights.iter().enumerate() {
            let id = format!("{p}meter-{}", i + 1);
            devices.push(SimDevice {
                id: id.clone(),
                kind: DeviceKind::PowerMeter,
                name: if i == 0 {
                    "Plant room".into()
                } else {
                    format!("Floor {i} distribution board")
                },
                parent: Some(main.clone()),
                location: if i == 0 {
                    "Plant room".into()
                } else {
                    format!("Riser, floor {i}")
                },
                floor: i32::try_from(i).unwrap_or(0),
            });
            meters.push(Meter {
                id,
                share: 0.85 * w / total,
                register_kwh: rng.random_range(1_000.0..20_000.0),
                last_kw: 0.0,
            });
        }
        let lifts: Vec<Lift> = ["a", "b"]
            .iter()
            .map(|l| Lift {
                id: format!("{p}lift-{l}"),
                floor: 0,
                target: 0,
                trips: rng.random_range(1_000..50_000),
                floors: (-1, 6),
            })
            .collect();
        for (l, name) in lifts.iter().zip(["Lift A", "Lift B"]) {
            devices.push(SimDevice {
                id: l.id.clone(),
                kind: DeviceKind::Lift,
                name: name.into(),
                parent: None,
                location: "Core".into(),
                floor: 0,
            });
        }
        let lighting = format!("{p}lighting");
        let doors = format!("{p}doors");
        let panel = format!("{p}fire-panel");
        devices.extend([
            SimDevice {
                id: lighting.clone(),
                kind: DeviceKind::Lighting,
                name: "Lighting controller".into(),
                parent: None,
                location: "Electrical cupboard".into(),
                floor: 0,
            },
            SimDevice {
                id: doors.clone(),
                kind: DeviceKind::Access,
                name: "Door controller".into(),
                parent: None,
                location: "Reception".into(),
                floor: 0,
            },
            SimDevice {
                id: panel.clone(),
                kind: DeviceKind::Fire,
                name: "Fire panel".into(),
                parent: None,
                location: "Reception".into(),
                floor: 0,
            },
        ]);
        Self {
            rng,
            devices,
            meters,
            lifts,
            lighting,
            circuits: vec!["lobby".into(), "floor-1".into(), "floor-2".into()],
            doors,
            panel,
            zones: vec![
                ("ground-floor".into(), "normal"),
                ("floor-1".into(), "normal"),
                ("plant-room".into(), "normal"),
            ],
            seq: 0,
            last: None,
            cfg,
        }
    }

    /// Every device, for provisioning.
    pub fn devices(&self) -> &[SimDevice] {
        &self.devices
    }

    fn publication(
        &self,
        device: &str,
        kind: DeviceKind,
        channel: DeviceChannel,
        payload: Value,
    ) -> Publication {
        Publication {
            device: device.to_owned(),
            kind,
            channel,
            retain: matches!(channel, DeviceChannel::Birth | DeviceChannel::Status),
            payload,
        }
    }

    /// What each device says when it connects: its birth and `online`.
    pub fn hello(&self, now: DateTime<Utc>) -> Vec<Publication> {
        let interval = self.cfg.interval_s;
        let mut out = Vec::new();
        for d in &self.devices {
            let points = match d.kind {
                DeviceKind::PowerMeter => json!([
                    {"name": "energy_import_kwh", "unit": "kWh", "meaning": "total_increasing", "interval_s": interval, "rollover": 1e9},
                    {"name": "power_kw", "unit": "kW", "meaning": "measurement", "interval_s": interval},
                    {"name": "voltage_v", "unit": "V", "meaning": "measurement", "interval_s": interval},
                ]),
                DeviceKind::Lift => json!([
                    {"name": "floor", "unit": "", "meaning": "measurement", "interval_s": interval},
                    {"name": "trips", "unit": "", "meaning": "total_increasing", "interval_s": interval},
                ]),
                DeviceKind::Lighting => json!([
                    {"name": "level_percent", "unit": "%", "meaning": "measurement", "interval_s": interval},
                ]),
                DeviceKind::Access => json!([
                    {"name": "state", "unit": "", "meaning": "measurement", "interval_s": interval},
                ]),
                DeviceKind::Fire => json!([
                    {"name": "state", "unit": "", "meaning": "measurement", "interval_s": interval},
                ]),
            };
            out.push(self.publication(
                &d.id,
                d.kind,
                DeviceChannel::Birth,
                json!({"schema": 1, "ts": now, "model": format!("Atrium simulated {}", d.kind.as_str()), "firmware": "1.0", "points": points}),
            ));
            out.push(self.publication(
                &d.id,
                d.kind,
                DeviceChannel::Status,
                json!({"schema": 1, "ts": now, "state": "online"}),
            ));
        }
        out
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Everything the devices publish at `now` (one telemetry point each,
    /// plus events). `occupancy`: people counted in the building now, if
    /// known (lighting follows it; else office hours).
    pub fn tick(&mut self, now: DateTime<Utc>, occupancy: Option<u32>) -> Vec<Publication> {
        let dt_h = self.last.map_or(0.0, |l| {
            (now - l).num_milliseconds().max(0) as f64 / 3_600_000.0
        });
        self.last = Some(now);
        let local = now.with_timezone(&self.cfg.utc_offset);
        let shape = load_shape(local);
        let mut out = Vec::new();

        // Meters: each sub-meter its share of the main load with noise; the
        // main meter the sum plus what no sub-meter covers.
        let peak_kw = 180.0;
        let mut sub_total = 0.0;
        for i in 1..self.meters.len() {
            let noise = self.rng.random_range(0.92..1.08);
            let kw = peak_kw * shape * self.meters[i].share * noise;
            sub_total += kw;
            self.meters[i].last_kw = kw;
        }
        let unmetered = peak_kw
            * shape
            * (1.0 - self.meters.iter().skip(1).map(|m| m.share).sum::<f64>())
            * self.rng.random_range(0.9..1.1);
        self.meters[0].last_kw = sub_total + unmetered;
        for i in 0..self.meters.len() {
            let m = &mut self.meters[i];
            // The energy since the last point at the mean of the two powers
            // would need the last; the new power over the step is close.
            m.register_kwh += m.last_kw * dt_h;
            let (id, kwh, kw) = (m.id.clone(), m.register_kwh, m.last_kw);
            let volts = self.rng.random_range(228.0..232.0);
            let seq = self.next_seq();
            out.push(self.publication(
                &id,
                DeviceKind::PowerMeter,
                DeviceChannel::Telemetry,
                json!({"schema": 1, "ts": now, "seq": seq, "values": {
                    "energy_import_kwh": round(kwh, 3), "power_kw": round(kw, 3),
                    "voltage_v": round(volts, 1), "current_a": round(kw * 1000.0 / volts / 3f64.sqrt() / 0.95, 1),
                    "power_factor": 0.95}}),
            ));
        }

        // Lighting: on where people are (or in office hours), dimmed by
        // how many.
        let busy = match occupancy {
            Some(n) => (f64::from(n) / 10.0).min(1.0),
            None => (shape - 0.25) / 0.75,
        };
        let circuits = self.circuits.clone();
        let mut points = Vec::new();
        for (i, c) in circuits.iter().enumerate() {
            let on = busy > 0.05 || i == 0;
            let level = if on {
                (30.0 + 70.0 * busy).min(100.0)
            } else {
                0.0
            };
            let seq = self.next_seq();
            points.push(json!({"schema": 1, "ts": now, "seq": seq, "values": {
                "circuit": c, "on": on, "level_percent": round(level, 0), "power_kw": round(level / 100.0 * 3.0, 2)}}));
        }
        let lighting = self.lighting.clone();
        out.push(self.publication(
            &lighting,
            DeviceKind::Lighting,
            DeviceChannel::Telemetry,
            Value::Array(points),
        ));

        // Lifts: busier in office hours; one floor per tick towards a target.
        for i in 0..self.lifts.len() {
            let busy_now = self.rng.random_bool((0.2 + 0.6 * busy).clamp(0.0, 1.0));
            let l = &mut self.lifts[i];
            if l.floor == l.target && busy_now {
                l.target = self.rng.random_range(l.floors.0..=l.floors.1);
                if l.target != l.floor {
                    l.trips += 1;
                }
            }
            let direction = match l.target.cmp(&l.floor) {
                std::cmp::Ordering::Greater => {
                    l.floor += 1;
                    "up"
                }
                std::cmp::Ordering::Less => {
                    l.floor -= 1;
                    "down"
                }
                std::cmp::Ordering::Equal => "idle",
            };
            let door = if direction == "idle" {
                "open"
            } else {
                "closed"
            };
            let (id, floor, trips) = (l.id.clone(), l.floor, l.trips);
            let seq = self.next_seq();
            out.push(self.publication(
                &id,
                DeviceKind::Lift,
                DeviceChannel::Telemetry,
                json!({"schema": 1, "ts": now, "seq": seq, "values": {
                    "floor": floor, "direction": direction, "door": door, "mode": "normal", "trips": trips}}),
            ));
        }

        // Doors: badges in office hours, now and then a denied one.
        let doors = self.doors.clone();
        if self.rng.random_bool((0.05 + 0.5 * busy).clamp(0.0, 1.0)) {
            let badge = self.rng.random_range(1..=40u32);
            let outcome = if self.rng.random_bool(0.05) {
                "denied"
            } else {
                "granted"
            };
            let hash = hex::encode(Sha256::digest(format!("badge-{badge}").as_bytes()));
            let seq = self.next_seq();
            let direction = if local.hour() < 13 { "in" } else { "out" };
            out.push(self.publication(
                &doors,
                DeviceKind::Access,
                DeviceChannel::Event,
                json!({"schema": 1, "ts": now, "seq": seq, "severity": if outcome == "denied" { "warning" } else { "info" },
                       "event": {"type": "access", "data": {"door": "main-entrance", "outcome": outcome, "credential_hash": hash, "direction": direction}}}),
            ));
        }
        let seq = self.next_seq();
        out.push(self.publication(
            &doors,
            DeviceKind::Access,
            DeviceChannel::Telemetry,
            json!({"schema": 1, "ts": now, "seq": seq, "values": {"door": "main-entrance", "state": "closed", "locked": busy < 0.05}}),
        ));

        // Fire panel: the weekly test (Mondays 10:00–10:05 local: test
        // mode, a pre-alarm in the ground floor zone), and the alarm
        // scenario (plant room in alarm for two minutes).
        let testing = local.weekday() == Weekday::Mon && local.hour() == 10 && local.minute() < 5;
        let alarm = self
            .cfg
            .alarm_at
            .is_some_and(|t| now >= t && now < t + Duration::minutes(2));
        let mut points = Vec::new();
        let panel = self.panel.clone();
        let mut events = Vec::new();
        for z in 0..self.zones.len() {
            let (zone, before) = (self.zones[z].0.clone(), self.zones[z].1);
            let state = if alarm && zone == "plant-room" {
                "alarm"
            } else if testing && zone == "ground-floor" {
                "pre_alarm"
            } else {
                "normal"
            };
            if state == "alarm" && before != "alarm" {
                events.push(json!({"type": "alarm", "data": {"text": format!("Smoke detector, zone {zone}")}}));
            }
            self.zones[z].1 = state;
            let seq = self.next_seq();
            points.push(json!({"schema": 1, "ts": now, "seq": seq, "values": {"zone": zone, "state": state, "test_mode": testing}}));
        }
        out.push(self.publication(
            &panel,
            DeviceKind::Fire,
            DeviceChannel::Telemetry,
            Value::Array(points),
        ));
        for e in events {
            let seq = self.next_seq();
            out.push(self.publication(
                &panel,
                DeviceKind::Fire,
                DeviceChannel::Event,
                json!({"schema": 1, "ts": now, "seq": seq, "severity": "critical", "ack_required": true, "event": e}),
            ));
        }
        out
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn run(cfg: SimConfig, from: &str, ticks: i64) -> Vec<Publication> {
        let mut f = Fleet::new(cfg);
        let start = at(from);
        let mut out = f.hello(start);
        for i in 0..ticks {
            out.extend(f.tick(start + Duration::seconds(10 * i), None));
        }
        out
    }

    #[test]
    fn the_same_seed_gives_the_same_building_and_another_a_different_one() {
        let a = run(SimConfig::default(), "2026-12-07T09:00:00Z", 30);
        let b = run(SimConfig::default(), "2026-12-07T09:00:00Z", 30);
        assert_eq!(a, b);
        let c = run(
            SimConfig {
                seed: 8,
                ..SimConfig::default()
            },
            "2026-12-07T09:00:00Z",
            30,
        );
        assert_ne!(a, c);
    }

    #[test]
    fn every_payload_is_what_central_accepts() {
        let f = Fleet::new(SimConfig {
            alarm_at: Some(at("2026-12-07T10:00:30Z")),
            ..SimConfig::default()
        });
        let pubs = run(
            SimConfig {
                alarm_at: Some(at("2026-12-07T10:00:30Z")),
                ..SimConfig::default()
            },
            "2026-12-07T09:59:00Z",
            40,
        );
        let devices: atrium_proto::validate_device::Devices = f
            .devices()
            .iter()
            .map(|d| {
                (
                    atrium_proto::DeviceId::new(d.id.clone()).unwrap(),
                    atrium_proto::validate_device::KnownDevice {
                        site: atrium_proto::SiteId::new("hq").unwrap(),
                        kind: d.kind,
                        enabled: true,
                    },
                )
            })
            .collect();
        for p in &pubs {
            let topic = atrium_proto::topic::device(
                &atrium_proto::SiteId::new("hq").unwrap(),
                p.kind.as_str(),
                &atrium_proto::DeviceId::new(p.device.clone()).unwrap(),
                p.channel,
            );
            let bytes = serde_json::to_vec(&p.payload).unwrap();
            assert!(
                atrium_proto::validate_device::validate_device(&topic, &bytes, 65_536, &devices)
                    .is_ok(),
                "{topic}: {}",
                p.payload
            );
        }
        // The alarm scenario happened: one alarm event.
        let alarms = pubs
            .iter()
            .filter(|p| p.channel == DeviceChannel::Event && p.payload["event"]["type"] == "alarm")
            .count();
        assert_eq!(alarms, 1);
    }

    #[test]
    fn registers_grow_and_sub_meters_leave_a_remainder() {
        let pubs = run(SimConfig::default(), "2026-12-07T10:00:00Z", 60);
        let series = |id: &str, field: &str| -> Vec<f64> {
            pubs.iter()
                .filter(|p| p.device == id && p.channel == DeviceChannel::Telemetry)
                .map(|p| p.payload["values"][field].as_f64().unwrap())
                .collect()
        };
        let main = series("meter-main", "energy_import_kwh");
        assert!(main.windows(2).all(|w| w[1] >= w[0]));
        assert!(main.last().unwrap() > main.first().unwrap());
        let main_kw = series("meter-main", "power_kw");
        let subs_kw: f64 = (1..4)
            .map(|i| series(&format!("meter-{i}"), "power_kw")[10])
            .sum();
        assert!(
            subs_kw < main_kw[10] && subs_kw > 0.7 * main_kw[10],
            "{subs_kw} of {}",
            main_kw[10]
        );
    }

    #[test]
    fn office_hours_draw_more_than_nights_and_weekends() {
        let off = FixedOffset::east_opt(0).unwrap();
        let t = |s: &str| at(s).with_timezone(&off);
        // Monday 7 December 2026.
        assert!(
            load_shape(t("2026-12-07T11:00:00Z")) > 3.0 * load_shape(t("2026-12-07T03:00:00Z"))
        );
        assert!(load_shape(t("2026-12-12T11:00:00Z")) < 0.35);
        assert!((load_shape(t("2026-12-07T08:00:00Z")) - 0.625).abs() < 1e-9);
    }
}
