//! Energy management's pure logic: tariffs and what they charge, the
//! occupancy baseline, targets' progress. Everything here is arithmetic
//! over rows the store has already put in the site's local time (the
//! PostgreSQL time zone database does the DST work), so every rule can be
//! tested on hand-made rows.

pub mod baseline;
pub mod carbon;
pub mod cost;
pub mod meters;
pub mod targets;
pub mod tariff;

/// The sum of `values`, 0 (not −0, which `Iterator::sum` gives for no
/// values and a page would show as "-0.0") when there are none.
pub fn total(values: impl IntoIterator<Item = f64>) -> f64 {
    values.into_iter().fold(0.0, |a, b| a + b)
}
