//! Building and running the whole embedded stack: store, activity platform, actors,
//! background loops and the HTTP server. `main` and the tests both go through
//! [`Application::build`].

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web::{web, App};
use tokio_util::sync::CancellationToken;

use crate::activity::{run_reservation_sweeper, ActivityService, InProcessSubsystem};
use crate::actors::poller::{PaymentFound, TradePoller};
use crate::actors::supervisor::Supervisor;
use crate::actors::{OrderCenter, Published};
use crate::config::Config;
use crate::domain::{time, OrderNoGenerator};
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::outbox::{run_outbox, OutboxWaker};
use crate::paysim::{PaySim, PaySimConfig};
use crate::provider::UmsClient;
use crate::retention;
use crate::store::activity::ActivityStore;
use crate::store::orders::OrderStore;
use crate::store::outbox::OutboxStore;
use crate::store::{Store, StoreConfig, StoreError};
use crate::subsystem::{HttpSubsystem, Subsystems};
use crate::workflow::{OrderEnv, OrderSettings};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The store could not be opened (the message names the data dir).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A setting is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// Anything else at startup.
    #[error("startup failed: {0}")]
    Other(String),
}

/// 32 random hex characters.
fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The HTTP server: the platform routes, the simulator's when it is mounted, JSON 404s for
/// everything else; `workers` instances of the app, 10 s for requests in flight on a stop.
fn http_server(
    listener: TcpListener,
    workers: usize,
    state: web::Data<AppState>,
    paysim: Option<PaySim>,
) -> std::io::Result<actix_web::dev::Server> {
    let settings = http::server::ServerSettings {
        workers,
        shutdown_timeout_secs: 10,
    };
    http::server::serve(listener, settings, move || {
        App::new()
            .app_data(state.clone())
            .wrap(actix_web::middleware::from_fn(http::observe))
            .wrap(tracing_actix_web::TracingLogger::default())
            .configure(http::configure)
            .configure(|cfg| {
                if let Some(sim) = &paysim {
                    sim.configure(cfg);
                }
            })
            .default_service(web::to(http::not_found))
    })
}

/// The running service.
pub struct Application {
    address: SocketAddr,
    server: actix_web::dev::Server,
    center: OrderCenter,
    store: Store,
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    arbiters: Vec<Arbiter>,
    paysim: Option<PaySim>,
}

/// The store and its typed trees.
struct Stores {
    store: Store,
    orders: OrderStore,
    outbox: OutboxStore,
    activity: ActivityStore,
}

/// The payment side: the provider client, and the simulator when it is the provider.
struct PaymentSide {
    provider: UmsClient,
    paysim: Option<PaySim>,
}

/// The order center's running actors and the API over them.
struct OrderCenterParts {
    center: OrderCenter,
    arbiters: Vec<Arbiter>,
    /// What the trade poller reports, for the center to confirm.
    reported: tokio::sync::mpsc::UnboundedReceiver<PaymentFound>,
}

impl Application {
    /// Opens the store, starts the actors and background loops, binds the listener and
    /// starts recovery (`/readyz` turns 200 when it finished). Must run inside an actix
    /// `System`.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        refuse_incomplete_production_settings(&config)?;
        let stores = open_store(&config).await?;
        let activity = start_activity_platform(&config, &stores).await?;
        let internal_token = internal_token(&config);
        let subsystems = build_subsystems(&config, &activity, internal_token.clone())?;
        let listener = bind(&config)?;
        let address = listener
            .local_addr()
            .map_err(|e| StartupError::Other(e.to_string()))?;
        let metrics = Arc::new(Metrics::new(stores.store.shared_writer_stats()));
        let payment = build_payment_side(&config, &stores.store, address).await?;
        let provider = payment.provider.with_metrics(metrics.provider.clone());
        let waker = OutboxWaker::default();
        let parts =
            start_order_center(&config, &stores, &subsystems, &waker, provider, &metrics).await?;
        let cancel = CancellationToken::new();
        let tasks = vec![
            actix_rt::spawn(run_outbox(stores.outbox, subsystems, waker, cancel.clone())),
            actix_rt::spawn(retention::run_idempotency_sweeper(
                stores.orders.clone(),
                Duration::from_secs(config.idempotency_ttl),
                cancel.clone(),
            )),
            actix_rt::spawn(retention::run_deadline_sweeper(
                stores.orders.clone(),
                cancel.clone(),
            )),
            actix_rt::spawn(run_reservation_sweeper(
                activity.clone(),
                Duration::from_secs(1),
                cancel.clone(),
            )),
            actix_rt::spawn(
                parts
                    .center
                    .clone()
                    .confirm_reported(parts.reported, cancel.clone()),
            ),
        ];
        let state = web::Data::new(AppState {
            center: parts.center.clone(),
            activity,
            admin_token: config.admin_token.clone().filter(|t| !t.is_empty()),
            internal_token,
            metrics,
            backup_dir: config.backup_dir(),
            backing_up: tokio::sync::Mutex::new(()),
        });
        let workers = config.workers.unwrap_or(parts.arbiters.len());
        let server =
            http_server(listener, workers, state, payment.paysim.clone()).map_err(|source| {
                StartupError::Listen {
                    address: config.listen.clone(),
                    source,
                }
            })?;
        spawn_recovery(parts.center.clone());
        Ok(Self {
            address,
            server,
            center: parts.center,
            store: stores.store,
            cancel,
            tasks,
            arbiters: parts.arbiters,
            paysim: payment.paysim,
        })
    }

    /// The address the server listens on (the real port when asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A handle to stop the server (as SIGTERM does).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The embedded payment simulator, when mounted.
    pub fn paysim(&self) -> Option<&PaySim> {
        self.paysim.as_ref()
    }

    /// The order center's API.
    pub fn center(&self) -> &OrderCenter {
        &self.center
    }

    /// Serves until stopped (SIGTERM/Ctrl-C or [`Application::server_handle`]), then shuts
    /// down in order: requests in flight finish, background loops stop, the store is flushed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.center.set_not_ready();
        self.cancel.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(sim) = &self.paysim {
            sim.shutdown().await;
        }
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
        let store = self.store;
        match tokio::task::spawn_blocking(move || store.close()).await {
            Ok(Ok(())) => tracing::info!("store flushed; bye"),
            Ok(Err(error)) => tracing::error!(%error, "final flush failed"),
            Err(error) => tracing::error!(%error, "final flush panicked"),
        }
        served
    }
}

/// A real provider URL with any of its credentials left at the simulator's public test
/// values is refused: those keys must never meet a real provider.
fn refuse_incomplete_production_settings(config: &Config) -> Result<(), StartupError> {
    let missing = config.missing_production_settings();
    if missing.is_empty() {
        return Ok(());
    }
    Err(StartupError::Config(format!(
        "a real payment provider is configured (ORDERCENTER_PROVIDER_URL) but these settings are missing: {}; the built-in defaults are the simulator's public test keys and are never used against a real provider",
        missing.join(", ")
    )))
}

/// Opens the store (checked against its witness) and its trees.
async fn open_store(config: &Config) -> Result<Stores, StartupError> {
    let store_config = StoreConfig {
        data_dir: config.data_dir.clone(),
        cache_capacity: config.cache_mb.saturating_mul(1 << 20),
        disk_reserve_bytes: config.disk_reserve_mb.saturating_mul(1 << 20),
    };
    let store = tokio::task::spawn_blocking(move || Store::open(&store_config))
        .await
        .map_err(|e| StartupError::Other(e.to_string()))??;
    let opened = store.clone();
    let (orders, outbox, activity) = store
        .blocking(move || {
            Ok((
                OrderStore::open(&opened)?,
                OutboxStore::open(&opened)?,
                ActivityStore::open(&opened)?,
            ))
        })
        .await?;
    orders.index_members().await?;
    Ok(Stores {
        store,
        orders,
        outbox,
        activity,
    })
}

/// The co-located activity platform, with the demo activity on an empty store unless
/// turned off.
async fn start_activity_platform(
    config: &Config,
    stores: &Stores,
) -> Result<ActivityService, StartupError> {
    let activity = ActivityService::new(stores.activity.clone(), config.order_ttl);
    if !config.no_demo {
        match activity.ensure_demo().await {
            Ok(Some(demo)) => {
                tracing::info!(activity_id = demo.id, "created the demo activity 欢乐活动")
            }
            Ok(None) => {}
            Err(error) => return Err(StartupError::Other(format!("demo activity: {error}"))),
        }
    }
    Ok(activity)
}

/// The token of the subsystem endpoints (`applyOrderCreate`, `applyOrderNotify`), which are
/// for the order center only: without a configured one, a random one, so nobody outside
/// can register without paying. The in-process path does not use HTTP.
fn internal_token(config: &Config) -> Option<String> {
    Some(
        config
            .internal_token
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(random_token),
    )
}

/// The business subsystems: the configured remote ones, and the co-located activity
/// platform for 3001 unless a remote one is configured for it.
fn build_subsystems(
    config: &Config,
    activity: &ActivityService,
    internal_token: Option<String>,
) -> Result<Subsystems, StartupError> {
    let mut subsystems = Subsystems::default();
    if !config.subsystem_urls.is_empty()
        && config.internal_token.as_deref().unwrap_or("").is_empty()
    {
        tracing::warn!("--subsystem-url without ORDERCENTER_INTERNAL_TOKEN: the remote platform will refuse our calls");
    }
    for (business_type, url) in config.subsystem_urls().map_err(StartupError::Config)? {
        let client = HttpSubsystem::new(
            &url,
            Duration::from_secs(config.subsystem_timeout),
            internal_token.clone(),
        )
        .map_err(|e| StartupError::Config(e.to_string()))?;
        subsystems.insert(business_type, Arc::new(client));
    }
    if !subsystems.knows(3001) {
        subsystems.insert(3001, Arc::new(InProcessSubsystem::new(activity.clone())));
    }
    Ok(subsystems)
}

/// Binds the listen address (port 0: any free port).
fn bind(config: &Config) -> Result<TcpListener, StartupError> {
    TcpListener::bind(&config.listen).map_err(|source| StartupError::Listen {
        address: config.listen.clone(),
        source,
    })
}

/// The provider client, and the embedded simulator mounted on our own listener when it is
/// the provider (no provider URL configured).
async fn build_payment_side(
    config: &Config,
    store: &Store,
    address: SocketAddr,
) -> Result<PaymentSide, StartupError> {
    let provider_config = config.provider(address);
    let paysim = if config.paysim_enabled() {
        let mut sim_config = PaySimConfig::for_client(&provider_config);
        if let Some(path) = &config.paysim_key_file {
            let pem = std::fs::read_to_string(path).map_err(|e| {
                StartupError::Config(format!("--paysim-key-file {}: {e}", path.display()))
            })?;
            sim_config.private_key_pem = Some(pem);
        }
        Some(
            PaySim::start(store, sim_config)
                .await
                .map_err(|e| StartupError::Other(format!("payment simulator: {e}")))?,
        )
    } else {
        None
    };
    let provider = UmsClient::new(provider_config)
        .map_err(|e| StartupError::Config(format!("payment provider: {e}")))?;
    Ok(PaymentSide { provider, paysim })
}

/// Starts the trade poller, one arbiter per core for the order actors, the supervisor, and
/// the API over them (which is to confirm the payments the poller reports).
async fn start_order_center(
    config: &Config,
    stores: &Stores,
    subsystems: &Subsystems,
    waker: &OutboxWaker,
    provider: UmsClient,
    metrics: &Metrics,
) -> Result<OrderCenterParts, StartupError> {
    let (reports, reported) = tokio::sync::mpsc::unbounded_channel::<PaymentFound>();
    let poller = TradePoller::new(provider.clone(), reports).start();
    let settings = OrderSettings {
        order_ttl_secs: config.order_ttl,
        create_attempts: 3,
        create_retry_base: Duration::from_millis(200),
        parent_prefix: config.msg_src_id,
        idempotency_ttl_secs: config.idempotency_ttl,
    };
    let env = Arc::new(
        OrderEnv::new(
            stores.orders.clone(),
            subsystems.clone(),
            waker.clone(),
            settings,
            provider,
        )
        .with_metrics(metrics.orders.clone()),
    );
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let arbiters: Vec<Arbiter> = (0..cores).map(|_| Arbiter::new()).collect();
    let handles = arbiters.iter().map(Arbiter::handle).collect();
    let published = Published::default();
    let supervisor =
        Supervisor::new(env.clone(), poller.clone(), handles, published.clone()).start();
    let reader = stores.orders.clone();
    let high = stores
        .store
        .blocking(move || reader.order_no_high())
        .await?;
    // A predecessor stopped within the last 100 ms may have reserved numbers ahead of the
    // clock: none is issued before the clock has passed them.
    let wait = OrderNoGenerator::wait_before_first(time::now_millis(), high);
    if wait > 0 {
        actix_rt::time::sleep(std::time::Duration::from_millis(wait)).await;
    }
    let numbers = OrderNoGenerator::new(time::now_millis(), high);
    let center = OrderCenter::new(supervisor, published, poller, env, numbers);
    Ok(OrderCenterParts {
        center,
        arbiters,
        reported,
    })
}

/// Restores every live order in the background; the service is ready when it finished. A
/// recovery that fails stops the process: half-alive is worse than down, no timers would
/// fire.
fn spawn_recovery(center: OrderCenter) {
    actix_rt::spawn(async move {
        let started = std::time::Instant::now();
        match center.recover().await {
            Ok(report) => tracing::info!(
                unpaid = report.unpaid,
                creating = report.creating,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "recovery finished; ready"
            ),
            Err(error) => {
                tracing::error!(%error, "recovery failed; stopping");
                eprintln!("ordercenter: recovery failed: {error}");
                crate::telemetry::flush();
                std::process::exit(2);
            }
        }
    });
}
