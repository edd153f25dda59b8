//! The payment simulator: a faithful server side of the UMS open-platform protocol.
//!
//! It checks every request's `OPEN-BODY-SIG`, keeps each order's state machine
//! ([`machine`]), signs `paySign` with its own RSA key, posts signed notifies with retries,
//! keeps its state in its own sled trees, and injects faults on demand. The client in
//! [`crate::provider`] cannot tell it from the real gateway; nothing else in the project fakes
//! a payment.
//!
//! Faithful to the gateway rather than to our client: it reads requests as leniently as the
//! gateway does (`requests`: other products' `instMid`, no `notifyUrl`, no `refundOrderId`),
//! and its notifies carry the gateway's full field set, MD5-signed with no `signType` unless
//! the unified order asked for one ([`notify_fields`], [`NotifySigning`]).
//!
//! Mount it on any actix-web `App` (the embedded service does, and so does the `paysim`
//! binary):
//!
//! ```ignore
//! let sim = PaySim::start(&store, PaySimConfig::default()).await?;
//! HttpServer::new(move || App::new().configure(|cfg| sim.configure(cfg)))
//! ```
//!
//! Endpoints: `POST /v1/netpay/{wx/unified-order,query,close,refund,refund-query}` (the
//! protocol), `POST /paysim/pay`, `GET /paysim/checkout?prepay_id=`, `GET /paysim/public-key`,
//! `GET|POST /paysim/faults`.

mod buyer;
mod config;
pub mod doc;
pub mod faults;
pub mod keys;
pub mod machine;
mod netpay;
mod notifier;
mod notify_form;
mod ops;
mod requests;
mod signing;
mod stats;

use std::sync::Arc;

use actix_web::web;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

pub use config::{PaySimConfig, DEFAULT_MER_NAME};
pub use faults::Faults;
pub use keys::PaySigner;
pub use machine::PayRefusal;
pub use notify_form::notify_fields;
pub use signing::{NotifySign, NotifySigning};

use crate::provider::time::now_unix_ms;
use crate::store::paysim::{PaySimStore, SimOrder};
use crate::store::{Store, StoreError};

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum PaySimError {
    /// Its store failed.
    #[error("payment simulator store: {0}")]
    Store(#[from] StoreError),
    /// The RSA key could not be read or generated.
    #[error("payment simulator key: {0}")]
    Key(String),
    /// The configuration is invalid.
    #[error("payment simulator configuration: {0}")]
    Config(String),
    /// The notify HTTP client could not be built.
    #[error("payment simulator HTTP client: {0}")]
    Http(String),
}

/// Why the simulated buyer could not pay.
#[derive(Debug, thiserror::Error)]
pub enum PayError {
    /// The provider refused: nothing was charged.
    #[error("payment refused: {0:?}")]
    Refused(PayRefusal),
    /// The simulator's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The running simulator. Cheap to clone; every clone is the same simulator.
#[derive(Clone)]
pub struct PaySim {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<PaySimConfig>,
    store: PaySimStore,
    signer: PaySigner,
    faults: Arc<parking_lot::RwLock<Faults>>,
    wake: Arc<Notify>,
    requested: Arc<signing::RequestedSigns>,
    calls: stats::CallStats,
    stop: watch::Sender<bool>,
    notifier: parking_lot::Mutex<Option<JoinHandle<()>>>,
}

impl PaySim {
    /// Opens the simulator's trees in `store`, loads (or generates and keeps) its RSA key and
    /// starts notify delivery (resuming notifies pending from before a restart). Needs a
    /// tokio runtime (an actix `System` is one).
    pub async fn start(store: &Store, config: PaySimConfig) -> Result<Self, PaySimError> {
        config
            .faults
            .validate()
            .map_err(|message| PaySimError::Config(format!("invalid faults: {message}")))?;
        let store = PaySimStore::open(store).await?;
        let signer = keys::load_or_create(&store, config.private_key_pem.clone()).await?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.notify_timeout)
            .build()
            .map_err(|error| PaySimError::Http(error.to_string()))?;
        let config = Arc::new(config);
        let faults = Arc::new(parking_lot::RwLock::new(config.faults.clone()));
        let wake = Arc::new(Notify::new());
        let requested = Arc::new(signing::RequestedSigns::default());
        let (stop, stopped) = watch::channel(false);
        let task = notifier::Notifier {
            store: store.clone(),
            http,
            config: config.clone(),
            faults: faults.clone(),
            wake: wake.clone(),
            stop: stopped,
            requested: requested.clone(),
        };
        let handle = tokio::spawn(task.run());
        tracing::info!(app_id = %config.app_id, mid = %config.mid, "payment simulator started");
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                store,
                signer,
                faults,
                wake,
                requested,
                calls: stats::CallStats::default(),
                stop,
                notifier: parking_lot::Mutex::new(Some(handle)),
            }),
        })
    }

    /// Mounts the protocol and `/paysim/*` endpoints (and this simulator as app data) on an
    /// actix-web app or scope. Call it inside the `HttpServer` factory.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self.clone()));
        netpay::routes(cfg);
        buyer::routes(cfg);
    }

    /// Plays the buyer: pays the order if it is payable, and schedules the notify.
    pub async fn pay(&self, mer_order_id: &str) -> Result<SimOrder, PayError> {
        let now_ms = now_unix_ms();
        let target_order_id = format!(
            "4200{}{}",
            crate::provider::time::china_time(now_ms.div_euclid(1000)).format("%Y%m%d"),
            ops::digits(16)
        );
        let charge_closed = self.faults().charge_closed;
        let outcome = self
            .inner
            .store
            .update(mer_order_id, move |current| {
                machine::pay(current, now_ms, target_order_id, charge_closed)
            })
            .await?;
        let order = outcome.map_err(PayError::Refused)?;
        tracing::info!(
            mer_order_id,
            amount = order.total_amount,
            "paysim: buyer paid"
        );
        self.inner.wake.notify_one();
        Ok(order)
    }

    /// The order as the provider sees it now (expiry applied), without changing anything.
    pub async fn order(&self, mer_order_id: &str) -> Result<Option<SimOrder>, StoreError> {
        let now_ms = now_unix_ms();
        Ok(self
            .inner
            .store
            .order(mer_order_id)
            .await?
            .map(|mut order| {
                machine::settle(&mut order, now_ms);
                order
            }))
    }

    /// The most protocol calls in flight at once so far, by path (`GET /paysim/stats`).
    pub fn call_peaks(&self) -> std::collections::BTreeMap<String, usize> {
        self.inner.calls.peaks()
    }

    /// How many protocol calls were made so far, by path (`GET /paysim/stats`).
    pub fn call_totals(&self) -> std::collections::BTreeMap<String, usize> {
        self.inner.calls.totals()
    }

    /// Counts a protocol call in while the guard lives.
    pub(crate) fn call_in_flight(&self, path: &str) -> stats::InFlight<'_> {
        self.inner.calls.enter(path)
    }

    /// Current fault settings.
    pub fn faults(&self) -> Faults {
        self.inner.faults.read().clone()
    }

    /// Replaces the fault settings (validate first with [`Faults::validate`]).
    pub fn set_faults(&self, faults: Faults) {
        *self.inner.faults.write() = faults;
    }

    /// The RSA public key (PEM) that verifies `paySign`.
    pub fn public_key_pem(&self) -> &str {
        self.inner.signer.public_key_pem()
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &PaySimConfig {
        &self.inner.config
    }

    /// Stops notify delivery and waits for it to end. Pending notifies stay stored and
    /// resume at the next start.
    pub async fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        let handle = self.inner.notifier.lock().take();
        if let Some(handle) = handle {
            if let Err(error) = handle.await {
                tracing::warn!(%error, "paysim: notifier ended abnormally");
            }
        }
    }

    fn store(&self) -> &PaySimStore {
        &self.inner.store
    }

    fn signer(&self) -> PaySigner {
        self.inner.signer.clone()
    }

    fn requested_signs(&self) -> &signing::RequestedSigns {
        &self.inner.requested
    }
}
