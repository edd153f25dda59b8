//! Lenient amounts: UMS writes fen sometimes as a JSON number, sometimes as a string.
//!
//! Reading accepts both (and rejects negatives, fractions and anything else); writing
//! follows UMS's samples: [`number`] for `totalAmount`, [`string`] for `refundAmount`.

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;
use std::fmt;

struct Fen;

impl Visitor<'_> for Fen {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an amount in fen (non-negative integer or digit string)")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
        Ok(value)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
        u64::try_from(value).map_err(|_| E::custom("negative amount"))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<u64, E> {
        let value = value.trim();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom("amount is not a whole number of fen"));
        }
        value.parse().map_err(|_| E::custom("amount out of range"))
    }
}

fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    deserializer.deserialize_any(Fen)
}

/// Written as a JSON number.
pub mod number {
    use super::*;

    /// Serializes fen as a number.
    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(*value)
    }

    /// Reads a number or a digit string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        read(deserializer)
    }
}

/// Written as a JSON string.
pub mod string {
    use super::*;

    /// Serializes fen as a digit string.
    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Reads a number or a digit string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        read(deserializer)
    }
}

/// Optional, written as a JSON number; `null` or `""` read as absent.
pub mod opt {
    use super::*;

    struct MaybeFen;

    impl<'de> Visitor<'de> for MaybeFen {
        type Value = Option<u64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an optional amount in fen")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            read(d).map(Some)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Fen.visit_u64(value).map(Some)
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
            Fen.visit_i64(value).map(Some)
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            if value.trim().is_empty() {
                return Ok(None);
            }
            Fen.visit_str(value).map(Some)
        }
    }

    /// Serializes a present amount as a number (absent ones are skipped by the caller).
    pub fn serialize<S: Serializer>(value: &Option<u64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(fen) => serializer.serialize_u64(*fen),
            None => serializer.serialize_none(),
        }
    }

    /// Reads a number, a digit string, `null` or `""`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u64>, D::Error> {
        deserializer.deserialize_any(MaybeFen)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Body {
        #[serde(with = "super::number")]
        a: u64,
        #[serde(default, with = "super::opt")]
        b: Option<u64>,
    }

    fn parse(json: &str) -> Option<(u64, Option<u64>)> {
        serde_json::from_str::<Body>(json)
            .ok()
            .map(|body| (body.a, body.b))
    }

    #[test]
    fn reads_numbers_and_strings() {
        assert_eq!(parse(r#"{"a":1,"b":"25"}"#), Some((1, Some(25))));
        assert_eq!(parse(r#"{"a":"100","b":null}"#), Some((100, None)));
        assert_eq!(parse(r#"{"a":7,"b":""}"#), Some((7, None)));
        assert_eq!(parse(r#"{"a":7}"#), Some((7, None)));
    }

    #[test]
    fn rejects_what_is_not_fen() {
        assert_eq!(parse(r#"{"a":-1}"#), None);
        assert_eq!(parse(r#"{"a":"0.01"}"#), None);
        assert_eq!(parse(r#"{"a":1.5}"#), None);
        assert_eq!(parse(r#"{"a":""}"#), None);
    }
}
