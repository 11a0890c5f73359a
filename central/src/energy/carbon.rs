//! Scope 2 emissions both ways the GHG Protocol's Scope 2 guidance asks
//! for, side by side: location-based (the grid's average factor for the
//! site and year) and market-based (the factor of the contract in force
//! for the share it covers, the residual mix for the rest). Where the
//! residual mix is unknown the grid average stands in, and the energy
//! priced that way is reported so the figure is never silently optimistic.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

/// A site's grid factors for one year.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YearFactors {
    pub year: i32,
    pub location: f64,
    pub residual_mix: Option<f64>,
}

/// A contractual instrument in force over `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContractTerms {
    pub kg_per_kwh: f64,
    pub covers_share: f64,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

/// One local day's energy and the output bucket it belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayEnergy {
    pub date: NaiveDate,
    pub kwh: f64,
    pub bucket: usize,
}

/// Emissions of a bucket (or the total).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Emissions {
    pub kwh: f64,
    pub location_based_kg: f64,
    pub market_based_kg: f64,
    /// Energy covered by a contractual instrument.
    pub contract_kwh: f64,
    /// Energy at the residual mix.
    pub residual_mix_kwh: f64,
    /// Energy no instrument covers and without a residual mix: priced at
    /// the grid average in the market-based figure.
    pub market_fallback_kwh: f64,
    /// Energy of years without a factor: in neither figure.
    pub unfactored_kwh: f64,
}

impl Emissions {
    fn add(&mut self, o: &Emissions) {
        self.kwh += o.kwh;
        self.location_based_kg += o.location_based_kg;
        self.market_based_kg += o.market_based_kg;
        self.contract_kwh += o.contract_kwh;
        self.residual_mix_kwh += o.residual_mix_kwh;
        self.market_fallback_kwh += o.market_fallback_kwh;
        self.unfactored_kwh += o.unfactored_kwh;
    }
}

/// One day's emissions.
pub fn day(d: &DayEnergy, factors: &[YearFactors], contracts: &[ContractTerms]) -> Emissions {
    let mut e = Emissions {
        kwh: d.kwh,
        ..Emissions::default()
    };
    let Some(f) = factors.iter().find(|f| f.year == d.date.year()) else {
        e.unfactored_kwh = d.kwh;
        return e;
    };
    e.location_based_kg = d.kwh * f.location;
    let contract = contracts
        .iter()
        .find(|c| c.from <= d.date && c.to.is_none_or(|t| d.date < t));
    let covered = contract.map_or(0.0, |c| d.kwh * c.covers_share.clamp(0.0, 1.0));
    let rest = d.kwh - covered;
    e.contract_kwh = covered;
    e.market_based_kg = contract.map_or(0.0, |c| covered * c.kg_per_kwh);
    match f.residual_mix {
        Some(r) => {
            e.residual_mix_kwh = rest;
            e.market_based_kg += rest * r;
        }
        None => {
            e.market_fallback_kwh = rest;
            e.market_based_kg += rest * f.location;
        }
    }
    e
}

/// Emissions per bucket and in total.
pub fn emissions(
    days: &[DayEnergy],
    n_buckets: usize,
    factors: &[YearFactors],
    contracts: &[ContractTerms],
) -> (Vec<Emissions>, Emissions) {
    let mut buckets = vec![Emissions::default(); n_buckets];
    let mut total = Emissions::default();
    for d in days {
        let e = day(d, factors, contracts);
        if let Some(b) = buckets.get_mut(d.bucket) {
            b.add(&e);
        }
        total.add(&e);
    }
    (buckets, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn both_methods_over_a_contract_change_and_a_year_without_factors() {
        let factors = [
            YearFactors {
                year: 2025,
                location: 0.2,
                residual_mix: Some(0.4),
            },
            YearFactors {
                year: 2026,
                location: 0.25,
                residual_mix: None,
            },
        ];
        // A green PPA for 60 % from 2025-12-31.
        let contracts = [ContractTerms {
            kg_per_kwh: 0.0,
            covers_share: 0.6,
            from: date("2025-12-31"),
            to: None,
        }];
        let days = [
            // 2025-12-30: no contract: location 100×0.2 = 20; market all
            // residual 100×0.4 = 40.
            DayEnergy {
                date: date("2025-12-30"),
                kwh: 100.0,
                bucket: 0,
            },
            // 2025-12-31: 60 under the PPA at 0, 40 at residual 0.4 = 16;
            // location 20.
            DayEnergy {
                date: date("2025-12-31"),
                kwh: 100.0,
                bucket: 0,
            },
            // 2026-01-01: 200 kWh; location 50; PPA 120 at 0, 80 with no
            // residual mix → grid 0.25 = 20 (fallback 80).
            DayEnergy {
                date: date("2026-01-01"),
                kwh: 200.0,
                bucket: 1,
            },
            // 2027: no factors at all.
            DayEnergy {
                date: date("2027-01-01"),
                kwh: 50.0,
                bucket: 1,
            },
        ];
        let (b, t) = emissions(&days, 2, &factors, &contracts);
        assert!(close(b[0].location_based_kg, 40.0));
        assert!(close(b[0].market_based_kg, 56.0));
        assert!(close(b[0].contract_kwh, 60.0));
        assert!(close(b[0].residual_mix_kwh, 140.0));
        assert!(close(b[1].location_based_kg, 50.0));
        assert!(close(b[1].market_based_kg, 20.0));
        assert!(close(b[1].market_fallback_kwh, 80.0));
        assert!(close(b[1].unfactored_kwh, 50.0));
        assert!(close(t.kwh, 450.0));
        assert!(close(t.location_based_kg, 90.0));
        assert!(close(t.market_based_kg, 76.0));
    }
}
