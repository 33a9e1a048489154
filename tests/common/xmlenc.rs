//! XML Encryption as an IdP does it: an assertion encrypted to the SP's
//! encryption certificate (RSA-OAEP key transport, AES-CBC or AES-GCM).
//! Written independently of the gateway's decryption, which it tests; the
//! gateway's unit tests include this file too.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::rand::rand_bytes;
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};

pub const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
pub const RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";

pub struct Encryption<'a> {
    pub key_transport: &'a str,
    /// DigestMethod of the key transport (None: SHA-1, the default).
    pub oaep_digest: Option<&'a str>,
    /// xmlenc11 MGF (None: MGF1 with SHA-1, the default).
    pub mgf: Option<&'a str>,
    pub content: &'a str,
}

pub const CBC128: Encryption<'static> = Encryption {
    key_transport: RSA_OAEP_MGF1P,
    oaep_digest: None,
    mgf: None,
    content: "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
};

pub const GCM256: Encryption<'static> = Encryption {
    key_transport: RSA_OAEP,
    oaep_digest: Some("http://www.w3.org/2001/04/xmlenc#sha256"),
    mgf: Some("http://www.w3.org/2009/xmlenc11#mgf1sha256"),
    content: "http://www.w3.org/2009/xmlenc11#aes256-gcm",
};

/// The hash a digest or MGF URI names (by its SHA size).
fn hash_of(uri: Option<&str>) -> MessageDigest {
    match uri {
        None => MessageDigest::sha1(),
        Some(u) if u.ends_with("sha1") => MessageDigest::sha1(),
        Some(u) if u.ends_with("sha256") => MessageDigest::sha256(),
        Some(u) if u.ends_with("sha384") => MessageDigest::sha384(),
        Some(u) if u.ends_with("sha512") => MessageDigest::sha512(),
        Some(other) => panic!("no hash {other}"),
    }
}

/// (cipher, is GCM) of a content-encryption URI.
fn cipher_of(uri: &str) -> (Cipher, bool) {
    let bits = uri.rsplit('#').next().unwrap();
    match bits {
        "aes128-cbc" => (Cipher::aes_128_cbc(), false),
        "aes192-cbc" => (Cipher::aes_192_cbc(), false),
        "aes256-cbc" => (Cipher::aes_256_cbc(), false),
        "aes128-gcm" => (Cipher::aes_128_gcm(), true),
        "aes192-gcm" => (Cipher::aes_192_gcm(), true),
        "aes256-gcm" => (Cipher::aes_256_gcm(), true),
        other => panic!("no cipher {other}"),
    }
}

/// `<saml:EncryptedAssertion>` of `plaintext` to `certificate_b64`'s key
/// (EncryptedKey inside EncryptedData's KeyInfo, as most IdPs send it).
pub fn encrypt(plaintext: &str, certificate_b64: &str, how: &Encryption) -> String {
    let cert = openssl::x509::X509::from_der(&STANDARD.decode(certificate_b64).unwrap()).unwrap();
    let public = cert.public_key().unwrap();
    let (cipher, gcm) = cipher_of(how.content);
    let mut key = vec![0; cipher.key_len()];
    rand_bytes(&mut key).unwrap();
    let mut iv = vec![0; if gcm { 12 } else { 16 }];
    rand_bytes(&mut iv).unwrap();
    let mut data = plaintext.as_bytes().to_vec();
    if !gcm {
        // XML Encryption padding: only the last byte (the length) counts.
        let pad = 16 - data.len() % 16;
        let mut filler = vec![0; pad - 1];
        rand_bytes(&mut filler).unwrap();
        data.extend(filler);
        data.push(pad as u8);
    }
    let mut crypter = Crypter::new(cipher, Mode::Encrypt, &key, Some(&iv)).unwrap();
    crypter.pad(false);
    let mut out = vec![0; data.len() + cipher.block_size()];
    let mut n = crypter.update(&data, &mut out).unwrap();
    n += crypter.finalize(&mut out[n..]).unwrap();
    out.truncate(n);
    let mut value = iv;
    value.extend(out);
    if gcm {
        let mut tag = vec![0; 16];
        crypter.get_tag(&mut tag).unwrap();
        value.extend(tag);
    }
    let mut encrypter = openssl::encrypt::Encrypter::new(&public).unwrap();
    encrypter.set_rsa_padding(Padding::PKCS1_OAEP).unwrap();
    encrypter.set_rsa_oaep_md(hash_of(how.oaep_digest)).unwrap();
    encrypter.set_rsa_mgf1_md(hash_of(how.mgf)).unwrap();
    let mut wrapped = vec![0; encrypter.encrypt_len(&key).unwrap()];
    let n = encrypter.encrypt(&key, &mut wrapped).unwrap();
    wrapped.truncate(n);
    let digest = how.oaep_digest.map_or(String::new(), |uri| {
        format!(
            r#"<ds:DigestMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="{uri}"/>"#
        )
    });
    let mgf = how.mgf.map_or(String::new(), |uri| {
        format!(
            r#"<xenc11:MGF xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" Algorithm="{uri}"/>"#
        )
    });
    format!(
        r#"<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{}"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="{}">{digest}{mgf}</xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>"#,
        how.content,
        how.key_transport,
        STANDARD.encode(wrapped),
        STANDARD.encode(value),
    )
}
