//! Fault injection: what a real provider and its gateway do on a bad day.
//!
//! Settable at start ([`super::PaySimConfig::faults`]) and at run time
//! (`POST /paysim/faults` with any subset of the fields, `GET /paysim/faults`). Faults apply to
//! the protocol endpoints (`/v1/netpay/*`) and to notifies, never to the buyer's endpoints.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::provider::codes;
use crate::provider::wire::ErrorResponse;

/// Current fault settings (a JSON view; never stored).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every protocol call before it is handled, in milliseconds.
    pub latency_ms: u64,
    /// Share of protocol calls refused before anything happens: half as a gateway `503`,
    /// half as `errCode` `INTERNAL_ERROR`.
    pub error_rate: f64,
    /// Share of protocol calls that are carried out but whose answer is lost (`504`): the
    /// caller cannot tell whether the call took effect and must query.
    pub lost_response_rate: f64,
    /// Share of notify attempts that are silently not sent (1.0: notifies never arrive).
    pub drop_notify_rate: f64,
    /// When set, a refund stays `PROCESSING` for this many milliseconds before it succeeds
    /// (0: the refund answers `PROCESSING` and the next refund-query `SUCCESS`). Unset:
    /// refunds succeed at once.
    pub refund_processing_ms: Option<u64>,
    /// The buyer's payment goes through even when the order was closed or expired a moment
    /// before: the race a real provider allows when the buyer confirmed in WeChat's payment
    /// sheet before the close reached it. The merchant must refund such a payment.
    pub charge_closed: bool,
    /// Every new refund is refused with `REFUND_NOT_ALLOWED` (as UMS does when the
    /// merchant's refundable balance is short): a final answer the merchant cannot retry
    /// away, which a person must settle.
    pub refuse_refunds: bool,
}

/// Upper bound of `latency_ms`, so a typo cannot hang every caller for hours.
pub const MAX_LATENCY_MS: u64 = 120_000;

impl Faults {
    /// Checks the ranges: rates within 0..=1, latency at most [`MAX_LATENCY_MS`].
    pub fn validate(&self) -> Result<(), String> {
        let rates = [
            ("error_rate", self.error_rate),
            ("lost_response_rate", self.lost_response_rate),
            ("drop_notify_rate", self.drop_notify_rate),
        ];
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if self.latency_ms > MAX_LATENCY_MS {
            return Err(format!("latency_ms must be at most {MAX_LATENCY_MS}"));
        }
        Ok(())
    }

    /// Applies the fields present in `patch` (a JSON object) over these settings.
    pub fn patched(&self, patch: &serde_json::Value) -> Result<Self, String> {
        let serde_json::Value::Object(changes) = patch else {
            return Err("faults must be a JSON object".into());
        };
        let mut merged = serde_json::to_value(self).map_err(|error| error.to_string())?;
        if let serde_json::Value::Object(fields) = &mut merged {
            for (name, value) in changes {
                fields.insert(name.clone(), value.clone());
            }
        }
        let faults: Self = serde_json::from_value(merged).map_err(|error| error.to_string())?;
        faults.validate()?;
        Ok(faults)
    }
}

/// True with probability `rate` (never for 0 or NaN, always for 1).
pub fn roll(rate: f64) -> bool {
    rate > 0.0 && (rate >= 1.0 || rand::thread_rng().gen::<f64>() < rate)
}

/// An injected refusal, indistinguishable from a real outage.
pub fn injected_error() -> HttpResponse {
    if rand::thread_rng().gen_bool(0.5) {
        gateway_error(StatusCode::SERVICE_UNAVAILABLE)
    } else {
        HttpResponse::Ok().json(ErrorResponse {
            err_code: codes::INTERNAL_ERROR.into(),
            err_msg: "系统繁忙，请稍后重试".into(),
            msg_id: String::new(),
            response_timestamp: crate::provider::time::format_china(
                crate::provider::time::now_unix(),
            ),
        })
    }
}

/// A gateway's HTML error page (no UMS body), as an overloaded load balancer answers.
pub fn gateway_error(status: StatusCode) -> HttpResponse {
    let reason = status.canonical_reason().unwrap_or("Error");
    HttpResponse::build(status)
        .content_type("text/html")
        .body(format!(
            "<html><head><title>{} {reason}</title></head><body><center><h1>{} {reason}</h1></center></body></html>",
            status.as_u16(),
            status.as_u16()
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_changes_only_given_fields_and_validates() {
        let base = Faults {
            latency_ms: 5,
            ..Faults::default()
        };
        let patched = base.patched(&serde_json::json!({"error_rate": 1.0}));
        assert_eq!(
            patched,
            Ok(Faults {
                latency_ms: 5,
                error_rate: 1.0,
                ..Faults::default()
            })
        );
        assert!(base.patched(&serde_json::json!({"error_rate": 2})).is_err());
        assert!(base.patched(&serde_json::json!({"nonsense": 1})).is_err());
        assert!(base.patched(&serde_json::json!([1])).is_err());
    }

    #[test]
    fn roll_extremes_are_certain() {
        assert!(roll(1.0));
        assert!(!roll(0.0));
        assert!(!roll(f64::NAN));
    }
}
