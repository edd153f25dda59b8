//! The payment provider client: China UMS open platform (银联商务), WeChat mini-program pay.
//!
//! The order center talks to the provider only through [`UmsClient`]; pointing
//! [`ProviderConfig::base_url`] at the real gateway (and supplying real keys) is all it takes to
//! go live. The embedded payment simulator ([`crate::paysim`]) speaks the same protocol and
//! shares this module's signature code, so the two cannot drift apart.
//!
//! - [`client`]: [`UmsClient`] and the operation paths.
//! - [`config`]: credentials and endpoints, with defaults that match the simulator's.
//! - [`sign`]: `OPEN-BODY-SIG` request authorization and the notify signature.
//! - [`wire`]: the JSON bodies of the five operations, with the real UMS field names.
//! - [`notify`]: parsing and verifying the provider's asynchronous payment notify.
//! - `evidence`: what a query answer or a notify says about a payment, as the domain's
//!   [`crate::domain::PaidEvidence`].
//! - [`codes`]: the `errCode` values the order center reacts to.
//! - [`time`]: the China Standard Time formats the protocol uses.

pub mod client;
pub mod codes;
pub mod config;
mod error;
mod evidence;
pub mod notify;
pub mod sign;
pub mod time;
pub mod wire;

pub use client::{UmsClient, UnifiedOrder};
pub use config::ProviderConfig;
pub use error::ProviderError;
pub use notify::{check_order, Notify};
pub use sign::SignType;
pub use wire::{
    CloseResponse, MiniPayRequest, QueryResponse, RefundResponse, RefundStatus, TradeStatus,
    UnifiedOrderResponse,
};
