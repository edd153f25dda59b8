//! A subsystem reached over HTTP with the platform's form-in, envelope-out convention.

use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{
    OrderCreateAnswer, OrderCreateCall, OrderNotifyCall, RefundDeadlineAnswer, RefundDeadlineCall,
    Subsystem, SubsystemError,
};

const CREATE_PATH: &str = "activityPlatform/activity/applyOrderCreate";
const NOTIFY_PATH: &str = "activityPlatform/activity/applyOrderNotify";
const REFUND_DEADLINE_PATH: &str = "activityPlatform/activity/applyOrderRefundDeadline";

/// A subsystem at `base_url` (e.g. `http://activity.internal:8080/`).
#[derive(Clone)]
pub struct HttpSubsystem {
    client: reqwest::Client,
    base_url: String,
    token: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    code: u64,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default)]
    message: String,
}

impl HttpSubsystem {
    /// A client for the subsystem at `base_url`, with `timeout` per call, sending `token`
    /// as `Authorization: Bearer …` when given (the subsystem's internal token).
    pub fn new(
        base_url: &str,
        timeout: Duration,
        token: Option<String>,
    ) -> Result<Self, SubsystemError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| SubsystemError::Unavailable(format!("http client: {e}")))?;
        Ok(Self {
            client,
            base_url: format!("{}/", base_url.trim_end_matches('/')),
            token,
        })
    }

    async fn call<T: Serialize + Sync, R: DeserializeOwned>(
        &self,
        path: &str,
        form: &T,
    ) -> Result<R, SubsystemError> {
        let url = format!("{}{}", self.base_url, path);
        let mut request = self.client.post(&url).form(form);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| SubsystemError::Unavailable(format!("{path}: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| SubsystemError::Unavailable(format!("{path}: {e}")))?;
        let envelope: Envelope = serde_json::from_slice(&body).map_err(|_| {
            SubsystemError::Unavailable(format!("{path}: HTTP {status} without an envelope"))
        })?;
        if envelope.code == 200 && status.is_success() {
            let data = envelope.data.unwrap_or(serde_json::Value::Null);
            return serde_json::from_value(data)
                .map_err(|e| SubsystemError::Unavailable(format!("{path}: unexpected data: {e}")));
        }
        if status.is_client_error() {
            Err(SubsystemError::Rejected {
                code: envelope.code,
                message: envelope.message,
                data: envelope.data,
            })
        } else {
            Err(SubsystemError::Unavailable(format!(
                "{path}: HTTP {status}, code {}: {}",
                envelope.code, envelope.message
            )))
        }
    }
}

#[async_trait]
impl Subsystem for HttpSubsystem {
    async fn order_create(
        &self,
        call: &OrderCreateCall,
    ) -> Result<OrderCreateAnswer, SubsystemError> {
        self.call(CREATE_PATH, call).await
    }

    async fn order_notify(&self, call: &OrderNotifyCall) -> Result<(), SubsystemError> {
        let _: serde_json::Value = self.call(NOTIFY_PATH, call).await?;
        Ok(())
    }

    async fn refund_deadline(
        &self,
        call: &RefundDeadlineCall,
    ) -> Result<RefundDeadlineAnswer, SubsystemError> {
        self.call(REFUND_DEADLINE_PATH, call).await
    }
}
