//! The crossing arithmetic of the order book, ported from stellar-core's
//! `src/transactions/OfferExchange.cpp` (`exchangeV10`, `exchangeV10WithoutPriceErrorThresholds`,
//! `applyPriceErrorThresholds`, `checkPriceErrorBound`, `adjustOffer`) and
//! `src/util/numeric.cpp` (`bigDivide`, `bigDivide128`).
//!
//! Everything is integer arithmetic with 128-bit intermediate products, as in core: amounts
//! are stroops (`i64`), prices are `n/d` with positive `i32` terms. The names follow core's:
//! an offer in the book sells *wheat* and buys *sheep*; whoever crosses it sends sheep and
//! receives wheat.

use stellar_base::xdr;

/// How `exchangeV10` rounds, which depends on the operation crossing the book
/// (core's `RoundingType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Offers crossing offers (manage_sell_offer, manage_buy_offer, and `adjustOffer`): both
    /// sides must get a price within 1% of the offer's, or nothing trades.
    Normal,
    /// path_payment_strict_receive: the amount received is what counts, the offer in the book
    /// may be favoured arbitrarily (send_max bounds the cost).
    PathPaymentStrictReceive,
    /// path_payment_strict_send: every sheep offered is sent, the offer in the book may be
    /// favoured arbitrarily (dest_min bounds the outcome).
    PathPaymentStrictSend,
}

/// What one crossing trades (core's `ExchangeResultV10`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    /// Wheat the crossing party receives (the offer in the book sells it).
    pub wheat_received: i64,
    /// Sheep the crossing party sends (the offer in the book buys it).
    pub sheep_send: i64,
    /// True when the offer in the book is the larger one and stays (partly) in the book.
    pub wheat_stays: bool,
}

/// `a * b / c` rounded down or up, `None` when it does not fit an `i64` (core's `bigDivide`).
/// `a` and `b` must be non-negative and `c` positive.
pub fn big_divide(a: i64, b: i64, c: i64, round_up: bool) -> Option<i64> {
    debug_assert!(a >= 0 && b >= 0 && c > 0);
    let product = u128::from(a.unsigned_abs()) * u128::from(b.unsigned_abs());
    big_divide_128(product, c, round_up)
}

/// `a / b` rounded down or up, `None` when it does not fit an `i64` (core's `bigDivide128`).
pub fn big_divide_128(a: u128, b: i64, round_up: bool) -> Option<i64> {
    debug_assert!(b > 0);
    let b = u128::from(b.unsigned_abs());
    let x = if round_up {
        a.checked_add(b - 1)? / b
    } else {
        a / b
    };
    i64::try_from(x).ok()
}

/// core's `bigDivideOrThrow`: the proofs in OfferExchange.cpp show these divisions never
/// overflow where they are used; should one, the result saturates instead of aborting.
fn divide(a: i64, b: i64, c: i64, round_up: bool) -> i64 {
    big_divide(a, b, c, round_up).unwrap_or(i64::MAX)
}

fn divide_128(a: u128, b: i64, round_up: bool) -> i64 {
    big_divide_128(a, b, round_up).unwrap_or(i64::MAX)
}

fn multiply(a: i64, b: i64) -> u128 {
    u128::from(a.max(0).unsigned_abs()) * u128::from(b.max(0).unsigned_abs())
}

/// core's `calculateOfferValue`: `min(maxSend * priceN, maxReceive * priceD)`.
fn offer_value(price_n: i32, price_d: i32, max_send: i64, max_receive: i64) -> u128 {
    multiply(max_send, i64::from(price_n)).min(multiply(max_receive, i64::from(price_d)))
}

/// core's `checkPriceErrorBound`: the effective price `sheepSend / wheatReceive` is within 1%
/// of `price`; with `can_favor_wheat`, any error in favour of the wheat seller is accepted.
pub fn check_price_error_bound(
    price: &xdr::Price,
    wheat_receive: i64,
    sheep_send: i64,
    can_favor_wheat: bool,
) -> bool {
    let err_n = 100 * i64::from(price.n);
    let err_d = 100 * i64::from(price.d);
    let lhs = multiply(err_n, wheat_receive);
    let rhs = multiply(err_d, sheep_send);
    if can_favor_wheat && rhs > lhs {
        return true;
    }
    let abs_diff = lhs.abs_diff(rhs);
    let cap = multiply(i64::from(price.n), wheat_receive);
    abs_diff <= cap
}

/// core's `exchangeV10WithoutPriceErrorThresholds`: how much crosses, before the 1% rule.
/// Also what offer liabilities are computed with (`getOfferBuyingLiabilities` is its
/// `sheep_send`, `getOfferSellingLiabilities` its `wheat_received`, with every limit but the
/// offer's amount at `i64::MAX`).
pub fn exchange_v10_without_price_error_thresholds(
    price: &xdr::Price,
    max_wheat_send: i64,
    max_wheat_receive: i64,
    max_sheep_send: i64,
    max_sheep_receive: i64,
    round: Rounding,
) -> Exchange {
    let wheat_value = offer_value(price.n, price.d, max_wheat_send, max_sheep_receive);
    let sheep_value = offer_value(price.d, price.n, max_sheep_send, max_wheat_receive);
    let wheat_stays = wheat_value > sheep_value;
    let n = i64::from(price.n);
    let d = i64::from(price.d);
    let (wheat_received, sheep_send) = if wheat_stays {
        if round == Rounding::PathPaymentStrictSend {
            let wheat = divide_128(sheep_value, n, false);
            (wheat, max_sheep_send.min(max_sheep_receive))
        } else if n > d || round == Rounding::PathPaymentStrictReceive {
            // Wheat is more valuable.
            let wheat = divide_128(sheep_value, n, false);
            (wheat, divide(wheat, n, d, true))
        } else {
            // Sheep is more valuable.
            let sheep = divide_128(sheep_value, d, false);
            (divide(sheep, d, n, false), sheep)
        }
    } else if n > d {
        let wheat = divide_128(wheat_value, n, false);
        (wheat, divide(wheat, n, d, false))
    } else {
        let sheep = divide_128(wheat_value, d, false);
        (divide(sheep, d, n, true), sheep)
    };
    debug_assert!(
        (0..=max_wheat_receive.min(max_wheat_send)).contains(&wheat_received),
        "wheatReceive out of bounds"
    );
    debug_assert!(
        (0..=max_sheep_receive.min(max_sheep_send)).contains(&sheep_send),
        "sheepSend out of bounds"
    );
    Exchange {
        wheat_received,
        sheep_send,
        wheat_stays,
    }
}

/// core's `applyPriceErrorThresholds`: with [`Rounding::Normal`], a crossing whose effective
/// price is more than 1% off the offer's trades nothing.
pub fn apply_price_error_thresholds(
    price: &xdr::Price,
    wheat_receive: i64,
    sheep_send: i64,
    wheat_stays: bool,
    round: Rounding,
) -> Exchange {
    let (mut wheat_receive, mut sheep_send) = (wheat_receive, sheep_send);
    if wheat_receive > 0 && sheep_send > 0 {
        if round == Rounding::Normal {
            if !check_price_error_bound(price, wheat_receive, sheep_send, false) {
                wheat_receive = 0;
                sheep_send = 0;
            }
        } else {
            // Core throws "exceeded price error bound" here; it is proven unreachable.
            debug_assert!(check_price_error_bound(
                price,
                wheat_receive,
                sheep_send,
                true
            ));
        }
    } else if round != Rounding::PathPaymentStrictSend {
        wheat_receive = 0;
        sheep_send = 0;
    }
    Exchange {
        wheat_received: wheat_receive,
        sheep_send,
        wheat_stays,
    }
}

/// core's `exchangeV10`: what crossing an offer selling wheat at `price` (at most
/// `max_wheat_send` of it, its seller able to take `max_sheep_receive`) trades with someone
/// who wants at most `max_wheat_receive` and can send at most `max_sheep_send`.
pub fn exchange_v10(
    price: &xdr::Price,
    max_wheat_send: i64,
    max_wheat_receive: i64,
    max_sheep_send: i64,
    max_sheep_receive: i64,
    round: Rounding,
) -> Exchange {
    let before = exchange_v10_without_price_error_thresholds(
        price,
        max_wheat_send,
        max_wheat_receive,
        max_sheep_send,
        max_sheep_receive,
        round,
    );
    apply_price_error_thresholds(
        price,
        before.wheat_received,
        before.sheep_send,
        before.wheat_stays,
        round,
    )
}

/// core's `adjustOffer(price, maxWheatSend, maxSheepReceive)`: the amount an offer may keep in
/// the book so that crossing all of it obeys the 1% rule and its seller's limits.
pub fn adjust_offer(price: &xdr::Price, max_wheat_send: i64, max_sheep_receive: i64) -> i64 {
    exchange_v10(
        price,
        max_wheat_send,
        i64::MAX,
        i64::MAX,
        max_sheep_receive,
        Rounding::Normal,
    )
    .wheat_received
}

/// The liabilities of an offer of `amount` at `price` (core's `getOfferBuyingLiabilities` and
/// `getOfferSellingLiabilities`): `(buying, selling)`.
pub fn offer_liabilities(price: &xdr::Price, amount: i64) -> (i64, i64) {
    let res = exchange_v10_without_price_error_thresholds(
        price,
        amount,
        i64::MAX,
        i64::MAX,
        i64::MAX,
        Rounding::Normal,
    );
    (res.sheep_send, res.wheat_received)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(n: i32, d: i32) -> xdr::Price {
        xdr::Price { n, d }
    }

    #[test]
    fn big_divide_rounds_and_overflows_like_core() {
        assert_eq!(big_divide(7, 3, 2, false), Some(10));
        assert_eq!(big_divide(7, 3, 2, true), Some(11));
        assert_eq!(big_divide(i64::MAX, 2, 1, false), None);
        assert_eq!(big_divide(i64::MAX, 2, 2, true), Some(i64::MAX));
    }

    #[test]
    fn liabilities_of_an_offer() {
        // 100 XLM at 2 USD/XLM buys 200 USD.
        assert_eq!(
            offer_liabilities(&price(2, 1), 1_000_000_000),
            (2_000_000_000, 1_000_000_000)
        );
        // 3 stroops at 1/3: sheep = floor(3 * 1 / 3) = 1, wheat = ceil(1 * 3 / 1) = 3.
        assert_eq!(offer_liabilities(&price(1, 3), 3), (1, 3));
        // 1 stroop at 1/2 is worth nothing: 0 sheep, and then 0 wheat.
        assert_eq!(offer_liabilities(&price(1, 2), 1), (0, 0));
    }

    #[test]
    fn the_one_percent_rule_stops_lopsided_trades() {
        // Selling 1 stroop at 3/2 to someone sending at most 1: sheep 1 for wheat 0 (!) would be
        // infinitely off; exchangeV10 gives nothing.
        let res = exchange_v10(&price(3, 2), 1, i64::MAX, 1, i64::MAX, Rounding::Normal);
        assert_eq!((res.wheat_received, res.sheep_send), (0, 0));
        // adjustOffer removes such an offer altogether: 1 stroop at 3/2 would get 1 stroop.
        assert_eq!(adjust_offer(&price(3, 2), 1, i64::MAX), 0);
        assert_eq!(adjust_offer(&price(1, 3), 1, i64::MAX), 0);
        // 2 stroops at 3/2 get exactly 3: kept.
        assert_eq!(adjust_offer(&price(3, 2), 2, i64::MAX), 2);
    }

    #[test]
    fn a_smaller_crossing_takes_part_of_the_book() {
        // Offer sells 100 wheat at 1/2 (0.5 sheep per wheat); the taker sends 10 sheep.
        let res = exchange_v10(&price(1, 2), 100, i64::MAX, 10, i64::MAX, Rounding::Normal);
        assert_eq!(res.wheat_received, 20);
        assert_eq!(res.sheep_send, 10);
        assert!(res.wheat_stays);
        // Strict send, 7 sheep at 3/1: wheat = floor(7 / 3) = 2, all 7 sheep go.
        let res = exchange_v10(
            &price(3, 1),
            100,
            i64::MAX,
            7,
            i64::MAX,
            Rounding::PathPaymentStrictSend,
        );
        assert_eq!((res.wheat_received, res.sheep_send), (2, 7));
        // Strict receive of 5 wheat at 1/3: sheep = ceil(5 * 1 / 3) = 2.
        let res = exchange_v10(
            &price(1, 3),
            100,
            5,
            i64::MAX,
            i64::MAX,
            Rounding::PathPaymentStrictReceive,
        );
        assert_eq!((res.wheat_received, res.sheep_send), (5, 2));
    }
}
