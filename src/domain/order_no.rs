//! Order numbers: 19 digits, never reused.
//!
//! A number is a 4-digit prefix (the `business_type` for `order_no`, the provider's
//! `msgSrcId` for `parent_order_no`) followed by a 15-digit body: 13 digits of milliseconds
//! since 2025-01-01T00:00:00Z and a 2-digit sequence within that millisecond. The parent and
//! its child order share the body.
//!
//! Never reused, even if the data dir is lost: a body is only issued for a millisecond the
//! wall clock has reached, and a fresh generator starts *after* the millisecond it was created
//! in (the previous process died before that). The highest body issued is also persisted, so
//! a clock stepped backwards continues from there instead of repeating.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Milliseconds of 2025-01-01T00:00:00Z since the Unix epoch.
const BODY_EPOCH_MS: u64 = 1_735_689_600_000;
/// Numbers per millisecond.
const PER_MILLI: u64 = 100;
/// The bodies of 100 ms: how far ahead of the last body issued the store reserves, so it
/// writes its high mark about ten times a second under load instead of on every create. A
/// process started within 100 ms of the last number its predecessor issued waits for the
/// clock to pass the reservation ([`OrderNoGenerator::wait_before_first`]) before it issues
/// any, so no body is issued for a millisecond the clock has not reached.
pub const RESERVED_BODIES: u64 = 100 * PER_MILLI;
/// Largest 15-digit body.
const BODY_MAX: u64 = 999_999_999_999_999;

/// Digits in an order number.
const LEN: usize = 19;

/// A 19-digit order number (`order_no` or `parent_order_no`).
///
/// Held inline, not as a `String`: every live order keeps two of them and the registry
/// of live actors one more, and a heap string each was 3 allocations per live order (see
/// BENCHMARKS.md, live orders). Serialized as its text, so the stored and JSON forms are
/// those of the `String` it used to be. The bytes are always ASCII digits. Not `Copy`, so
/// that code written for the `String` (`.clone()`) reads the same; a clone is a copy.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderNo([u8; LEN]);

/// Why a string is not an order number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an order number is 19 digits")]
pub struct InvalidOrderNo;

impl OrderNo {
    /// Parses a client-supplied order number.
    pub fn parse(text: &str) -> Result<Self, InvalidOrderNo> {
        let bytes: [u8; LEN] = text.as_bytes().try_into().map_err(|_| InvalidOrderNo)?;
        if bytes.iter().all(u8::is_ascii_digit) {
            Ok(Self(bytes))
        } else {
            Err(InvalidOrderNo)
        }
    }

    /// Builds the number for a 4-digit `prefix` and a body.
    pub fn compose(prefix: u16, body: u64) -> Self {
        let mut digits = [b'0'; LEN];
        let mut rest = body % (BODY_MAX + 1);
        for digit in digits[4..].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        let mut rest = prefix % 10_000;
        for digit in digits[..4].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        Self(digits)
    }

    /// The 15-digit body shared by a parent and its child order.
    pub fn body(&self) -> u64 {
        self.0[4..]
            .iter()
            .fold(0, |body, digit| body * 10 + u64::from(digit - b'0'))
    }

    /// The 4-digit prefix.
    pub fn prefix(&self) -> &str {
        &self.as_str()[..4]
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII digits (`parse`, `compose`), so this never fails.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The number as an integer (19 digits fit in a `u64`): the same for the same number
    /// only, for maps that hold many.
    pub fn to_u64(&self) -> u64 {
        self.0
            .iter()
            .fold(0, |value, digit| value * 10 + u64::from(digit - b'0'))
    }

    /// The `order_item_no` of item `index` (1-based): this number plus 3 digits.
    pub fn item_no(&self, index: u16) -> ItemNo {
        let mut digits = [b'0'; ITEM_LEN];
        digits[..LEN].copy_from_slice(&self.0);
        let mut rest = index % 1000;
        for digit in digits[LEN..].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        ItemNo(digits)
    }
}

/// Digits in an `order_item_no`.
const ITEM_LEN: usize = LEN + 3;

/// An `order_item_no`: the child order's number and a 3-digit item number, 22 digits
/// ([`OrderNo::item_no`]). Inline, like [`OrderNo`], and serialized as its text (stored
/// and JSON forms are those of the `String` it used to be). Reads as a `&str`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ItemNo([u8; ITEM_LEN]);

impl ItemNo {
    /// The number as text.
    pub fn as_str(&self) -> &str {
        // Only ever ASCII digits (`OrderNo::item_no`, or checked when read).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::ops::Deref for ItemNo {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for ItemNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ItemNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ItemNo {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ItemNo {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Digits;
        impl serde::de::Visitor<'_> for Digits {
            type Value = ItemNo;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 22-digit order item number")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ItemNo, E> {
                let digits: [u8; ITEM_LEN] = text
                    .as_bytes()
                    .try_into()
                    .map_err(|_| E::custom("an order item number is 22 digits"))?;
                if digits.iter().all(u8::is_ascii_digit) {
                    Ok(ItemNo(digits))
                } else {
                    Err(E::custom("an order item number is 22 digits"))
                }
            }
        }
        deserializer.deserialize_str(Digits)
    }
}

impl fmt::Debug for OrderNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OrderNo").field(&self.as_str()).finish()
    }
}

impl Serialize for OrderNo {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OrderNo {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Digits;
        impl serde::de::Visitor<'_> for Digits {
            type Value = OrderNo;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 19-digit order number")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<OrderNo, E> {
                OrderNo::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Digits)
    }
}

impl fmt::Display for OrderNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Issues order-number bodies: strictly increasing, never ahead of the wall clock (but right
/// after a restart, see [`RESERVED_BODIES`]).
#[derive(Debug)]
pub struct OrderNoGenerator {
    last_ms: u64,
    seq: u64,
}

/// The generator has issued every number of the current millisecond; try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exhausted;

impl OrderNoGenerator {
    /// A generator created at `now_ms` (Unix ms) by a process whose store says bodies up to
    /// `persisted_high` were issued. Its first body is for a later millisecond than both.
    pub fn new(now_ms: u64, persisted_high: u64) -> Self {
        let from_store = persisted_high / PER_MILLI + BODY_EPOCH_MS;
        Self {
            last_ms: now_ms.max(from_store),
            seq: PER_MILLI - 1,
        }
    }

    /// How long (ms) a process started at `now_ms` must wait before its first number when
    /// the store says bodies up to `persisted_high` were issued or reserved: until the
    /// clock passes a reservation of its predecessor ([`RESERVED_BODIES`]). A high mark
    /// further ahead than a reservation means the clock was stepped back; that is not
    /// waited for (the generator counts on from the mark, as [`OrderNoGenerator::next_body`]
    /// does after a step back).
    pub fn wait_before_first(now_ms: u64, persisted_high: u64) -> u64 {
        let reserved_ms = persisted_high / PER_MILLI + BODY_EPOCH_MS;
        match reserved_ms.checked_sub(now_ms) {
            Some(ahead) if ahead <= RESERVED_BODIES / PER_MILLI => ahead + 1,
            _ => 0,
        }
    }

    /// The next body at wall-clock time `now_ms`, or [`Exhausted`] when this millisecond's
    /// numbers are used up (the caller waits for the clock).
    pub fn next_body(&mut self, now_ms: u64) -> Result<u64, Exhausted> {
        if now_ms > self.last_ms {
            self.last_ms = now_ms;
            self.seq = 0;
        } else if self.seq + 1 < PER_MILLI {
            self.seq += 1;
        } else if now_ms < self.last_ms {
            // The clock was stepped back below numbers already issued: keep counting forward
            // from the last issued millisecond rather than wait for the clock to catch up.
            self.last_ms += 1;
            self.seq = 0;
        } else {
            return Err(Exhausted);
        }
        let ms = self.last_ms.saturating_sub(BODY_EPOCH_MS);
        Ok((ms * PER_MILLI + self.seq).min(BODY_MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_747_279_526_000;

    #[test]
    fn a_start_waits_out_its_predecessors_reservation_but_not_a_clock_stepped_back() {
        let body_at = |ms: u64| (ms - BODY_EPOCH_MS) * PER_MILLI + PER_MILLI - 1;
        // Reserved 50 ms ahead: wait until the clock has passed it, then number after it.
        let high = body_at(NOW + 50);
        let wait = OrderNoGenerator::wait_before_first(NOW, high);
        assert_eq!(wait, 51);
        let started = NOW + wait;
        let mut numbers = OrderNoGenerator::new(started, high);
        // A fresh generator numbers from the millisecond after it started.
        let first = numbers.next_body(started + 1).expect("a number");
        assert!(first > high);
        assert_eq!(
            first / PER_MILLI + BODY_EPOCH_MS,
            started + 1,
            "not ahead of the clock"
        );
        // Issued in the past: no wait. Far ahead (the clock stepped back): no wait either.
        assert_eq!(
            OrderNoGenerator::wait_before_first(NOW, body_at(NOW - 10)),
            0
        );
        assert_eq!(
            OrderNoGenerator::wait_before_first(NOW, body_at(NOW + 10_000)),
            0
        );
    }

    #[test]
    fn numbers_have_the_seed_shape() {
        let mut generator = OrderNoGenerator::new(NOW, 0);
        let body = generator.next_body(NOW + 1).unwrap();
        let child = OrderNo::compose(3001, body);
        let parent = OrderNo::compose(2013, body);
        assert_eq!(child.as_str().len(), 19);
        assert!(child.as_str().starts_with("3001"));
        assert!(parent.as_str().starts_with("2013"));
        assert_eq!(child.item_no(1).len(), 22);
        assert!(child.item_no(1).ends_with("001"));
        assert_eq!(OrderNo::parse(child.as_str()), Ok(child.clone()));
        assert_eq!(child.body(), parent.body());
    }

    /// Stored and JSON forms are the text, as when the number was a `String`: records
    /// written before read, and the views do not change.
    #[test]
    fn serializes_as_its_text() {
        let number = OrderNo::compose(2013, 123_456_789);
        assert_eq!(number.as_str(), "2013000000123456789");
        assert_eq!(number.body(), 123_456_789);
        assert_eq!(number.to_u64(), 2_013_000_000_123_456_789);
        assert_eq!(
            OrderNo::compose(9999, BODY_MAX).to_u64(),
            9_999_999_999_999_999_999
        );
        let config = bincode::config::standard();
        let as_string = bincode::serde::encode_to_vec(number.as_str(), config).unwrap();
        assert_eq!(
            bincode::serde::encode_to_vec(&number, config).unwrap(),
            as_string
        );
        let (read, _): (OrderNo, usize) =
            bincode::serde::decode_from_slice(&as_string, config).unwrap();
        assert_eq!(read, number);
        assert_eq!(
            serde_json::to_string(&number).unwrap(),
            "\"2013000000123456789\""
        );
        let item = number.item_no(1);
        assert_eq!(item.as_str(), "2013000000123456789001");
        let item_text = bincode::serde::encode_to_vec(item.as_str(), config).unwrap();
        assert_eq!(
            bincode::serde::encode_to_vec(&item, config).unwrap(),
            item_text
        );
        let (read, _): (ItemNo, usize) =
            bincode::serde::decode_from_slice(&item_text, config).unwrap();
        assert_eq!(read, item);
        let bad = bincode::serde::encode_to_vec("12345", config).unwrap();
        assert!(bincode::serde::decode_from_slice::<OrderNo, _>(&bad, config).is_err());
    }

    #[test]
    fn a_fresh_generator_waits_for_the_next_millisecond() {
        let mut generator = OrderNoGenerator::new(NOW, 0);
        assert_eq!(generator.next_body(NOW), Err(Exhausted));
        assert!(generator.next_body(NOW + 1).is_ok());
    }

    #[test]
    fn parse_rejects_anything_but_19_digits() {
        for bad in [
            "",
            "123",
            "30011500110045256281",
            "300115001100452562a",
            "-300115001100452562",
            "３００１１５００１１００４５２５６２",
        ] {
            assert!(OrderNo::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    proptest! {
        /// Across restarts (each a new generator seeded with the persisted high mark, or with
        /// nothing when the data dir was lost) and arbitrary clock steps, bodies never repeat.
        #[test]
        fn bodies_are_never_reused(
            runs in proptest::collection::vec(
                (any::<bool>(), proptest::collection::vec(-3i64..5, 1..300)), 1..6)
        ) {
            let mut clock = NOW;
            let mut issued = std::collections::HashSet::new();
            let mut persisted = 0u64;
            for (data_dir_lost, steps) in runs {
                if data_dir_lost {
                    // Without the store, uniqueness rests on the wall clock: the new process
                    // starts after every millisecond the old one issued (documented above).
                    clock = clock.max(persisted / PER_MILLI + BODY_EPOCH_MS);
                }
                let mut generator = OrderNoGenerator::new(clock, if data_dir_lost { 0 } else { persisted });
                let mut previous = None;
                for step in steps {
                    // The clock mostly moves forward, sometimes stands still or steps back.
                    clock = clock.saturating_add_signed(step);
                    if let Ok(body) = generator.next_body(clock) {
                        prop_assert!(issued.insert(body), "body {} issued twice", body);
                        if let Some(prev) = previous { prop_assert!(body > prev); }
                        previous = Some(body);
                        persisted = persisted.max(body);
                        let width = OrderNo::compose(3001, body).as_str().len();
                        prop_assert_eq!(width, 19);
                    }
                }
            }
        }
    }
}
