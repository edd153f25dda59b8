//! How a notify is signed: the real gateway signs with the `signType` the unified order
//! asked for, and when the order asked for none it signs with MD5 and leaves `signType` out
//! of the notify altogether. Receivers written against the real gateway (and ours) expect
//! exactly that, so it is the default; always-SHA256 stays available as a setting.

use std::collections::{HashMap, VecDeque};

use crate::provider::sign::SignType;

/// How the simulator signs its notifies ([`super::PaySimConfig::notify_signing`], the
/// `paysim --notify-sign-type` flag).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NotifySigning {
    /// As the real gateway: with the `signType` the unified order carried (`SHA256` or
    /// `MD5`, named in the notify's `signType` field); for an order that carried none, MD5
    /// and no `signType` field.
    #[default]
    AsOrdered,
    /// Every notify SHA256 with `signType=SHA256`, whatever the order asked: for receivers
    /// that only implement SHA256.
    Sha256,
}

impl NotifySigning {
    /// Parses a setting's name: `as-ordered` or `sha256` (any case).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "as-ordered" => Some(Self::AsOrdered),
            "sha256" => Some(Self::Sha256),
            _ => None,
        }
    }

    /// The signature of one notify, given the `signType` its order asked for (if any).
    pub fn for_order(self, requested: Option<SignType>) -> NotifySign {
        match (self, requested) {
            (Self::Sha256, _) => NotifySign::named(SignType::Sha256),
            (Self::AsOrdered, Some(sign_type)) => NotifySign::named(sign_type),
            (Self::AsOrdered, None) => NotifySign {
                sign_type: SignType::Md5,
                named: false,
            },
        }
    }
}

/// The signature of one notify form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotifySign {
    /// Hash algorithm of `sign`.
    pub sign_type: SignType,
    /// Whether the form names the algorithm in a `signType` field. Unnamed means MD5, the
    /// protocol's default, which is what the real gateway sends when no `signType` was asked.
    pub named: bool,
}

impl NotifySign {
    fn named(sign_type: SignType) -> Self {
        Self {
            sign_type,
            named: true,
        }
    }
}

/// How many orders' requested `signType` are remembered; the oldest is forgotten first.
const CAPACITY: usize = 65_536;

/// The `signType` that unified orders asked for, by merOrderId.
///
/// Kept in memory because the stored order (`store::paysim::SimOrder`) has no field for it:
/// after a restart, or once 65 536 newer orders asked for one, an order's notify falls back
/// to MD5 without `signType` — still a valid notify, one a receiver verifies as MD5. Orders
/// that ask for nothing (ours) are never recorded.
#[derive(Debug, Default)]
pub(super) struct RequestedSigns {
    memory: parking_lot::Mutex<Memory>,
}

#[derive(Debug, Default)]
struct Memory {
    by_order: HashMap<String, SignType>,
    arrival: VecDeque<String>,
}

impl RequestedSigns {
    /// Records what the unified order for `mer_order_id` asked for.
    pub(super) fn remember(&self, mer_order_id: &str, sign_type: SignType) {
        let mut memory = self.memory.lock();
        if memory
            .by_order
            .insert(mer_order_id.to_owned(), sign_type)
            .is_none()
        {
            memory.arrival.push_back(mer_order_id.to_owned());
        }
        while memory.arrival.len() > CAPACITY {
            if let Some(oldest) = memory.arrival.pop_front() {
                memory.by_order.remove(&oldest);
            }
        }
    }

    /// What the unified order for `mer_order_id` asked for, if it asked and is remembered.
    pub(super) fn get(&self, mer_order_id: &str) -> Option<SignType> {
        self.memory.lock().by_order.get(mer_order_id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unasked_orders_get_unnamed_md5_unless_sha256_is_forced() {
        let as_ordered = NotifySigning::default();
        assert_eq!(
            as_ordered.for_order(None),
            NotifySign {
                sign_type: SignType::Md5,
                named: false
            }
        );
        assert_eq!(
            as_ordered.for_order(Some(SignType::Sha256)),
            NotifySign::named(SignType::Sha256)
        );
        assert_eq!(
            as_ordered.for_order(Some(SignType::Md5)),
            NotifySign::named(SignType::Md5)
        );
        assert_eq!(
            NotifySigning::Sha256.for_order(None),
            NotifySign::named(SignType::Sha256)
        );
        assert_eq!(NotifySigning::parse("SHA256"), Some(NotifySigning::Sha256));
        assert_eq!(NotifySigning::parse("rsa"), None);
    }

    #[test]
    fn memory_is_bounded_and_forgets_the_oldest() {
        let signs = RequestedSigns::default();
        signs.remember("first", SignType::Sha256);
        for n in 0..CAPACITY {
            signs.remember(&n.to_string(), SignType::Md5);
        }
        assert_eq!(signs.get("first"), None, "the oldest is forgotten");
        assert_eq!(signs.get("0"), Some(SignType::Md5));
        assert!(signs.memory.lock().by_order.len() <= CAPACITY);
    }
}
