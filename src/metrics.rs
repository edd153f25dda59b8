//! What `/metrics` shows, through `prometheus-client` (the Prometheus project's own Rust
//! client: a registry, typed counters, gauges and histograms with label sets, and the text
//! exposition). Chosen over `metrics` + `metrics-exporter-prometheus` for its build cost
//! (three small crates against a dozen, no global recorder) and because each application
//! gets its own registry: the tests run many applications in one process.
//!
//! Two kinds of values:
//! - *recorded* where they happen ([`Metrics`]'s handles, cloned into the parts that record
//!   them: the HTTP middleware, the workflows, the provider client, the store writer);
//! - *sampled* at each scrape from counters the parts keep anyway ([`Sample`]: readiness,
//!   live actors, the poller, the writer's totals and queue, the outbox, the disk guard).
//!
//! Every name starts with `ordercenter_`. The names that tools and scripts read
//! (`ordercenter_live_order_actors`, `ordercenter_ready`, `ordercenter_store_*_total`,
//! `ordercenter_poller_queries_total`, …) are kept as they were. `ops/grafana/ordercenter.json`
//! charts them; `tests/api/metrics.rs` checks that every metric it queries is exposed.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::store::WriterStats;

/// Buckets of request, provider-call and flush latencies, in seconds (0.5 ms … 10 s).
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets of how late an expiry fired and how long a payment took (0.1 s … 10 min).
const SLOW_BUCKETS: [f64; 13] = [
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];
fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn slow_histogram() -> Histogram {
    Histogram::new(SLOW_BUCKETS)
}

/// A request's route (the pattern it matched, `unmatched` otherwise), method and status
/// class (`2xx` … `5xx`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route pattern.
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// `2xx`, `4xx`, …
    pub status: &'static str,
}

/// How a payment was confirmed: `notify`, `query`, `close` (the query after a refused
/// close) or `zero_price`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabel {
    /// The path.
    pub path: &'static str,
}

/// Why an order closed: `expired` or `cancelled`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The reason.
    pub reason: &'static str,
}

/// A provider operation (`unified_order`, `query`, `close`, `refund`, `refund_query`) and
/// its outcome (`ok`, `refused`: the provider answered with an error code, `error`: no
/// usable answer — transport, timeout, HTTP error, malformed).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderCallLabels {
    /// The operation.
    pub operation: &'static str,
    /// The outcome.
    pub outcome: &'static str,
}

/// A provider operation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabel {
    /// The operation.
    pub operation: &'static str,
}

/// What the provider client records: calls by operation and outcome, and their latency.
/// Cheap to clone (shared counters); a client built without a registry records into
/// counters nobody reads.
#[derive(Clone, Debug)]
pub struct ProviderMetrics {
    calls: Family<ProviderCallLabels, Counter>,
    latency: Family<OperationLabel, Histogram, fn() -> Histogram>,
}

impl Default for ProviderMetrics {
    fn default() -> Self {
        Self {
            calls: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        }
    }
}

impl ProviderMetrics {
    /// Records one call.
    pub fn record(&self, operation: &'static str, outcome: &'static str, took: Duration) {
        self.calls
            .get_or_create(&ProviderCallLabels { operation, outcome })
            .inc();
        self.latency
            .get_or_create(&OperationLabel { operation })
            .observe(took.as_secs_f64());
    }
}

/// What the order workflows record. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OrderMetrics {
    created: Counter,
    paid: Family<PathLabel, Counter>,
    closed: Family<ReasonLabel, Counter>,
    refunded: Counter,
    expiry_lateness: Histogram,
    payment_latency: Family<PathLabel, Histogram, fn() -> Histogram>,
    waiting_closes: Gauge,
}

impl Default for OrderMetrics {
    fn default() -> Self {
        Self {
            created: Counter::default(),
            paid: Family::default(),
            closed: Family::default(),
            refunded: Counter::default(),
            expiry_lateness: slow_histogram(),
            payment_latency: Family::new_with_constructor(slow_histogram),
            waiting_closes: Gauge::default(),
        }
    }
}

impl OrderMetrics {
    /// An order was created (durable, shown to its member).
    pub fn created(&self) {
        self.created.inc();
    }

    /// An order was paid (durable) `took` after its payment was started, confirmed by
    /// `path`.
    pub fn paid(&self, path: &'static str, took: Duration) {
        let label = PathLabel { path };
        self.paid.get_or_create(&label).inc();
        self.payment_latency
            .get_or_create(&label)
            .observe(took.as_secs_f64());
    }

    /// An order was closed (durable) for `reason`.
    pub fn closed(&self, reason: &'static str) {
        self.closed.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// An order expired and its close was durable `late` after its deadline.
    pub fn expired_late(&self, late: Duration) {
        self.expiry_lateness.observe(late.as_secs_f64());
    }

    /// An order was refunded (durable).
    pub fn refunded(&self) {
        self.refunded.inc();
    }

    /// An expiry's close at the provider failed and is being retried (`true`), or the order
    /// stopped waiting (`false`).
    pub fn waiting_close(&self, waiting: bool) {
        if waiting {
            self.waiting_closes.inc();
        } else {
            self.waiting_closes.dec();
        }
    }
}

/// What the HTTP middleware records. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

impl HttpMetrics {
    /// Records one answered request.
    pub fn record(&self, labels: RequestLabels, took: Duration) {
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }
}

/// The status class of an HTTP status (`2xx` …).
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Values read from the running parts at each scrape.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Recovery finished and the store takes writes.
    pub ready: bool,
    /// Order actors alive.
    pub live_order_actors: u64,
    /// Payments the poller follows.
    pub poller_watched: u64,
    /// Queries the poller made.
    pub poller_queries: u64,
    /// Payments the poller found.
    pub poller_confirmed: u64,
    /// Most provider calls of the workflows at once.
    pub provider_calls_peak: u64,
    /// Orders that need a person.
    pub needing_attention: u64,
    /// Closes the provider refused.
    pub close_refusals: u64,
    /// The store takes writes.
    pub storage_writable: bool,
    /// The store failed a write.
    pub storage_broken: bool,
    /// Free bytes on the data dir's filesystem.
    pub storage_free_bytes: u64,
    /// Writes refused by the disk guard.
    pub storage_refused_writes: u64,
    /// Notices waiting in the outbox.
    pub outbox_backlog: u64,
    /// Age of the oldest of them, seconds (0 when none).
    pub outbox_oldest_age_secs: u64,
}

/// The sampled values and the writer's totals, written out at each scrape.
#[derive(Debug)]
struct Sampled {
    sample: Mutex<Sample>,
    writer: Arc<WriterStats>,
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: impl Into<f64>,
) -> Result<(), std::fmt::Error> {
    let value: f64 = value.into();
    // Whole counts read better as integers (and scripts parse them either way).
    if value.fract() == 0.0 && unit.is_none() {
        let metric = ConstCounter::new(value as u64);
        metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
    } else {
        let metric = ConstCounter::new(value);
        metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Sampled {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.sample.lock().clone();
        let w = &self.writer;
        let e = &mut encoder;
        gauge(
            e,
            "ready",
            "Recovery finished and the store takes writes (1) or not (0)",
            u64::from(s.ready),
        )?;
        gauge(
            e,
            "live_order_actors",
            "Order actors alive (orders with a deadline, a creation or a refund to follow)",
            s.live_order_actors,
        )?;
        counter(
            e,
            "store_flushes",
            "Flushes of the store (each covers a batch of changes)",
            None,
            w.flushes.load(Relaxed) as f64,
        )?;
        counter(
            e,
            "store_durable_writes",
            "Changes made durable",
            None,
            w.writes.load(Relaxed) as f64,
        )?;
        counter(
            e,
            "store_flush_seconds",
            "Time spent in flush, seconds",
            None,
            w.flush_micros.load(Relaxed) as f64 / 1e6,
        )?;
        counter(
            e,
            "store_apply_seconds",
            "Time spent applying changes, seconds",
            None,
            w.apply_micros.load(Relaxed) as f64 / 1e6,
        )?;
        gauge(
            e,
            "store_writer_queue_depth",
            "Changes handed to the writer and not yet applied",
            w.queued.load(Relaxed),
        )?;
        gauge(
            e,
            "poller_watched",
            "Payments the trade poller follows",
            s.poller_watched,
        )?;
        counter(
            e,
            "poller_queries",
            "Queries the trade poller made",
            None,
            s.poller_queries as f64,
        )?;
        counter(
            e,
            "poller_confirmed",
            "Payments the trade poller found",
            None,
            s.poller_confirmed as f64,
        )?;
        gauge(
            e,
            "order_provider_calls_peak",
            "Most provider calls of the order workflows in flight at once",
            s.provider_calls_peak,
        )?;
        counter(
            e,
            "orders_needing_attention",
            "Orders that need a person (a late payment the provider will not refund)",
            None,
            s.needing_attention as f64,
        )?;
        counter(
            e,
            "provider_close_refusals",
            "Closes the provider refused other than as paid, closed or unknown",
            None,
            s.close_refusals as f64,
        )?;
        gauge(
            e,
            "storage_writable",
            "The store takes writes (1) or not (0)",
            u64::from(s.storage_writable),
        )?;
        gauge(
            e,
            "storage_broken",
            "The store failed a write in this process (1)",
            u64::from(s.storage_broken),
        )?;
        gauge(
            e,
            "storage_free_bytes",
            "Free bytes on the data dir's filesystem",
            s.storage_free_bytes,
        )?;
        counter(
            e,
            "storage_refused_writes",
            "Writes refused because the store could not take them",
            None,
            s.storage_refused_writes as f64,
        )?;
        gauge(
            e,
            "outbox_backlog",
            "Notices waiting in the outbox for their subsystem",
            s.outbox_backlog,
        )?;
        gauge(
            e,
            "outbox_oldest_age_seconds",
            "Age of the oldest notice in the outbox, seconds (0: none)",
            s.outbox_oldest_age_secs,
        )?;
        Ok(())
    }
}

/// The registry of one application and the handles its parts record into.
pub struct Metrics {
    registry: Registry,
    sampled: Arc<Sampled>,
    /// Handed to the HTTP middleware.
    pub http: HttpMetrics,
    /// Handed to the order workflows.
    pub orders: OrderMetrics,
    /// Handed to the provider client.
    pub provider: ProviderMetrics,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A registry with every metric of the service, over the writer's counters.
    pub fn new(writer: Arc<WriterStats>) -> Self {
        let mut registry = Registry::with_prefix("ordercenter");
        let http = HttpMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        };
        registry.register(
            "http_requests",
            "Requests answered, by route, method and status class",
            http.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer a request, by route, method and status class",
            Unit::Seconds,
            http.latency.clone(),
        );
        let orders = OrderMetrics::default();
        registry.register(
            "orders_created",
            "Orders created (durable)",
            orders.created.clone(),
        );
        registry.register(
            "orders_paid",
            "Orders paid (durable), by how the payment was confirmed",
            orders.paid.clone(),
        );
        registry.register(
            "orders_closed",
            "Orders closed (durable), by reason",
            orders.closed.clone(),
        );
        registry.register(
            "orders_refunded",
            "Orders refunded (durable)",
            orders.refunded.clone(),
        );
        registry.register_with_unit(
            "expiry_lateness",
            "From an order's deadline to its close being durable",
            Unit::Seconds,
            orders.expiry_lateness.clone(),
        );
        registry.register_with_unit(
            "payment_latency",
            "From a payment's start to the order being paid (durable), by confirmation path",
            Unit::Seconds,
            orders.payment_latency.clone(),
        );
        registry.register(
            "waiting_provider_closes",
            "Expired orders whose close at the provider failed and is being retried",
            orders.waiting_closes.clone(),
        );
        let provider = ProviderMetrics::default();
        registry.register(
            "provider_calls",
            "Calls to the payment provider, by operation and outcome",
            provider.calls.clone(),
        );
        registry.register_with_unit(
            "provider_call_duration",
            "Time of a call to the payment provider, by operation",
            Unit::Seconds,
            provider.latency.clone(),
        );
        registry.register(
            "store_changes_per_flush",
            "Changes made durable by one flush",
            writer.changes_per_flush.clone(),
        );
        registry.register_with_unit(
            "store_flush_duration",
            "Time of one flush of the store",
            Unit::Seconds,
            writer.flush_duration.clone(),
        );
        let sampled = Arc::new(Sampled {
            sample: Mutex::new(Sample::default()),
            writer,
        });
        registry.register_collector(Box::new(sampled.clone()));
        Self {
            registry,
            sampled,
            http,
            orders,
            provider,
        }
    }

    /// The Prometheus text of every metric, with `sample` as the sampled values.
    pub fn render(&self, sample: Sample) -> String {
        let mut text = String::with_capacity(16 * 1024);
        // Two scrapes at once may show each other's sample: both are current.
        *self.sampled.sample.lock() = sample;
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "encoding /metrics failed");
        }
        text
    }
}
