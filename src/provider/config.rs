//! Provider credentials and endpoints.
//!
//! The defaults are the embedded simulator's own credentials ([`crate::paysim::PaySimConfig`]
//! starts from the same constants), so `cargo run` works with zero configuration. Production
//! replaces every one of them with the values UMS issues to the merchant.

use std::fmt;
use std::time::Duration;

/// Default base URL: the embedded service, which mounts the simulator at `/v1/netpay/*`.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";
/// Default open-platform appId (the simulator's).
pub const DEFAULT_APP_ID: &str = "8a81c1bd8f2d4e6a018f2d4e6a0b0001";
/// Default open-platform appKey (the simulator's; a secret in production).
pub const DEFAULT_APP_KEY: &str = "paysim-app-key-0123456789abcdef0123456789abcdef";
/// Default merchant number.
pub const DEFAULT_MID: &str = "898340149000005";
/// Default terminal number.
pub const DEFAULT_TID: &str = "88880001";
/// Default source id: every `merOrderId` starts with it (SPEC §2: `parent_order_no`).
pub const DEFAULT_MSG_SRC_ID: &str = "2013";
/// Business type of WeChat mini-program pay at UMS.
pub const DEFAULT_INST_MID: &str = "MINIDEFAULT";
/// Default communication key (UMS calls it md5Key) that signs notifies.
pub const DEFAULT_NOTIFY_KEY: &str = "paysim-notify-key-fedcba9876543210";
/// Default mini-program appId (`subAppId`, the `appId` that `paySign` covers).
pub const DEFAULT_SUB_APP_ID: &str = "wx5a3f1c0d2b4e6a70";
/// Default notify URL: the order center's receiver on the embedded service.
pub const DEFAULT_NOTIFY_URL: &str = "http://127.0.0.1:8080/trade/notify/ums";

/// Everything the client needs to talk to UMS on behalf of one merchant.
#[derive(Clone)]
pub struct ProviderConfig {
    /// Gateway root, without a trailing slash (`https://api-mop.chinaums.com` in production).
    pub base_url: String,
    /// Open-platform appId, sent in the `OPEN-BODY-SIG` header.
    pub app_id: String,
    /// Open-platform appKey: the HMAC key of `OPEN-BODY-SIG`. Never logged.
    pub app_key: String,
    /// Merchant number (`mid`).
    pub mid: String,
    /// Terminal number (`tid`).
    pub tid: String,
    /// Four-character source id; merchant order ids must start with it.
    pub msg_src_id: String,
    /// Business type (`instMid`), `MINIDEFAULT` for mini-program pay.
    pub inst_mid: String,
    /// Communication key (md5Key) that signs the provider's notifies. Never logged.
    pub notify_key: String,
    /// The mini-program's WeChat appId (`subAppId`).
    pub sub_app_id: String,
    /// Where the provider posts payment notifies (`notifyUrl`).
    pub notify_url: String,
    /// Whole-request timeout: an unanswered call is an error, never a hang.
    pub timeout: Duration,
    /// Connection timeout, shorter so an unreachable gateway fails fast.
    pub connect_timeout: Duration,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            app_id: DEFAULT_APP_ID.into(),
            app_key: DEFAULT_APP_KEY.into(),
            mid: DEFAULT_MID.into(),
            tid: DEFAULT_TID.into(),
            msg_src_id: DEFAULT_MSG_SRC_ID.into(),
            inst_mid: DEFAULT_INST_MID.into(),
            notify_key: DEFAULT_NOTIFY_KEY.into(),
            sub_app_id: DEFAULT_SUB_APP_ID.into(),
            notify_url: DEFAULT_NOTIFY_URL.into(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

impl ProviderConfig {
    /// The default configuration pointed at another gateway, e.g. a simulator on port 0 in a
    /// test or the simulator running as its own process.
    pub fn with_base_url(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            ..Self::default()
        }
    }
}

/// Secrets are redacted so a config can be logged at startup.
impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("base_url", &self.base_url)
            .field("app_id", &self.app_id)
            .field("app_key", &"<redacted>")
            .field("mid", &self.mid)
            .field("tid", &self.tid)
            .field("msg_src_id", &self.msg_src_id)
            .field("inst_mid", &self.inst_mid)
            .field("notify_key", &"<redacted>")
            .field("sub_app_id", &self.sub_app_id)
            .field("notify_url", &self.notify_url)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}
