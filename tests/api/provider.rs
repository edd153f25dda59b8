//! The provider client's signatures against known answers computed outside this code base,
//! its wire shape, and its errors when the provider is unreachable.
//!
//! Known answers were computed with Python 3 (`hashlib`, `hmac`, `base64`) and OpenSSL:
//!
//! ```text
//! # OPEN-BODY-SIG
//! python3 -c 'import hmac,hashlib,base64;a,k,t,n,b="12345678901234567890123456789012",\
//!   "67890123456789012345678901234567","20170101120000","09876543210987654321098765432109","A";\
//!   print(base64.b64encode(hmac.new(k.encode(),(a+t+n+hashlib.sha256(b.encode()).hexdigest())\
//!   .encode(),hashlib.sha256).digest()).decode())'
//! # notify signs: "&".join(f"{k}={v}" for k,v in sorted(f.items()) if k!="sign" and v!="") + key,
//! #   then hashlib.sha256(...).hexdigest().upper() / hashlib.md5(...).hexdigest().upper()
//! # paySign with the test key:
//! printf 'wx5a3f1c0d2b4e6a70\n1747279531\n7867518bf7e1480fa04a84894c0661e2\nprepay_id=wx151125319537390e319953c133b11e0001\n' \
//!   | openssl dgst -sha256 -sign tests/fixtures/paysim_test_key.pem | base64 -w0
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use ordercenter::paysim::PaySigner;
use ordercenter::provider::sign::{
    notify_sign, notify_sign_input, verify_notify_sign, OpenBodySig, SignType,
};
use ordercenter::provider::time::now_unix;
use ordercenter::provider::wire::{pay_sign_text, UnifiedOrderRequest};
use ordercenter::provider::{Notify, ProviderConfig, ProviderError, UmsClient};

use crate::paysim::{new_order, spawn_sim, test_config, verify_pay_sign, TEST_KEY_PEM};

const APP_ID: &str = "12345678901234567890123456789012";
const APP_KEY: &str = "67890123456789012345678901234567";
const NOTIFY_KEY: &str = "ordercenter-test-md5-key";

#[test]
fn open_body_sig_matches_known_answers() {
    let v1 = OpenBodySig::sign_at(
        APP_ID,
        APP_KEY,
        "20170101120000",
        "09876543210987654321098765432109",
        b"A",
    );
    assert_eq!(v1.signature, "GINsCTyNKTpEI9KXO16KqZJ64fOyAytEKl8aaR/Dy08=");
    let body = br#"{"merOrderId":"2013150001004525628","totalAmount":1}"#;
    let v2 = OpenBodySig::sign_at(
        APP_ID,
        APP_KEY,
        "20250515112531",
        "7867518bf7e1480fa04a84894c0661e2",
        body,
    );
    assert_eq!(v2.signature, "Mm7DwgZQNXYTjhy7vRf3GyrIVRsc+YiS6JA+cwBv5lI=");
    assert_eq!(
        v2.header_value(),
        format!(
            "OPEN-BODY-SIG AppId=\"{APP_ID}\", Timestamp=\"20250515112531\", \
             Nonce=\"7867518bf7e1480fa04a84894c0661e2\", Signature=\"{}\"",
            v2.signature
        )
    );
    assert!(v2.verify(APP_KEY, body));
}

fn notify_fields(sign_type: &str) -> BTreeMap<String, String> {
    [
        ("merOrderId", "2013150001004525628"),
        ("status", "TRADE_SUCCESS"),
        ("totalAmount", "1"),
        ("payTime", "2025-05-15 11:25:40"),
        ("targetOrderId", "4200002525202505151234567890"),
        ("targetSys", "WXPay"),
        ("billFunds", ""),
        ("signType", sign_type),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn notify_signatures_match_known_answers() {
    let sha = notify_fields("SHA256");
    assert_eq!(
        notify_sign_input(&sha, NOTIFY_KEY),
        "merOrderId=2013150001004525628&payTime=2025-05-15 11:25:40&signType=SHA256&\
         status=TRADE_SUCCESS&targetOrderId=4200002525202505151234567890&targetSys=WXPay&\
         totalAmount=1ordercenter-test-md5-key"
    );
    assert_eq!(
        notify_sign(&sha, NOTIFY_KEY, SignType::Sha256),
        "AB1817D06E25941DAB02A6D7C5E7EAA128B9290BF41DA4AFA3CB947F970D9DFE"
    );
    let md5 = notify_fields("MD5");
    assert_eq!(
        notify_sign(&md5, NOTIFY_KEY, SignType::Md5),
        "E28D3E6E092479E2489BA2F19E0D5D13"
    );
}

fn signed(sign_type: &str, sign: &str) -> BTreeMap<String, String> {
    let mut fields = notify_fields(sign_type);
    fields.insert("sign".into(), sign.into());
    fields
}

#[test]
fn notify_verification_accepts_only_the_right_signature() {
    let sha = "AB1817D06E25941DAB02A6D7C5E7EAA128B9290BF41DA4AFA3CB947F970D9DFE";
    assert!(verify_notify_sign(&signed("SHA256", sha), NOTIFY_KEY));
    assert!(
        verify_notify_sign(&signed("SHA256", &sha.to_lowercase()), NOTIFY_KEY),
        "hex case"
    );
    assert!(verify_notify_sign(
        &signed("MD5", "E28D3E6E092479E2489BA2F19E0D5D13"),
        NOTIFY_KEY
    ));
    assert!(!verify_notify_sign(&signed("SHA256", sha), "wrong-key"));
    assert!(
        !verify_notify_sign(&signed("MD5", sha), NOTIFY_KEY),
        "algorithm per signType"
    );
    assert!(
        !verify_notify_sign(&signed("RSA2", sha), NOTIFY_KEY),
        "unknown signType"
    );
    assert!(
        !verify_notify_sign(&notify_fields("SHA256"), NOTIFY_KEY),
        "missing sign"
    );
    let mut tampered = signed("SHA256", sha);
    tampered.insert("totalAmount".into(), "100".into());
    assert!(!verify_notify_sign(&tampered, NOTIFY_KEY));
}

/// The notify form signed with the known SHA256 answer.
fn signed_form() -> String {
    let sha = "AB1817D06E25941DAB02A6D7C5E7EAA128B9290BF41DA4AFA3CB947F970D9DFE";
    serde_urlencoded::to_string(signed("SHA256", sha)).expect("form")
}

#[test]
fn a_notify_form_is_parsed_verified_and_checked() {
    let notify = Notify::parse_form(signed_form().as_bytes(), NOTIFY_KEY).expect("valid notify");

    assert_eq!(
        (notify.mer_order_id.as_str(), notify.total_amount),
        ("2013150001004525628", 1)
    );
    assert_eq!(notify.sign_type, SignType::Sha256);
    notify
        .check("2013150001004525628", 1)
        .expect("expected order and amount");
}

#[test]
fn a_verified_notify_about_another_amount_or_order_fails_the_check() {
    let notify = Notify::parse_form(signed_form().as_bytes(), NOTIFY_KEY).expect("valid notify");

    assert!(matches!(
        notify.check("2013150001004525628", 100),
        Err(ProviderError::Mismatch(_))
    ));
    assert!(matches!(
        notify.check("2013000000000000000", 1),
        Err(ProviderError::Mismatch(_))
    ));
}

#[test]
fn a_notify_form_with_a_changed_amount_fails_its_signature() {
    let forged = signed_form().replace("totalAmount=1", "totalAmount=100");

    let result = Notify::parse_form(forged.as_bytes(), NOTIFY_KEY);

    assert!(
        matches!(result, Err(ProviderError::BadSignature)),
        "{result:?}"
    );
}

#[test]
fn a_notify_form_with_a_field_given_twice_is_refused() {
    let repeated = format!("{}&totalAmount=1", signed_form());

    let result = Notify::parse_form(repeated.as_bytes(), NOTIFY_KEY);

    assert!(result.is_err(), "duplicate field");
}

#[test]
fn pay_sign_matches_openssl_known_answer() {
    let signer = PaySigner::from_pem(TEST_KEY_PEM).expect("test key");
    let text = pay_sign_text(
        "wx5a3f1c0d2b4e6a70",
        "1747279531",
        "7867518bf7e1480fa04a84894c0661e2",
        "prepay_id=wx151125319537390e319953c133b11e0001",
    );
    let expected = "S2vLi/rWpLk5Kt7POkTP0qZ7Bm2DOGlae2ucZtxAfM2HMuVSNbDtX+R4ZjTO+xRgIQAvic4vCcvhsbtelbqlxVRhmVfaRaPJt5g8ifGFfcasgMoeHAZwSGoxPkhwDljZ2yUouZdaszTdxczvb+ksUfn5KAK2bvhvqpujADB4KGW5qWcfPt67HNXcQ1faJeifDZrpm/gwRUj8V+TuOK6qYIZf0b/0/BZbjctvocubeWHRyuqGiqXAI7yxIR9BZLPcdlIFouY9yZ5I9ddbz+XvH8fqraLPoUbSwPRBvnw9m6rn5N+evj1xWedZEuqnkJW65mjhF7D/vXvJoTIkKAP3/w==";
    assert_eq!(signer.sign(&text), expected);
    assert!(verify_pay_sign(signer.public_key_pem(), &text, expected));
}

#[test]
fn requests_use_the_ums_field_names() {
    let request = UnifiedOrderRequest {
        msg_id: "m".into(),
        request_timestamp: "2025-05-15 11:25:31".into(),
        mer_order_id: "2013150001004525628".into(),
        mid: "898340149000005".into(),
        tid: "88880001".into(),
        inst_mid: "MINIDEFAULT".into(),
        total_amount: 1,
        expire_time: Some("2025-05-15 11:33:26".into()),
        notify_url: "http://127.0.0.1:8080/trade/notify/ums".into(),
        sub_app_id: "wx5a3f1c0d2b4e6a70".into(),
        sub_open_id: "o-openid".into(),
        trade_type: "MINI".into(),
        order_desc: None,
    };
    let json = serde_json::to_value(&request).expect("serializes");
    let mut names: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "expireTime",
            "instMid",
            "merOrderId",
            "mid",
            "msgId",
            "notifyUrl",
            "requestTimestamp",
            "subAppId",
            "subOpenId",
            "tid",
            "totalAmount",
            "tradeType"
        ]
    );
    assert_eq!(json["totalAmount"], 1, "a JSON number, as UMS's samples");
}

#[actix_web::test]
async fn the_simulator_accepts_a_hand_signed_ums_request() {
    // Built and signed by hand from the protocol description, not by the client.
    let app = spawn_sim(test_config()).await;
    let config = ProviderConfig::default();
    let body = serde_json::json!({
        "requestTimestamp": ordercenter::provider::time::format_china(now_unix()),
        "merOrderId": crate::paysim::order_id(),
        "mid": config.mid, "tid": config.tid, "instMid": "MINIDEFAULT",
        "totalAmount": "88",
        "notifyUrl": "http://127.0.0.1:9/notify",
        "subAppId": config.sub_app_id, "subOpenId": "o-openid", "tradeType": "MINI"
    })
    .to_string();
    let sig = OpenBodySig::sign(&config.app_id, &config.app_key, body.as_bytes());
    let response = app
        .http
        .post(format!("{}/v1/netpay/wx/unified-order", app.base_url))
        .header("Authorization", sig.header_value())
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let answer: serde_json::Value = response.json().await.expect("UMS body");
    assert_eq!(answer["errCode"], "SUCCESS", "{answer}");
    assert_eq!(answer["status"], "WAIT_BUYER_PAY");
    assert_eq!(
        answer["totalAmount"], 88,
        "string amounts are accepted, numbers returned"
    );
    assert!(answer["miniPayRequest"]["package"]
        .as_str()
        .is_some_and(|p| p.starts_with("prepay_id=wx")));
}

#[actix_web::test]
async fn an_unreachable_provider_is_a_retryable_transport_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let client = UmsClient::new(ProviderConfig {
        connect_timeout: Duration::from_secs(2),
        ..ProviderConfig::with_base_url(format!("http://127.0.0.1:{port}"))
    })
    .expect("client builds");
    let result = client.unified_order(&new_order(1, now_unix() + 480)).await;
    assert!(
        matches!(&result, Err(e @ ProviderError::Transport(_)) if e.is_retryable()),
        "{result:?}"
    );
}
