//! The order book: manage_sell_offer, manage_buy_offer, create_passive_sell_offer and path
//! payments converting through offers, with stellar-core's rules and result codes.
//!
//! Ported from stellar-core's `src/transactions/OfferExchange.cpp` (`crossOfferV10`,
//! `convertWithOffers`, `adjustOffer`, `canSellAtMost`, `canBuyAtMost`),
//! `ManageOfferOpFrameBase.cpp`, `ManageSellOfferOpFrame.cpp`, `ManageBuyOfferOpFrame.cpp`,
//! `PathPaymentOpFrameBase.cpp`, `PathPaymentStrictSendOpFrame.cpp`,
//! `PathPaymentStrictReceiveOpFrame.cpp` and the liabilities of `TransactionUtils.cpp`, as of
//! protocol 20+ without liquidity pools. The arithmetic is in [`crate::exchange`].
//!
//! An issuer holds no trustline for its own asset: as core's `TrustLineWrapper::IssuerImpl`,
//! it may sell and receive any amount of it, always authorized, without liabilities.

use stellar_base::{AccountAddress, Amount, Asset, Operation, PublicKey, xdr};

use crate::exchange::{Rounding, adjust_offer, exchange_v10, offer_liabilities};
use crate::state::{Offer, Overlay, PASSIVE_FLAG};

/// Most offers one operation may cross (core's `getMaxOffersToCross`, `MAX_OFFERS_TO_CROSS`).
pub const MAX_OFFERS_TO_CROSS: i64 = 1000;

/// Most subentries an account may have (core's `ACCOUNT_SUBENTRY_LIMIT`).
pub const ACCOUNT_SUBENTRY_LIMIT: u32 = 1000;

/// A manage_sell_offer operation, as stellar-base has no builder for it: sell `amount` of
/// `selling` for `buying` at `price_n / price_d` units of buying per unit of selling.
/// `offer_id` 0 creates an offer; an existing id updates it, or deletes it with an amount of 0.
pub fn manage_sell_offer(
    selling: &Asset,
    buying: &Asset,
    amount: Amount,
    price_n: i32,
    price_d: i32,
    offer_id: i64,
) -> Operation {
    operation(xdr::OperationBody::ManageSellOffer(
        xdr::ManageSellOfferOp {
            selling: selling.to_xdr(),
            buying: buying.to_xdr(),
            amount: amount.stroops(),
            price: xdr::Price {
                n: price_n,
                d: price_d,
            },
            offer_id,
        },
    ))
}

/// A manage_buy_offer operation: buy `buy_amount` of `buying` paying with `selling` at
/// `price_n / price_d` units of selling per unit of buying (the price is the inverse of the
/// resting offer's).
pub fn manage_buy_offer(
    selling: &Asset,
    buying: &Asset,
    buy_amount: Amount,
    price_n: i32,
    price_d: i32,
    offer_id: i64,
) -> Operation {
    operation(xdr::OperationBody::ManageBuyOffer(xdr::ManageBuyOfferOp {
        selling: selling.to_xdr(),
        buying: buying.to_xdr(),
        buy_amount: buy_amount.stroops(),
        price: xdr::Price {
            n: price_n,
            d: price_d,
        },
        offer_id,
    }))
}

/// A create_passive_sell_offer operation: as [`manage_sell_offer`] creating an offer, that
/// does not take offers at exactly its price.
pub fn create_passive_sell_offer(
    selling: &Asset,
    buying: &Asset,
    amount: Amount,
    price_n: i32,
    price_d: i32,
) -> Operation {
    operation(xdr::OperationBody::CreatePassiveSellOffer(
        xdr::CreatePassiveSellOfferOp {
            selling: selling.to_xdr(),
            buying: buying.to_xdr(),
            amount: amount.stroops(),
            price: xdr::Price {
                n: price_n,
                d: price_d,
            },
        },
    ))
}

fn operation(body: xdr::OperationBody) -> Operation {
    Operation(xdr::Operation {
        source_account: None,
        body,
    })
}

// --- Balances, limits and liabilities (TransactionUtils.cpp, TrustLineWrapper.cpp) ---

fn is_issuer(id: &PublicKey, asset: &Asset) -> bool {
    asset.issuer().as_ref() == Some(id)
}

/// The holder has a "trustline" for `asset`: a real one, or is its issuer.
fn has_line(ov: &Overlay<'_>, id: &PublicKey, asset: &Asset) -> bool {
    is_issuer(id, asset) || ov.get(id).and_then(|a| a.trustline(asset)).is_some()
}

/// Fully authorized (issuers always are).
fn line_authorized(ov: &Overlay<'_>, id: &PublicKey, asset: &Asset) -> bool {
    is_issuer(id, asset)
        || ov
            .get(id)
            .and_then(|a| a.trustline(asset))
            .is_some_and(|l| l.is_authorized())
}

/// core's `canSellAtMost`: what `id` may part with of `asset`.
fn can_sell_at_most(ov: &Overlay<'_>, id: &PublicKey, asset: &Asset) -> i64 {
    let Some(account) = ov.get(id) else {
        return 0;
    };
    match asset {
        Asset::Native => account.available(),
        _ if is_issuer(id, asset) => i64::MAX,
        _ => account
            .trustline(asset)
            .filter(|l| l.is_authorized_to_maintain_liabilities())
            .map_or(0, |l| l.available().max(0)),
    }
}

/// core's `canBuyAtMost`: what `id` may still receive of `asset`.
fn can_buy_at_most(ov: &Overlay<'_>, id: &PublicKey, asset: &Asset) -> i64 {
    let Some(account) = ov.get(id) else {
        return 0;
    };
    match asset {
        Asset::Native => account.max_receive().max(0),
        _ if is_issuer(id, asset) => i64::MAX,
        _ => account
            .trustline(asset)
            .map_or(0, |l| l.max_receive().max(0)),
    }
}

/// core's `getAvailableBalance` (not clamped at 0): issuers have `i64::MAX`.
fn available_balance(ov: &Overlay<'_>, id: &PublicKey, asset: &Asset) -> i64 {
    let Some(account) = ov.get(id) else {
        return 0;
    };
    match asset {
        Asset::Native => account.balance - account.min_balance() - account.selling_liabilities,
        _ if is_issuer(id, asset) => i64::MAX,
        _ => account.trustline(asset).map_or(0, |l| l.available()),
    }
}

/// core's `getMaxAmountReceive`: issuers have `i64::MAX`.
fn available_limit(ov: &Overlay<'_>, id: &PublicKey, asset: &Asset) -> i64 {
    let Some(account) = ov.get(id) else {
        return 0;
    };
    match asset {
        Asset::Native => account.max_receive(),
        _ if is_issuer(id, asset) => i64::MAX,
        _ => account.trustline(asset).map_or(0, |l| l.max_receive()),
    }
}

/// core's `addBalance` (and `TrustLineWrapper::addBalance`): false, and nothing changed, when
/// the balance would leave its bounds or the line is not even authorized to maintain
/// liabilities. An issuer's own asset always succeeds and changes nothing.
fn add_balance(ov: &mut Overlay<'_>, id: &PublicKey, asset: &Asset, delta: i64) -> bool {
    if delta == 0 || is_issuer(id, asset) {
        return true;
    }
    let Some(account) = ov.get_mut(id) else {
        return false;
    };
    match asset {
        Asset::Native => account.add_balance(delta),
        _ => account.trustline_mut(asset).is_some_and(|line| {
            line.is_authorized_to_maintain_liabilities() && line.add_balance(delta)
        }),
    }
}

/// core's `acquireLiabilities` (`sign` 1) and `releaseLiabilities` (`sign` -1) for an offer.
fn change_liabilities(ov: &mut Overlay<'_>, offer: &Offer, sign: i64) {
    let (buying, selling) = offer_liabilities(&offer.price, offer.amount);
    let seller = offer.seller;
    if let Some(account) = ov.get_mut(&seller) {
        for (asset, amount, is_buying) in [
            (&offer.buying, buying, true),
            (&offer.selling, selling, false),
        ] {
            let delta = sign * amount;
            match asset {
                Asset::Native if is_buying => account.buying_liabilities += delta,
                Asset::Native => account.selling_liabilities += delta,
                _ if is_issuer(&seller, asset) => {}
                _ => {
                    if let Some(line) = account.trustline_mut(asset) {
                        if is_buying {
                            line.buying_liabilities += delta;
                        } else {
                            line.selling_liabilities += delta;
                        }
                    }
                }
            }
        }
    }
}

/// Deletes an offer from the book with its liabilities, and its subentry (core's
/// `releaseLiabilities` then `removeEntryWithPossibleSponsorship`).
pub(crate) fn delete_offer(ov: &mut Overlay<'_>, offer: &Offer) {
    change_liabilities(ov, offer, -1);
    ov.remove_offer(offer.id);
    if let Some(account) = ov.get_mut(&offer.seller) {
        account.num_subentries = account.num_subentries.saturating_sub(1);
    }
}

/// Deletes every offer of `seller` buying or selling `asset`, as revoking a trustline's
/// authorization does (core's `removeOffersAndPoolShareTrustLines`, without pools).
pub(crate) fn delete_offers_involving(ov: &mut Overlay<'_>, seller: &PublicKey, asset: &Asset) {
    for offer in ov.offers_of(seller) {
        if &offer.selling == asset || &offer.buying == asset {
            delete_offer(ov, &offer);
        }
    }
}

// --- Crossing the book (OfferExchange.cpp) ---

/// How [`convert_with_offers`] ended (core's `ConvertResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Convert {
    /// Everything asked for was converted, or the last offer crossed stays in the book.
    Ok,
    /// The book ran out (or an offer was only partly taken) before the limits were reached.
    Partial,
    /// The filter met an offer at a worse price than wanted.
    StopBadPrice,
    /// The filter met an offer of the account converting.
    StopCrossSelf,
    /// More than the allowed number of offers would be crossed.
    CrossedTooMany,
}

/// What the filter says about the best offer (core's `OfferFilterResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    Keep,
    StopBadPrice,
    StopCrossSelf,
}

/// What a conversion moved.
#[derive(Debug, Default)]
struct Converted {
    sheep_send: i64,
    wheat_received: i64,
    trail: Vec<xdr::ClaimAtom>,
}

/// core's `crossOfferV10`: crosses the best `offer` (it sells wheat, buys sheep) with someone
/// who wants at most `max_wheat_received` and sends at most `max_sheep_send`. Moves the
/// seller's balances, updates or deletes the offer, and returns `(wheat received, sheep sent,
/// wheat stays)` with the claim atom pushed onto `trail`.
fn cross_offer_v10(
    ov: &mut Overlay<'_>,
    mut offer: Offer,
    max_wheat_received: i64,
    max_sheep_send: i64,
    round: Rounding,
    trail: &mut Vec<xdr::ClaimAtom>,
) -> (i64, i64, bool) {
    let seller = offer.seller;
    let wheat = offer.selling.clone();
    let sheep = offer.buying.clone();
    // Remove the liabilities of the offer being crossed.
    change_liabilities(ov, &offer, -1);
    // As of protocol 10 this adjustment has no effect; core keeps it as a safeguard.
    let max_wheat_send = offer.amount.min(can_sell_at_most(ov, &seller, &wheat));
    offer.amount = adjust_offer(
        &offer.price,
        max_wheat_send,
        can_buy_at_most(ov, &seller, &sheep),
    );
    let max_wheat_send = offer.amount.min(can_sell_at_most(ov, &seller, &wheat));
    let max_sheep_receive = can_buy_at_most(ov, &seller, &sheep);
    let exchange = exchange_v10(
        &offer.price,
        max_wheat_send,
        max_wheat_received,
        max_sheep_send,
        max_sheep_receive,
        round,
    );
    let wheat_received = exchange.wheat_received;
    let sheep_send = exchange.sheep_send;
    // Core throws on these overflows; exchangeV10 keeps both within the seller's limits.
    let credited = add_balance(ov, &seller, &sheep, sheep_send);
    let debited = add_balance(ov, &seller, &wheat, -wheat_received);
    debug_assert!(
        credited && debited,
        "crossing an offer overflowed a balance"
    );
    if exchange.wheat_stays {
        offer.amount -= wheat_received;
        let max_wheat_send = offer.amount.min(can_sell_at_most(ov, &seller, &wheat));
        offer.amount = adjust_offer(
            &offer.price,
            max_wheat_send,
            can_buy_at_most(ov, &seller, &sheep),
        );
    } else {
        offer.amount = 0;
    }
    let offer_id = offer.id;
    if offer.amount == 0 {
        ov.remove_offer(offer_id);
        if let Some(account) = ov.get_mut(&seller) {
            account.num_subentries = account.num_subentries.saturating_sub(1);
        }
    } else {
        change_liabilities(ov, &offer, 1);
        ov.put_offer(offer);
    }
    trail.push(xdr::ClaimAtom::OrderBook(xdr::ClaimOfferAtom {
        seller_id: seller.to_account_id(),
        offer_id,
        asset_sold: wheat.to_xdr(),
        amount_sold: wheat_received,
        asset_bought: sheep.to_xdr(),
        amount_bought: sheep_send,
    }));
    (wheat_received, sheep_send, exchange.wheat_stays)
}

/// core's `convertWithOffers`: sends up to `max_sheep_send` of `sheep` to receive up to
/// `max_wheat_receive` of `wheat`, crossing the offers selling wheat for sheep best first
/// while `filter` keeps them. `max_offers` is how many offers may still be crossed.
#[allow(clippy::too_many_arguments)] // core's signature, kept for side-by-side reading
fn convert_with_offers(
    ov: &mut Overlay<'_>,
    sheep: &Asset,
    mut max_sheep_send: i64,
    wheat: &Asset,
    mut max_wheat_receive: i64,
    round: Rounding,
    filter: &dyn Fn(&Offer) -> Filter,
    max_offers: i64,
) -> (Convert, Converted) {
    let mut out = Converted::default();
    let mut need_more = max_wheat_receive > 0 && max_sheep_send > 0;
    if need_more && max_offers == 0 {
        return (Convert::CrossedTooMany, out);
    }
    while need_more {
        let Some(offer) = ov.best_offer(wheat, sheep) else {
            break;
        };
        match filter(&offer) {
            Filter::Keep => {}
            Filter::StopBadPrice => return (Convert::StopBadPrice, out),
            Filter::StopCrossSelf => return (Convert::StopCrossSelf, out),
        }
        if out.trail.len() as i64 >= max_offers {
            return (Convert::CrossedTooMany, out);
        }
        let before = out.trail.len();
        let (wheat_received, sheep_send, wheat_stays) = cross_offer_v10(
            ov,
            offer,
            max_wheat_receive,
            max_sheep_send,
            round,
            &mut out.trail,
        );
        debug_assert_eq!(out.trail.len(), before + 1);
        // crossOfferV10 reports eOfferPartial when the offer stays in the book.
        let partial = ov.offer(claimed_offer_id(&out.trail)).is_some();
        out.sheep_send += sheep_send;
        max_sheep_send -= sheep_send;
        out.wheat_received += wheat_received;
        max_wheat_receive -= wheat_received;
        need_more = !wheat_stays && max_wheat_receive > 0 && max_sheep_send > 0;
        if !need_more {
            return (Convert::Ok, out);
        }
        if partial {
            return (Convert::Partial, out);
        }
    }
    if need_more {
        (Convert::Partial, out)
    } else {
        (Convert::Ok, out)
    }
}

fn claimed_offer_id(trail: &[xdr::ClaimAtom]) -> i64 {
    match trail.last() {
        Some(xdr::ClaimAtom::OrderBook(atom)) => atom.offer_id,
        Some(xdr::ClaimAtom::V0(atom)) => atom.offer_id,
        _ => 0,
    }
}

// --- Offers (ManageOfferOpFrameBase.cpp) ---

/// The outcome of a manage-offer operation, before it is written as a sell or buy result.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ManageOffer {
    Success(xdr::ManageOfferSuccessResult),
    Malformed,
    SellNoTrust,
    BuyNoTrust,
    SellNotAuthorized,
    BuyNotAuthorized,
    LineFull,
    Underfunded,
    CrossSelf,
    NotFound,
    LowReserve,
    TooManySubentries,
    ExceededWorkLimit,
}

/// What differs between manage_sell_offer and manage_buy_offer (core's virtual methods of
/// `ManageOfferOpFrameBase`).
#[derive(Debug, Clone, Copy)]
enum Side {
    /// Sell this amount of the selling asset.
    Sell(i64),
    /// Buy this amount of the buying asset.
    Buy(i64),
}

impl Side {
    fn amount(self) -> i64 {
        match self {
            Side::Sell(a) | Side::Buy(a) => a,
        }
    }

    /// `(buying, selling)` liabilities the operation asks for (`getOfferBuyingLiabilities`,
    /// `getOfferSellingLiabilities`); `price` is the offer's (sheep per wheat inverted for a
    /// buy offer, as core does).
    fn liabilities(self, price: &xdr::Price) -> (i64, i64) {
        match self {
            Side::Sell(amount) => offer_liabilities(price, amount),
            Side::Buy(amount) => {
                let res = crate::exchange::exchange_v10_without_price_error_thresholds(
                    price,
                    i64::MAX,
                    i64::MAX,
                    i64::MAX,
                    amount,
                    Rounding::Normal,
                );
                (res.sheep_send, res.wheat_received)
            }
        }
    }

    /// `applyOperationSpecificLimits`.
    fn limit(self, max_sheep_send: &mut i64, sheep_sent: i64, max_wheat: &mut i64, wheat: i64) {
        match self {
            Side::Sell(amount) => *max_sheep_send = (amount - sheep_sent).min(*max_sheep_send),
            Side::Buy(amount) => *max_wheat = (amount - wheat).min(*max_wheat),
        }
    }
}

/// One manage-offer operation, generic over the two kinds: sell `sheep` for `wheat` at
/// `price` (wheat per sheep).
struct ManageOfferOp {
    sheep: xdr::Asset,
    wheat: xdr::Asset,
    offer_id: i64,
    price: xdr::Price,
    passive_on_create: bool,
    side: Side,
}

fn price_gt(a: &xdr::Price, b: &xdr::Price) -> bool {
    i64::from(a.n) * i64::from(b.d) > i64::from(a.d) * i64::from(b.n)
}

fn price_ge(a: &xdr::Price, b: &xdr::Price) -> bool {
    i64::from(a.n) * i64::from(b.d) >= i64::from(a.d) * i64::from(b.n)
}

fn offer_entry(offer: &Offer) -> xdr::OfferEntry {
    xdr::OfferEntry {
        seller_id: offer.seller.to_account_id(),
        offer_id: offer.id,
        selling: offer.selling.to_xdr(),
        buying: offer.buying.to_xdr(),
        amount: offer.amount,
        price: offer.price.clone(),
        flags: offer.flags,
        ext: xdr::OfferEntryExt::V0,
    }
}

/// core's `ManageOfferOpFrameBase::doCheckValid`, `checkOfferValid` and `doApply`.
fn manage_offer(ov: &mut Overlay<'_>, source: PublicKey, op: &ManageOfferOp) -> ManageOffer {
    use ManageOffer as R;
    let (Ok(sheep), Ok(wheat)) = (Asset::from_xdr(&op.sheep), Asset::from_xdr(&op.wheat)) else {
        return R::Malformed;
    };
    let amount = op.side.amount();
    let is_delete = amount == 0;
    if sheep == wheat
        || amount < 0
        || op.price.n <= 0
        || op.price.d <= 0
        || (op.offer_id == 0 && is_delete)
        || op.offer_id < 0
    {
        return R::Malformed;
    }
    // checkOfferValid
    if !is_delete {
        if sheep != Asset::Native {
            if !has_line(ov, &source, &sheep) {
                return R::SellNoTrust;
            }
            let balance = if is_issuer(&source, &sheep) {
                i64::MAX
            } else {
                ov.get(&source)
                    .and_then(|a| a.trustline(&sheep))
                    .map_or(0, |l| l.balance)
            };
            if balance == 0 {
                return R::Underfunded;
            }
            if !line_authorized(ov, &source, &sheep) {
                return R::SellNotAuthorized;
            }
        }
        if wheat != Asset::Native {
            if !has_line(ov, &source, &wheat) {
                return R::BuyNoTrust;
            }
            if !line_authorized(ov, &source, &wheat) {
                return R::BuyNotAuthorized;
            }
        }
    }
    let creating = op.offer_id == 0;
    let (flags, offer_id) = if creating {
        // createEntryWithPossibleSponsorship
        let Some(account) = ov.get_mut(&source) else {
            return R::Malformed;
        };
        if account.num_subentries >= ACCOUNT_SUBENTRY_LIMIT {
            return R::TooManySubentries;
        }
        if !account.can_add_subentry() {
            return R::LowReserve;
        }
        account.num_subentries += 1;
        (
            if op.passive_on_create {
                PASSIVE_FLAG
            } else {
                0
            },
            0,
        )
    } else {
        let Some(existing) = ov
            .offer(op.offer_id)
            .filter(|o| o.seller == source)
            .cloned()
        else {
            return R::NotFound;
        };
        change_liabilities(ov, &existing, -1);
        ov.remove_offer(existing.id);
        (existing.flags, existing.id)
    };
    let passive = flags & PASSIVE_FLAG != 0;
    let mut claimed = Vec::new();
    let mut new_amount = 0;
    if !is_delete {
        // computeOfferExchangeParameters
        let mut max_wheat_receive = can_buy_at_most(ov, &source, &wheat);
        let mut max_sheep_send = can_sell_at_most(ov, &source, &sheep);
        let (buying, selling) = op.side.liabilities(&op.price);
        if available_limit(ov, &source, &wheat) < buying {
            return R::LineFull;
        }
        if available_balance(ov, &source, &sheep) < selling {
            return R::Underfunded;
        }
        op.side
            .limit(&mut max_sheep_send, 0, &mut max_wheat_receive, 0);
        if max_wheat_receive == 0 {
            return R::LineFull;
        }
        let max_wheat_price = xdr::Price {
            n: op.price.d,
            d: op.price.n,
        };
        let filter = |o: &Offer| {
            if (passive && price_ge(&o.price, &max_wheat_price))
                || price_gt(&o.price, &max_wheat_price)
            {
                Filter::StopBadPrice
            } else if o.seller == source {
                Filter::StopCrossSelf
            } else {
                Filter::Keep
            }
        };
        let (result, converted) = convert_with_offers(
            ov,
            &sheep,
            max_sheep_send,
            &wheat,
            max_wheat_receive,
            Rounding::Normal,
            &filter,
            MAX_OFFERS_TO_CROSS,
        );
        let sheep_stays = match result {
            Convert::Ok => false,
            Convert::Partial | Convert::StopBadPrice => true,
            Convert::StopCrossSelf => return R::CrossSelf,
            Convert::CrossedTooMany => return R::ExceededWorkLimit,
        };
        let Converted {
            sheep_send: sheep_sent,
            wheat_received,
            trail,
        } = converted;
        claimed = trail;
        if wheat_received > 0 {
            let credited = add_balance(ov, &source, &wheat, wheat_received);
            let debited = add_balance(ov, &source, &sheep, -sheep_sent);
            debug_assert!(credited && debited, "offer claimed over limit or balance");
        }
        if sheep_stays {
            let mut sheep_limit = can_sell_at_most(ov, &source, &sheep);
            let mut wheat_limit = can_buy_at_most(ov, &source, &wheat);
            op.side.limit(
                &mut sheep_limit,
                sheep_sent,
                &mut wheat_limit,
                wheat_received,
            );
            new_amount = adjust_offer(&op.price, sheep_limit, wheat_limit);
        }
    }
    let offer = if new_amount > 0 {
        let id = if creating {
            ov.next_offer_id()
        } else {
            offer_id
        };
        let offer = Offer {
            id,
            seller: source,
            selling: sheep,
            buying: wheat,
            amount: new_amount,
            price: op.price.clone(),
            flags,
            last_modified_ledger: 0,
        };
        let entry = offer_entry(&offer);
        change_liabilities(ov, &offer, 1);
        ov.put_offer(offer);
        if creating {
            xdr::ManageOfferSuccessResultOffer::Created(entry)
        } else {
            xdr::ManageOfferSuccessResultOffer::Updated(entry)
        }
    } else {
        if let Some(account) = ov.get_mut(&source) {
            account.num_subentries = account.num_subentries.saturating_sub(1);
        }
        xdr::ManageOfferSuccessResultOffer::Deleted
    };
    R::Success(xdr::ManageOfferSuccessResult {
        offers_claimed: claimed.try_into().unwrap_or_default(),
        offer,
    })
}

/// Applies a manage_sell_offer (or, with `passive`, a create_passive_sell_offer, whose
/// `offer_id` is 0).
pub(crate) fn manage_sell_offer_op(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    op: &xdr::ManageSellOfferOp,
    passive: bool,
) -> xdr::OperationResult {
    use xdr::ManageSellOfferResult as S;
    let result = manage_offer(
        ov,
        source,
        &ManageOfferOp {
            sheep: op.selling.clone(),
            wheat: op.buying.clone(),
            offer_id: op.offer_id,
            price: op.price.clone(),
            passive_on_create: passive,
            side: Side::Sell(op.amount),
        },
    );
    let r = match result {
        ManageOffer::Success(s) => S::Success(s),
        ManageOffer::Malformed => S::Malformed,
        ManageOffer::SellNoTrust => S::SellNoTrust,
        ManageOffer::BuyNoTrust => S::BuyNoTrust,
        ManageOffer::SellNotAuthorized => S::SellNotAuthorized,
        ManageOffer::BuyNotAuthorized => S::BuyNotAuthorized,
        ManageOffer::LineFull => S::LineFull,
        ManageOffer::Underfunded => S::Underfunded,
        ManageOffer::CrossSelf => S::CrossSelf,
        ManageOffer::NotFound => S::NotFound,
        ManageOffer::LowReserve => S::LowReserve,
        ManageOffer::TooManySubentries => return xdr::OperationResult::OpTooManySubentries,
        ManageOffer::ExceededWorkLimit => return xdr::OperationResult::OpExceededWorkLimit,
    };
    xdr::OperationResult::OpInner(if passive {
        xdr::OperationResultTr::CreatePassiveSellOffer(r)
    } else {
        xdr::OperationResultTr::ManageSellOffer(r)
    })
}

/// Applies a manage_buy_offer.
pub(crate) fn manage_buy_offer_op(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    op: &xdr::ManageBuyOfferOp,
) -> xdr::OperationResult {
    use xdr::ManageBuyOfferResult as B;
    let result = manage_offer(
        ov,
        source,
        &ManageOfferOp {
            sheep: op.selling.clone(),
            wheat: op.buying.clone(),
            offer_id: op.offer_id,
            // The offer's price is the inverse of the buy price (core's getInversePrice).
            price: xdr::Price {
                n: op.price.d,
                d: op.price.n,
            },
            passive_on_create: false,
            side: Side::Buy(op.buy_amount),
        },
    );
    let r = match result {
        ManageOffer::Success(s) => B::Success(s),
        ManageOffer::Malformed => B::Malformed,
        ManageOffer::SellNoTrust => B::SellNoTrust,
        ManageOffer::BuyNoTrust => B::BuyNoTrust,
        ManageOffer::SellNotAuthorized => B::SellNotAuthorized,
        ManageOffer::BuyNotAuthorized => B::BuyNotAuthorized,
        ManageOffer::LineFull => B::LineFull,
        ManageOffer::Underfunded => B::Underfunded,
        ManageOffer::CrossSelf => B::CrossSelf,
        ManageOffer::NotFound => B::NotFound,
        ManageOffer::LowReserve => B::LowReserve,
        ManageOffer::TooManySubentries => return xdr::OperationResult::OpTooManySubentries,
        ManageOffer::ExceededWorkLimit => return xdr::OperationResult::OpExceededWorkLimit,
    };
    xdr::OperationResult::OpInner(xdr::OperationResultTr::ManageBuyOffer(r))
}

// --- Path payments (PathPayment*OpFrame.cpp) ---

/// The failures path payments share (core's `PathPaymentOpFrameBase` setters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathError {
    Malformed,
    Underfunded,
    SrcNoTrust,
    SrcNotAuthorized,
    NoDestination,
    NoTrust,
    NotAuthorized,
    LineFull,
    TooFewOffers,
    OfferCrossSelf,
    /// OVER_SENDMAX or UNDER_DESTMIN.
    ConstraintNotMet,
    ExceededWorkLimit,
}

/// A successful path payment: the claim atoms, and what was sent and received.
#[derive(Debug)]
pub(crate) struct PathSuccess {
    pub offers: Vec<xdr::ClaimAtom>,
    pub sent: i64,
    pub received: i64,
}

/// A path payment's parameters, both kinds alike.
pub(crate) struct PathPayment<'a> {
    pub send_asset: &'a xdr::Asset,
    pub dest_asset: &'a xdr::Asset,
    pub destination: &'a xdr::MuxedAccount,
    pub path: &'a [xdr::Asset],
}

struct Checked {
    send: Asset,
    dest: Asset,
    path: Vec<Asset>,
    destination: PublicKey,
}

fn check_path(ov: &Overlay<'_>, p: &PathPayment<'_>) -> Result<Checked, PathError> {
    let (Ok(send), Ok(dest)) = (Asset::from_xdr(p.send_asset), Asset::from_xdr(p.dest_asset))
    else {
        return Err(PathError::Malformed);
    };
    let path = p
        .path
        .iter()
        .map(Asset::from_xdr)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| PathError::Malformed)?;
    let destination = AccountAddress::from_muxed_account(p.destination).account();
    // shouldBypassIssuerCheck
    let bypass_issuer_check = dest != Asset::Native
        && path.is_empty()
        && send == dest
        && dest.issuer() == Some(destination);
    if !bypass_issuer_check && !ov.exists(&destination) {
        return Err(PathError::NoDestination);
    }
    Ok(Checked {
        send,
        dest,
        path,
        destination,
    })
}

/// core's `updateSourceBalance`.
fn update_source_balance(
    ov: &mut Overlay<'_>,
    source: &PublicKey,
    asset: &Asset,
    amount: i64,
) -> Result<(), PathError> {
    if *asset == Asset::Native {
        if amount > available_balance(ov, source, asset) {
            return Err(PathError::Underfunded);
        }
        if !add_balance(ov, source, asset, -amount) {
            return Err(PathError::Underfunded);
        }
        return Ok(());
    }
    if !has_line(ov, source, asset) {
        return Err(PathError::SrcNoTrust);
    }
    if !line_authorized(ov, source, asset) {
        return Err(PathError::SrcNotAuthorized);
    }
    if !add_balance(ov, source, asset, -amount) {
        return Err(PathError::Underfunded);
    }
    Ok(())
}

/// core's `updateDestBalance`.
fn update_dest_balance(
    ov: &mut Overlay<'_>,
    destination: &PublicKey,
    asset: &Asset,
    amount: i64,
) -> Result<(), PathError> {
    if *asset == Asset::Native {
        if !add_balance(ov, destination, asset, amount) {
            return Err(PathError::LineFull);
        }
        return Ok(());
    }
    if !has_line(ov, destination, asset) {
        return Err(PathError::NoTrust);
    }
    if !line_authorized(ov, destination, asset) {
        return Err(PathError::NotAuthorized);
    }
    if !add_balance(ov, destination, asset, amount) {
        return Err(PathError::LineFull);
    }
    Ok(())
}

/// core's `PathPaymentOpFrameBase::convert`: one hop.
#[allow(clippy::too_many_arguments)]
fn convert_hop(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    max_offers: &mut i64,
    send_asset: &Asset,
    max_send: i64,
    recv_asset: &Asset,
    max_recv: i64,
    round: Rounding,
) -> Result<Converted, PathError> {
    let filter = |o: &Offer| {
        if o.seller == source {
            Filter::StopCrossSelf
        } else {
            Filter::Keep
        }
    };
    let (result, converted) = convert_with_offers(
        ov,
        send_asset,
        max_send,
        recv_asset,
        max_recv,
        round,
        &filter,
        *max_offers,
    );
    *max_offers -= converted.trail.len() as i64;
    let complete = match round {
        Rounding::PathPaymentStrictSend => max_send == converted.sheep_send,
        _ => max_recv == converted.wheat_received,
    };
    match result {
        Convert::StopCrossSelf => Err(PathError::OfferCrossSelf),
        Convert::Ok if complete => Ok(converted),
        Convert::Ok | Convert::Partial | Convert::StopBadPrice => Err(PathError::TooFewOffers),
        Convert::CrossedTooMany => Err(PathError::ExceededWorkLimit),
    }
}

/// core's `PathPaymentStrictReceiveOpFrame::doApply`: `dest_amount` arrives, at most
/// `send_max` leaves.
pub(crate) fn strict_receive(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    p: &PathPayment<'_>,
    send_max: i64,
    dest_amount: i64,
) -> Result<PathSuccess, PathError> {
    if dest_amount <= 0 || send_max <= 0 {
        return Err(PathError::Malformed);
    }
    let c = check_path(ov, p)?;
    update_dest_balance(ov, &c.destination, &c.dest, dest_amount)?;
    let mut offers: Vec<xdr::ClaimAtom> = Vec::new();
    let mut recv_asset = c.dest.clone();
    let mut max_recv = dest_amount;
    let mut max_offers = MAX_OFFERS_TO_CROSS;
    for send_asset in c.path.iter().rev().chain(std::iter::once(&c.send)) {
        if *send_asset == recv_asset {
            continue;
        }
        let converted = convert_hop(
            ov,
            source,
            &mut max_offers,
            send_asset,
            i64::MAX,
            &recv_asset,
            max_recv,
            Rounding::PathPaymentStrictReceive,
        )?;
        max_recv = converted.sheep_send;
        recv_asset = send_asset.clone();
        let mut trail = converted.trail;
        trail.append(&mut offers);
        offers = trail;
    }
    if max_recv > send_max {
        return Err(PathError::ConstraintNotMet);
    }
    update_source_balance(ov, &source, &c.send, max_recv)?;
    Ok(PathSuccess {
        offers,
        sent: max_recv,
        received: dest_amount,
    })
}

/// core's `PathPaymentStrictSendOpFrame::doApply`: `send_amount` leaves, at least `dest_min`
/// arrives.
pub(crate) fn strict_send(
    ov: &mut Overlay<'_>,
    source: PublicKey,
    p: &PathPayment<'_>,
    send_amount: i64,
    dest_min: i64,
) -> Result<PathSuccess, PathError> {
    if send_amount <= 0 || dest_min <= 0 {
        return Err(PathError::Malformed);
    }
    let c = check_path(ov, p)?;
    update_source_balance(ov, &source, &c.send, send_amount)?;
    let mut offers = Vec::new();
    let mut send_asset = c.send.clone();
    let mut max_send = send_amount;
    let mut max_offers = MAX_OFFERS_TO_CROSS;
    for recv_asset in c.path.iter().chain(std::iter::once(&c.dest)) {
        if *recv_asset == send_asset {
            continue;
        }
        let converted = convert_hop(
            ov,
            source,
            &mut max_offers,
            &send_asset,
            max_send,
            recv_asset,
            i64::MAX,
            Rounding::PathPaymentStrictSend,
        )?;
        max_send = converted.wheat_received;
        send_asset = recv_asset.clone();
        offers.extend(converted.trail);
    }
    if max_send < dest_min {
        return Err(PathError::ConstraintNotMet);
    }
    update_dest_balance(ov, &c.destination, &c.dest, max_send)?;
    Ok(PathSuccess {
        offers,
        sent: send_amount,
        received: max_send,
    })
}
