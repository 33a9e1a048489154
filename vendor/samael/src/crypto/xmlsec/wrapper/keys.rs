//!
//! Wrapper for XmlSec Key and Certificate management Context
//!
use crate::crypto::xmlsec::wrapper::bindings;

use super::backend;
use super::error::XmlSecError;
use super::error::XmlSecResult;
use super::xmlsec_internal;

use std::collections::HashMap;
use std::ptr::null;
use std::ptr::null_mut;
use std::sync::{Arc, LazyLock, RwLock};

/// x509 key format.
#[allow(dead_code)]
#[allow(missing_docs)]
#[repr(u32)]
pub enum XmlSecKeyFormat {
    Unknown = bindings::xmlSecKeyDataFormat_xmlSecKeyDataFormatUnknown,
    Binary = bindings::xmlSecKeyDataFormat_xmlSecKeyDataFormatBinary,
    Pem = bindings::xmlSecKeyDataFormat_xmlSecKeyDataFormatPem,
    Der = bindings::xmlSecKeyDataFormat_xmlSecKeyDataFormatDer,
    Pkcs8Pem = bindings::xmlSecKeyDataFormat_xmlSecKeyDataFormatPkcs8Pem,
    Pkcs8Der = bindings::xmlSecKeyDataFormat_xmlSecKeyDataFormatPkcs8Der,
    Pkcs12 = bindings::xmlSecKeyDataFormat_xmlSecKeyDataFormatPkcs12,
    CertPem = bindings::xmlSecKeyDataFormat_xmlSecKeyDataFormatCertPem,
    CertDer = bindings::xmlSecKeyDataFormat_xmlSecKeyDataFormatCertDer,
}

/// Key with which we sign/verify signatures or encrypt data. Used by [`XmlSecSignatureContext`][sigctx].
///
/// [sigctx]: struct.XmlSecSignatureContext.html
#[derive(Debug)]
pub struct XmlSecKey(*mut bindings::xmlSecKey);

impl XmlSecKey {
    /// Load key from buffer in memory, specifying format and optionally the password required to decrypt/unlock.
    pub fn from_memory(buffer: &[u8], format: XmlSecKeyFormat) -> XmlSecResult<Self> {
        xmlsec_internal::guarantee_xmlsec_init()?;

        // Load key from buffer
        let key = unsafe {
            backend::xmlSecCryptoAppKeyLoadMemory(
                buffer.as_ptr(),
                buffer.len().try_into().expect("Key buffer length overflow"),
                format as u32,
                null(),
                null_mut(),
                null_mut(),
            )
        };

        if key.is_null() {
            return Err(XmlSecError::KeyLoadError);
        }

        Ok(Self(key))
    }

    /// sso-gateway patch (vendor/README.md): a new key holding only this
    /// key's value (the public key of a certificate-loaded key), without its
    /// X509 data. Making it shares the value (a reference count), where
    /// loading the certificate again or duplicating a certificate-loaded key
    /// re-decodes the certificate. Verifying with `signKey` set reads only
    /// the value.
    pub fn value_only(&self) -> XmlSecResult<Self> {
        unsafe {
            let value = bindings::xmlSecKeyGetValue(self.0);
            if value.is_null() {
                return Err(XmlSecError::KeyNotLoaded);
            }
            let shared = bindings::xmlSecKeyDataDuplicate(value);
            if shared.is_null() {
                return Err(XmlSecError::KeyLoadError);
            }
            let key = bindings::xmlSecKeyCreate();
            if key.is_null() {
                bindings::xmlSecKeyDataDestroy(shared);
                return Err(XmlSecError::KeyLoadError);
            }
            // On success the key owns `shared`; on failure it is still ours.
            if bindings::xmlSecKeySetValue(key, shared) < 0 {
                bindings::xmlSecKeyDataDestroy(shared);
                bindings::xmlSecKeyDestroy(key);
                return Err(XmlSecError::SetKeyError);
            }
            Ok(Self(key))
        }
    }

    /// sso-gateway patch (vendor/README.md): a value-only key (see
    /// [`value_only`](Self::value_only)) for verifying with the certificate
    /// `der`. The certificate is decoded once per process, not once per
    /// validation: decoding under OpenSSL 3 cost a fifth of a validation.
    /// The cache is keyed by the SHA-256 of the DER, so a certificate that is
    /// no longer trusted is simply never asked for again; it is bounded, and
    /// a certificate that does not load is not cached (it fails each time).
    pub fn verification_key_for_certificate(der: &[u8]) -> XmlSecResult<Self> {
        let digest = openssl::sha::sha256(der);
        let cached = CERTIFICATE_KEYS
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&digest)
            .cloned();
        let shared = match cached {
            Some(shared) => shared,
            None => {
                let loaded = Self::from_memory(der, XmlSecKeyFormat::CertDer)?;
                let shared = Arc::new(CachedKey(loaded.value_only()?));
                let mut keys = CERTIFICATE_KEYS
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if keys.len() >= CERTIFICATE_KEYS_MAX && !keys.contains_key(&digest) {
                    if let Some(evicted) = keys.keys().next().copied() {
                        keys.remove(&evicted);
                    }
                }
                keys.entry(digest).or_insert(shared).clone()
            }
        };
        shared.0.value_only()
    }

    /// Create from raw pointer to an underlying wrapper key structure. Henceforth its lifetime will be managed by this
    /// object.
    pub unsafe fn from_ptr(ptr: *mut bindings::xmlSecKey) -> Self {
        Self(ptr)
    }

    /// Leak the internal resource. This is needed by [`XmlSecSignatureContext`][sigctx], since wrapper takes over the
    /// lifetime management of the underlying resource when setting it as the active key for signature signing or
    /// verification.
    ///
    /// [sigctx]: struct.XmlSecSignatureContext.html
    pub unsafe fn leak(key: Self) -> *mut bindings::xmlSecKey {
        let ptr = key.0;

        std::mem::forget(key);

        ptr
    }
}

/// How many trusted certificates' keys are kept (an integration has a few;
/// beyond this, one is dropped for each new one).
const CERTIFICATE_KEYS_MAX: usize = 4096;

/// A cached key: built once, never changed afterwards; every user gets its
/// own value-only copy, which shares the public key by reference count.
struct CachedKey(XmlSecKey);

// SAFETY: after it is built a `CachedKey` is only read (`value_only` reads
// the key's value pointer and takes a reference on that value, an atomic
// count in OpenSSL), and it is destroyed only when the last `Arc` goes.
unsafe impl Send for CachedKey {}
unsafe impl Sync for CachedKey {}

static CERTIFICATE_KEYS: LazyLock<RwLock<HashMap<[u8; 32], Arc<CachedKey>>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

impl PartialEq for XmlSecKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 // compare pointer addresses
    }
}

impl Eq for XmlSecKey {}

impl Clone for XmlSecKey {
    fn clone(&self) -> Self {
        let new = unsafe { bindings::xmlSecKeyDuplicate(self.0) };

        Self(new)
    }
}

impl Drop for XmlSecKey {
    fn drop(&mut self) {
        unsafe { bindings::xmlSecKeyDestroy(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(der: &[u8]) -> bool {
        CERTIFICATE_KEYS
            .read()
            .unwrap()
            .contains_key(&openssl::sha::sha256(der))
    }

    #[test]
    fn a_certificate_is_decoded_once_and_each_caller_gets_its_own_key() {
        let der = include_bytes!("../../../../test_vectors/idp_cert.der");
        let first = XmlSecKey::verification_key_for_certificate(der).unwrap();
        assert!(cached(der));
        let second = XmlSecKey::verification_key_for_certificate(der).unwrap();
        // Distinct keys (each is destroyed by its own signature context)…
        assert_ne!(first, second);
        // …sharing the one decoded public key.
        let value = |key: &XmlSecKey| unsafe {
            bindings::xmlSecOpenSSLKeyDataRsaGetEvp(bindings::xmlSecKeyGetValue(key.0))
        };
        assert!(!value(&first).is_null());
        assert_eq!(value(&first), value(&second));
    }

    #[test]
    fn a_certificate_that_does_not_load_is_refused_each_time_and_not_cached() {
        let garbage = b"not a certificate";
        for _ in 0..2 {
            assert!(XmlSecKey::verification_key_for_certificate(garbage).is_err());
            assert!(!cached(garbage));
        }
    }
}
