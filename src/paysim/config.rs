//! Settings of the simulator.

use std::fmt;
use std::time::Duration;

use super::{Faults, NotifySigning};
use crate::provider::config as defaults;
use crate::provider::ProviderConfig;

/// Default `merName`: a space in it, like many real merchant names, tests `+` decoding.
pub const DEFAULT_MER_NAME: &str = "paysim 测试商户";

/// How the simulator behaves and which merchant it serves. The defaults are the same
/// credentials as [`ProviderConfig::default`], so the embedded pair works with zero config.
#[derive(Clone)]
pub struct PaySimConfig {
    /// The merchant's open-platform appId.
    pub app_id: String,
    /// The merchant's appKey (verifies `OPEN-BODY-SIG`).
    pub app_key: String,
    /// The merchant number requests must carry.
    pub mid: String,
    /// The terminal number requests must carry.
    pub tid: String,
    /// The prefix every `merOrderId` must start with.
    pub msg_src_id: String,
    /// Communication key that signs notifies.
    pub notify_key: String,
    /// How notifies are signed: by default as the real gateway does (MD5 and no `signType`
    /// field unless the unified order asked for a `signType`).
    pub notify_signing: NotifySigning,
    /// The merchant's name, as notifies carry it in `merName`.
    pub mer_name: String,
    /// A PEM private key to sign `paySign` with; `None`: the key kept in the store, generated
    /// on first start.
    pub private_key_pem: Option<String>,
    /// Delays before each notify retry; the first attempt is immediate, and after the last
    /// delay's attempt fails the notify is given up. UMS-like by default (15 s … 6 h, ~24 h).
    pub notify_retry_delays: Vec<Duration>,
    /// Timeout of one notify attempt.
    pub notify_timeout: Duration,
    /// Notifies in flight at once.
    pub notify_concurrency: usize,
    /// How far a request's `Timestamp` may be from the simulator's clock.
    pub max_clock_skew: Duration,
    /// Faults in effect at start.
    pub faults: Faults,
}

impl Default for PaySimConfig {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self {
            app_id: defaults::DEFAULT_APP_ID.into(),
            app_key: defaults::DEFAULT_APP_KEY.into(),
            mid: defaults::DEFAULT_MID.into(),
            tid: defaults::DEFAULT_TID.into(),
            msg_src_id: defaults::DEFAULT_MSG_SRC_ID.into(),
            notify_key: defaults::DEFAULT_NOTIFY_KEY.into(),
            notify_signing: NotifySigning::default(),
            mer_name: DEFAULT_MER_NAME.into(),
            private_key_pem: None,
            notify_retry_delays: vec![
                Duration::from_secs(15),
                Duration::from_secs(15),
                Duration::from_secs(30),
                minutes(3),
                minutes(10),
                minutes(20),
                minutes(30),
                minutes(30),
                minutes(30),
                minutes(60),
                minutes(180),
                minutes(180),
                minutes(180),
                minutes(360),
                minutes(360),
            ],
            notify_timeout: Duration::from_secs(5),
            notify_concurrency: 16,
            max_clock_skew: Duration::from_secs(600),
            faults: Faults::default(),
        }
    }
}

impl PaySimConfig {
    /// A simulator serving the merchant that `client` is configured as (same appId, keys,
    /// mid, tid and source id), with the default behaviour.
    pub fn for_client(client: &ProviderConfig) -> Self {
        Self {
            app_id: client.app_id.clone(),
            app_key: client.app_key.clone(),
            mid: client.mid.clone(),
            tid: client.tid.clone(),
            msg_src_id: client.msg_src_id.clone(),
            notify_key: client.notify_key.clone(),
            ..Self::default()
        }
    }
}

/// Secrets are redacted so a config can be logged.
impl fmt::Debug for PaySimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaySimConfig")
            .field("app_id", &self.app_id)
            .field("app_key", &"<redacted>")
            .field("mid", &self.mid)
            .field("tid", &self.tid)
            .field("msg_src_id", &self.msg_src_id)
            .field("notify_key", &"<redacted>")
            .field("notify_signing", &self.notify_signing)
            .field("mer_name", &self.mer_name)
            .field(
                "private_key_pem",
                &self.private_key_pem.as_ref().map(|_| "<redacted>"),
            )
            .field("notify_retry_delays", &self.notify_retry_delays)
            .field("notify_timeout", &self.notify_timeout)
            .field("notify_concurrency", &self.notify_concurrency)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("faults", &self.faults)
            .finish()
    }
}
