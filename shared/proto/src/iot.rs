//! The building systems' wire contract: what power meters, lighting,
//! lifts, access control and fire panels (through their gateways) publish
//! under `atrium/v1/{site}/iot/{kind}/{device}/{channel}`.
//!
//! Shaped like the ThingsBoard device API (a timestamp and a map of named
//! values, one point or an array of them), which common Modbus, BACnet and
//! OPC-UA gateways can be templated to emit, with a Sparkplug-style
//! lifecycle: a retained `birth` describing the device's points, a
//! retained `status` that is also the last will, telemetry, and events.
//! The values are typed per kind here, at the edge of the system, so that
//! a gateway's mistake (a string where a number belongs, a power factor of
//! 7, an unknown field) is refused with a reason instead of being stored.
//! Points carry the device's own timestamps: late and out-of-order points
//! are accepted, and `(device, ts)` identifies a point, so a resent point
//! is stored once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Points one telemetry message may carry (a gateway's backlog after an
/// outage is sent in several messages). 200 points of a power meter's six
/// values stay well inside the 64 KiB payload limit
/// ([`crate::limits::MAX_EVENT_PAYLOAD`]) that also applies.
pub const MAX_POINTS: usize = 200;
/// Longest text value (names, ids, models, descriptions).
pub const MAX_TEXT: usize = 200;

/// The kinds of device Atrium understands (the topic's `{kind}` level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    PowerMeter,
    Lighting,
    Lift,
    Access,
    Fire,
}

impl DeviceKind {
    pub const ALL: [Self; 5] = [
        Self::PowerMeter,
        Self::Lighting,
        Self::Lift,
        Self::Access,
        Self::Fire,
    ];

    /// The spelling in topics, payloads and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PowerMeter => "power_meter",
            Self::Lighting => "lighting",
            Self::Lift => "lift",
            Self::Access => "access",
            Self::Fire => "fire",
        }
    }

    /// The kind a topic level names, if Atrium knows it.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Why an IoT payload is refused (stored as the dead letter's reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IotError {
    #[error("payload is not valid JSON for {what}: {detail}")]
    Json { what: &'static str, detail: String },
    #[error("unsupported schema version {0} (this central understands 1)")]
    Schema(u32),
    #[error("a telemetry message holds {0} points, more than the {MAX_POINTS} allowed")]
    TooManyPoints(usize),
    #[error("a telemetry message holds no point")]
    NoPoints,
    #[error("{field}: {reason}")]
    Value { field: String, reason: String },
}

fn json_err(what: &'static str) -> impl Fn(serde_json::Error) -> IotError {
    move |e| IotError::Json {
        what,
        detail: e.to_string(),
    }
}

fn value_err(field: &str, reason: impl Into<String>) -> IotError {
    IotError::Value {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn check_schema(schema: u32) -> Result<(), IotError> {
    if schema == crate::SCHEMA_VERSION {
        Ok(())
    } else {
        Err(IotError::Schema(schema))
    }
}

fn check_text(field: &str, s: &str) -> Result<(), IotError> {
    if s.is_empty() || s.chars().count() > MAX_TEXT || s.chars().any(char::is_control) {
        return Err(value_err(
            field,
            format!("must be 1 to {MAX_TEXT} characters without control characters"),
        ));
    }
    Ok(())
}

/// A finite number within `range` (inclusive).
fn check_number(
    field: &str,
    v: Option<f64>,
    range: std::ops::RangeInclusive<f64>,
) -> Result<(), IotError> {
    match v {
        Some(x) if !x.is_finite() || !range.contains(&x) => Err(value_err(
            field,
            format!("{x} is outside {}..={}", range.start(), range.end()),
        )),
        _ => Ok(()),
    }
}

/// A power meter's readings. Energy registers are cumulative (they only
/// grow, until the meter is reset or the register rolls over; central
/// detects both and never counts them as negative use).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerMeterValues {
    /// Imported energy register, kWh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_import_kwh: Option<f64>,
    /// Exported energy register (solar, regenerative lifts), kWh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_export_kwh: Option<f64>,
    /// Active power, kW (negative while exporting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_kw: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voltage_v: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_a: Option<f64>,
    /// -1..1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_factor: Option<f64>,
}

impl PowerMeterValues {
    fn check(&self) -> Result<(), IotError> {
        // Bounds a real building meter stays far inside; they only catch
        // a gateway's unit or scaling mistakes.
        check_number("energy_import_kwh", self.energy_import_kwh, 0.0..=1e12)?;
        check_number("energy_export_kwh", self.energy_export_kwh, 0.0..=1e12)?;
        check_number("power_kw", self.power_kw, -1e6..=1e6)?;
        check_number("voltage_v", self.voltage_v, 0.0..=1e6)?;
        check_number("current_a", self.current_a, 0.0..=1e6)?;
        check_number("power_factor", self.power_factor, -1.0..=1.0)?;
        Ok(())
    }
}

/// A lighting circuit or zone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LightingValues {
    /// The circuit or zone within the device (a gateway may front many).
    pub circuit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<bool>,
    /// Dimming level, 0..100 %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_kw: Option<f64>,
}

impl LightingValues {
    fn check(&self) -> Result<(), IotError> {
        check_text("circuit", &self.circuit)?;
        check_number("level_percent", self.level_percent, 0.0..=100.0)?;
        check_number("power_kw", self.power_kw, 0.0..=1e5)?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiftDirection {
    Up,
    Down,
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoorState {
    Open,
    Closed,
    Opening,
    Closing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiftMode {
    Normal,
    Maintenance,
    Fault,
}

/// A lift car.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiftValues {
    /// Floor number (negative below ground).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<LiftDirection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door: Option<DoorState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<LiftMode>,
    /// Trips register (cumulative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trips: Option<u64>,
}

impl LiftValues {
    fn check(&self) -> Result<(), IotError> {
        if let Some(f) = self.floor
            && !(-50..=300).contains(&f)
        {
            return Err(value_err("floor", format!("{f} is outside -50..=300")));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FireState {
    Normal,
    PreAlarm,
    Alarm,
    Fault,
    Isolated,
    Disabled,
}

/// A fire panel's zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FireValues {
    pub zone: String,
    pub state: FireState,
    /// The panel is in test mode: alarms are tests, not fires.
    #[serde(default)]
    pub test_mode: bool,
}

impl FireValues {
    fn check(&self) -> Result<(), IotError> {
        check_text("zone", &self.zone)
    }
}

/// What a door controller reports about one door (telemetry: its state;
/// the access decisions themselves are events, [`AccessEvent`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessValues {
    pub door: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<DoorState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
}

impl AccessValues {
    fn check(&self) -> Result<(), IotError> {
        check_text("door", &self.door)
    }
}

/// One point's values, typed by the device's kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Values {
    PowerMeter(PowerMeterValues),
    Lighting(LightingValues),
    Lift(LiftValues),
    Access(AccessValues),
    Fire(FireValues),
}

/// One telemetry point as published (`values` still untyped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPoint {
    pub schema: u32,
    /// The device speaking, if the gateway names it; it must be the
    /// topic's device (a payload for another device is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<crate::DeviceId>,
    /// The device's own timestamp of the readings.
    pub ts: DateTime<Utc>,
    /// The device's sequence number (diagnostics: gaps show lost points).
    pub seq: u64,
    pub values: serde_json::Value,
}

/// A checked telemetry point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The device the payload named, if any (checked against the topic
    /// by ingest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<crate::DeviceId>,
    pub ts: DateTime<Utc>,
    pub seq: u64,
    pub values: Values,
}

fn typed_values(kind: DeviceKind, v: serde_json::Value) -> Result<Values, IotError> {
    let what = "the kind's values";
    let values = match kind {
        DeviceKind::PowerMeter => {
            let x: PowerMeterValues = serde_json::from_value(v).map_err(json_err(what))?;
            x.check()?;
            Values::PowerMeter(x)
        }
        DeviceKind::Lighting => {
            let x: LightingValues = serde_json::from_value(v).map_err(json_err(what))?;
            x.check()?;
            Values::Lighting(x)
        }
        DeviceKind::Lift => {
            let x: LiftValues = serde_json::from_value(v).map_err(json_err(what))?;
            x.check()?;
            Values::Lift(x)
        }
        DeviceKind::Access => {
            let x: AccessValues = serde_json::from_value(v).map_err(json_err(what))?;
            x.check()?;
            Values::Access(x)
        }
        DeviceKind::Fire => {
            let x: FireValues = serde_json::from_value(v).map_err(json_err(what))?;
            x.check()?;
            Values::Fire(x)
        }
    };
    Ok(values)
}

/// Parses and checks a telemetry payload of a device of `kind`: every
/// point, or the first reason to refuse the message.
pub fn parse_telemetry(kind: DeviceKind, payload: &[u8]) -> Result<Vec<Point>, IotError> {
    // One point, or an array of them (a gateway's batch); told apart
    // first, so that a refusal names the field at fault.
    let raw: serde_json::Value = serde_json::from_slice(payload).map_err(json_err("telemetry"))?;
    let points: Vec<RawPoint> = if raw.is_array() {
        serde_json::from_value(raw).map_err(json_err("telemetry points"))?
    } else {
        vec![serde_json::from_value(raw).map_err(json_err("a telemetry point"))?]
    };
    if points.is_empty() {
        return Err(IotError::NoPoints);
    }
    if points.len() > MAX_POINTS {
        return Err(IotError::TooManyPoints(points.len()));
    }
    points
        .into_iter()
        .map(|p| {
            check_schema(p.schema)?;
            Ok(Point {
                device: p.device,
                ts: p.ts,
                seq: p.seq,
                values: typed_values(kind, p.values)?,
            })
        })
        .collect()
}

/// What a point's number means for aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointMeaning {
    /// A reading at an instant (power, voltage, level).
    Measurement,
    /// A register that only grows until reset (energy, trips).
    TotalIncreasing,
}

/// One point a device describes in its birth message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointSpec {
    /// The value's name in `values` (e.g. `energy_import_kwh`).
    pub name: String,
    pub unit: String,
    pub meaning: PointMeaning,
    /// How often the device publishes it, seconds (offline after three
    /// intervals without telemetry).
    pub interval_s: u32,
    /// For a `total_increasing` register: the value at which it wraps to
    /// zero (e.g. 100000 for a five-digit kWh register), so a rollover is
    /// counted exactly; without it a rollover counts as a reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollover: Option<f64>,
}

/// The retained birth message: what the device is and what it publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Birth {
    pub schema: u32,
    /// The device speaking, if the gateway names it; it must be the
    /// topic's device (a payload for another device is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<crate::DeviceId>,
    pub ts: DateTime<Utc>,
    pub model: String,
    pub firmware: String,
    pub points: Vec<PointSpec>,
}

/// Parses and checks a birth message.
pub fn parse_birth(payload: &[u8]) -> Result<Birth, IotError> {
    let b: Birth = serde_json::from_slice(payload).map_err(json_err("birth"))?;
    check_schema(b.schema)?;
    check_text("model", &b.model)?;
    check_text("firmware", &b.firmware)?;
    if b.points.len() > 64 {
        return Err(value_err("points", "at most 64 points"));
    }
    for p in &b.points {
        check_text("points.name", &p.name)?;
        if p.unit.chars().count() > 16 || p.unit.chars().any(char::is_control) {
            return Err(value_err("points.unit", "at most 16 characters"));
        }
        if !(1..=86_400).contains(&p.interval_s) {
            return Err(value_err("points.interval_s", "must be 1..=86400"));
        }
        if let Some(r) = p.rollover
            && !(r.is_finite() && r > 0.0 && r <= 1e15)
        {
            return Err(value_err("points.rollover", "must be a positive number"));
        }
    }
    Ok(b)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    Online,
    Offline,
}

/// The retained status, also the device's last will.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceStatus {
    pub schema: u32,
    /// The device speaking, if the gateway names it; it must be the
    /// topic's device (a payload for another device is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<crate::DeviceId>,
    pub ts: DateTime<Utc>,
    pub state: DeviceState,
}

/// Parses and checks a status message.
pub fn parse_status(payload: &[u8]) -> Result<DeviceStatus, IotError> {
    let s: DeviceStatus = serde_json::from_slice(payload).map_err(json_err("status"))?;
    check_schema(s.schema)?;
    Ok(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessOutcome {
    Granted,
    Denied,
    Forced,
    HeldOpen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassDirection {
    In,
    Out,
}

/// An access decision at a door. The credential is never sent in clear:
/// `credential_hash` is the gateway's hex SHA-256 of it (64 characters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessEvent {
    pub door: String,
    pub outcome: AccessOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<PassDirection>,
}

/// What an event is about: `{"type": "…", "data": {…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    content = "data",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum DeviceEventBody {
    /// A door's access decision (access controllers).
    Access(AccessEvent),
    /// An alarm (fire panels: a zone in alarm; any device: a limit crossed).
    Alarm { text: String },
    /// A fault (a lift out of service, a meter's communication error).
    Fault { text: String },
}

/// A device event (`…/event`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEvent {
    pub schema: u32,
    /// The device speaking, if the gateway names it; it must be the
    /// topic's device (a payload for another device is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<crate::DeviceId>,
    pub ts: DateTime<Utc>,
    pub seq: u64,
    pub severity: Severity,
    /// Whether staff must acknowledge it.
    #[serde(default)]
    pub ack_required: bool,
    pub event: DeviceEventBody,
}

/// Parses and checks an event of a device of `kind` (access decisions
/// only from access controllers).
pub fn parse_event(kind: DeviceKind, payload: &[u8]) -> Result<DeviceEvent, IotError> {
    let e: DeviceEvent = serde_json::from_slice(payload).map_err(json_err("event"))?;
    check_schema(e.schema)?;
    match &e.event {
        DeviceEventBody::Access(a) => {
            if kind != DeviceKind::Access {
                return Err(value_err(
                    "type",
                    format!(
                        "access events come from access devices, not {}",
                        kind.as_str()
                    ),
                ));
            }
            check_text("door", &a.door)?;
            if let Some(h) = &a.credential_hash
                && !(h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(value_err(
                    "credential_hash",
                    "must be a hex SHA-256 (64 characters), never the credential itself",
                ));
            }
        }
        DeviceEventBody::Alarm { text } | DeviceEventBody::Fault { text } => {
            check_text("text", text)?;
        }
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(r: Result<impl std::fmt::Debug, IotError>) -> String {
        r.expect_err("refused").to_string()
    }

    #[test]
    fn kinds_round_trip_their_spelling() {
        for k in DeviceKind::ALL {
            assert_eq!(DeviceKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
        }
        assert_eq!(DeviceKind::parse("toaster"), None);
        assert_eq!(DeviceKind::parse("power-meter"), None);
    }

    #[test]
    fn a_meter_point_and_a_batch_parse_to_typed_values() {
        let one = br#"{"schema":1,"ts":"2026-12-07T10:00:00Z","seq":7,
            "values":{"energy_import_kwh":1234.5,"power_kw":-2.5,"power_factor":0.97}}"#;
        let points = parse_telemetry(DeviceKind::PowerMeter, one).unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].seq, 7);
        assert_eq!(points[0].ts.to_rfc3339(), "2026-12-07T10:00:00+00:00");
        assert_eq!(
            points[0].values,
            Values::PowerMeter(PowerMeterValues {
                energy_import_kwh: Some(1234.5),
                power_kw: Some(-2.5),
                power_factor: Some(0.97),
                ..Default::default()
            })
        );
        // A batch, out of order: accepted as sent.
        let many = br#"[{"schema":1,"ts":"2026-12-07T10:01:00Z","seq":9,"values":{"on":true,"circuit":"L2","level_percent":40}},
                        {"schema":1,"ts":"2026-12-07T10:00:00Z","seq":8,"values":{"circuit":"L2","on":false}}]"#;
        let points = parse_telemetry(DeviceKind::Lighting, many).unwrap();
        assert_eq!(points.iter().map(|p| p.seq).collect::<Vec<_>>(), [9, 8]);
        assert_eq!(
            points[0].values,
            Values::Lighting(LightingValues {
                circuit: "L2".into(),
                on: Some(true),
                level_percent: Some(40.0),
                power_kw: None,
            })
        );
    }

    #[test]
    fn a_reading_reads_back_exactly_after_it_is_written_again() {
        // A long decimal is rounded to the nearest f64 once, on the way in;
        // written out and read again it must be that same f64 (serde_json's
        // float_roundtrip: its default parser can land one ULP off).
        let one = br#"{"schema":1,"ts":"2026-12-07T10:00:00Z","seq":7,
            "values":{"power_factor":0.98888888888888888888888888888888888888888888888888888888888887}}"#;
        let first = parse_telemetry(DeviceKind::PowerMeter, one).unwrap();
        let again = serde_json::json!({"schema": 1, "ts": first[0].ts, "seq": 7, "values": first[0].values});
        let back = parse_telemetry(DeviceKind::PowerMeter, again.to_string().as_bytes()).unwrap();
        assert_eq!(back[0].values, first[0].values);
        let Values::PowerMeter(v) = &first[0].values else {
            panic!("a power meter's values: {:?}", first[0].values);
        };
        assert_eq!(v.power_factor, Some(0.988_888_888_888_888_9));
    }

    #[test]
    fn each_kind_takes_its_own_values() {
        let lift = br#"{"schema":1,"ts":"2026-12-07T10:00:00Z","seq":1,
            "values":{"floor":-2,"direction":"up","door":"closed","mode":"normal","trips":88}}"#;
        assert_eq!(
            parse_telemetry(DeviceKind::Lift, lift).unwrap()[0].values,
            Values::Lift(LiftValues {
                floor: Some(-2),
                direction: Some(LiftDirection::Up),
                door: Some(DoorState::Closed),
                mode: Some(LiftMode::Normal),
                trips: Some(88),
            })
        );
        let fire = br#"{"schema":1,"ts":"2026-12-07T10:00:00Z","seq":1,
            "values":{"zone":"Z3 east stair","state":"pre_alarm","test_mode":true}}"#;
        assert_eq!(
            parse_telemetry(DeviceKind::Fire, fire).unwrap()[0].values,
            Values::Fire(FireValues {
                zone: "Z3 east stair".into(),
                state: FireState::PreAlarm,
                test_mode: true,
            })
        );
        let door = br#"{"schema":1,"ts":"2026-12-07T10:00:00Z","seq":1,"values":{"door":"D1","state":"open","locked":false}}"#;
        assert!(matches!(
            parse_telemetry(DeviceKind::Access, door).unwrap()[0].values,
            Values::Access(AccessValues { ref door, state: Some(DoorState::Open), locked: Some(false) }) if door == "D1"
        ));
        // A lift's values sent as a meter's: refused, naming a lift field
        // and the fields a meter has.
        let r = reason(parse_telemetry(DeviceKind::PowerMeter, lift));
        assert!(
            r.contains("unknown field `") && r.contains("`energy_import_kwh`"),
            "{r}"
        );
    }

    #[test]
    fn bad_telemetry_is_refused_with_its_reason() {
        let cases: [(&[u8], &str); 10] = [
            (b"not json", "not valid JSON for telemetry"),
            (b"[]", "holds no point"),
            (
                br#"{"schema":2,"ts":"2026-12-07T10:00:00Z","seq":1,"values":{}}"#,
                "schema version 2",
            ),
            (
                br#"{"schema":1,"ts":"2026-12-07T10:00:00Z","seq":1,"values":{"power_factor":1.5}}"#,
                "power_factor: 1.5 is outside -1..=1",
            ),
            (
                br#"{"schema":1,"ts":"2026-12-07T10:00:00Z","seq":1,"values":{"energy_import_kwh":-3}}"#,
                "energy_import_kwh: -3 is outside",
            ),
            (
                br#"{"schema":1,"ts":"2026-12-07T10:00:00Z","seq":1,"values":{"power_kw":"12"}}"#,
                "invalid type: string",
            ),
            (
                br#"{"schema":1,"ts":"yesterday","seq":1,"values":{}}"#,
                "a telemetry point",
            ),
            (
                br#"{"schema":1,"ts":"2026-12-07T10:00:00Z","seq":1,"values":{},"gateway":"m2"}"#,
                "unknown field `gateway`",
            ),
            (
                br#"{"schema":1,"ts":"2026-12-07T10:00:00Z","seq":1,"values":{},"device":"M2 !"}"#,
                "device",
            ),
            (
                br#"{"schema":1,"ts":"2026-12-07T10:00:00Z","values":{}}"#,
                "missing field `seq`",
            ),
        ];
        for (payload, want) in cases {
            let r = reason(parse_telemetry(DeviceKind::PowerMeter, payload));
            assert!(
                r.contains(want),
                "{}: {r}",
                String::from_utf8_lossy(payload)
            );
        }
        let point = r#"{"schema":1,"ts":"2026-12-07T10:00:00Z","seq":1,"values":{}}"#;
        let too_many = format!("[{}]", vec![point; MAX_POINTS + 1].join(","));
        assert_eq!(
            parse_telemetry(DeviceKind::PowerMeter, too_many.as_bytes()),
            Err(IotError::TooManyPoints(MAX_POINTS + 1))
        );
        let just_enough = format!("[{}]", vec![point; MAX_POINTS].join(","));
        assert_eq!(
            parse_telemetry(DeviceKind::PowerMeter, just_enough.as_bytes())
                .unwrap()
                .len(),
            MAX_POINTS
        );
        let blank = br#"{"schema":1,"ts":"2026-12-07T10:00:00Z","seq":1,"values":{"circuit":""}}"#;
        assert!(reason(parse_telemetry(DeviceKind::Lighting, blank)).starts_with("circuit:"));
        let nan_like = br#"{"schema":1,"ts":"2026-12-07T10:00:00Z","seq":1,"values":{"circuit":"a","level_percent":1e400}}"#;
        assert!(parse_telemetry(DeviceKind::Lighting, nan_like).is_err());
    }

    #[test]
    fn birth_status_and_events() {
        let birth = br#"{"schema":1,"ts":"2026-12-07T09:00:00Z","model":"PM5560","firmware":"2.1",
            "points":[{"name":"energy_import_kwh","unit":"kWh","meaning":"total_increasing","interval_s":60},
                      {"name":"power_kw","unit":"kW","meaning":"measurement","interval_s":10}]}"#;
        let b = parse_birth(birth).unwrap();
        assert_eq!(b.points[0].meaning, PointMeaning::TotalIncreasing);
        assert_eq!(b.points[1].interval_s, 10);
        let zero = br#"{"schema":1,"ts":"2026-12-07T09:00:00Z","model":"m","firmware":"1",
            "points":[{"name":"p","unit":"kW","meaning":"measurement","interval_s":0}]}"#;
        assert!(reason(parse_birth(zero)).contains("interval_s"));

        let status = br#"{"schema":1,"ts":"2026-12-07T09:00:00Z","state":"offline"}"#;
        assert_eq!(parse_status(status).unwrap().state, DeviceState::Offline);
        assert!(
            parse_status(br#"{"schema":1,"ts":"2026-12-07T09:00:00Z","state":"asleep"}"#).is_err()
        );

        let granted = br#"{"schema":1,"ts":"2026-12-07T09:00:00Z","seq":3,"severity":"info",
            "event":{"type":"access","data":{"door":"D1","outcome":"granted","direction":"in",
            "credential_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}}}"#;
        let e = parse_event(DeviceKind::Access, granted).unwrap();
        assert_eq!(e.severity, Severity::Info);
        assert!(!e.ack_required);
        assert!(matches!(
            e.event,
            DeviceEventBody::Access(AccessEvent {
                outcome: AccessOutcome::Granted,
                direction: Some(PassDirection::In),
                ..
            })
        ));
        // An access event from a lift, a credential in clear: refused.
        assert!(reason(parse_event(DeviceKind::Lift, granted)).contains("access devices"));
        let clear = String::from_utf8_lossy(granted).replace(
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "CARD-0042",
        );
        assert!(
            reason(parse_event(DeviceKind::Access, clear.as_bytes()))
                .contains("never the credential")
        );

        let alarm = br#"{"schema":1,"ts":"2026-12-07T09:00:00Z","seq":4,"severity":"critical",
            "ack_required":true,"event":{"type":"alarm","data":{"text":"Zone 3 smoke detector"}}}"#;
        let e = parse_event(DeviceKind::Fire, alarm).unwrap();
        assert!(e.ack_required);
        assert_eq!(
            e.event,
            DeviceEventBody::Alarm {
                text: "Zone 3 smoke detector".into()
            }
        );
        let unknown = String::from_utf8_lossy(alarm).replace("\"alarm\"", "\"party\"");
        assert!(parse_event(DeviceKind::Fire, unknown.as_bytes()).is_err());
        let extra = String::from_utf8_lossy(alarm).replace("\"text\"", "\"colour\":1,\"text\"");
        assert!(parse_event(DeviceKind::Fire, extra.as_bytes()).is_err());
    }
}
