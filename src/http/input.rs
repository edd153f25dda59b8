//! Request fields, whatever the wire form: a urlencoded form, a JSON object, or a query
//! string. Handlers read typed values by name, and every refusal names the field.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, Method};
use actix_web::{FromRequest, HttpRequest};
use futures::StreamExt;

use super::error::ApiError;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Longest free-text field (names, JSON texts).
pub const TEXT_LIMIT: usize = 4096;

/// One field's value as sent.
#[derive(Debug, Clone)]
enum Value {
    /// From a form or query string, or a JSON string.
    Text(String),
    /// Any other JSON value.
    Json(serde_json::Value),
}

/// The fields of a request. Query-string fields are read for every method; a body (form or
/// JSON object) adds to them, and a field given twice is refused.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    values: HashMap<String, Value>,
    /// The headers handlers read; `None` for one that was sent but is not visible ASCII
    /// (refused when read, never silently ignored).
    headers: HashMap<String, Option<String>>,
}

impl Fields {
    fn insert(&mut self, name: String, value: Value) -> Result<(), ApiError> {
        if self.values.contains_key(&name) {
            return Err(ApiError::Invalid(format!("参数 {} 重复", printable(&name))));
        }
        self.values.insert(name, value);
        Ok(())
    }

    fn text(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.values.get(name) {
            None => Ok(None),
            Some(Value::Text(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::Text(text)) => Ok(Some(text.trim().to_owned())),
            Some(Value::Json(serde_json::Value::Null)) => Ok(None),
            Some(Value::Json(serde_json::Value::Number(number))) => Ok(Some(number.to_string())),
            Some(Value::Json(_)) => Err(ApiError::malformed(name, "应为字符串或数字")),
        }
    }

    /// An unsigned integer (a JSON number or a numeric string), within `range`.
    pub fn u64_in(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>, ApiError> {
        let Some(text) = self.text(name)? else {
            return Ok(None);
        };
        let bad = || {
            ApiError::malformed(
                name,
                &format!("应为 {} 到 {} 的整数", range.start(), range.end()),
            )
        };
        if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let value: u64 = text.parse().map_err(|_| bad())?;
        if range.contains(&value) {
            Ok(Some(value))
        } else {
            Err(bad())
        }
    }

    /// A required id (1 to 10^18).
    pub fn id(&self, name: &str) -> Result<u64, ApiError> {
        self.u64_in(name, 1..=999_999_999_999_999_999)?
            .ok_or_else(|| ApiError::missing(name))
    }

    /// An optional id.
    pub fn optional_id(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.u64_in(name, 1..=999_999_999_999_999_999)
    }

    /// A required text of at most `max_chars` characters, without control characters.
    pub fn required_text(&self, name: &str, max_chars: usize) -> Result<String, ApiError> {
        self.optional_text(name, max_chars)?
            .ok_or_else(|| ApiError::missing(name))
    }

    /// An optional text of at most `max_chars` characters, without control characters.
    pub fn optional_text(&self, name: &str, max_chars: usize) -> Result<Option<String>, ApiError> {
        let Some(text) = self.text(name)? else {
            return Ok(None);
        };
        if text.chars().count() > max_chars {
            return Err(ApiError::malformed(
                name,
                &format!("长度不能超过 {max_chars}"),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(ApiError::malformed(name, "不能包含控制字符"));
        }
        Ok(Some(text))
    }

    /// An optional decimal coordinate kept as sent (`22.5483`), within ±`limit`.
    pub fn optional_coordinate(&self, name: &str, limit: f64) -> Result<Option<String>, ApiError> {
        let Some(text) = self.text(name)? else {
            return Ok(None);
        };
        let valid = text.len() <= 24
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            && text
                .parse::<f64>()
                .is_ok_and(|v| v.is_finite() && v.abs() <= limit);
        if valid {
            Ok(Some(text))
        } else {
            Err(ApiError::malformed(
                name,
                &format!("应为 -{limit} 到 {limit} 的数字"),
            ))
        }
    }

    /// A JSON object sent as a JSON string (form) or as an object (JSON body); returned as
    /// compact JSON text. Absent → `default`.
    pub fn json_object_text(&self, name: &str, default: &str) -> Result<String, ApiError> {
        let value = match self.values.get(name) {
            None => return Ok(default.to_owned()),
            Some(Value::Text(text)) if text.trim().is_empty() => return Ok(default.to_owned()),
            Some(Value::Text(text)) => {
                if text.len() > TEXT_LIMIT {
                    return Err(ApiError::malformed(
                        name,
                        &format!("长度不能超过 {TEXT_LIMIT}"),
                    ));
                }
                serde_json::from_str::<serde_json::Value>(text)
                    .map_err(|_| ApiError::malformed(name, "应为 JSON 对象"))?
            }
            Some(Value::Json(serde_json::Value::Null)) => return Ok(default.to_owned()),
            Some(Value::Json(value)) => value.clone(),
        };
        if !value.is_object() {
            return Err(ApiError::malformed(name, "应为 JSON 对象"));
        }
        let text = value.to_string();
        if text.len() > TEXT_LIMIT {
            return Err(ApiError::malformed(
                name,
                &format!("长度不能超过 {TEXT_LIMIT}"),
            ));
        }
        Ok(text)
    }

    /// A request header (`None` when absent). One that is not visible ASCII (e.g. UTF-8
    /// bytes) is refused with the field named, never taken as absent.
    pub fn header(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.headers.get(&name.to_ascii_lowercase()) {
            None => Ok(None),
            Some(Some(value)) => Ok(Some(value.as_str())),
            Some(None) => Err(ApiError::malformed(name, "应为可见 ASCII 字符")),
        }
    }
}

fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Parses `a=1&b=2`, refusing percent-encodings that are not UTF-8.
fn parse_urlencoded(fields: &mut Fields, raw: &[u8]) -> Result<(), ApiError> {
    for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &b""[..]),
        };
        let name = decode_component(name)?;
        let value = decode_component(value)
            .map_err(|_| ApiError::malformed(&printable(&name), "不是有效的 UTF-8"))?;
        fields.insert(name, Value::Text(value))?;
    }
    Ok(())
}

fn decode_component(raw: &[u8]) -> Result<String, ApiError> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&spaced)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| ApiError::Invalid("请求参数不是有效的 UTF-8".into()))
}

/// A JSON body's top-level members in the order sent, repeats kept (a map would keep only
/// the last of a repeated key, and a field given twice must be refused, not guessed at).
enum JsonBody {
    Object(Vec<(String, serde_json::Value)>),
    NotAnObject,
}

impl<'de> serde::Deserialize<'de> for JsonBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = JsonBody;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonBody, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, serde_json::Value>()? {
                    members.push(member);
                }
                Ok(JsonBody::Object(members))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<JsonBody, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(JsonBody::NotAnObject)
            }
            fn visit_bool<E>(self, _: bool) -> Result<JsonBody, E> {
                Ok(JsonBody::NotAnObject)
            }
            fn visit_i64<E>(self, _: i64) -> Result<JsonBody, E> {
                Ok(JsonBody::NotAnObject)
            }
            fn visit_u64<E>(self, _: u64) -> Result<JsonBody, E> {
                Ok(JsonBody::NotAnObject)
            }
            fn visit_f64<E>(self, _: f64) -> Result<JsonBody, E> {
                Ok(JsonBody::NotAnObject)
            }
            fn visit_str<E>(self, _: &str) -> Result<JsonBody, E> {
                Ok(JsonBody::NotAnObject)
            }
            fn visit_unit<E>(self) -> Result<JsonBody, E> {
                Ok(JsonBody::NotAnObject)
            }
        }
        deserializer.deserialize_any(Members)
    }
}

fn parse_json(fields: &mut Fields, raw: &[u8]) -> Result<(), ApiError> {
    let body: JsonBody = serde_json::from_slice(raw)
        .map_err(|_| ApiError::Invalid("请求体不是有效的 JSON".into()))?;
    let JsonBody::Object(members) = body else {
        return Err(ApiError::Invalid("请求体应为 JSON 对象".into()));
    };
    for (name, value) in members {
        let value = match value {
            serde_json::Value::String(text) => Value::Text(text),
            other => Value::Json(other),
        };
        fields.insert(name, value)?;
    }
    Ok(())
}

async fn read_body(mut payload: Payload) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::Invalid("请求体读取失败".into()))?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(ApiError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl FromRequest for Fields {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let query = req.query_string().to_owned();
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("invalid").to_ascii_lowercase());
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let is_get = req.method() == Method::GET || req.method() == Method::HEAD;
        let headers: HashMap<String, Option<String>> = req
            .headers()
            .iter()
            .filter(|(name, _)| matches!(name.as_str(), "idempotency-key" | "authorization"))
            .map(|(name, value)| {
                let text = value.to_str().ok().map(|v| v.trim().to_owned());
                (name.as_str().to_owned(), text)
            })
            .collect();
        let payload = payload.take();
        Box::pin(async move {
            let mut fields = Fields {
                values: HashMap::new(),
                headers,
            };
            parse_urlencoded(&mut fields, query.as_bytes())?;
            if declared_length.is_some_and(|n| n > BODY_LIMIT) {
                return Err(ApiError::TooLarge);
            }
            let body = read_body(payload).await?;
            if body.is_empty() || is_get {
                return Ok(fields);
            }
            let media = content_type
                .as_deref()
                .map(|t| t.split(';').next().unwrap_or("").trim().to_owned());
            match media.as_deref() {
                Some("application/x-www-form-urlencoded") => parse_urlencoded(&mut fields, &body)?,
                Some("application/json") => parse_json(&mut fields, &body)?,
                _ => return Err(ApiError::UnsupportedMediaType),
            }
            Ok(fields)
        })
    }
}
