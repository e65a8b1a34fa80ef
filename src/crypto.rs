//! Encryption at rest for credentials we keep in the database (OIDC client secrets), with
//! AES-256-GCM (`aes-gcm`). Sealed values name the key that sealed them, so the key can be rotated:
//!
//! ```text
//! v1.<key id>.<base64url nonce>.<base64url ciphertext+tag>
//! ```
//!
//! The AES key is SHA-256 of `RUSTCHAT_ENCRYPTION_KEY`'s bytes under a domain label; the key id is a
//! separate digest, safe to store and print. During a rotation `RUSTCHAT_ENCRYPTION_KEY_PREVIOUS`
//! opens what the old key sealed, and everything is re-sealed with the new key at start.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What the check value of each key seals: opening it proves a configured key is the right one.
pub const CHECK_PLAINTEXT: &str = "rustchat encryption key check";

struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl Key {
    fn derive(material: &[u8]) -> Key {
        let aes = Sha256::new().chain_update(b"rustchat/aes-256-gcm/v1\0").chain_update(material).finalize();
        let id = Sha256::new().chain_update(b"rustchat/key-id/v1\0").chain_update(material).finalize();
        Key { id: hex::encode(&id[..8]), cipher: Aes256Gcm::new(&aes) }
    }
}

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("sealed with key {0}, which is neither RUSTCHAT_ENCRYPTION_KEY nor RUSTCHAT_ENCRYPTION_KEY_PREVIOUS")]
    UnknownKey(String),
    #[error("the sealed value is malformed or was tampered with")]
    Corrupt,
}

pub struct Vault {
    current: Key,
    previous: Option<Key>,
}

impl Vault {
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> Vault {
        Vault { current: Key::derive(current), previous: previous.map(Key::derive) }
    }

    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    pub fn previous_key_id(&self) -> Option<&str> {
        self.previous.as_ref().map(|k| k.id.as_str())
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        // expect: AES-GCM encryption of an in-memory buffer cannot fail
        #[allow(clippy::expect_used)]
        let sealed = self.current.cipher.encrypt(&Nonce::from(nonce), plaintext.as_bytes()).expect("AES-GCM encrypt");
        format!("v1.{}.{}.{}", self.current.id, URL_SAFE_NO_PAD.encode(nonce), URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The key id a sealed value names.
    pub fn key_of(sealed: &str) -> Option<&str> {
        let mut parts = sealed.split('.');
        (parts.next()? == "v1").then(|| parts.next()).flatten()
    }

    pub fn open(&self, sealed: &str) -> Result<String, VaultError> {
        let parts: Vec<&str> = sealed.split('.').collect();
        let [version, kid, nonce, body] = parts.as_slice() else { return Err(VaultError::Corrupt) };
        if *version != "v1" {
            return Err(VaultError::Corrupt);
        }
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.id == *kid)
            .ok_or_else(|| VaultError::UnknownKey(kid.to_string()))?;
        let nonce = URL_SAFE_NO_PAD.decode(nonce).map_err(|_| VaultError::Corrupt)?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| VaultError::Corrupt)?;
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| VaultError::Corrupt)?;
        let plain = key.cipher.decrypt(&Nonce::from(nonce), body.as_slice()).map_err(|_| VaultError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| VaultError::Corrupt)
    }
}

/// Makes sure the configured key is the one that sealed this database's secrets, rotating to it when
/// the previous key is given; refuses to start otherwise (a wrong key must fail loudly, never lose data).
pub async fn prepare(store: &crate::store::Store, vault: &Vault) -> anyhow::Result<()> {
    let keys = store.encryption_keys().await?;
    if let Some((_, check)) = keys.iter().find(|(kid, _)| kid == vault.key_id()) {
        anyhow::ensure!(
            vault.open(check).ok().as_deref() == Some(CHECK_PLAINTEXT),
            "RUSTCHAT_ENCRYPTION_KEY does not open this database's key check value; the key is wrong"
        );
        return Ok(());
    }
    if keys.is_empty() {
        store.add_encryption_key(vault.key_id(), &vault.seal(CHECK_PLAINTEXT)).await?;
        return Ok(());
    }
    if let Some(previous) = vault.previous_key_id()
        && keys.iter().any(|(kid, _)| kid == previous)
    {
        let resealed = store.reseal_secrets(vault, previous).await?;
        tracing::info!(
            from = previous,
            to = vault.key_id(),
            resealed,
            "encryption key rotated; stored secrets re-sealed"
        );
        return Ok(());
    }
    let known: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    anyhow::bail!(
        "RUSTCHAT_ENCRYPTION_KEY (key id {}) is not the key that sealed this database's secrets (key id {}): \
         set it back, or give the old key as RUSTCHAT_ENCRYPTION_KEY_PREVIOUS to rotate",
        vault.key_id(),
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_the_same_or_previous_key_only() {
        let old = Vault::new(b"old key material of at least 32 bytes!!", None);
        let sealed = old.seal("client-secret");
        assert!(!sealed.contains("client-secret"));
        assert_eq!(old.open(&sealed).unwrap(), "client-secret");
        let rotated =
            Vault::new(b"new key material of at least 32 bytes!!", Some(b"old key material of at least 32 bytes!!"));
        assert_eq!(rotated.open(&sealed).unwrap(), "client-secret");
        let stranger = Vault::new(b"new key material of at least 32 bytes!!", None);
        assert!(matches!(stranger.open(&sealed), Err(VaultError::UnknownKey(_))));
        let mut tampered = sealed.clone();
        tampered.push('A');
        assert!(old.open(&tampered).is_err());
    }
}
