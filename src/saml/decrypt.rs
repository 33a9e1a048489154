//! `EncryptedAssertion` (XML Encryption 1.1): RSA-OAEP key transport
//! (`rsa-oaep-mgf1p` and xmlenc11 `rsa-oaep`), AES-128/192/256 in CBC or GCM
//! for the content, decrypted with OpenSSL directly. PKCS#1 v1.5 key
//! transport (`rsa-1_5`) is refused: it is the Bleichenbacher oracle.
//!
//! Every failure — a structure we cannot read, an algorithm we do not take,
//! a key addressed to someone else, bad OAEP, bad CBC padding, a wrong GCM
//! tag, plaintext that is not XML text — is the same `None`, which the
//! caller turns into one refusal: what went wrong must not be observable
//! (the CBC attacks on XML Encryption read exactly that difference). Keys
//! are tried in turn (current, next, previous) until one opens the
//! content: which of our published keys an IdP used is no secret, and
//! OpenSSL's OAEP check itself runs in constant time.

use std::ops::Range;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use openssl::symm::{Cipher, Crypter, Mode};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

const RSA_OAEP_MGF1P: &str = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
const RSA_OAEP: &str = "http://www.w3.org/2009/xmlenc11#rsa-oaep";
const GCM_IV: usize = 12;
const GCM_TAG: usize = 16;
const CBC_BLOCK: usize = 16;

/// The content-encryption algorithms we accept (published in SP metadata).
pub const CONTENT_ALGORITHMS: &[&str] = &[
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
    "http://www.w3.org/2009/xmlenc11#aes192-gcm",
];
/// The key-transport algorithms we accept (published in SP metadata).
pub const KEY_TRANSPORT_ALGORITHMS: &[&str] = &[RSA_OAEP, RSA_OAEP_MGF1P];

fn content_cipher(algorithm: &str) -> Option<(Cipher, bool)> {
    Some(match algorithm {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => (Cipher::aes_128_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => (Cipher::aes_192_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => (Cipher::aes_256_cbc(), false),
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => (Cipher::aes_128_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes192-gcm" => (Cipher::aes_192_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => (Cipher::aes_256_gcm(), true),
        _ => return None,
    })
}

fn digest(algorithm: &str) -> Option<MessageDigest> {
    Some(match algorithm {
        "http://www.w3.org/2000/09/xmldsig#sha1" => MessageDigest::sha1(),
        "http://www.w3.org/2001/04/xmldsig-more#sha224" => MessageDigest::sha224(),
        "http://www.w3.org/2001/04/xmlenc#sha256" => MessageDigest::sha256(),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => MessageDigest::sha384(),
        "http://www.w3.org/2001/04/xmlenc#sha512" => MessageDigest::sha512(),
        _ => return None,
    })
}

fn mgf(algorithm: &str) -> Option<MessageDigest> {
    Some(match algorithm {
        "http://www.w3.org/2009/xmlenc11#mgf1sha1" => MessageDigest::sha1(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha224" => MessageDigest::sha224(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha256" => MessageDigest::sha256(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha384" => MessageDigest::sha384(),
        "http://www.w3.org/2009/xmlenc11#mgf1sha512" => MessageDigest::sha512(),
        _ => return None,
    })
}

/// One `xenc:EncryptedKey`: the wrapped content key and how it was wrapped.
#[derive(Debug, Default)]
struct EncryptedKey {
    algorithm: String,
    digest: Option<String>,
    mgf: Option<String>,
    /// An OAEP label: never sent by IdPs; refused rather than half-supported.
    oaep_params: bool,
    cipher_value: String,
}

/// The first `EncryptedAssertion` of a document, read.
#[derive(Debug, Default)]
pub struct Encrypted {
    /// Where the element is in the document (to put the plaintext there).
    pub span: Range<usize>,
    keys: Vec<EncryptedKey>,
    algorithm: String,
    cipher_value: String,
}

fn attribute(e: &BytesStart, name: &str) -> Option<String> {
    e.try_get_attribute(name).ok().flatten().and_then(|a| {
        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .ok()
            .map(|v| v.into_owned())
    })
}

/// Reads the first `EncryptedAssertion` of `xml` (EncryptedKeys inside
/// EncryptedData's KeyInfo or beside EncryptedData); `None` when there is
/// none or it is incomplete.
pub fn find(xml: &str) -> Option<Encrypted> {
    let mut reader = Reader::from_str(xml);
    // Local names from the EncryptedAssertion down.
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut found = Encrypted::default();
    let mut start = None;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().ok()?;
        let (element, opens) = match event {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(_) if start.is_some() => {
                path.pop();
                if path.is_empty() {
                    found.span = start?..reader.buffer_position() as usize;
                    break;
                }
                continue;
            }
            Event::Text(text) if path.last().is_some_and(|n| n == b"CipherValue") => {
                let value: String = String::from_utf8_lossy(&text)
                    .chars()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                if path.iter().any(|n| n == b"EncryptedKey") {
                    found.keys.last_mut()?.cipher_value.push_str(&value);
                } else {
                    found.cipher_value.push_str(&value);
                }
                continue;
            }
            Event::Eof => return None,
            _ => continue,
        };
        let name = element.local_name().as_ref().to_vec();
        if start.is_none() {
            if name != b"EncryptedAssertion" {
                continue;
            }
            start = Some(before);
        }
        let parent = path.last().map(Vec::as_slice);
        let in_key = path.iter().any(|n| n == b"EncryptedKey");
        match (name.as_slice(), parent) {
            (b"EncryptedKey", _) => found.keys.push(EncryptedKey::default()),
            (b"EncryptionMethod", Some(b"EncryptedKey")) => {
                found.keys.last_mut()?.algorithm = attribute(&element, "Algorithm")?
            }
            (b"EncryptionMethod", Some(b"EncryptedData")) => {
                found.algorithm = attribute(&element, "Algorithm")?
            }
            (b"DigestMethod", Some(b"EncryptionMethod")) if in_key => {
                found.keys.last_mut()?.digest = attribute(&element, "Algorithm")
            }
            (b"MGF", Some(b"EncryptionMethod")) if in_key => {
                found.keys.last_mut()?.mgf = attribute(&element, "Algorithm")
            }
            (b"OAEPparams", _) if in_key => found.keys.last_mut()?.oaep_params = true,
            _ => {}
        }
        if opens {
            path.push(name);
        } else if path.is_empty() {
            // <EncryptedAssertion/>: nothing in it.
            return None;
        }
    }
    (!found.keys.is_empty() && !found.cipher_value.is_empty()).then_some(found)
}

/// The content key, if `key` is the one it was wrapped for.
fn unwrap_key(wrapped: &EncryptedKey, key: &PKey<Private>) -> Option<Vec<u8>> {
    let (md, mgf1) = match wrapped.algorithm.as_str() {
        RSA_OAEP_MGF1P => (
            wrapped
                .digest
                .as_deref()
                .map_or(Some(MessageDigest::sha1()), digest)?,
            MessageDigest::sha1(),
        ),
        RSA_OAEP => (
            wrapped
                .digest
                .as_deref()
                .map_or(Some(MessageDigest::sha1()), digest)?,
            wrapped
                .mgf
                .as_deref()
                .map_or(Some(MessageDigest::sha1()), mgf)?,
        ),
        _ => return None,
    };
    if wrapped.oaep_params {
        return None;
    }
    let ciphertext = STANDARD.decode(&wrapped.cipher_value).ok()?;
    let mut decrypter = openssl::encrypt::Decrypter::new(key).ok()?;
    decrypter.set_rsa_padding(Padding::PKCS1_OAEP).ok()?;
    decrypter.set_rsa_oaep_md(md).ok()?;
    decrypter.set_rsa_mgf1_md(mgf1).ok()?;
    let mut out = vec![0; decrypter.decrypt_len(&ciphertext).ok()?];
    let n = decrypter.decrypt(&ciphertext, &mut out).ok()?;
    out.truncate(n);
    Some(out)
}

fn decrypt_content(encrypted: &Encrypted, content_key: &[u8]) -> Option<Vec<u8>> {
    let (cipher, gcm) = content_cipher(&encrypted.algorithm)?;
    if content_key.len() != cipher.key_len() {
        return None;
    }
    let data = STANDARD.decode(&encrypted.cipher_value).ok()?;
    let iv_len = if gcm { GCM_IV } else { CBC_BLOCK };
    let (iv, rest) = data.split_at_checked(iv_len)?;
    let (body, tag) = if gcm {
        rest.split_at_checked(rest.len().checked_sub(GCM_TAG)?)?
    } else {
        (rest, &[][..])
    };
    if !gcm && (body.is_empty() || body.len() % CBC_BLOCK != 0) {
        return None;
    }
    let mut crypter = Crypter::new(cipher, Mode::Decrypt, content_key, Some(iv)).ok()?;
    // XML Encryption pads its own way (only the last byte is defined).
    crypter.pad(false);
    let mut out = vec![0; body.len() + cipher.block_size()];
    let mut n = crypter.update(body, &mut out).ok()?;
    if gcm {
        crypter.set_tag(tag).ok()?;
    }
    n += crypter.finalize(&mut out[n..]).ok()?;
    out.truncate(n);
    if !gcm {
        let pad = usize::from(*out.last()?);
        if pad == 0 || pad > CBC_BLOCK {
            return None;
        }
        out.truncate(out.len() - pad);
    }
    Some(out)
}

/// The plaintext assertion (XML text), trying every key in `keys`.
pub fn decrypt(encrypted: &Encrypted, keys: &[PKey<Private>]) -> Option<String> {
    let plaintext = encrypted
        .keys
        .iter()
        .flat_map(|wrapped| keys.iter().map(move |key| (wrapped, key)))
        .find_map(|(wrapped, key)| decrypt_content(encrypted, &unwrap_key(wrapped, key)?))?;
    let text = String::from_utf8(plaintext).ok()?;
    text.trim_start().starts_with('<').then_some(text)
}

/// How an IdP encrypts (the tests' IdP side, shared with tests/).
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../tests/common/xmlenc.rs"]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::testing::{encrypt, Encryption, CBC128, GCM256};
    use super::*;
    use crate::saml::keys::testing::key_with_certificate;

    const ASSERTION: &str = r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a">ü</saml:Assertion>"#;

    #[test]
    fn every_accepted_algorithm_decrypts() {
        let (key, cert) = key_with_certificate();
        let keys = [key.private_key.clone()];
        let sha256 = "http://www.w3.org/2001/04/xmlenc#sha256";
        let mgf256 = "http://www.w3.org/2009/xmlenc11#mgf1sha256";
        for content in CONTENT_ALGORITHMS {
            for (transport, oaep_digest, mgf) in [
                (RSA_OAEP_MGF1P, None, None),
                (RSA_OAEP_MGF1P, Some(sha256), None),
                (RSA_OAEP, None, None),
                (RSA_OAEP, Some(sha256), Some(mgf256)),
            ] {
                let how = Encryption {
                    key_transport: transport,
                    oaep_digest,
                    mgf,
                    content,
                };
                let xml = format!("<r>{}</r>", encrypt(ASSERTION, &cert, &how));
                let found = find(&xml).unwrap();
                assert_eq!(&xml[found.span.clone()][..24], "<saml:EncryptedAssertion");
                assert!(xml[found.span.clone()].ends_with("</saml:EncryptedAssertion>"));
                assert_eq!(
                    decrypt(&found, &keys).as_deref(),
                    Some(ASSERTION),
                    "{content} {transport} {oaep_digest:?}"
                );
            }
        }
    }

    /// `xml` with the encrypted content's octets (IV, body, GCM tag: the
    /// last CipherValue) changed by `change`.
    fn with_content(xml: &str, change: impl FnOnce(&mut Vec<u8>)) -> String {
        let start = xml.rfind("<xenc:CipherValue>").unwrap() + "<xenc:CipherValue>".len();
        let end = xml.rfind("</xenc:CipherValue>").unwrap();
        let mut octets = STANDARD.decode(&xml[start..end]).unwrap();
        change(&mut octets);
        let value = STANDARD.encode(octets);
        format!("{}{value}{}", &xml[..start], &xml[end..])
    }

    #[test]
    fn any_of_several_keys_and_every_failure_is_the_same_none() {
        let (key, cert) = key_with_certificate();
        let (other, _) = key_with_certificate();
        let xml = encrypt(ASSERTION, &cert, &CBC128);
        let found = find(&xml).unwrap();
        let both = [other.private_key.clone(), key.private_key.clone()];
        assert_eq!(decrypt(&found, &both).as_deref(), Some(ASSERTION));
        assert_eq!(
            decrypt(&found, std::slice::from_ref(&other.private_key)),
            None
        );
        assert_eq!(decrypt(&found, &[]), None);

        let mine = [key.private_key.clone()];
        // CBC has no integrity of its own (the assertion's signature, checked
        // after decryption, is what refuses a changed body: tests/saml_attacks),
        // so each change here is one whose failure decryption itself must see,
        // whatever the random key and IV: an IV turning the first octet from
        // `<` into `x` (not XML), and the last block's padding octet pushed
        // past 16 through the block before it.
        let not_xml = with_content(&xml, |o| o[0] ^= b'<' ^ b'x');
        let pad_at = with_content(&xml, |o| {
            let before_last = o.len() - CBC_BLOCK - 1;
            o[before_last] ^= 0x80
        });
        for tampered in [not_xml, pad_at] {
            assert_eq!(decrypt(&find(&tampered).unwrap(), &mine), None);
        }
        // GCM's tag refuses a change anywhere: IV, body or tag.
        let gcm = encrypt(ASSERTION, &cert, &GCM256);
        assert!(decrypt(&find(&gcm).unwrap(), &mine).is_some());
        for at in [Some(0), Some(GCM_IV + 5), None] {
            let tampered = with_content(&gcm, |o| {
                let at = at.unwrap_or(o.len() - 1);
                o[at] ^= 1
            });
            assert_eq!(decrypt(&find(&tampered).unwrap(), &mine), None, "{at:?}");
        }
        // Truncated EncryptedKey, garbage in it, an empty one.
        let key_at = xml.find("<xenc:CipherValue>").unwrap() + 18;
        let key_end = xml[key_at..].find('<').unwrap() + key_at;
        for wrapped in [&xml[key_at..key_at + 40], "AAAA", "!!", ""] {
            let broken = format!("{}{wrapped}{}", &xml[..key_at], &xml[key_end..]);
            assert!(find(&broken).is_none_or(|f| decrypt(&f, &mine).is_none()));
        }
        // PKCS#1 v1.5 key transport, an unknown cipher: refused.
        let v15 = xml.replace(RSA_OAEP_MGF1P, "http://www.w3.org/2001/04/xmlenc#rsa-1_5");
        assert_eq!(decrypt(&find(&v15).unwrap(), &mine), None);
        let des = xml.replace(
            "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
            "http://www.w3.org/2001/04/xmlenc#tripledes-cbc",
        );
        assert_eq!(decrypt(&find(&des).unwrap(), &mine), None);
        // A wrong content-key length for the named cipher.
        let longer = xml.replace("#aes128-cbc", "#aes256-cbc");
        assert_eq!(decrypt(&find(&longer).unwrap(), &mine), None);
    }

    /// Encrypted by another implementation (xmlsec1, see
    /// fixtures/saml/README.md): what it writes, we read.
    #[test]
    fn documents_encrypted_by_xmlsec1_decrypt() {
        let key = PKey::private_key_from_pem(include_bytes!(
            "../../fixtures/certs/sp-encryption-key.pem"
        ))
        .unwrap();
        let plaintext = include_str!("../../fixtures/saml/xmlsec1-plaintext.xml");
        let start = plaintext.find("<saml:Assertion").unwrap();
        let end = plaintext.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
        let assertion = &plaintext[start..end];
        for xml in [
            include_str!("../../fixtures/saml/xmlsec1-encrypted-aes256-cbc.xml"),
            include_str!("../../fixtures/saml/xmlsec1-encrypted-aes128-gcm.xml"),
        ] {
            let found = find(xml).unwrap();
            assert_eq!(
                decrypt(&found, std::slice::from_ref(&key)).as_deref(),
                Some(assertion)
            );
            // And the document with it put back is the plaintext document.
            let back = format!(
                "{}{assertion}{}",
                &xml[..found.span.start],
                &xml[found.span.end..]
            );
            assert!(back.contains("<samlp:Response") && back.ends_with("</samlp:Response>\n"));
        }
    }

    #[test]
    fn incomplete_structures_are_none() {
        for xml in [
            "<r/>",
            "<saml:EncryptedAssertion/>",
            "<r><EncryptedAssertion><EncryptedData/></EncryptedAssertion></r>",
            "<r><EncryptedAssertion><EncryptedData><CipherData><CipherValue>AAAA</CipherValue></CipherData></EncryptedData></EncryptedAssertion></r>",
            "<r><EncryptedAssertion><EncryptedData><CipherData><CipherValue>AAAA",
        ] {
            assert!(find(xml).is_none(), "{xml}");
        }
    }
}
