//! The payment notify form, shaped like the real gateway's for a WeChat mini-program payment.
//!
//! Captured UMS notifies carry some thirty fields, most of which a merchant never reads but
//! every one of which the signature covers: the amounts several times over (`totalAmount`,
//! `buyerPayAmount`, `buyerCashPayAmt`, `invoiceAmount`, `receiptAmount`), the funding
//! (`billFunds` `现金:10`, `billFundsDesc` `现金支付0.10元。`), the buyer under UMS's and under
//! the mini-program's appId (`buyerId`, `subBuyerId`), routing (`connectSys`, `targetSys`,
//! `subInst`, `mchntUuid`), a `notifyId` UUID, times with a space in them (sent as `+`), and
//! one field with a random two-letter name and a four-letter value. A receiver that drops
//! fields it does not know, or decodes `+` wrongly, fails on the real gateway; here too.

use std::collections::BTreeMap;

use base64::Engine as _;
use rand::Rng;
use sha2::{Digest, Sha256};

use super::machine;
use super::signing::NotifySign;
use crate::provider::sign::notify_sign;
use crate::provider::time::{china_time, format_china};
use crate::store::paysim::SimOrder;

/// The branch code UMS puts in `subInst` (captured notifies show six digits).
const SUB_INST: &str = "103800";

/// The signed notify form for `order` as it stands, for the merchant `mer_name`.
pub fn notify_fields(
    order: &SimOrder,
    mer_name: &str,
    key: &str,
    sign: NotifySign,
) -> BTreeMap<String, String> {
    let paid_at = order.paid_at.unwrap_or_default();
    let amount = order.total_amount.to_string();
    let mut fields = BTreeMap::new();
    let mut put = |name: &str, value: String| {
        fields.insert(name.to_owned(), value);
    };
    put("msgType", "wx.notify".to_owned());
    put("mid", order.mid.clone());
    put("tid", order.tid.clone());
    put("instMid", order.inst_mid.clone());
    put("merName", mer_name.to_owned());
    put("mchntUuid", merchant_uuid(&order.mid));
    put("subInst", SUB_INST.to_owned());
    put("merOrderId", order.mer_order_id.clone());
    put("seqId", order.seq_id.clone());
    put("settleRefId", order.seq_id.clone());
    put(
        "status",
        machine::trade_status(order.status).as_str().to_owned(),
    );
    for name in [
        "totalAmount",
        "buyerPayAmount",
        "buyerCashPayAmt",
        "invoiceAmount",
        "receiptAmount",
    ] {
        put(name, amount.clone());
    }
    put("couponAmount", "0".to_owned());
    put("billFunds", format!("现金:{amount}"));
    put(
        "billFundsDesc",
        format!("现金支付{}元。", yuan_2dp(order.total_amount)),
    );
    put("cardAttr", "BALANCE".to_owned());
    put("bankInfo", "OTHERS".to_owned());
    put("buyerId", ums_open_id(&order.sub_open_id));
    put("subBuyerId", order.sub_open_id.clone());
    put("createTime", format_china(order.created_at));
    put("payTime", format_china(paid_at));
    put(
        "settleDate",
        china_time(paid_at).format("%Y-%m-%d").to_string(),
    );
    put(
        "targetOrderId",
        order.target_order_id.clone().unwrap_or_default(),
    );
    put("targetSys", "WXPay".to_owned());
    put("connectSys", "UNIONPAY".to_owned());
    put("notifyId", uuid_v4());
    if let Some(desc) = order.order_desc.as_ref().filter(|desc| !desc.is_empty()) {
        put("orderDesc", desc.clone());
    }
    let (name, value) = random_marker();
    put(&name, value);
    if sign.named {
        put("signType", sign.sign_type.as_str().to_owned());
    }
    let signature = notify_sign(&fields, key, sign.sign_type);
    fields.insert("sign".to_owned(), signature);
    fields
}

/// Fen as yuan with two decimals, as `billFundsDesc` writes it (`0.10`, `12.50`).
fn yuan_2dp(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// A stable 32-hex merchant id derived from `mid` (UMS's own id of the merchant).
fn merchant_uuid(mid: &str) -> String {
    let digest = Sha256::digest(format!("mchntUuid:{mid}").as_bytes());
    hex::encode(&digest[..16])
}

/// The buyer's openid under UMS's own WeChat appId: the same for the same buyer, shaped
/// like the captured ones (`otdJ_u` and 22 more characters).
fn ums_open_id(sub_open_id: &str) -> String {
    let digest = Sha256::digest(format!("buyerId:{sub_open_id}").as_bytes());
    let tail = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    format!("otdJ_u{}", &tail[..22])
}

/// A random UUID (version 4), the shape of `notifyId`.
fn uuid_v4() -> String {
    let mut bytes: [u8; 16] = rand::thread_rng().gen();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The field every captured notify carries under a random two-letter name (`XM=sdJv`,
/// `SP=OJps`): no real field has a two-letter name, so it never collides.
fn random_marker() -> (String, String) {
    let letters = |count: usize| -> String {
        let mut rng = rand::thread_rng();
        (0..count)
            .map(|_| {
                let n = rng.gen_range(0..52u8);
                char::from(if n < 26 { b'A' + n } else { b'a' + n - 26 })
            })
            .collect()
    };
    (letters(2), letters(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_values_look_like_captured_ones() {
        assert_eq!(yuan_2dp(10), "0.10");
        assert_eq!(yuan_2dp(1250), "12.50");
        let uuid = uuid_v4();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4", "version 4: {uuid}");
        assert_eq!(merchant_uuid("898340149000005").len(), 32);
        let buyer = ums_open_id("o-test");
        assert_eq!(buyer.len(), 28);
        assert_eq!(buyer, ums_open_id("o-test"), "one buyer, one id");
        let (name, value) = random_marker();
        assert!(name.len() == 2 && value.len() == 4);
        assert!(name
            .bytes()
            .chain(value.bytes())
            .all(|b| b.is_ascii_alphabetic()));
    }
}
