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

    /// Seconds an `Idempotency-Key` is remembered (SPEC §2: at least 24 h). Records are
    /// swept every twenty-fourth of this, so each is kept between it and 1/24 more (24–25 h
    /// by default); a record past it is ignored even before it is swept.
    #[arg(long, env = "ORDERCENTER_IDEMPOTENCY_TTL", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=30 * 86_400))]
    pub idempotency_ttl: u64,

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

    /// Free space (MiB) on the data dir's filesystem under which writes are refused with
    /// 503 and the service is not ready, until space is freed; 0 turns the guard off.
    #[arg(long, env = "ORDERCENTER_DISK_RESERVE_MB", default_value_t = 64)]
    pub disk_reserve_mb: u64,

    /// Base URL of the payment provider (UMS open platform). Without it the embedded payment
    /// simulator is mounted on this server and used.
    #[arg(long, env = "ORDERCENTER_PROVIDER_URL")]
    pub provider_url: Option<String>,

    /// Mount the payment simulator even when `--provider-url` is set.
    #[arg(long, env = "ORDERCENTER_PAYSIM")]
    pub paysim: bool,

    /// PEM file with the simulator's RSA key (default: generated on first start and kept in
    /// the data dir).
    #[arg(long, env = "ORDERCENTER_PAYSIM_KEY_FILE")]
    pub paysim_key_file: Option<PathBuf>,

    /// The base URL the provider reaches this server at, for `notifyUrl`
    /// (default: `http://` + the listening address; required with `--provider-url`).
    #[arg(long, env = "ORDERCENTER_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// UMS appId (default: the simulator's; required with `--provider-url`).
    #[arg(long, env = "ORDERCENTER_UMS_APP_ID")]
    pub ums_app_id: Option<String>,

    /// UMS appKey (default: the simulator's; required with `--provider-url`).
    #[arg(long, env = "ORDERCENTER_UMS_APP_KEY", hide_env_values = true)]
    pub ums_app_key: Option<String>,

    /// UMS merchant number `mid` (default: the simulator's; required with `--provider-url`).
    #[arg(long, env = "ORDERCENTER_UMS_MID")]
    pub ums_mid: Option<String>,

    /// UMS terminal number `tid` (default: the simulator's; required with `--provider-url`).
    #[arg(long, env = "ORDERCENTER_UMS_TID")]
    pub ums_tid: Option<String>,

    /// UMS communication key that signs notifies (default: the simulator's; required with `--provider-url`).
    #[arg(long, env = "ORDERCENTER_UMS_NOTIFY_KEY", hide_env_values = true)]
    pub ums_notify_key: Option<String>,

    /// The mini-program appId (`subAppId`) (default: the simulator's; required with `--provider-url`).
    #[arg(long, env = "ORDERCENTER_MINI_APP_ID")]
    pub mini_app_id: Option<String>,

    /// Where `POST /admin/backup` writes its copies (default: beside the data dir, as
    /// `<data dir>.backups`).
    #[arg(long, env = "ORDERCENTER_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,

    /// Do not create the demo activity on an empty store.
    #[arg(long, env = "ORDERCENTER_NO_DEMO")]
    pub no_demo: bool,
}

impl Config {
    /// Where backups go: `--backup-dir`, else `<data dir>.backups` beside the data dir.
    pub fn backup_dir(&self) -> PathBuf {
        self.backup_dir.clone().unwrap_or_else(|| {
            let mut beside = self.data_dir.clone().into_os_string();
            beside.push(".backups");
            PathBuf::from(beside)
        })
    }

    /// The defaults with a data dir and listen address, for tests and embedding.
    pub fn embedded(data_dir: impl Into<PathBuf>, listen: &str) -> Self {
        let mut config = Config::parse_from(["ordercenter"]);
        config.data_dir = data_dir.into();
        config.listen = listen.to_owned();
        config
    }

    /// The provider client's settings, for a server listening at `address`.
    pub fn provider(&self, address: std::net::SocketAddr) -> crate::provider::ProviderConfig {
        let own = format!("http://{address}");
        let mut provider = crate::provider::ProviderConfig::with_base_url(
            self.provider_url.as_deref().unwrap_or(&own),
        );
        let public = self.public_url.clone().unwrap_or(own);
        provider.notify_url = format!("{}/trade/notify/ums", public.trim_end_matches('/'));
        provider.msg_src_id = self.msg_src_id.to_string();
        let set = |target: &mut String, value: &Option<String>| {
            if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
                target.clone_from(value);
            }
        };
        set(&mut provider.app_id, &self.ums_app_id);
        set(&mut provider.app_key, &self.ums_app_key);
        set(&mut provider.mid, &self.ums_mid);
        set(&mut provider.tid, &self.ums_tid);
        set(&mut provider.notify_key, &self.ums_notify_key);
        set(&mut provider.sub_app_id, &self.mini_app_id);
        provider
    }

    /// Against a real provider (`--provider-url` set), the settings that are missing: the
    /// embedded defaults are the simulator's, public in this repository, so a production
    /// start with any of them would let anyone sign a payment notify or call admin
    /// endpoints. Each entry names the environment variable to set. Empty in the embedded
    /// default (no provider URL), which needs no configuration.
    pub fn missing_production_settings(&self) -> Vec<&'static str> {
        if self.provider_url.is_none() {
            return Vec::new();
        }
        let given = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
        [
            ("ORDERCENTER_UMS_APP_ID", given(&self.ums_app_id)),
            ("ORDERCENTER_UMS_APP_KEY", given(&self.ums_app_key)),
            ("ORDERCENTER_UMS_MID", given(&self.ums_mid)),
            ("ORDERCENTER_UMS_TID", given(&self.ums_tid)),
            ("ORDERCENTER_UMS_NOTIFY_KEY", given(&self.ums_notify_key)),
            ("ORDERCENTER_MINI_APP_ID", given(&self.mini_app_id)),
            ("ORDERCENTER_PUBLIC_URL", given(&self.public_url)),
            ("ORDERCENTER_ADMIN_TOKEN", given(&self.admin_token)),
        ]
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| name)
        .collect()
    }

    /// Whether the embedded payment simulator is mounted.
    pub fn paysim_enabled(&self) -> bool {
        self.provider_url.is_none() || self.paysim
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
