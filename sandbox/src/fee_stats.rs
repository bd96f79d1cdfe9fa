//! `GET /fee_stats`, computed from the recent ledgers as Horizon computes it.
//!
//! Followed: stellar/go before Horizon moved out (the parent of commit 57c771a2, "delete
//! horizon and galexie"):
//!
//! - `services/horizon/internal/app.go`, `UpdateFeeStatsState`: `last_ledger` and
//!   `last_ledger_base_fee` are the latest ledger's sequence and header base fee (the network's
//!   base fee, not the surge price); when the last 5 ledgers hold no transaction every figure
//!   of both distributions is that base fee.
//! - `services/horizon/internal/db2/history/operation.go`, `FeeStats`: over the transactions of
//!   ledgers `(last - 5, last]` (failed ones too), per transaction `fee_charged / ops` and
//!   `COALESCE(new_max_fee, max_fee) / ops`, where `ops` is the operation count plus one for a
//!   fee bump and `/` is integer division (`bigint / integer`, so `ceil` changes nothing);
//!   `pNN` is `percentile_disc(0.NN)`, `min`, `max`, and `mode()` (the most frequent value,
//!   the smallest on a tie).
//! - `services/horizon/internal/db2/history/ledger.go`, `LedgerCapacityUsageStats`:
//!   `ROUND(SUM(operation_count) / SUM(max_tx_set_size), 2)` over the same 5 ledgers, where a
//!   ledger's `operation_count` is the operations of all its transactions (a fee bump's inner
//!   ones). Note: over 5 ledgers, not the last one alone.
//! - `services/horizon/internal/actions/fee_stats.go` and `protocols/horizon/main.go`
//!   (`FeeStats`, `FeeDistribution`): every figure is a JSON string; the capacity usage is
//!   parsed into a `float64` and rendered as Go renders it (`"0.5"`, `"1"`, `"0.67"`).

use crate::history::{History, TxRecord};
use crate::state::BASE_FEE;

/// How many ledgers back Horizon looks (hard-coded there as well).
pub const LEDGERS: u32 = 5;

/// The percentiles Horizon reports, in order.
pub const PERCENTILES: [u32; 11] = [10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99];

/// One of Horizon's `FeeDistribution`s, in stroops per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Distribution {
    /// Largest value.
    pub max: i64,
    /// Smallest value.
    pub min: i64,
    /// Most frequent value (the smallest of the most frequent).
    pub mode: i64,
    /// `percentile_disc` at each of [`PERCENTILES`].
    pub percentiles: [i64; 11],
}

impl Distribution {
    /// Every figure the same (what Horizon shows when there were no transactions).
    pub fn constant(value: i64) -> Self {
        Self {
            max: value,
            min: value,
            mode: value,
            percentiles: [value; 11],
        }
    }

    /// The distribution of `values` as PostgreSQL's aggregates compute it; `None` when empty.
    pub fn of(mut values: Vec<i64>) -> Option<Self> {
        values.sort_unstable();
        let (&min, &max) = (values.first()?, values.last()?);
        let mut percentiles = [0; 11];
        for (slot, p) in percentiles.iter_mut().zip(PERCENTILES) {
            *slot = values[percentile_disc_index(f64::from(p) / 100.0, values.len())];
        }
        Some(Self {
            max,
            min,
            mode: mode(&values),
            percentiles,
        })
    }
}

/// The 0-based row `percentile_disc(fraction)` returns among `rows` sorted rows: PostgreSQL's
/// `percentile_disc_final` takes row `ceil(fraction * rows)` (1-based, at least the first),
/// computed in `float8` as here.
fn percentile_disc_index(fraction: f64, rows: usize) -> usize {
    let row = (fraction * rows as f64).ceil() as usize;
    row.clamp(1, rows) - 1
}

/// PostgreSQL's `mode()` of sorted values: the most frequent, the first (smallest) on a tie.
fn mode(sorted: &[i64]) -> i64 {
    let (mut best, mut best_count) = (sorted[0], 0);
    let mut run_start = 0;
    for i in 1..=sorted.len() {
        if i == sorted.len() || sorted[i] != sorted[run_start] {
            if i - run_start > best_count {
                (best, best_count) = (sorted[run_start], i - run_start);
            }
            run_start = i;
        }
    }
    best
}

/// What `GET /fee_stats` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeStats {
    /// The latest ledger.
    pub last_ledger: u32,
    /// Its base fee (the network's, 100 stroops in the sandbox).
    pub last_ledger_base_fee: i64,
    /// Operations over capacity in the last [`LEDGERS`] ledgers, in hundredths, rounded half
    /// away from zero as PostgreSQL's `ROUND(numeric, 2)` does.
    pub capacity_usage_hundredths: u64,
    /// Fee charged per operation.
    pub fee_charged: Distribution,
    /// Fee bid per operation.
    pub max_fee: Distribution,
}

impl FeeStats {
    /// The statistics of the last [`LEDGERS`] ledgers of `history`.
    pub fn of(history: &History) -> Self {
        let last = history.latest_ledger().map_or(0, |l| l.sequence);
        let first = last.saturating_sub(LEDGERS); // exclusive
        let ledgers = history
            .ledgers
            .iter()
            .filter(|l| l.sequence > first && l.sequence <= last);
        let (ops, capacity) = ledgers.fold((0u64, 0u64), |(ops, cap), l| {
            (
                ops + u64::from(l.tx_set_operation_count),
                cap + u64::from(l.max_tx_set_size),
            )
        });
        let capacity_usage_hundredths = if capacity == 0 {
            0
        } else {
            (200 * ops + capacity) / (2 * capacity)
        };
        let start = history.transactions.partition_point(|t| t.ledger <= first);
        let recent = &history.transactions[start..];
        let per_op = |value: fn(&TxRecord) -> i64| {
            recent
                .iter()
                .map(|t| value(t) / i64::from(t.fee_operations.max(1)))
                .collect::<Vec<_>>()
        };
        // The header's base fee: surge pricing never changes it.
        let base = BASE_FEE;
        Self {
            last_ledger: last,
            last_ledger_base_fee: base,
            capacity_usage_hundredths,
            fee_charged: Distribution::of(per_op(|t| t.fee_charged))
                .unwrap_or(Distribution::constant(base)),
            max_fee: Distribution::of(per_op(|t| t.max_fee))
                .unwrap_or(Distribution::constant(base)),
        }
    }

    /// `ledger_capacity_usage` as Horizon renders it: the rounded value as a Go `float64` in
    /// a JSON string (`"0"`, `"0.5"`, `"0.67"`, `"1"`).
    pub fn capacity_usage(&self) -> String {
        let (whole, cents) = (
            self.capacity_usage_hundredths / 100,
            self.capacity_usage_hundredths % 100,
        );
        match cents {
            0 => whole.to_string(),
            c if c % 10 == 0 => format!("{whole}.{}", c / 10),
            c => format!("{whole}.{c:02}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_disc_matches_postgres() {
        // 10 rows: p10 is row 1, p50 row 5, p95 row 10, p99 row 10.
        let d = Distribution::of((1..=10).map(|v| v * 100).collect()).unwrap();
        assert_eq!(
            d.percentiles,
            [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1000]
        );
        // 3 rows: ceil(0.1*3)=1, ceil(0.4*3)=2, ceil(0.7*3)=3.
        let d = Distribution::of(vec![300, 100, 200]).unwrap();
        assert_eq!(
            d.percentiles,
            [100, 100, 100, 200, 200, 200, 300, 300, 300, 300, 300]
        );
        assert_eq!((d.min, d.max), (100, 300));
        assert!(Distribution::of(Vec::new()).is_none());
    }

    #[test]
    fn mode_is_the_smallest_of_the_most_frequent() {
        assert_eq!(mode(&[1, 2, 2, 3, 3]), 2);
        assert_eq!(mode(&[1, 2, 3]), 1);
        assert_eq!(mode(&[5, 7, 7, 7]), 7);
        assert_eq!(mode(&[4]), 4);
    }

    #[test]
    fn capacity_usage_renders_as_go_renders_a_float() {
        let render = |h| {
            FeeStats {
                last_ledger: 1,
                last_ledger_base_fee: 100,
                capacity_usage_hundredths: h,
                fee_charged: Distribution::constant(100),
                max_fee: Distribution::constant(100),
            }
            .capacity_usage()
        };
        assert_eq!(render(0), "0");
        assert_eq!(render(5), "0.05");
        assert_eq!(render(50), "0.5");
        assert_eq!(render(67), "0.67");
        assert_eq!(render(100), "1");
        assert_eq!(render(101), "1.01");
    }
}
