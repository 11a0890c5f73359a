//! Tariffs as facility managers type them (`central/src/energy/tariff.rs`,
//! compiled here from its source so the fuzz build needs none of
//! central's server dependencies): no JSON makes validation panic, and a
//! tariff it accepts prices every quarter hour of every day of a leap
//! year and of a common one for each kind of day (the rule the cost
//! engine relies on), judges the demand window without panicking, and
//! reads back unchanged from what it writes.
#![no_main]

#[path = "../../../central/src/energy/tariff.rs"]
#[allow(dead_code)]
mod tariff;

use chrono::{Datelike, Duration, NaiveDate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(t) = tariff::Tariff::from_json(&value) else {
        return;
    };
    for year in [2028, 2027] {
        let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("a date");
        let mut day = first;
        while day.year() == year {
            for holiday in [false, true] {
                for q in 0..96 {
                    let local = day.and_hms_opt(0, 0, 0).expect("midnight")
                        + Duration::minutes(15 * q);
                    assert!(
                        t.band_at(local, holiday).is_some(),
                        "an accepted tariff has no band at {local} (holiday {holiday})"
                    );
                    if let Some(d) = &t.demand {
                        let _in_window: bool = d.covers(local, holiday);
                    }
                }
            }
            day += Duration::days(1);
        }
    }
    let again = serde_json::to_value(&t).expect("a tariff serialises");
    assert_eq!(tariff::Tariff::from_json(&again).as_ref(), Ok(&t));
});
