//! The fee policy: what a payment bids per operation.
//!
//! The bid follows the network: a percentile (`[fees] percentile`, default 70) of the fees
//! recently charged per operation, as Horizon's `/fee_stats` reports them (`fee_charged`),
//! never below `base_fee` and never above `max_fee`. When that percentile is above `max_fee`
//! the network's price is beyond the cap: the payment bids `max_fee` and waits for the price
//! to fall (a request still waiting after `pending_wait_seconds` answers 202
//! `transaction_pending` with `data.reason` `fee_cap`). Fee stats are cached for
//! [`STATS_TTL`]; when Horizon cannot give them, the last ones known are used, or `base_fee`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use horizon::{FeeStats, HorizonClient};

/// How long fee stats are reused before asking Horizon again.
pub const STATS_TTL: Duration = Duration::from_secs(3);

/// A bid, and whether the cap held it below the network's price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    /// Fee per operation to bid, in stroops: within `base_fee..=max_fee`.
    pub fee: u32,
    /// The network's price per operation (the configured percentile of `fee_charged`), when
    /// it is above `max_fee`: the payment is priced out and waits.
    pub over_cap: Option<i64>,
}

/// The fee policy; cheap to clone (the cache is shared).
#[derive(Clone, Debug)]
pub struct FeePolicy {
    horizon: HorizonClient,
    percentile: u8,
    base_fee: u32,
    max_fee: u32,
    cache: Arc<Mutex<Option<(Instant, FeeStats)>>>,
}

impl FeePolicy {
    /// Bids the `percentile` of recent fees charged, within `base_fee..=max_fee`.
    pub fn new(horizon: HorizonClient, percentile: u8, base_fee: u32, max_fee: u32) -> Self {
        Self {
            horizon,
            percentile,
            base_fee,
            max_fee: max_fee.max(base_fee),
            cache: Arc::default(),
        }
    }

    /// The cap, in stroops per operation.
    pub fn max_fee(&self) -> u32 {
        self.max_fee
    }

    /// The fee per operation to bid now.
    pub async fn price(&self) -> Price {
        match self.stats().await {
            Some(stats) => self.price_from(&stats),
            None => Price {
                fee: self.base_fee,
                over_cap: None,
            },
        }
    }

    /// The bid for `stats`.
    pub fn price_from(&self, stats: &FeeStats) -> Price {
        let charged = &stats.fee_charged;
        let wanted = charged.percentile(self.percentile).unwrap_or(charged.p50);
        if wanted > i64::from(self.max_fee) {
            return Price {
                fee: self.max_fee,
                over_cap: Some(wanted),
            };
        }
        let fee = u32::try_from(wanted.max(0)).unwrap_or(self.max_fee);
        Price {
            fee: fee.clamp(self.base_fee, self.max_fee),
            over_cap: None,
        }
    }

    /// Fee stats at most [`STATS_TTL`] old, or the last known when Horizon fails.
    async fn stats(&self) -> Option<FeeStats> {
        let cached = self.cache.lock().expect("fee cache lock").clone();
        if let Some((at, stats)) = &cached
            && at.elapsed() < STATS_TTL
        {
            return Some(stats.clone());
        }
        match self.horizon.fee_stats().await {
            Ok(stats) => {
                *self.cache.lock().expect("fee cache lock") = Some((Instant::now(), stats.clone()));
                Some(stats)
            }
            Err(e) => {
                tracing::warn!(error = %e, "fee stats unavailable; using the last known fees");
                cached.map(|(_, stats)| stats)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use horizon::FeeDistribution;

    fn stats(p70: i64) -> FeeStats {
        let dist = FeeDistribution {
            p70,
            p50: 100,
            ..FeeDistribution::default()
        };
        FeeStats {
            last_ledger: 1,
            last_ledger_base_fee: 100,
            ledger_capacity_usage: "1.00".into(),
            fee_charged: dist,
            max_fee: dist,
        }
    }

    #[test]
    fn the_bid_follows_the_percentile_within_base_fee_and_max_fee() {
        let client = HorizonClient::new("http://127.0.0.1:1", &Default::default()).unwrap();
        let policy = FeePolicy::new(client, 70, 100, 2_000);
        let bid = |p70| policy.price_from(&stats(p70));
        assert_eq!(
            bid(0),
            Price {
                fee: 100,
                over_cap: None
            }
        );
        assert_eq!(
            bid(100),
            Price {
                fee: 100,
                over_cap: None
            }
        );
        assert_eq!(
            bid(1_500),
            Price {
                fee: 1_500,
                over_cap: None
            }
        );
        assert_eq!(
            bid(2_000),
            Price {
                fee: 2_000,
                over_cap: None
            }
        );
        assert_eq!(
            bid(2_001),
            Price {
                fee: 2_000,
                over_cap: Some(2_001)
            }
        );
    }
}
