//! The simulator's RSA key: it signs `paySign` as WeChat Pay does (SHA256withRSA, PKCS#1
//! v1.5), and its public half is published at `/paysim/public-key` so anyone can verify.
//!
//! The key is generated on first start and kept in the simulator's store, so `paySign`s
//! handed out before a restart stay verifiable after it. A configured PEM wins (tests ship one:
//! generating 2048-bit keys is slow in debug builds).

use std::sync::Arc;

use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

use super::PaySimError;
use crate::store::paysim::PaySimStore;

/// Size of generated keys, as WeChat Pay's.
const KEY_BITS: usize = 2048;

/// Signs `paySign`. Cheap to clone.
#[derive(Clone)]
pub struct PaySigner {
    key: Arc<SigningKey<Sha256>>,
    public_pem: Arc<str>,
}

impl PaySigner {
    /// Reads a private key in PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE
    /// KEY`) PEM. CPU work: call it off the async workers.
    pub fn from_pem(pem: &str) -> Result<Self, PaySimError> {
        let private = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|error| PaySimError::Key(format!("not an RSA private key PEM: {error}")))?;
        let public_pem = RsaPublicKey::from(&private)
            .to_public_key_pem(LineEnding::LF)
            .map_err(|error| PaySimError::Key(error.to_string()))?;
        Ok(Self {
            key: Arc::new(SigningKey::<Sha256>::new(private)),
            public_pem: public_pem.into(),
        })
    }

    /// base64(SHA256withRSA(`text`)), PKCS#1 v1.5 (deterministic). CPU work: call it off the
    /// async workers.
    pub fn sign(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
    }

    /// The public key, SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`).
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }
}

/// The configured key, else the stored one, else a new one generated and stored.
pub async fn load_or_create(
    store: &PaySimStore,
    configured: Option<String>,
) -> Result<PaySigner, PaySimError> {
    let pem = match configured {
        Some(pem) => pem,
        None => match store.private_key_pem().await? {
            Some(pem) => pem,
            None => {
                tracing::info!(bits = KEY_BITS, "generating the simulator's RSA key");
                let fresh = blocking(generate_pem).await??;
                store.keep_private_key_pem(fresh).await?
            }
        },
    };
    blocking(move || PaySigner::from_pem(&pem)).await?
}

fn generate_pem() -> Result<String, PaySimError> {
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS)
        .map_err(|error| PaySimError::Key(error.to_string()))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|error| PaySimError::Key(error.to_string()))?;
    Ok(pem.to_string())
}

async fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R, PaySimError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| PaySimError::Key(format!("key thread failed: {error}")))
}
