//! Money. Kept as integer fen everywhere inside; shown to frontends as yuan.

use serde::{Deserialize, Serialize, Serializer};

/// An amount of money in fen (1/100 yuan). Never a float inside the service.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Fen(pub u64);

impl Fen {
    /// Zero fen.
    pub const ZERO: Fen = Fen(0);

    /// Adds, refusing to overflow.
    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }

    /// Multiplies by a quantity, refusing to overflow.
    pub fn checked_mul(self, quantity: u64) -> Option<Fen> {
        self.0.checked_mul(quantity).map(Fen)
    }
}

impl std::fmt::Display for Fen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An amount shown in yuan, serialized as the seed writes prices: the shortest number that
/// reads back as the same fen (`0.01`, `12.5`, `100`, `0`), never `0.0` or `1e-2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Yuan(pub Fen);

impl Serialize for Yuan {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fen = self.0 .0;
        if fen.is_multiple_of(100) {
            serializer.serialize_u64(fen / 100)
        } else {
            // Below 2^53 fen the division is exact to the nearest double, and serde_json
            // prints the shortest representation that reads back the same (ryu).
            serializer.serialize_f64(fen as f64 / 100.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Fen, Yuan};

    fn shown(fen: u64) -> String {
        serde_json::to_string(&Yuan(Fen(fen))).expect("serializes")
    }

    #[test]
    fn yuan_is_written_the_shortest_way() {
        assert_eq!(shown(0), "0");
        assert_eq!(shown(1), "0.01");
        assert_eq!(shown(10), "0.1");
        assert_eq!(shown(1250), "12.5");
        assert_eq!(shown(10000), "100");
        assert_eq!(shown(12345), "123.45");
        assert_eq!(shown(999_999_999_999), "9999999999.99");
    }

    proptest::proptest! {
        #[test]
        fn yuan_reads_back_as_the_same_fen(fen in 0u64..(1u64 << 50)) {
            let text = shown(fen);
            proptest::prop_assert!(!text.contains('e') && !text.ends_with(".0"), "{}", text);
            let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
            proptest::prop_assert!(frac.len() <= 2, "{}", text);
            let frac_fen: u64 = format!("{frac:0<2}").parse().unwrap();
            proptest::prop_assert_eq!(whole.parse::<u64>().unwrap() * 100 + frac_fen, fen);
        }
    }
}
