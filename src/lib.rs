//! ordercenter — an order center for paid activity registrations behind a WeChat mini-program.
//!
//! Module map (one folder per part of the picture in SPEC.md §1). Calls go one way:
//! [`http`] → [`actors`] → [`workflow`] → [`store`], [`provider`], [`subsystem`] →
//! [`domain`].
//! - [`domain`]: orders, money in fen, order numbers (inline digits), the per-activity texts
//!   orders share, `sku_slice`, the status machine and
//!   [`domain::Order::decide`], the one place that says what a command on an order leads to
//!   — plain Rust, no actix, no sled, no HTTP.
//! - [`workflow`]: the I/O an order's decisions lead to (creating with the subsystem, paying
//!   and closing at the provider, refunding, writing how an order ended, in groups of
//!   orders per change) over the environment it needs; no actors.
//! - [`store`]: every sled call and the key layout; one writer thread applies durable
//!   changes (multi-key ones journaled, never sled transactions) and a flusher makes each
//!   batch durable with one `flush()` (group commit); a witness file the store must reach
//!   at open (a truncated or replaced store is refused) and a disk guard (503 and not ready
//!   on a nearly full disk); the online backup ([`store::backup`]).
//! - [`actors`]: [`actors::OrderCenter`] (the order center's API), the supervisor
//!   (router/registry), one actor per live order, the expiry timers (one task per thread
//!   for all its actors, keyed by deadline second), the trade poller,
//!   and reconciliation with the provider ([`actors::reconcile`]).
//! - [`outbox`]: delivers the notices owed to business subsystems over their interface.
//! - [`activity`]: the activity platform (business subsystem 3001): activities, seats, applies,
//!   and the subsystem interface the order center calls (in-process or over HTTP).
//! - [`subsystem`]: business subsystems as the order center sees them — one interface, over
//!   HTTP (base URL per `business_type`) or in-process.
//! - [`provider`]: the UMS open-platform payment client and its signatures.
//! - [`paysim`]: the payment simulator, a faithful server side of the UMS protocol.
//! - [`http`]: routes, input parsing, the response envelope, every JSON view and the one error
//!   mapping; the server itself, whose connections give even the HTTP parser's refusals the
//!   envelope; the demo page at `/` ([`http::demo`]) and the API document at `/openapi.json`
//!   and `/docs/` ([`http::openapi`]).
//! - [`codes`]: the business codes of SPEC §2, the one table.
//! - [`metrics`]: what `/metrics` shows (prometheus-client): recorded where it happens, or
//!   sampled from the running parts at each scrape.
//! - [`retention`]: how long records that exist only for a while are kept (idempotency
//!   keys swept after their time, the deadline index's entries of expired orders seconds
//!   after their deadline), so the disk grows with orders, not with time.
//! - [`ops`]: the operator's commands of the binary (`inspect` an order offline, `backup` a
//!   stopped store, `reconcile` through the running service).
//! - [`config`], [`telemetry`], [`startup`]: settings, logging, and building the application
//!   as named steps; [`failpoint`]: named crash points for the crash tests.

pub mod activity;
pub mod actors;
pub mod codes;
pub mod config;
pub mod domain;
pub mod failpoint;
pub mod http;
pub mod metrics;
pub mod ops;
pub mod outbox;
pub mod paysim;
pub mod provider;
pub mod retention;
pub mod startup;
pub mod store;
pub mod subsystem;
pub mod telemetry;
pub mod workflow;
