//! `sku_slice`: `sku:qty[,sku:qty…]`, the SKUs a create call orders.

use serde::{Deserialize, Serialize};

/// Most lines one order may hold.
pub const MAX_LINES: usize = 20;
/// Largest quantity of one line.
pub const MAX_QUANTITY: u32 = 99;

/// One `sku:qty` pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuLine {
    /// The SKU: for activities, the `apply_id` (digits).
    pub sku: String,
    /// How many.
    pub quantity: u32,
}

/// A parsed, validated `sku_slice`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuSlice(Vec<SkuLine>);

/// Why a `sku_slice` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sku_slice must be sku:qty[,sku:qty…] with 1 to {MAX_LINES} distinct numeric SKUs and quantities 1 to {MAX_QUANTITY}")]
pub struct InvalidSkuSlice;

impl SkuSlice {
    /// Parses `34603:1` or `34603:1,34604:2`. SKUs are 1–18 digits, distinct.
    pub fn parse(text: &str) -> Result<Self, InvalidSkuSlice> {
        let mut lines: Vec<SkuLine> = Vec::new();
        for part in text.split(',') {
            let (sku, quantity) = part.trim().split_once(':').ok_or(InvalidSkuSlice)?;
            let sku = sku.trim();
            let quantity = quantity.trim();
            // No leading zero: the SKU is a number, and the subsystem answers it as one.
            let sku_ok = (1..=18).contains(&sku.len())
                && sku.bytes().all(|b| b.is_ascii_digit())
                && !sku.starts_with('0');
            let quantity_ok =
                (1..=2).contains(&quantity.len()) && quantity.bytes().all(|b| b.is_ascii_digit());
            if !sku_ok || !quantity_ok {
                return Err(InvalidSkuSlice);
            }
            let quantity: u32 = quantity.parse().map_err(|_| InvalidSkuSlice)?;
            if quantity == 0 || quantity > MAX_QUANTITY || lines.iter().any(|l| l.sku == sku) {
                return Err(InvalidSkuSlice);
            }
            lines.push(SkuLine {
                sku: sku.to_owned(),
                quantity,
            });
            if lines.len() > MAX_LINES {
                return Err(InvalidSkuSlice);
            }
        }
        Ok(Self(lines))
    }

    /// The lines in order.
    pub fn lines(&self) -> &[SkuLine] {
        &self.0
    }

    /// Canonical text form (`sku:qty,…`).
    pub fn to_text(&self) -> String {
        self.0
            .iter()
            .map(|l| format!("{}:{}", l.sku, l.quantity))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_slice() {
        let slice = SkuSlice::parse("34603:1").unwrap();
        assert_eq!(
            slice.lines(),
            &[SkuLine {
                sku: "34603".into(),
                quantity: 1
            }]
        );
        assert_eq!(SkuSlice::parse("1:1, 2:3").unwrap().to_text(), "1:1,2:3");
    }

    #[test]
    fn refuses_malformed_slices() {
        for bad in [
            "",
            ":",
            "34603",
            "34603:",
            ":1",
            "34603:0",
            "34603:-1",
            "abc:1",
            "1:1,1:1",
            "34603:100",
            "1:1,,2:1",
            "99999999999999999999:1",
            "1:1;2:1",
            "1:1 2:1",
        ] {
            assert!(SkuSlice::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
