//! `paysim`: the payment simulator as a process of its own, for pointing an order center
//! (or anything else that speaks UMS) at a provider that is not embedded in it.
//!
//! ```text
//! paysim --listen 127.0.0.1:0 --data-dir ./paysim-data
//! ```
//!
//! Prints the address it listens on. Its state (orders, refunds, pending notifies, the RSA
//! key) lives in `--data-dir` and survives restarts. Every flag has a `PAYSIM_*` variable.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use actix_web::{App, HttpServer};
use clap::Parser;
use ordercenter::paysim::{Faults, NotifySigning, PaySim, PaySimConfig};
use ordercenter::provider::config as defaults;
use ordercenter::store::{Store, StoreConfig};
use tracing_subscriber::EnvFilter;

/// The UMS open-platform payment simulator.
#[derive(Debug, Parser)]
#[command(name = "paysim", version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, env = "PAYSIM_LISTEN", default_value = "127.0.0.1:8090")]
    listen: String,
    /// Directory of the simulator's store.
    #[arg(long, env = "PAYSIM_DATA_DIR", default_value = "./paysim-data")]
    data_dir: PathBuf,
    /// PEM file of the RSA key that signs paySign (default: generated once, kept in the store).
    #[arg(long, env = "PAYSIM_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Open-platform appId of the merchant.
    #[arg(long, env = "PAYSIM_APP_ID", default_value = defaults::DEFAULT_APP_ID)]
    app_id: String,
    /// AppKey of the merchant (verifies OPEN-BODY-SIG).
    #[arg(long, env = "PAYSIM_APP_KEY", default_value = defaults::DEFAULT_APP_KEY, hide_default_value = true)]
    app_key: String,
    /// Merchant number.
    #[arg(long, env = "PAYSIM_MID", default_value = defaults::DEFAULT_MID)]
    mid: String,
    /// Terminal number.
    #[arg(long, env = "PAYSIM_TID", default_value = defaults::DEFAULT_TID)]
    tid: String,
    /// Source id that every merOrderId starts with.
    #[arg(long, env = "PAYSIM_MSG_SRC_ID", default_value = defaults::DEFAULT_MSG_SRC_ID)]
    msg_src_id: String,
    /// Communication key that signs notifies.
    #[arg(long, env = "PAYSIM_NOTIFY_KEY", default_value = defaults::DEFAULT_NOTIFY_KEY, hide_default_value = true)]
    notify_key: String,
    /// How notifies are signed: `as-ordered` (as the real gateway: the signType the unified
    /// order asked for, else MD5 with no signType field) or `sha256` (always SHA256 with
    /// signType=SHA256).
    #[arg(long, env = "PAYSIM_NOTIFY_SIGN_TYPE", default_value = "as-ordered", value_parser = parse_signing)]
    notify_sign_type: NotifySigning,
    /// Merchant name that notifies carry in merName.
    #[arg(long, env = "PAYSIM_MER_NAME", default_value = ordercenter::paysim::DEFAULT_MER_NAME)]
    mer_name: String,
    /// Milliseconds added to every protocol call.
    #[arg(long, env = "PAYSIM_LATENCY_MS", default_value_t = 0)]
    latency_ms: u64,
    /// Share (0..1) of protocol calls refused before anything happens.
    #[arg(long, env = "PAYSIM_ERROR_RATE", default_value_t = 0.0)]
    error_rate: f64,
    /// Share (0..1) of protocol calls carried out whose answer is lost (504).
    #[arg(long, env = "PAYSIM_LOST_RESPONSE_RATE", default_value_t = 0.0)]
    lost_response_rate: f64,
    /// Share (0..1) of notify attempts not sent.
    #[arg(long, env = "PAYSIM_DROP_NOTIFY_RATE", default_value_t = 0.0)]
    drop_notify_rate: f64,
    /// Refunds stay PROCESSING this many milliseconds (default: succeed at once).
    #[arg(long, env = "PAYSIM_REFUND_PROCESSING_MS")]
    refund_processing_ms: Option<u64>,
    /// Seconds between notify retries instead of UMS's 15 s … 6 h schedule (e.g. for demos).
    #[arg(long, env = "PAYSIM_NOTIFY_RETRY_SECS")]
    notify_retry_secs: Option<u64>,
}

fn parse_signing(text: &str) -> Result<NotifySigning, String> {
    NotifySigning::parse(text).ok_or_else(|| format!("{text:?}: expected as-ordered or sha256"))
}

#[actix_web::main]
async fn main() -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr so that stdout carries only the address line.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "paysim stopped");
            eprintln!("paysim: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let private_key_pem = match &args.key_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read key file {}: {error}", path.display()))?,
        ),
        None => None,
    };
    let mut config = PaySimConfig {
        app_id: args.app_id,
        app_key: args.app_key,
        mid: args.mid,
        tid: args.tid,
        msg_src_id: args.msg_src_id,
        notify_key: args.notify_key,
        notify_signing: args.notify_sign_type,
        mer_name: args.mer_name,
        private_key_pem,
        faults: Faults {
            latency_ms: args.latency_ms,
            error_rate: args.error_rate,
            lost_response_rate: args.lost_response_rate,
            drop_notify_rate: args.drop_notify_rate,
            refund_processing_ms: args.refund_processing_ms,
            charge_closed: false,
            refuse_refunds: false,
        },
        ..PaySimConfig::default()
    };
    if let Some(secs) = args.notify_retry_secs {
        config.notify_retry_delays = vec![Duration::from_secs(secs); 15];
    }
    let store_config = StoreConfig {
        data_dir: args.data_dir,
        cache_capacity: 64 * 1024 * 1024,
        disk_reserve_bytes: ordercenter::store::DEFAULT_DISK_RESERVE_BYTES,
    };
    let store = tokio::task::spawn_blocking(move || Store::open(&store_config)).await??;
    let sim = PaySim::start(&store, config).await?;
    let server = {
        let sim = sim.clone();
        HttpServer::new(move || {
            let sim = sim.clone();
            App::new().configure(move |cfg| sim.configure(cfg))
        })
        .bind(&args.listen)
        .map_err(|error| format!("cannot listen on {}: {error}", args.listen))?
    };
    for addr in server.addrs() {
        println!("paysim listening on http://{addr}");
    }
    server.run().await?;
    sim.shutdown().await;
    drop(sim);
    tokio::task::spawn_blocking(move || store.close()).await??;
    Ok(())
}
