//! Energy management over meter registers published through the real
//! broker into the real database (Europe/London, so a DST change is in
//! range). Every expected figure is worked out by hand in the comments
//! from the energy the test put in each quarter hour and the tariffs it
//! wrote, never from the code under test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use support::*;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn close(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-6)
}

/// A meter's register, moved in bursts: `kwh` put into the quarter hour
/// starting at `quarter` (UTC) by a reading a minute into it and one
/// fourteen minutes into it (the register is flat between bursts).
struct Register {
    id: &'static str,
    value: f64,
    seq: u64,
    points: Vec<Value>,
}

impl Register {
    fn new(id: &'static str) -> Self {
        Self {
            id,
            value: 1000.0,
            seq: 0,
            points: Vec::new(),
        }
    }

    fn read(&mut self, at: DateTime<Utc>) {
        self.seq += 1;
        self.points
            .push(json!({"schema": 1, "ts": at, "seq": self.seq,
                                "values": {"energy_import_kwh": self.value}}));
    }

    fn burst(&mut self, quarter: &str, kwh: f64) {
        let q = t(quarter);
        self.read(q + chrono::Duration::minutes(1));
        self.value += kwh;
        self.read(q + chrono::Duration::minutes(14));
    }

    async fn publish(&self, stack: &Stack) {
        for chunk in self.points.chunks(40) {
            stack
                .publish_device(self.id, "power_meter", "telemetry", &json!(chunk))
                .await;
        }
    }
}

async fn stored(stack: &Stack, n: usize) {
    wait_until(Duration::from_secs(30), "the readings stored", || async {
        stack.count("SELECT count(*) FROM power_readings").await == n as i64
    })
    .await;
}

/// Bands: winter weekdays peak 07–19 and off-peak 19–07, weekends and
/// holidays one price; summer weekdays and weekends. Demand on weekdays
/// 16–19 over 30 minutes.
fn tariff(peak: f64, off: f64, weekend: f64, summer: f64, standing: f64, demand: f64) -> Value {
    json!({
        "currency": "GBP",
        "standing_charge_per_day": standing,
        "seasons": [
            {"name": "winter", "from": "10-01", "to": "03-31", "bands": [
                {"name": "peak", "days": ["weekday"], "from": "07:00", "to": "19:00", "price_per_kwh": peak},
                {"name": "off_peak", "days": ["weekday"], "from": "19:00", "to": "07:00", "price_per_kwh": off},
                {"name": "weekend", "days": ["weekend", "holiday"], "from": "00:00", "to": "24:00", "price_per_kwh": weekend}
            ]},
            {"name": "summer", "from": "04-01", "to": "09-30", "bands": [
                {"name": "day", "days": ["weekday"], "from": "00:00", "to": "24:00", "price_per_kwh": summer},
                {"name": "weekend", "days": ["weekend", "holiday"], "from": "00:00", "to": "24:00", "price_per_kwh": 0.04}
            ]}
        ],
        "demand": {"price_per_kw": demand, "interval_minutes": 30, "days": ["weekday"], "from": "16:00", "to": "19:00"}
    })
}

fn q(path: &str) -> String {
    path.replace('+', "%2B")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cost_across_bands_seasons_dst_holidays_a_tariff_change_and_demand() {
    let stack = Stack::start().await;
    stack.add_device("main", "power_meter", None).await;
    stack.set_site_zone("Europe/London").await;
    let central = stack.central("central", "").await;
    let api = Api::new(&central);
    let token = api
        .token("fm", &stack.add_user("fm", "facility_manager").await)
        .await;

    // London is on GMT (UTC) until 2026-03-29 01:00 UTC, then BST (UTC+1).
    let mut m = Register::new("main");
    m.burst("2026-03-02T06:45:00Z", 1.0); // Mon, off-peak (T1 0.10)
    m.burst("2026-03-02T07:00:00Z", 2.0); // Mon, peak (T1 0.30)
    m.burst("2026-03-02T16:30:00Z", 5.0); // peak; demand 16:30–17:00 …
    m.burst("2026-03-02T16:45:00Z", 3.0); // … 8 kWh in ½ h = 16 kW
    m.burst("2026-03-02T20:00:00Z", 10.0); // off-peak; 20 kW but outside 16–19
    m.burst("2026-03-03T10:00:00Z", 4.0); // Tue, a holiday: 0.05
    m.burst("2026-03-17T10:00:00Z", 1.0); // Tue, T2 peak 0.40
    m.burst("2026-03-17T17:00:00Z", 6.0); // T2 peak; demand 12 kW
    m.burst("2026-03-29T11:00:00Z", 2.0); // Sun 12:00 BST, T2 weekend 0.06
    m.burst("2026-03-30T06:30:00Z", 2.0); // Mon 07:30 BST: peak 0.40 (06:30 UTC would be off-peak)
    m.burst("2026-03-31T22:30:00Z", 1.0); // Tue 23:30 BST: off-peak 0.12
    m.burst("2026-04-01T09:00:00Z", 1.0); // Wed 10:00 BST, summer weekday 0.25
    m.publish(&stack).await;
    stored(&stack, m.points.len()).await;

    // A holiday, then T1 (open) and T2 (open, from the 16th: succeeds T1).
    let (s, b) = api
        .send(
            reqwest::Method::PUT,
            "/api/v1/energy/holidays/hq/2026-03-03",
            &token,
            json!({"name": "Founders' day"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, t1) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/energy/tariffs",
            &token,
            json!({"site_id": "hq", "name": "T1", "valid_from": "2026-03-01",
                     "definition": tariff(0.30, 0.10, 0.05, 0.20, 1.0, 10.0)}),
        )
        .await;
    assert_eq!(s, 201, "{t1}");
    let (s, t2) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/energy/tariffs",
            &token,
            json!({"site_id": "hq", "name": "T2", "valid_from": "2026-03-16",
                     "definition": tariff(0.40, 0.12, 0.06, 0.25, 2.0, 20.0)}),
        )
        .await;
    assert_eq!(s, 201, "{t2}");
    assert_eq!(t2["closed_tariff_id"], t1["id"], "{t2}");
    // A bounded tariff over T2's days overlaps: refused.
    let (s, b) = api
        .send(reqwest::Method::POST, "/api/v1/energy/tariffs", &token,
              json!({"site_id": "hq", "name": "T3", "valid_from": "2026-03-20", "valid_to": "2026-03-25",
                     "definition": tariff(0.4, 0.1, 0.1, 0.1, 1.0, 1.0)}))
        .await;
    assert_error(&b, 409, "OVERLAP", "/api/v1/energy/tariffs");
    assert_eq!(s, 409);

    // March by hand (London midnights; March has 31 days):
    // energy T1: 1×0.10 + 2×0.30 + 5×0.30 + 3×0.30 + 10×0.10 + 4×0.05
    //          = 0.10 + 0.60 + 1.50 + 0.90 + 1.00 + 0.20 = 4.30
    // energy T2: 1×0.40 + 6×0.40 + 2×0.06 + 2×0.40 + 1×0.12
    //          = 0.40 + 2.40 + 0.12 + 0.80 + 0.12 = 3.84
    // standing: 15 days × 1.00 + 16 days × 2.00 = 47.00
    // demand: T1 10/kW × 16 kW × 15/31 = 2400/31; T2 20 × 12 × 16/31 = 3840/31
    let march = q(
        "/api/v1/energy/cost?site_id=hq&interval=month&start_time=2026-03-01T00:00:00Z&end_time=2026-04-01T00:00:00+01:00",
    );
    let (s, c) = api.get(&march, &token).await;
    assert_eq!(s, 200, "{c}");
    let r = &c["report"];
    assert_eq!(r["currency"], "GBP");
    assert_eq!(r["buckets"].as_array().unwrap().len(), 1, "{c}");
    let tot = &r["totals"];
    assert!(close(&tot["kwh"], 37.0), "{c}");
    assert!(close(&tot["energy_cost"], 4.30 + 3.84), "{c}");
    assert!(close(&tot["standing_charge"], 47.0), "{c}");
    assert!(close(&tot["demand_charge"], 6240.0 / 31.0), "{c}");
    assert!(close(&tot["total"], 8.14 + 47.0 + 6240.0 / 31.0), "{c}");
    assert!(close(&tot["unpriced_kwh"], 0.0), "{c}");
    let demand = r["demand"].as_array().unwrap();
    assert_eq!(demand.len(), 2, "{c}");
    assert!(close(&demand[0]["peak_kw"], 16.0), "{c}");
    assert_eq!(demand[0]["peak_at"], "2026-03-02T16:30:00Z");
    assert_eq!(demand[0]["days_in_force"], 15);
    assert!(close(&demand[1]["peak_kw"], 12.0), "{c}");
    assert_eq!(demand[1]["days_in_force"], 16);
    assert_eq!(demand[1]["days_in_range"], 16);
    assert_eq!(demand[1]["complete"], true);

    // Each day owes its share of its month's demand charge, whatever the
    // range: March per day sums to the month's 6240/31, and the 10th–11th
    // (no peak inside) owe 2 × 10 × 16/31, the peak of the 2nd.
    let (_, c) = api
        .get(&q("/api/v1/energy/cost?site_id=hq&interval=day&start_time=2026-03-01T00:00:00Z&end_time=2026-04-01T00:00:00+01:00"), &token)
        .await;
    let per_day: f64 = c["report"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["demand_charge"].as_f64().unwrap())
        .sum();
    assert!((per_day - 6240.0 / 31.0).abs() < 1e-6, "{c}");
    let (_, c) = api
        .get(&q("/api/v1/energy/cost?site_id=hq&interval=day&start_time=2026-03-10T00:00:00Z&end_time=2026-03-12T00:00:00Z"), &token)
        .await;
    assert!(
        close(&c["report"]["totals"]["demand_charge"], 320.0 / 31.0),
        "{c}"
    );
    let d = &c["report"]["demand"][0];
    assert_eq!(d["peak_at"], "2026-03-02T16:30:00Z", "{c}");
    assert_eq!(d["days_in_range"], 2);
    assert!(close(&d["month_charge"], 2400.0 / 31.0), "{c}");
    // The band breakdown: T1 peak 2+5+3 = 10 kWh at 0.30.
    let peak_t1 = tot["bands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["tariff_id"] == t1["id"] && b["band"] == "peak")
        .unwrap();
    assert!(
        close(&peak_t1["kwh"], 10.0) && close(&peak_t1["cost"], 3.0),
        "{c}"
    );

    // Per day around the DST change: the Monday after (30th) holds the
    // 07:30 BST peak burst: 0.80 + 2.00 standing; Sunday the 29th is a
    // 23-hour day in the history.
    let days = q(
        "/api/v1/energy/cost?site_id=hq&interval=day&start_time=2026-03-29T00:00:00Z&end_time=2026-03-31T00:00:00+01:00",
    );
    let (s, c) = api.get(&days, &token).await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(
        c["buckets"],
        json!(["2026-03-29T00:00:00Z", "2026-03-29T23:00:00Z"]),
        "{c}"
    );
    assert!(
        close(&c["report"]["buckets"][1]["energy_cost"], 0.80),
        "{c}"
    );
    assert!(
        close(&c["report"]["buckets"][1]["standing_charge"], 2.0),
        "{c}"
    );
    assert!(
        close(&c["report"]["buckets"][0]["energy_cost"], 0.12),
        "{c}"
    );
    let (s, h) = api
        .get(&q("/api/v1/energy/history?site_id=hq&interval=day&start_time=2026-03-29T00:00:00Z&end_time=2026-03-31T00:00:00+01:00"), &token)
        .await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["data"][0]["local_start"], "2026-03-29T00:00:00");
    assert!(close(&h["data"][0]["hours"], 23.0), "{h}");
    assert!(close(&h["data"][1]["hours"], 24.0), "{h}");
    assert!(close(&h["data"][1]["kwh"], 2.0), "{h}");

    // The season change: April 1st is summer, a weekday at 0.25.
    let april1 = q(
        "/api/v1/energy/cost?site_id=hq&interval=day&start_time=2026-04-01T00:00:00+01:00&end_time=2026-04-02T00:00:00+01:00",
    );
    let (_, c) = api.get(&april1, &token).await;
    assert!(close(&c["report"]["totals"]["energy_cost"], 0.25), "{c}");
    assert_eq!(c["report"]["totals"]["bands"][0]["band"], "day", "{c}");

    // Editing T2 (peak 0.40 → 0.50) changes the 17th, not the 2nd.
    let first_half = q(
        "/api/v1/energy/cost?site_id=hq&interval=day&start_time=2026-03-01T00:00:00Z&end_time=2026-03-16T00:00:00Z",
    );
    let (_, before) = api.get(&first_half, &token).await;
    let t2_id = t2["id"].as_i64().unwrap();
    let (s, b) = api
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/energy/tariffs/{t2_id}"),
            &token,
            json!({"site_id": "hq", "name": "T2", "valid_from": "2026-03-16",
                     "definition": tariff(0.50, 0.12, 0.06, 0.25, 2.0, 20.0)}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (_, after) = api.get(&first_half, &token).await;
    assert_eq!(before["report"], after["report"]);
    let day17 = q(
        "/api/v1/energy/cost?site_id=hq&interval=day&start_time=2026-03-17T00:00:00Z&end_time=2026-03-18T00:00:00Z",
    );
    let (_, c) = api.get(&day17, &token).await;
    // 7 kWh at 0.50 + 2.00 standing.
    assert!(close(&c["report"]["totals"]["energy_cost"], 3.5), "{c}");

    // Days before any tariff are unpriced, not free.
    let feb = q(
        "/api/v1/energy/cost?site_id=hq&interval=day&start_time=2026-02-27T00:00:00Z&end_time=2026-03-01T00:00:00Z",
    );
    let (_, c) = api.get(&feb, &token).await;
    assert_eq!(
        c["report"]["unpriced_days"],
        json!(["2026-02-27", "2026-02-28"]),
        "{c}"
    );

    // A key restricted to another site sees none of this site's energy
    // and changes none of it, by site or by id.
    stack
        .pg
        .connect()
        .await
        .unwrap()
        .execute(
            "INSERT INTO sites (id, name) VALUES ('annex', 'Annex')",
            &[],
        )
        .await
        .unwrap();
    let (s, k) = api
        .send(reqwest::Method::POST, "/api/v1/api-keys", &token,
              json!({"name": "annex energy", "site_id": "annex", "permissions": ["energy:read", "energy:write"]}))
        .await;
    assert_eq!(s, 201, "{k}");
    let key = k["key"].as_str().unwrap();
    let t1_id = t1["id"].as_i64().unwrap();
    for (method, path, body, status) in [
        (
            reqwest::Method::GET,
            format!("/api/v1/energy/tariffs/{t1_id}"),
            Value::Null,
            404,
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/energy/tariffs/{t1_id}"),
            Value::Null,
            404,
        ),
        (
            reqwest::Method::PUT,
            format!("/api/v1/energy/tariffs/{t1_id}"),
            json!({"site_id": "hq", "name": "x", "valid_from": "2026-03-01", "valid_to": "2026-03-16",
                "definition": tariff(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)}),
            404,
        ),
        (
            reqwest::Method::GET,
            "/api/v1/energy/cost?site_id=hq".to_owned(),
            Value::Null,
            403,
        ),
        (
            reqwest::Method::GET,
            "/api/v1/energy/meters/main/zones".to_owned(),
            Value::Null,
            404,
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/energy/holidays/hq/2026-05-01".to_owned(),
            json!({"name": "x"}),
            403,
        ),
        (
            reqwest::Method::POST,
            "/api/v1/energy/targets".to_owned(),
            json!({"site_id": "hq", "name": "x", "metric": "kwh", "period_start": "2026-03-01", "period_end": "2026-04-01", "value": 1.0}),
            403,
        ),
    ] {
        let (s, b) = api.send(method.clone(), &path, key, body).await;
        assert_eq!(s, status, "{method} {path}: {b}");
    }
    let (s, own) = api.get("/api/v1/energy/tariffs", key).await;
    assert_eq!(s, 200, "{own}");
    assert_eq!(own["data"], json!([]), "only the annex's tariffs: {own}");
    assert_eq!(stack.count("SELECT count(*) FROM tariffs").await, 2);

    // A bad tariff is refused with where it is wrong.
    let mut bad = tariff(0.3, 0.1, 0.05, 0.2, 1.0, 10.0);
    bad["seasons"][0]["bands"][0]["to"] = json!("18:00");
    let (s, b) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/energy/tariffs",
            &token,
            json!({"site_id": "hq", "name": "gap", "valid_from": "2027-01-01", "definition": bad}),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("winter"),
        "{b}"
    );
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carbon_both_methods_and_targets_progress() {
    let stack = Stack::start().await;
    stack.add_device("main", "power_meter", None).await;
    stack.set_site_zone("Europe/London").await;
    // Now is 2026-04-10T23:00Z: 10 days into April in London.
    let clock = atrium_clock::ManualClock::new(t("2026-04-10T23:00:00Z"));
    let central = stack
        .start_central_with_clock(stack.config("central", ""), clock.shared())
        .await;
    let api = Api::new(&central);
    let token = api
        .token("fm", &stack.add_user("fm", "facility_manager").await)
        .await;
    let mut m = Register::new("main");
    m.burst("2026-03-10T12:00:00Z", 25.0); // before the contract
    m.burst("2026-03-20T12:00:00Z", 12.0); // under the PPA
    m.burst("2026-04-01T12:00:00Z", 1.0); // April
    m.burst("2026-04-07T12:00:00Z", 2.0);
    m.publish(&stack).await;
    stored(&stack, m.points.len()).await;

    let (s, b) = api
        .send(reqwest::Method::PUT, "/api/v1/energy/emission-factors/hq/2026", &token,
              json!({"location_kg_per_kwh": 0.2, "residual_mix_kg_per_kwh": 0.3, "source": "test grid 2026"}))
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/energy/contracts",
            &token,
            json!({"site_id": "hq", "supplier": "Wind Co", "instrument": "ppa", "kg_per_kwh": 0.0,
                     "covers_share": 0.5, "valid_from": "2026-03-16"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");

    // March: location 37 × 0.2 = 7.4; market 25 × 0.3 (residual) + 6 × 0
    // (PPA half of 12) + 6 × 0.3 = 7.5 + 1.8 = 9.3.
    let (s, c) = api
        .get(&q("/api/v1/energy/carbon?site_id=hq&interval=month&start_time=2026-03-01T00:00:00Z&end_time=2026-04-01T00:00:00+01:00"), &token)
        .await;
    assert_eq!(s, 200, "{c}");
    let tot = &c["total"];
    assert!(close(&tot["kwh"], 37.0), "{c}");
    assert!(close(&tot["location_based_kg"], 7.4), "{c}");
    assert!(close(&tot["market_based_kg"], 9.3), "{c}");
    assert!(close(&tot["contract_kwh"], 6.0), "{c}");
    assert!(close(&tot["residual_mix_kwh"], 31.0), "{c}");

    // Targets. April (30 days, 10 gone: a third): 3 kWh used of 30 →
    // allowed so far 10, variance −7, forecast 3 ÷ ⅓ = 9, on track.
    let (s, k) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/energy/targets",
            &token,
            json!({"site_id": "hq", "name": "April kWh", "metric": "kwh",
                     "period_start": "2026-04-01", "period_end": "2026-05-01", "value": 30.0}),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    let p = &k["progress"];
    assert!(close(&p["elapsed"], 1.0 / 3.0), "{k}");
    assert!(close(&p["actual"], 3.0), "{k}");
    assert!(close(&p["expected_to_date"], 10.0), "{k}");
    assert!(close(&p["variance"], -7.0), "{k}");
    assert!(close(&p["forecast"], 9.0), "{k}");
    assert_eq!(p["on_track"], true);
    // March's emissions against a 5 kg ceiling: over (7.4 location-based).
    let (s, e) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/energy/targets",
            &token,
            json!({"site_id": "hq", "name": "March CO2", "metric": "kgco2e",
                     "period_start": "2026-03-01", "period_end": "2026-04-01", "value": 5.0}),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    assert!(close(&e["progress"]["actual"], 7.4), "{e}");
    assert!(close(&e["progress"]["forecast"], 7.4), "{e}");
    assert_eq!(e["progress"]["on_track"], false);
    // Raising it to 8 kg puts it on track.
    let id = e["id"].as_i64().unwrap();
    let (s, e) = api
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/energy/targets/{id}"),
            &token,
            json!({"site_id": "hq", "name": "March CO2", "metric": "kgco2e",
                     "period_start": "2026-03-01", "period_end": "2026-04-01", "value": 8.0}),
        )
        .await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(e["progress"]["on_track"], true);
    let (_, list) = api.get("/api/v1/energy/targets?site_id=hq", &token).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");
    // A viewer reads targets but may not set them.
    let viewer = api.token("v", &stack.add_user("v", "viewer").await).await;
    let (s, b) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/energy/targets",
            &viewer,
            json!({"site_id": "hq", "name": "x", "metric": "kwh",
                     "period_start": "2026-04-01", "period_end": "2026-05-01", "value": 1.0}),
        )
        .await;
    assert_error(&b, 403, "FORBIDDEN", "/api/v1/energy/targets");
    assert_eq!(s, 403);
    central.shutdown().await;
}

fn occupancy(camera: &str, ts: DateTime<Utc>, in_view: u32, zone: &str) -> atrium_proto::Event {
    use atrium_proto::event::{EventBody, ZoneCount};
    atrium_proto::Event::new(
        atrium_proto::SiteId::new(SITE).unwrap(),
        atrium_proto::CameraId::new(camera).unwrap(),
        ts,
        EventBody::Occupancy {
            in_view,
            zones: vec![ZoneCount {
                zone: zone.into(),
                count: in_view,
            }],
        },
    )
}

/// Samples every 5 minutes over `[from, from + hours)` with `n` people.
fn samples(camera: &str, zone: &str, from: &str, hours: i64, n: u32) -> Vec<atrium_proto::Event> {
    (0..hours * 12)
        .map(|k| occupancy(camera, t(from) + chrono::Duration::minutes(5 * k), n, zone))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn occupancy_kpis_and_empty_building_energy_on_a_hand_made_day() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    stack.add_camera("cam-b").await;
    stack.add_device("main", "power_meter", None).await;
    stack
        .add_device("floor1", "power_meter", Some("main"))
        .await;
    let db = stack.pg.connect().await.unwrap();
    for (cam, zone) in [("cam-a", "office"), ("cam-b", "lobby")] {
        db.execute(
            "INSERT INTO zones (camera_id, id, polygon) VALUES ($1, $2, '[[0,0],[1,0],[1,1]]')",
            &[&cam, &zone],
        )
        .await
        .unwrap();
    }
    let central = stack.central("central", "").await;
    let api = Api::new(&central);
    let token = api
        .token("fm", &stack.add_user("fm", "facility_manager").await)
        .await;
    let (s, b) = api
        .send(
            reqwest::Method::PUT,
            "/api/v1/energy/meters/floor1/zones",
            &token,
            json!({"zones": [{"camera_id": "cam-a", "zone_id": "office"}]}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = api
        .send(
            reqwest::Method::PUT,
            "/api/v1/energy/sites/hq",
            &token,
            json!({"floor_area_m2": 1200.0}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = api
        .send(
            reqwest::Method::PUT,
            "/api/v1/energy/meters/floor1/zones",
            &token,
            json!({"zones": [{"camera_id": "cam-a", "zone_id": "nowhere"}]}),
        )
        .await;
    assert_eq!(s, 400, "{b}");

    // 2026-06-10, UTC, 06:00–12:00, a sample every 5 minutes:
    // cam-a (office): 0 people 06–08, 4 people 08–10, 0 people 10–12;
    // cam-b (lobby): 0 people 06–07, 2 people 07–12.
    let mut a = samples("cam-a", "office", "2026-06-10T06:00:00Z", 2, 0);
    a.extend(samples("cam-a", "office", "2026-06-10T08:00:00Z", 2, 4));
    a.extend(samples("cam-a", "office", "2026-06-10T10:00:00Z", 2, 0));
    let mut b = samples("cam-b", "lobby", "2026-06-10T06:00:00Z", 1, 0);
    b.extend(samples("cam-b", "lobby", "2026-06-10T07:00:00Z", 5, 2));
    // Every sample of camera A sent twice (a redelivery counts once), then
    // a sentinel outside the day: once it is stored, so are the copies.
    let mut twice: Vec<_> = a.iter().chain(a.iter()).cloned().collect();
    twice.push(occupancy("cam-a", t("2026-06-11T12:00:00Z"), 9, "office"));
    publish_fast(&stack, "cam-a", &twice).await;
    publish_fast(&stack, "cam-b", &b).await;
    // The main meter 10 kWh in each of the six hours, floor 1 3 kWh.
    let mut main = Register::new("main");
    let mut floor = Register::new("floor1");
    for h in 6..12 {
        main.burst(&format!("2026-06-10T{h:02}:00:00Z"), 10.0);
        floor.burst(&format!("2026-06-10T{h:02}:00:00Z"), 3.0);
    }
    main.publish(&stack).await;
    floor.publish(&stack).await;
    stored(&stack, 24).await;
    wait_until(Duration::from_secs(30), "the samples stored", || async {
        stack.count("SELECT count(*) FROM occupancy_samples").await == 145
    })
    .await;
    assert_eq!(
        stack
            .count("SELECT sum(samples) FROM occupancy_quarters WHERE bucket < '2026-06-11'")
            .await,
        144
    );

    // By hand:
    // - energy 60 kWh; 1200 m² → 0.05 kWh/m²;
    // - occupant-hours: cam-a 4 people × 2 h + cam-b 2 people × 5 h = 18
    //   → 60 / 18 kWh per occupant-hour;
    // - empty building: only 06–07 had both cameras at 0 → 10 kWh, 1 h;
    // - floor 1's office was empty 06–08 and 10–12: 4 h × 3 = 12 kWh of
    //   its 18.
    let (s, k) = api
        .get("/api/v1/energy/kpis?site_id=hq&start_time=2026-06-10T00:00:00Z&end_time=2026-06-11T00:00:00Z", &token)
        .await;
    assert_eq!(s, 200, "{k}");
    assert!(close(&k["kwh"], 60.0), "{k}");
    assert!(close(&k["kwh_per_m2"], 0.05), "{k}");
    assert!(close(&k["occupant_hours"], 18.0), "{k}");
    assert_eq!(
        (k["days"].as_u64(), k["days_with_occupancy"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(close(&k["kwh_on_days_with_occupancy"], 60.0), "{k}");
    assert!(close(&k["kwh_per_occupant_hour"], 60.0 / 18.0), "{k}");
    assert!(close(&k["empty_building"]["kwh"], 10.0), "{k}");
    assert_eq!(k["empty_building"]["hours"], 1);
    let top = &k["top_offenders"][0];
    assert_eq!(top["device_id"], "floor1", "{k}");
    assert_eq!(top["zones"], json!(["cam-a/office"]));
    assert!(close(&top["empty_kwh"], 12.0), "{k}");
    assert_eq!(top["empty_hours"], 4);
    assert!(close(&top["kwh"], 18.0), "{k}");

    // Energy now: the tree with floor 1 under main (June 10th is not
    // today: nothing today, so nothing unmetered today either).
    let (s, now) = api.get("/api/v1/energy/current?site_id=hq", &token).await;
    assert_eq!(s, 200, "{now}");
    let site = &now["data"][0];
    assert_eq!(site["meters"][0]["device_id"], "main");
    assert_eq!(site["meters"][0]["children"][0]["device_id"], "floor1");
    assert!(
        close(&site["meters"][0]["unmetered_kwh_today"], 0.0),
        "{now}"
    );
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_explains_a_week_by_its_occupancy() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    stack.add_device("main", "power_meter", None).await;
    let clock = atrium_clock::ManualClock::new(t("2026-06-20T00:00:00Z"));
    let central = stack
        .start_central_with_clock(stack.config("central", ""), clock.shared())
        .await;
    let api = Api::new(&central);
    let token = api
        .token("fm", &stack.add_user("fm", "facility_manager").await)
        .await;
    // Training: June 1–8, day d has n_d people for one hour (n_d
    // occupant-hours) and uses 20 + 0.5 n_d kWh: the line is exactly
    // 20 + 0.5 × oh. The period: June 15 with 10 occupant-hours and
    // 30 kWh: expected 25, unexplained +5.
    let ns = [0u32, 10, 20, 30, 40, 50, 60, 70];
    let mut events = Vec::new();
    let mut m = Register::new("main");
    for (d, n) in ns.iter().enumerate() {
        let day = format!("2026-06-{:02}", d + 1);
        events.extend(samples("cam-a", "z", &format!("{day}T09:00:00Z"), 1, *n));
        m.burst(&format!("{day}T12:00:00Z"), 20.0 + 0.5 * f64::from(*n));
    }
    events.extend(samples("cam-a", "z", "2026-06-15T09:00:00Z", 1, 10));
    m.burst("2026-06-15T12:00:00Z", 30.0);
    publish_fast(&stack, "cam-a", &events).await;
    m.publish(&stack).await;
    stored(&stack, m.points.len()).await;
    wait_until(Duration::from_secs(30), "the samples stored", || async {
        stack.count("SELECT count(*) FROM occupancy_samples").await == events.len() as i64
    })
    .await;
    let (s, b) = api
        .get("/api/v1/energy/baseline?site_id=hq&training_start=2026-06-01T00:00:00Z&training_end=2026-06-09T00:00:00Z&start_time=2026-06-15T00:00:00Z&end_time=2026-06-16T00:00:00Z", &token)
        .await;
    assert_eq!(s, 200, "{b}");
    let model = &b["model"];
    assert!(close(&model["intercept_kwh"], 20.0), "{b}");
    assert!(close(&model["kwh_per_occupant_hour"], 0.5), "{b}");
    assert!(close(&model["r2"], 1.0), "{b}");
    assert_eq!(model["training_days"], 8);
    let e = &b["explanation"];
    assert!(close(&e["actual_kwh"], 30.0), "{b}");
    assert!(close(&e["expected_kwh"], 25.0), "{b}");
    assert!(close(&e["unexplained_kwh"], 5.0), "{b}");
    // Training mean 20 + 0.5 × 35 = 37.5 kWh/day: occupancy (10 vs 35
    // mean) explains 25 − 37.5 = −12.5.
    assert!(close(&e["occupancy_effect_kwh"], -12.5), "{b}");
    // Too few days says why.
    let (_, b) = api
        .get("/api/v1/energy/baseline?site_id=hq&training_start=2026-06-01T00:00:00Z&training_end=2026-06-04T00:00:00Z&start_time=2026-06-15T00:00:00Z&end_time=2026-06-16T00:00:00Z", &token)
        .await;
    assert!(b["model"].is_null(), "{b}");
    assert!(
        b["model_error"].as_str().unwrap().contains("at least 7"),
        "{b}"
    );
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_hears_the_sites_energy_and_bad_queries_are_refused() {
    use futures::StreamExt;
    let stack = Stack::start().await;
    stack.add_device("main", "power_meter", None).await;
    let central = stack.central("central", "").await;
    let api = Api::new(&central);
    let token = api
        .token("op", &stack.add_user("op", "operator").await)
        .await;
    let url = format!("ws://{}/ws/dashboard?token={token}", central.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let now = Utc::now();
    stack
        .publish_device("main", "power_meter", "telemetry",
            &json!({"schema": 1, "ts": now, "seq": 1, "values": {"power_kw": 37.5, "energy_import_kwh": 10.0}}))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let update = loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("an energy_update in time")
            .unwrap()
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "energy_update" && close(&v["data"]["power_kw"], 37.5) {
                break v;
            }
        }
    };
    assert_eq!(update["site"], "hq");
    assert!(update.get("device").is_none(), "{update}");

    for (path, status, code) in [
        (
            "/api/v1/energy/history?site_id=nowhere",
            404,
            "SITE_NOT_FOUND",
        ),
        (
            "/api/v1/energy/cost?device_id=nothing",
            404,
            "METER_NOT_FOUND",
        ),
        (
            "/api/v1/energy/carbon?site_id=hq&interval=hour",
            400,
            "VALIDATION_FAILED",
        ),
        (
            "/api/v1/energy/history?site_id=hq&interval=day&start_time=2020-01-01T00:00:00Z&end_time=2026-01-01T00:00:00Z",
            400,
            "VALIDATION_FAILED",
        ),
        ("/api/v1/energy/kpis", 400, "VALIDATION_FAILED"),
    ] {
        let (s, b) = api.get(path, &token).await;
        assert_eq!(s, status, "{path}: {b}");
        assert_eq!(b["error"]["code"], code, "{path}: {b}");
    }
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_energy_cli_sets_what_energy_is_computed_with_and_refuses_bad_input() {
    let pg = atrium_testkit::Postgres::start().await.unwrap();
    let url = pg.url();
    let dir = tempfile::tempdir().unwrap();
    let admin = |args: &[&str]| admin_cli(&url, args);
    let (ok, out) = admin(&[
        "device",
        "add",
        "--id",
        "main",
        "--site",
        "hq",
        "--kind",
        "power_meter",
        "--name",
        "Main",
    ]);
    assert!(ok, "{out}");
    let db = pg.connect().await.unwrap();
    db.batch_execute(
        "INSERT INTO cameras (id, site_id, name) VALUES ('cam-a', 'hq', 'A');
         INSERT INTO zones (camera_id, id, polygon) VALUES ('cam-a', 'office', '[[0,0],[1,0],[1,1]]')",
    )
    .await
    .unwrap();
    let good = dir.path().join("tariff.json");
    std::fs::write(&good, tariff(0.3, 0.1, 0.05, 0.2, 1.0, 10.0).to_string()).unwrap();
    let mut gap = tariff(0.3, 0.1, 0.05, 0.2, 1.0, 10.0);
    gap["seasons"][1]["to"] = json!("09-29");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, gap.to_string()).unwrap();
    let (g, b) = (good.to_str().unwrap(), bad.to_str().unwrap());

    let steps: [(&[&str], bool, &str); 14] = [
        (
            &[
                "energy",
                "tariff",
                "add",
                "--site",
                "hq",
                "--name",
                "T1",
                "--from",
                "2026-01-01",
                "--file",
                g,
            ],
            true,
            "added tariff",
        ),
        (
            &[
                "energy",
                "tariff",
                "add",
                "--site",
                "hq",
                "--name",
                "T2",
                "--from",
                "2026-06-01",
                "--file",
                g,
            ],
            true,
            "now ends on 2026-06-01",
        ),
        (
            &[
                "energy",
                "tariff",
                "add",
                "--site",
                "hq",
                "--name",
                "T3",
                "--from",
                "2026-07-01",
                "--to",
                "2026-08-01",
                "--file",
                g,
            ],
            false,
            "overlaps",
        ),
        (
            &[
                "energy",
                "tariff",
                "add",
                "--site",
                "hq",
                "--name",
                "gap",
                "--from",
                "2027-01-01",
                "--file",
                b,
            ],
            false,
            "09-30",
        ),
        (
            &[
                "energy",
                "tariff",
                "add",
                "--site",
                "nowhere",
                "--name",
                "x",
                "--from",
                "2027-01-01",
                "--file",
                g,
            ],
            false,
            "no site",
        ),
        (
            &[
                "energy",
                "holiday",
                "add",
                "--site",
                "hq",
                "--date",
                "2026-12-25",
                "--name",
                "Christmas Day",
            ],
            true,
            "holiday",
        ),
        (
            &[
                "energy",
                "holiday",
                "add",
                "--site",
                "hq",
                "--date",
                "2026-13-01",
                "--name",
                "x",
            ],
            false,
            "date",
        ),
        (
            &[
                "energy",
                "factor",
                "--site",
                "hq",
                "--year",
                "2026",
                "--location",
                "0.2",
                "--source",
                "grid",
            ],
            true,
            "2026",
        ),
        (
            &[
                "energy",
                "factor",
                "--site",
                "hq",
                "--year",
                "2026",
                "--location",
                "7",
                "--source",
                "grid",
            ],
            false,
            "0 to 5",
        ),
        (
            &["energy", "floor-area", "--site", "hq", "1500"],
            true,
            "1500",
        ),
        (
            &["energy", "floor-area", "--site", "hq", "--", "-5"],
            false,
            "0 (clear) to 100 000 000",
        ),
        (
            &[
                "energy",
                "meter-zones",
                "--meter",
                "main",
                "--zone",
                "cam-a/office",
            ],
            true,
            "1 zone",
        ),
        (
            &[
                "energy",
                "meter-zones",
                "--meter",
                "main",
                "--zone",
                "cam-a/nowhere",
            ],
            false,
            "no zone",
        ),
        (
            &[
                "energy",
                "meter-zones",
                "--meter",
                "main",
                "--zone",
                "office",
            ],
            false,
            "CAMERA/ZONE",
        ),
    ];
    for (args, want_ok, says) in steps {
        let (ok, out) = admin(args);
        assert_eq!(ok, want_ok, "{args:?}: {out}");
        assert!(out.contains(says), "{args:?} should say {says:?}: {out}");
    }
    // What the database holds, by hand: T1 closed where T2 starts.
    let rows = db
        .query(
            "SELECT name, valid_from::text, valid_to::text FROM tariffs ORDER BY valid_from",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, String, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        [
            ("T1".into(), "2026-01-01".into(), Some("2026-06-01".into())),
            ("T2".into(), "2026-06-01".into(), None)
        ]
    );
    assert_eq!(
        db.query_one("SELECT floor_area_m2 FROM sites WHERE id = 'hq'", &[])
            .await
            .unwrap()
            .get::<_, Option<f64>>(0),
        Some(1500.0)
    );
    assert_eq!(
        db.query_one(
            "SELECT count(*) FROM meter_zones WHERE device_id = 'main' AND zone_id = 'office'",
            &[]
        )
        .await
        .unwrap()
        .get::<_, i64>(0),
        1
    );
    let (ok, out) = admin(&["energy", "tariff", "list", "--site", "hq"]);
    assert!(ok && out.contains("T1") && out.contains("open"), "{out}");
    let (ok, out) = admin(&["energy", "holiday", "list", "--site", "hq"]);
    assert!(ok && out.contains("2026-12-25 Christmas Day"), "{out}");
}
