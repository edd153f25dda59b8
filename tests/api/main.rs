//! Integration tests: the real application on port 0 with a temporary data dir.
//! One test binary keeps link time down.

mod helpers;

mod admin;
mod backup;
mod idempotency;
mod metrics;
mod my_orders;
mod openapi;

mod bad_input;
mod browser;
mod chaos;
mod crash;
mod crash_points;
mod errors;
mod expiry;
mod orders;
mod payment;
mod paysim;
mod production;
mod provider;
mod reconcile;
mod refunds;
mod robustness;
mod seats;
mod seed_shapes;
mod storage;
mod subsystem_http;
mod trust;
mod waitlist;
mod wire_errors;
