//! Signatures of the UMS protocol, shared by the client and the simulator.
//!
//! - Requests: `Authorization: OPEN-BODY-SIG AppId="…", Timestamp="…", Nonce="…",
//!   Signature="…"` with Signature = base64(HMAC-SHA256(appKey, appId ‖ Timestamp ‖ Nonce ‖
//!   hex(SHA256(body)))).
//! - Notifies: drop `sign` and empty values, sort by key, join `k=v&…`, append the
//!   communication key, hash with SHA256 or MD5 as `signType` says, uppercase hex.
//!
//! Every comparison of a signature is constant-time, so a forger learns nothing from timing.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::Md5;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The scheme name that opens the `Authorization` header.
pub const SCHEME: &str = "OPEN-BODY-SIG";

/// A random 32-character lowercase hex string, for `Nonce`, `msgId` and `nonceStr`.
pub fn new_nonce() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    hex::encode(bytes)
}

/// The `Signature` of `OPEN-BODY-SIG` for `body`.
pub fn body_signature(
    app_id: &str,
    app_key: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    let digest = hex::encode(Sha256::digest(body));
    // HMAC accepts keys of any length, so this cannot fail; an empty signature never verifies.
    let Ok(mut mac) = HmacSha256::new_from_slice(app_key.as_bytes()) else {
        return String::new();
    };
    mac.update(app_id.as_bytes());
    mac.update(timestamp.as_bytes());
    mac.update(nonce.as_bytes());
    mac.update(digest.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The parts of an `OPEN-BODY-SIG` authorization header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenBodySig {
    /// `AppId`.
    pub app_id: String,
    /// `Timestamp`, `yyyyMMddHHmmss` in China time.
    pub timestamp: String,
    /// `Nonce`.
    pub nonce: String,
    /// `Signature`, base64.
    pub signature: String,
}

impl OpenBodySig {
    /// Signs `body` now with a fresh nonce.
    pub fn sign(app_id: &str, app_key: &str, body: &[u8]) -> Self {
        let timestamp = super::time::format_compact(super::time::now_unix());
        Self::sign_at(app_id, app_key, &timestamp, &new_nonce(), body)
    }

    /// Signs `body` with a given timestamp and nonce (for known-answer tests).
    pub fn sign_at(app_id: &str, app_key: &str, timestamp: &str, nonce: &str, body: &[u8]) -> Self {
        Self {
            app_id: app_id.to_owned(),
            timestamp: timestamp.to_owned(),
            nonce: nonce.to_owned(),
            signature: body_signature(app_id, app_key, timestamp, nonce, body),
        }
    }

    /// The header value.
    pub fn header_value(&self) -> String {
        format!(
            "{SCHEME} AppId=\"{}\", Timestamp=\"{}\", Nonce=\"{}\", Signature=\"{}\"",
            self.app_id, self.timestamp, self.nonce, self.signature
        )
    }

    /// Parses a header value. Lenient about spacing and the case of parameter names, as
    /// UMS's own samples differ on both; `None` if the scheme or a parameter is missing.
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        let (scheme, params) = header.split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case(SCHEME) {
            return None;
        }
        let mut sig = Self {
            app_id: String::new(),
            timestamp: String::new(),
            nonce: String::new(),
            signature: String::new(),
        };
        for part in params.split(',') {
            let (name, value) = part.trim().split_once('=')?;
            let value = value.trim().trim_matches('"').to_owned();
            match name.trim().to_ascii_lowercase().as_str() {
                "appid" => sig.app_id = value,
                "timestamp" => sig.timestamp = value,
                "nonce" => sig.nonce = value,
                "signature" => sig.signature = value,
                _ => {}
            }
        }
        let complete = [&sig.app_id, &sig.timestamp, &sig.nonce, &sig.signature]
            .iter()
            .all(|part| !part.is_empty());
        complete.then_some(sig)
    }

    /// Whether the signature is right for `body` under `app_key` (constant-time compare).
    pub fn verify(&self, app_key: &str, body: &[u8]) -> bool {
        let expected = body_signature(&self.app_id, app_key, &self.timestamp, &self.nonce, body);
        bool::from(expected.as_bytes().ct_eq(self.signature.as_bytes()))
    }
}

/// Hash algorithm of a notify signature, named by the notify's `signType` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignType {
    /// `SHA256`.
    Sha256,
    /// `MD5`: UMS's historical default when `signType` is absent.
    Md5,
}

impl SignType {
    /// Reads `signType`; absent or empty means MD5, the provider's legacy default.
    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value.map(str::trim) {
            None | Some("") => Some(Self::Md5),
            Some(text) if text.eq_ignore_ascii_case("SHA256") => Some(Self::Sha256),
            Some(text) if text.eq_ignore_ascii_case("MD5") => Some(Self::Md5),
            Some(_) => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA256",
            Self::Md5 => "MD5",
        }
    }
}

/// The string a notify signature covers: every field except `sign` and the empty ones, sorted
/// by key, `k=v` joined with `&`, then the key appended.
pub fn notify_sign_input(fields: &BTreeMap<String, String>, key: &str) -> String {
    let mut text = fields
        .iter()
        .filter(|(name, value)| name.as_str() != "sign" && !value.is_empty())
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    text.push_str(key);
    text
}

/// The notify signature of `fields` (uppercase hex). The simulator signs with it; the
/// client verifies with [`verify_notify_sign`].
pub fn notify_sign(fields: &BTreeMap<String, String>, key: &str, sign_type: SignType) -> String {
    let input = notify_sign_input(fields, key);
    let digest = match sign_type {
        SignType::Sha256 => Sha256::digest(input.as_bytes()).to_vec(),
        SignType::Md5 => Md5::digest(input.as_bytes()).to_vec(),
    };
    hex::encode_upper(digest)
}

/// Whether `fields["sign"]` is the right signature for the other fields under `key`, with the
/// algorithm `fields["signType"]` names. Hex case is ignored; the comparison is constant-time.
pub fn verify_notify_sign(fields: &BTreeMap<String, String>, key: &str) -> bool {
    let Some(given) = fields.get("sign") else {
        return false;
    };
    let Some(sign_type) = SignType::parse(fields.get("signType").map(String::as_str)) else {
        return false;
    };
    let expected = notify_sign(fields, key, sign_type);
    let given = given.trim().to_ascii_uppercase();
    bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_tolerates_other_spellings() {
        let sig = OpenBodySig::sign_at("app", "key", "20250515112531", "n0nce", b"{}");
        assert_eq!(OpenBodySig::parse(&sig.header_value()), Some(sig.clone()));
        let compact = format!(
            "OPEN-BODY-SIG appId=\"app\",timestamp=\"20250515112531\",nonce=\"n0nce\",signature=\"{}\"",
            sig.signature
        );
        assert_eq!(OpenBodySig::parse(&compact), Some(sig));
        assert_eq!(OpenBodySig::parse("Bearer x"), None);
        assert_eq!(OpenBodySig::parse("OPEN-BODY-SIG AppId=\"a\""), None);
    }

    #[test]
    fn tampered_body_or_key_fails() {
        let sig = OpenBodySig::sign_at("app", "key", "20250515112531", "n", b"body");
        assert!(sig.verify("key", b"body"));
        assert!(!sig.verify("key", b"bodx"));
        assert!(!sig.verify("other", b"body"));
    }

    #[test]
    fn sign_type_defaults_to_md5_and_rejects_unknown() {
        assert_eq!(SignType::parse(None), Some(SignType::Md5));
        assert_eq!(SignType::parse(Some("sha256")), Some(SignType::Sha256));
        assert_eq!(SignType::parse(Some("RSA2")), None);
    }
}
