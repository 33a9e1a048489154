//! Secrets at rest.
//!
//! Bearer tokens (admin, SCIM, platform API keys, setup links) are 256-bit random values: only their SHA-256
//! is stored, and comparisons run in constant time. (A slow password hash
//! buys nothing for values this random and would slow every request.)
//! Client secrets must be sent to an IdP in clear, so they are sealed with
//! AES-256-GCM under a key from configuration or a key file. Values handed to
//! browsers that must come back unforged carry an HMAC under a key derived
//! from the same one, so every instance of a deployment accepts them.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::SecretsConfig;

pub const ADMIN_TOKEN_PREFIX: &str = "sgw_admin_";
pub const SCIM_TOKEN_PREFIX: &str = "sgw_scim_";
/// Deployment-wide platform API keys (`sso-gateway api-key create`).
pub const API_KEY_PREFIX: &str = "sgw_key_";
/// The secret part of a setup link's URL.
pub const SETUP_LINK_PREFIX: &str = "sgw_setup_";

/// A new bearer token: a recognisable prefix (secret scanners can spot a
/// leaked one) and 32 random bytes.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What is stored of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `presented` is the token whose hash is `stored_hash`, in time
/// independent of where they differ.
pub fn token_matches(presented: &str, stored_hash: &str) -> bool {
    token_hash(presented)
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("`secrets.encryption_key` must be 32 bytes encoded in base64")]
    BadKey,
    #[error("cannot read or create the key file {path}: {error}")]
    KeyFile { path: String, error: std::io::Error },
    #[error("a stored secret cannot be decrypted with the configured key")]
    Undecryptable,
    /// AES-GCM refuses only inputs beyond its size limit (64 GiB).
    #[error("a secret cannot be encrypted")]
    Unsealable,
}

#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
    /// HMAC keyed for [`SecretBox::mac`] with a key derived from the
    /// sealing key (never the sealing key itself).
    mac: HmacSha256,
}

type HmacSha256 = Hmac<Sha256>;

const SEALED_PREFIX: &str = "v1:";

impl SecretBox {
    /// The configured key, else the key file (created with a fresh random
    /// key, readable by the owner only, on first start).
    pub fn load(config: &SecretsConfig) -> Result<Self, SecretError> {
        let key = if !config.encryption_key.is_empty() {
            decode_key(&config.encryption_key)?
        } else {
            read_or_create_key_file(&config.key_file)?
        };
        // HMAC takes keys of any length: these cannot fail.
        let mut derive =
            <HmacSha256 as Mac>::new_from_slice(&key).map_err(|_| SecretError::BadKey)?;
        derive.update(b"sso-gateway mac key v1");
        let mac = <HmacSha256 as Mac>::new_from_slice(&derive.finalize().into_bytes())
            .map_err(|_| SecretError::BadKey)?;
        Ok(SecretBox {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
            mac,
        })
    }

    fn mac_of(&self, purpose: &str, message: &str) -> HmacSha256 {
        let mut mac = self.mac.clone();
        // The purpose keeps a MAC minted for one use from passing as another.
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(message.as_bytes());
        mac
    }

    /// A URL-safe tag only this deployment can compute for `message`.
    pub fn mac(&self, purpose: &str, message: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac_of(purpose, message).finalize().into_bytes())
    }

    /// Whether `tag` is [`SecretBox::mac`] of `message`, in constant time.
    pub fn mac_matches(&self, purpose: &str, message: &str, tag: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(tag)
            .is_ok_and(|tag| self.mac_of(purpose, message).verify_slice(&tag).is_ok())
    }

    pub fn seal(&self, plaintext: &str) -> Result<String, SecretError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .map_err(|_| SecretError::Unsealable)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(out)))
    }

    pub fn open(&self, sealed: &str) -> Result<String, SecretError> {
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|raw| raw.len() > 12)
            .ok_or(SecretError::Undecryptable)?;
        let (nonce, ciphertext) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| SecretError::Undecryptable)
    }
}

fn decode_key(encoded: &str) -> Result<Vec<u8>, SecretError> {
    STANDARD
        .decode(encoded.trim())
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or(SecretError::BadKey)
}

fn read_or_create_key_file(path: &Path) -> Result<Vec<u8>, SecretError> {
    let io_err = |error| SecretError::KeyFile {
        path: path.display().to_string(),
        error,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => return decode_key(&text),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_err(e)),
        Err(_) => {}
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err)?;
    }
    let mut key = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(STANDARD.encode(&key).as_bytes())
                .map_err(io_err)?;
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            decode_key(&std::fs::read_to_string(path).map_err(io_err)?)
        }
        Err(e) => Err(io_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_only_match_themselves() {
        let a = new_token(ADMIN_TOKEN_PREFIX);
        let b = new_token(ADMIN_TOKEN_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with(ADMIN_TOKEN_PREFIX));
        assert_eq!(a.len(), ADMIN_TOKEN_PREFIX.len() + 43);
        let stored = token_hash(&a);
        assert!(!stored.contains(&a[ADMIN_TOKEN_PREFIX.len()..]));
        assert!(token_matches(&a, &stored));
        assert!(!token_matches(&b, &stored));
        assert!(!token_matches("", &stored));
    }

    #[test]
    fn sealed_secrets_round_trip_and_resist_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let config = SecretsConfig {
            encryption_key: String::new(),
            key_file: dir.path().join("nested/secret.key"),
        };
        let sb = SecretBox::load(&config).unwrap();
        let sealed = sb.seal("client-secret-value").unwrap();
        assert!(!sealed.contains("client-secret-value"));
        assert_ne!(
            sealed,
            sb.seal("client-secret-value").unwrap(),
            "fresh nonce each time"
        );
        assert_eq!(sb.open(&sealed).unwrap(), "client-secret-value");
        // The key file is reused on the next start.
        let again = SecretBox::load(&config).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "client-secret-value");
        let mut tampered = sealed.clone();
        tampered.replace_range(10..11, if &sealed[10..11] == "A" { "B" } else { "A" });
        assert!(sb.open(&tampered).is_err());
        assert!(sb.open("garbage").is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&config.key_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn macs_bind_key_purpose_and_message() {
        let key = |k: &str| {
            SecretBox::load(&SecretsConfig {
                encryption_key: k.into(),
                key_file: "unused".into(),
            })
            .unwrap()
        };
        let sb = key("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
        let tag = sb.mac("purpose", "message");
        assert_eq!(tag.len(), 43);
        assert!(sb.mac_matches("purpose", "message", &tag));
        // Another instance with the same key agrees.
        let twin = key("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
        assert!(twin.mac_matches("purpose", "message", &tag));
        assert!(!sb.mac_matches("purpose", "messagf", &tag));
        assert!(!sb.mac_matches("other purpose", "message", &tag));
        // Purpose and message are not just concatenated.
        assert!(!sb.mac_matches("purposem", "essage", &tag));
        let other = key("ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=");
        assert!(!other.mac_matches("purpose", "message", &tag));
        for garbage in ["", "!!!", &tag[..42], &format!("{tag}A")] {
            assert!(!sb.mac_matches("purpose", "message", garbage), "{garbage}");
        }
    }

    #[test]
    fn configured_key_must_be_32_bytes() {
        let bad = SecretsConfig {
            encryption_key: "c2hvcnQ=".into(),
            key_file: "unused".into(),
        };
        assert!(matches!(SecretBox::load(&bad), Err(SecretError::BadKey)));
    }
}
