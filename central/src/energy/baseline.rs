//! The occupancy baseline: daily kWh as a straight line in the day's
//! occupant-hours, fitted by least squares over training days, so a
//! period's energy is compared with what its occupancy predicts and the
//! difference from the training average is split into the part
//! occupancy explains and the part it does not.
//!
//! One regressor only: Atrium has no outdoor temperature sensor kind yet,
//! so there are no degree-days to add (docs/ref/energy.md). Written here
//! rather than taken from a statistics crate: it is six sums.

use serde::Serialize;
use utoipa::ToSchema;

/// Fewest training days a fit is made from.
pub const MIN_DAYS: usize = 7;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BaselineError {
    #[error("the baseline needs at least {MIN_DAYS} training days with energy; {0} have it")]
    TooFewDays(usize),
    #[error(
        "occupancy did not vary over the training days, so its effect on energy cannot be told apart; train over days with different occupancy"
    )]
    NoVariation,
}

/// `kwh = intercept + kwh_per_occupant_hour × occupant_hours`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Model {
    pub intercept_kwh: f64,
    pub kwh_per_occupant_hour: f64,
    /// Share of the training days' variance the line explains (0..1).
    pub r2: f64,
    pub training_days: usize,
    /// Training averages.
    pub mean_kwh: f64,
    pub mean_occupant_hours: f64,
}

/// One day: its occupant-hours and kWh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayPoint {
    pub occupant_hours: f64,
    pub kwh: f64,
}

/// Least squares over `days`.
pub fn fit(days: &[DayPoint]) -> Result<Model, BaselineError> {
    if days.len() < MIN_DAYS {
        return Err(BaselineError::TooFewDays(days.len()));
    }
    let n = days.len() as f64;
    let mx = days.iter().map(|d| d.occupant_hours).sum::<f64>() / n;
    let my = days.iter().map(|d| d.kwh).sum::<f64>() / n;
    let sxx: f64 = days.iter().map(|d| (d.occupant_hours - mx).powi(2)).sum();
    let sxy: f64 = days
        .iter()
        .map(|d| (d.occupant_hours - mx) * (d.kwh - my))
        .sum();
    let syy: f64 = days.iter().map(|d| (d.kwh - my).powi(2)).sum();
    if sxx <= f64::EPSILON * n * (1.0 + mx * mx) {
        return Err(BaselineError::NoVariation);
    }
    let slope = sxy / sxx;
    let r2 = if syy > 0.0 {
        (sxy * sxy / (sxx * syy)).clamp(0.0, 1.0)
    } else {
        1.0
    };
    Ok(Model {
        intercept_kwh: my - slope * mx,
        kwh_per_occupant_hour: slope,
        r2,
        training_days: days.len(),
        mean_kwh: my,
        mean_occupant_hours: mx,
    })
}

impl Model {
    /// The kWh the line expects for a day with these occupant-hours.
    pub fn expected(&self, occupant_hours: f64) -> f64 {
        self.intercept_kwh + self.kwh_per_occupant_hour * occupant_hours
    }

    /// A period against the model: actual − (training average × days) =
    /// `occupancy_effect_kwh` + `unexplained_kwh`.
    pub fn explain(&self, days: &[DayPoint]) -> Explanation {
        let actual = super::total(days.iter().map(|d| d.kwh));
        let expected = super::total(days.iter().map(|d| self.expected(d.occupant_hours)));
        let average = self.mean_kwh * days.len() as f64;
        Explanation {
            days: days.len(),
            actual_kwh: actual,
            expected_kwh: expected,
            training_average_kwh: average,
            occupancy_effect_kwh: expected - average,
            unexplained_kwh: actual - expected,
        }
    }
}

/// How a period's energy compares with the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Explanation {
    pub days: usize,
    pub actual_kwh: f64,
    /// What the model expects for the period's occupancy.
    pub expected_kwh: f64,
    /// The training days' average daily kWh times the period's days.
    pub training_average_kwh: f64,
    /// How much more (or less) the period's occupancy makes the model
    /// expect than the training average.
    pub occupancy_effect_kwh: f64,
    /// actual − expected: what occupancy does not explain.
    pub unexplained_kwh: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(occupant_hours: f64, kwh: f64) -> DayPoint {
        DayPoint {
            occupant_hours,
            kwh,
        }
    }

    #[test]
    fn an_exact_line_is_recovered() {
        // kwh = 100 + 0.5 × oh, on paper.
        let days: Vec<_> = [0.0, 40.0, 80.0, 120.0, 160.0, 200.0, 240.0]
            .iter()
            .map(|&oh| d(oh, 100.0 + 0.5 * oh))
            .collect();
        let m = fit(&days).unwrap();
        assert!((m.intercept_kwh - 100.0).abs() < 1e-9);
        assert!((m.kwh_per_occupant_hour - 0.5).abs() < 1e-12);
        assert!((m.r2 - 1.0).abs() < 1e-12);
        assert_eq!(m.training_days, 7);
        assert!((m.mean_occupant_hours - 120.0).abs() < 1e-9);
        assert!((m.mean_kwh - 160.0).abs() < 1e-9);
    }

    #[test]
    fn noisy_points_give_the_least_squares_line() {
        // x = 0..6, y = 1,3,2,5,4,6,7: mean x 3, mean y 4, sxx 28,
        // sxy = (-3)(-3)+(-2)(-1)+(-1)(-2)+0+1·0+2·2+3·3 = 9+2+2+0+0+4+9 = 26,
        // slope 26/28, intercept 4 − 3·26/28; syy = 9+1+4+1+0+4+9 = 28,
        // r² = 26²/(28·28).
        let ys = [1.0, 3.0, 2.0, 5.0, 4.0, 6.0, 7.0];
        let days: Vec<_> = ys
            .iter()
            .enumerate()
            .map(|(i, &y)| d(i as f64, y))
            .collect();
        let m = fit(&days).unwrap();
        assert!((m.kwh_per_occupant_hour - 26.0 / 28.0).abs() < 1e-12);
        assert!((m.intercept_kwh - (4.0 - 3.0 * 26.0 / 28.0)).abs() < 1e-12);
        assert!((m.r2 - 676.0 / 784.0).abs() < 1e-12);
    }

    #[test]
    fn too_few_days_or_constant_occupancy_is_refused() {
        let six: Vec<_> = (0..6).map(|i| d(f64::from(i), 1.0)).collect();
        assert_eq!(fit(&six), Err(BaselineError::TooFewDays(6)));
        let flat: Vec<_> = (0..9).map(|i| d(50.0, f64::from(i))).collect();
        assert_eq!(fit(&flat), Err(BaselineError::NoVariation));
    }

    #[test]
    fn a_period_is_split_into_occupancy_and_the_rest() {
        // Model: 100 + 0.5 × oh, training mean 160 kWh/day (mean oh 120).
        let days: Vec<_> = [0.0, 40.0, 80.0, 120.0, 160.0, 200.0, 240.0]
            .iter()
            .map(|&oh| d(oh, 100.0 + 0.5 * oh))
            .collect();
        let m = fit(&days).unwrap();
        // A busy two days (200 and 240 oh) that used 230 and 250 kWh:
        // expected 200 + 220 = 420, average 2 × 160 = 320, occupancy
        // effect +100, unexplained 480 − 420 = +60.
        let e = m.explain(&[d(200.0, 230.0), d(240.0, 250.0)]);
        assert_eq!(e.days, 2);
        assert!((e.actual_kwh - 480.0).abs() < 1e-9);
        assert!((e.expected_kwh - 420.0).abs() < 1e-9);
        assert!((e.training_average_kwh - 320.0).abs() < 1e-9);
        assert!((e.occupancy_effect_kwh - 100.0).abs() < 1e-9);
        assert!((e.unexplained_kwh - 60.0).abs() < 1e-9);
    }
}
