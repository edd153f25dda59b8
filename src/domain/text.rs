//! [`SharedText`]: text that many orders hold the same copy of.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Slots of the table of recent texts ([`SharedText::new`]).
const SLOTS: usize = 4096;

/// One slot of [`RECENT`].
type Slot = Mutex<Option<Arc<str>>>;

/// The texts made last, one per slot by hash: a new text equal to the one in its slot
/// shares that one's allocation. Bounded (a text no order holds any more stays only until
/// another takes its slot), and a miss costs what a `String` would have.
static RECENT: LazyLock<Box<[Slot]>> =
    LazyLock::new(|| (0..SLOTS).map(|_| Mutex::new(None)).collect());

/// Text that is the same for many orders — an activity's name, image, venue, the SKU's
/// info — held once for all of them instead of once per order. A live order held about
/// 130 bytes of such copies on the heap (BENCHMARKS.md, live orders).
///
/// Serialized as its text, so the stored and JSON forms are those of the `String` it used
/// to be. Reads as a `&str` ([`Deref`]).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SharedText(Arc<str>);

impl SharedText {
    /// `text`, sharing the allocation of an equal text made recently.
    pub fn new(text: &str) -> Self {
        let mut hasher = rustc_hash::FxHasher::default();
        text.hash(&mut hasher);
        let slot = &RECENT[hasher.finish() as usize % SLOTS];
        let mut slot = slot.lock();
        match slot.as_ref() {
            Some(shared) if **shared == *text => Self(shared.clone()),
            _ => {
                let shared: Arc<str> = Arc::from(text);
                *slot = Some(shared.clone());
                Self(shared)
            }
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for SharedText {
    fn default() -> Self {
        Self::new("")
    }
}

impl Deref for SharedText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SharedText {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}

impl From<String> for SharedText {
    fn from(text: String) -> Self {
        Self::new(&text)
    }
}

impl PartialEq<str> for SharedText {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for SharedText {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl fmt::Debug for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SharedText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SharedText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = SharedText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SharedText, E> {
                Ok(SharedText::new(text))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_one_allocation() {
        let first = SharedText::new("欢乐活动");
        let second = SharedText::from(String::from("欢乐活动"));
        assert!(Arc::ptr_eq(&first.0, &second.0));
        assert_eq!(first, "欢乐活动");
        assert_ne!(SharedText::new("另一个"), first);
    }

    /// Stored and JSON forms are the text, as when it was a `String`.
    #[test]
    fn serializes_as_its_text() {
        let config = bincode::config::standard();
        let text = SharedText::new("https://img");
        let as_string = bincode::serde::encode_to_vec("https://img", config).unwrap();
        assert_eq!(
            bincode::serde::encode_to_vec(&text, config).unwrap(),
            as_string
        );
        let (read, _): (SharedText, usize) =
            bincode::serde::decode_from_slice(&as_string, config).unwrap();
        assert_eq!(read, text);
        assert_eq!(serde_json::to_string(&text).unwrap(), "\"https://img\"");
    }
}
