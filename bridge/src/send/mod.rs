//! The sending side of the bridge: what apps ask us to put on the network, sent exactly once.
//!
//! - [`payment`]: `POST /payment`, the legacy form resolved (federation), built, signed and
//!   sent; with compliance, the receiving bank approves first through [`compliance`].
//! - [`builder`]: `POST /builder`, a signed envelope from the legacy JSON, not submitted.
//! - [`accounts`]: `POST /create-keypair` and `POST /authorize` (a trustline to our asset).
//! - [`submitter`]: sends a [`draft`] (a transaction still without sequence, fee or time
//!   bound): one transaction per leased source account ([`leases`]: a channel from
//!   [`channels`], or the paying account), the envelope stored before it is
//!   submitted (`/transactions_async`), inclusion and unknown outcomes looked up by hash:
//!   exactly once per payment id; [`fees`]: the fee it bids (fee stats, within `max_fee`);
//!   [`cosigning`]: the co-signers' signatures it collects before storing an envelope;
//!   [`custody`]: the account separation checked at start-up (`bridge accounts check`).
//! - [`store`]: `sent_transaction`, the submitter's table, and [`admin`]'s
//!   `/admin/sent-transactions` view of it.
//! - [`answer`]: a submitter outcome as the HTTP answer every sending endpoint gives.
//!
//! [`Sending`] ([`sending`]) holds what the handlers share; `Application::build` makes it and
//! mounts the routes with [`configure`], as it does for the receiving side.

pub mod accounts;
pub mod admin;
pub mod answer;
pub mod builder;
pub mod channels;
pub mod compliance;
pub mod cosigning;
pub mod custody;
pub mod draft;
pub mod fees;
pub mod leases;
pub mod payment;
pub mod sending;
pub mod store;
pub mod submitter;

use actix_web::web;

pub use draft::{Draft, Outcome, SendError};
pub use sending::{Sending, SendingConfig};
pub use submitter::Submitter;

/// Registers `/payment`, `/builder`, `/create-keypair`, `/authorize` and
/// `/admin/sent-transactions`, which share `sending`.
pub fn configure(sending: &Sending, cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(sending.clone()))
        .route("/payment", web::post().to(payment::payment))
        .route("/builder", web::post().to(builder::builder))
        .route("/create-keypair", web::post().to(accounts::create_keypair))
        .route("/authorize", web::post().to(accounts::authorize))
        .route(
            "/admin/sent-transactions",
            web::get().to(admin::sent_transactions),
        );
}
