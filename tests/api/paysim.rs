//! The payment simulator over real HTTP, driven by the real client: every operation, every
//! illegal transition, notifies, faults, restarts, the checkout page and the binary.
//!
//! [`spawn_sim`] is the harness (also used by `provider.rs`): a sim on 127.0.0.1:0 with a
//! temporary store, the shared test key, short notify retries, and a notify receiver at
//! `/notify` on the same server.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use ordercenter::paysim::{PaySim, PaySimConfig};
use ordercenter::provider::time::now_unix;
use ordercenter::provider::{ProviderConfig, TradeStatus, UmsClient, UnifiedOrder};
use ordercenter::store::{Store, StoreConfig};
use rand::Rng;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use sha2::Sha256;

mod flows;
mod notify;
mod ops;
mod variants;

/// The one RSA key the tests share (generating one in a debug build is slow).
pub const TEST_KEY_PEM: &str = include_str!("../fixtures/paysim_test_key.pem");

/// What the notify receiver saw and how it answers.
#[derive(Clone, Default)]
pub struct Receiver {
    /// Raw bodies of every notify received, in order.
    pub bodies: Arc<parking_lot::Mutex<Vec<Vec<u8>>>>,
    /// Answer `FAILED` to this many notifies before answering `SUCCESS`.
    pub reject_first: Arc<AtomicUsize>,
}

/// A running simulator with a client configured for it.
pub struct TestSim {
    /// `http://127.0.0.1:port`.
    pub base_url: String,
    /// The simulator itself.
    pub sim: PaySim,
    /// A client pointed at it with matching credentials.
    pub client: UmsClient,
    /// The notify receiver.
    pub receiver: Receiver,
    /// Plain HTTP client for the `/paysim/*` endpoints.
    pub http: reqwest::Client,
    server: actix_web::dev::ServerHandle,
    store: Store,
    /// Keeps the data directory alive.
    pub dir: Arc<tempfile::TempDir>,
}

/// Test defaults: the shared key and notify retries every 50 ms.
pub fn test_config() -> PaySimConfig {
    PaySimConfig {
        private_key_pem: Some(TEST_KEY_PEM.to_owned()),
        notify_retry_delays: vec![Duration::from_millis(50); 5],
        ..PaySimConfig::default()
    }
}

/// Starts a simulator with `config` in a fresh temporary directory.
pub async fn spawn_sim(config: PaySimConfig) -> TestSim {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    spawn_sim_in(dir, config).await
}

/// Starts a simulator with `config` on the store in `dir` (to test restarts).
pub async fn spawn_sim_in(dir: Arc<tempfile::TempDir>, config: PaySimConfig) -> TestSim {
    let store = open_store(dir.path().join("db")).await;
    let sim = PaySim::start(&store, config).await.expect("paysim starts");
    let receiver = Receiver::default();
    let server = {
        let (sim, receiver) = (sim.clone(), receiver.clone());
        HttpServer::new(move || {
            let sim = sim.clone();
            App::new()
                .app_data(web::Data::new(receiver.clone()))
                .route("/notify", web::post().to(receive))
                .configure(move |cfg| sim.configure(cfg))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
    };
    let base_url = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let client = UmsClient::new(ProviderConfig {
        notify_url: format!("{base_url}/notify"),
        timeout: Duration::from_secs(5),
        ..ProviderConfig::with_base_url(&base_url)
    })
    .expect("client builds");
    TestSim {
        base_url,
        sim,
        client,
        receiver,
        http: reqwest::Client::new(),
        server: handle,
        store,
        dir,
    }
}

/// Opens a store, retrying while a previous instance in this process still holds the files.
async fn open_store(path: std::path::PathBuf) -> Store {
    for _ in 0..50 {
        let config = StoreConfig {
            data_dir: path.clone(),
            cache_capacity: 8 * 1024 * 1024,
            disk_reserve_bytes: ordercenter::store::DEFAULT_DISK_RESERVE_BYTES,
        };
        match tokio::task::spawn_blocking(move || Store::open(&config)).await {
            Ok(Ok(store)) => return store,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("store in {} cannot be opened", path.display());
}

async fn receive(receiver: web::Data<Receiver>, body: web::Bytes) -> HttpResponse {
    receiver.bodies.lock().push(body.to_vec());
    let rejected = receiver
        .reject_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    HttpResponse::Ok().body(if rejected { "FAILED" } else { "SUCCESS" })
}

impl TestSim {
    /// Stops the server and the simulator and closes the store (for restart tests).
    pub async fn stop(self) -> Arc<tempfile::TempDir> {
        self.server.stop(true).await;
        self.sim.shutdown().await;
        let Self {
            sim,
            client,
            store,
            dir,
            ..
        } = self;
        drop((sim, client));
        tokio::task::spawn_blocking(move || store.close())
            .await
            .expect("close thread")
            .expect("store closes");
        dir
    }

    /// Places a fresh order of `amount` fen due in 480 s; returns its merOrderId.
    pub async fn place(
        &self,
        amount: u64,
    ) -> (String, ordercenter::provider::UnifiedOrderResponse) {
        let order = new_order(amount, now_unix() + 480);
        let answer = self
            .client
            .unified_order(&order)
            .await
            .expect("unified order succeeds");
        (order.mer_order_id, answer)
    }

    /// `POST /paysim/pay` as a form; returns the HTTP status and JSON body.
    pub async fn pay(&self, mer_order_id: &str) -> (u16, serde_json::Value) {
        let response = self
            .http
            .post(format!("{}/paysim/pay", self.base_url))
            .form(&[("merOrderId", mer_order_id)])
            .send()
            .await
            .expect("pay request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    /// `POST /paysim/faults` with `patch`; returns the HTTP status.
    pub async fn set_faults(&self, patch: serde_json::Value) -> u16 {
        self.http
            .post(format!("{}/paysim/faults", self.base_url))
            .json(&patch)
            .send()
            .await
            .expect("faults request")
            .status()
            .as_u16()
    }

    /// The provider's status of an order, through the signed query.
    pub async fn status(&self, mer_order_id: &str) -> TradeStatus {
        self.client
            .query(mer_order_id)
            .await
            .expect("query succeeds")
            .status
    }

    /// A protocol call with a hand-written JSON body, signed like any client signs it: for
    /// requests our client never sends. Returns the UMS answer.
    pub async fn call(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let config = self.client.config();
        let bytes = serde_json::to_vec(&body).expect("JSON body");
        let sig =
            ordercenter::provider::sign::OpenBodySig::sign(&config.app_id, &config.app_key, &bytes);
        self.http
            .post(format!("{}{path}", self.base_url))
            .header("Authorization", sig.header_value())
            .header("Content-Type", "application/json")
            .body(bytes)
            .send()
            .await
            .expect("protocol request")
            .json()
            .await
            .expect("UMS answer is JSON")
    }

    /// The fields every request carries, for `mer_order_id` under `inst_mid`.
    pub fn header_fields(&self, mer_order_id: &str, inst_mid: &str) -> serde_json::Value {
        let config = self.client.config();
        serde_json::json!({
            "msgId": ordercenter::provider::sign::new_nonce(),
            "requestTimestamp": ordercenter::provider::time::format_china(now_unix()),
            "merOrderId": mer_order_id,
            "mid": config.mid,
            "tid": config.tid,
            "instMid": inst_mid,
        })
    }

    /// Places a 100-fen order by hand: a complete mini-program unified order with `extra`
    /// laid over it (a `null` removes a field). Returns the merOrderId and the answer.
    pub async fn place_raw(&self, extra: serde_json::Value) -> (String, serde_json::Value) {
        let id = order_id();
        let mut body = self.header_fields(&id, "MINIDEFAULT");
        let order = serde_json::json!({
            "totalAmount": 100,
            "expireTime": ordercenter::provider::time::format_china(now_unix() + 480),
            "notifyUrl": format!("{}/notify", self.base_url),
            "subAppId": self.client.config().sub_app_id,
            "subOpenId": "o-test-openid",
            "tradeType": "MINI",
        });
        for source in [order, extra] {
            for (name, value) in source.as_object().into_iter().flatten() {
                body[name] = value.clone();
            }
        }
        if let Some(fields) = body.as_object_mut() {
            fields.retain(|_, value| !value.is_null());
        }
        let answer = self.call("/v1/netpay/wx/unified-order", body).await;
        assert_eq!(
            answer["errCode"], "SUCCESS",
            "unified order placed: {answer}"
        );
        (id, answer)
    }

    /// The notify bodies received so far.
    pub fn notifies(&self) -> Vec<Vec<u8>> {
        self.receiver.bodies.lock().clone()
    }
}

/// A fresh merchant order id: the default source id and 15 random digits.
pub fn order_id() -> String {
    let mut rng = rand::thread_rng();
    let digits: String = (0..15)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect();
    format!("2013{digits}")
}

/// A unified order of `amount` fen with deadline `expire_at`.
pub fn new_order(amount: u64, expire_at: i64) -> UnifiedOrder {
    UnifiedOrder {
        mer_order_id: order_id(),
        total_amount: amount,
        expire_at,
        sub_open_id: "o-test-openid".into(),
        order_desc: Some("欢乐活动".into()),
    }
}

/// A unified order for an existing merOrderId.
pub fn new_order_with_id(mer_order_id: &str, amount: u64) -> UnifiedOrder {
    UnifiedOrder {
        mer_order_id: mer_order_id.to_owned(),
        ..new_order(amount, now_unix() + 480)
    }
}

/// Verifies a base64 `paySign` over `text` with a PEM public key.
pub fn verify_pay_sign(public_pem: &str, text: &str, pay_sign: &str) -> bool {
    use base64::Engine as _;
    let Ok(key) = RsaPublicKey::from_public_key_pem(public_pem) else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(pay_sign) else {
        return false;
    };
    let Ok(signature) = Signature::try_from(bytes.as_slice()) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(key)
        .verify(text.as_bytes(), &signature)
        .is_ok()
}

/// Polls `check` every 20 ms for up to `limit`; true once it holds.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// Decodes a form body into sorted fields.
pub fn form_fields(body: &[u8]) -> BTreeMap<String, String> {
    serde_urlencoded::from_bytes(body).expect("notify is a form")
}
