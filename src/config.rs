//! Settings: command-line flags with environment-variable twins (SPEC §6).

use std::path::PathBuf;

use clap::Parser;

/// How the service runs. Every flag also reads from the environment variable it names.
#[derive(Parser, Clone, Debug)]
#[command(
    name = "ordercenter",
    version,
    about = "Order center for paid activity registrations"
)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the real address is printed).
    #[arg(long, env = "ORDERCENTER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Directory of the sled store.
    #[arg(long, env = "ORDERCENTER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Seconds an unpaid order lives (`overdue_time`).
    #[arg(long, env = "ORDERCENTER_ORDER_TTL", default_value_t = 480, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub order_ttl: u64,

    /// Token required by admin calls (`activity/save`) as `Authorization: Bearer …` or
    /// `admin_token`; none = admin calls are open (embedded demo).
    #[arg(long, env = "ORDERCENTER_ADMIN_TOKEN")]
    pub admin_token: Option<String>,

    /// Token for the order center's calls to subsystems (`applyOrderCreate`,
    /// `applyOrderNotify`), sent and required as `Authorization: Bearer …` when set.
    #[arg(long, env = "ORDERCENTER_INTERNAL_TOKEN")]
    pub internal_token: Option<String>,

    /// A business subsystem reached over HTTP, as `business_type=base_url` (repeatable, or
    /// comma-separated in the variable). Without one, 3001 is the in-process activity platform.
    #[arg(
        long = "subsystem-url",
        env = "ORDERCENTER_SUBSYSTEM_URLS",
        value_delimiter = ','
    )]
    pub subsystem_urls: Vec<String>,

    /// Seconds to wait for a subsystem call.
    #[arg(long, env = "ORDERCENTER_SUBSYSTEM_TIMEOUT", default_value_t = 5)]
    pub subsystem_timeout: u64,

    /// The provider's 4-digit source id (`msgSrcId`), prefix of every `parent_order_no`.
    #[arg(long, env = "ORDERCENTER_MSG_SRC_ID", default_value_t = 2013, value_parser = clap::value_parser!(u16).range(1000..=9999))]
    pub msg_src_id: u16,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "ORDERCENTER_WORKERS")]
    pub workers: Option<usize>,

    /// sled page cache in MiB.
    #[arg(long, env = "ORDERCENTER_CACHE_MB", default_value_t = 256)]
    pub cache_mb: u64,

    /// Do not create the demo activity on an empty store.
    #[arg(long, env = "ORDERCENTER_NO_DEMO")]
    pub no_demo: bool,
}

impl Config {
    /// The defaults with a data dir and listen address, for tests and embedding.
    pub fn embedded(data_dir: impl Into<PathBuf>, listen: &str) -> Self {
        let mut config = Config::parse_from(["ordercenter"]);
        config.data_dir = data_dir.into();
        config.listen = listen.to_owned();
        config
    }

    /// `business_type=url` pairs, parsed.
    pub fn subsystem_urls(&self) -> Result<Vec<(u16, String)>, String> {
        self.subsystem_urls
            .iter()
            .map(|pair| {
                let (kind, url) = pair.split_once('=').ok_or_else(|| {
                    format!("--subsystem-url {pair:?}: expected business_type=url")
                })?;
                let kind: u16 = kind.trim().parse().map_err(|_| {
                    format!("--subsystem-url {pair:?}: business_type must be 4 digits")
                })?;
                Ok((kind, url.trim().to_owned()))
            })
            .collect()
    }
}
