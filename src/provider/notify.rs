//! The provider's asynchronous payment notify, and the checks that an answer is about the
//! expected order and amount.
//!
//! UMS posts a signed form to `notifyUrl` when a payment succeeds. A notify is only a hint
//! until it is verified: a bad signature, an unknown order or a wrong amount must change
//! nothing. Fields are kept as received, because the signature covers all of them, including
//! ones this code does not use.

use std::collections::BTreeMap;

use super::sign::{verify_notify_sign, SignType};
use super::wire::amount;
use super::wire::{QueryResponse, TradeStatus};
use super::ProviderError;

/// A verified payment notify.
#[derive(Clone, Debug)]
pub struct Notify {
    /// Merchant order id.
    pub mer_order_id: String,
    /// The order's state (`TRADE_SUCCESS` for a payment).
    pub status: TradeStatus,
    /// Amount in fen.
    pub total_amount: u64,
    /// Payment time, `yyyy-MM-dd HH:mm:ss` China time.
    pub pay_time: Option<String>,
    /// WeChat's transaction id.
    pub target_order_id: Option<String>,
    /// Algorithm the signature used.
    pub sign_type: SignType,
    /// Every field as received (including `sign`), for logs and audits.
    pub fields: BTreeMap<String, String>,
}

impl Notify {
    /// Parses an `application/x-www-form-urlencoded` notify body and verifies its signature
    /// with the communication key.
    pub fn parse_form(body: &[u8], key: &str) -> Result<Self, ProviderError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|error| {
            ProviderError::BadResponse(format!("notify is not a form: {error}"))
        })?;
        let mut fields = BTreeMap::new();
        for (name, value) in pairs {
            if fields.insert(name.clone(), value).is_some() {
                return Err(ProviderError::BadResponse(format!(
                    "notify repeats the field {name}"
                )));
            }
        }
        Self::from_fields(fields, key)
    }

    /// Verifies the signature of already-decoded fields, then reads them.
    pub fn from_fields(fields: BTreeMap<String, String>, key: &str) -> Result<Self, ProviderError> {
        if !verify_notify_sign(&fields, key) {
            return Err(ProviderError::BadSignature);
        }
        let sign_type = SignType::parse(fields.get("signType").map(String::as_str))
            .ok_or(ProviderError::BadSignature)?;
        let field = |name: &str| fields.get(name).filter(|value| !value.is_empty()).cloned();
        let mer_order_id = field("merOrderId")
            .ok_or_else(|| ProviderError::BadResponse("notify has no merOrderId".into()))?;
        let status = field("status")
            .map(TradeStatus::from)
            .ok_or_else(|| ProviderError::BadResponse("notify has no status".into()))?;
        let total_amount = field("totalAmount")
            .and_then(|text| parse_fen(&text))
            .ok_or_else(|| ProviderError::BadResponse("notify has no valid totalAmount".into()))?;
        Ok(Self {
            mer_order_id,
            status,
            total_amount,
            pay_time: field("payTime"),
            target_order_id: field("targetOrderId"),
            sign_type,
            fields,
        })
    }

    /// Checks that this notify is about `mer_order_id` for exactly `total_amount` fen.
    pub fn check(&self, mer_order_id: &str, total_amount: u64) -> Result<(), ProviderError> {
        check_order(
            mer_order_id,
            total_amount,
            &self.mer_order_id,
            Some(self.total_amount),
        )
    }
}

impl QueryResponse {
    /// Checks that this answer is about `mer_order_id` and, when it carries an amount, that
    /// the amount is `total_amount`. A paid answer without an amount is refused: a payment
    /// is accepted only for the amount that was asked.
    pub fn check(&self, mer_order_id: &str, total_amount: u64) -> Result<(), ProviderError> {
        if self.total_amount.is_none() && self.status.was_paid() {
            return Err(ProviderError::Mismatch(format!(
                "paid answer for {} carries no amount",
                self.mer_order_id
            )));
        }
        check_order(
            mer_order_id,
            total_amount,
            &self.mer_order_id,
            self.total_amount,
        )
    }
}

/// Checks an answer's order id and amount against what was expected. An absent amount
/// passes (pending answers may omit it); a different one never does.
pub fn check_order(
    expected_order: &str,
    expected_amount: u64,
    got_order: &str,
    got_amount: Option<u64>,
) -> Result<(), ProviderError> {
    if got_order != expected_order {
        return Err(ProviderError::Mismatch(format!(
            "expected order {expected_order}, got {got_order}"
        )));
    }
    match got_amount {
        Some(amount) if amount != expected_amount => Err(ProviderError::Mismatch(format!(
            "order {expected_order}: expected {expected_amount} fen, got {amount}"
        ))),
        _ => Ok(()),
    }
}

fn parse_fen(text: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Wrapper(#[serde(with = "amount::string")] u64);
    serde_json::from_value::<Wrapper>(serde_json::Value::String(text.to_owned()))
        .ok()
        .map(|wrapper| wrapper.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_order_refuses_other_order_or_amount() {
        assert!(check_order("2013001", 100, "2013001", Some(100)).is_ok());
        assert!(check_order("2013001", 100, "2013001", None).is_ok());
        assert!(matches!(
            check_order("2013001", 100, "2013002", Some(100)),
            Err(ProviderError::Mismatch(_))
        ));
        assert!(matches!(
            check_order("2013001", 100, "2013001", Some(1)),
            Err(ProviderError::Mismatch(_))
        ));
    }

    #[test]
    fn parse_fen_accepts_digits_only() {
        assert_eq!(parse_fen("25"), Some(25));
        assert_eq!(parse_fen("0.25"), None);
        assert_eq!(parse_fen("-1"), None);
    }
}
