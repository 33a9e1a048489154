//! The SAML service provider's own key pairs: one for signing (AuthnRequests,
//! LogoutResponses), one IdPs encrypt assertions to. RSA with a self-signed
//! certificate, generated on first start, the private half sealed with the
//! secrets key, shared by every instance through the database.
//!
//! Rotation with overlap (`sso-gateway sp-keys rotate`): a new generation is
//! stored as NEXT — published in SP metadata at once so IdPs can pick it
//! up, not yet used — and becomes CURRENT when its `active_from` passes
//! (`saml.sp_key_overlap_hours`, or at once with `--now`). The former
//! current is then PREVIOUS: still published for encryption and tried for
//! decryption, until the following rotation removes it.
//!
//! Which key is in which state follows from the stored generations and the
//! clock, so every instance switches at the same moment without being told.
//! A rotation itself (a new row) reaches an instance within 30 s: key sets
//! are re-read on use at most that often (`op::keys::ReloadGate`).

use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};
use sha2::{Digest, Sha256};

use crate::op::keys::{read, replace, ReloadGate};
use crate::secrets::{SecretBox, SecretError};
use crate::store::{now_ms, SpKeyRow, Store, StoreError};

const KEY_BITS: u32 = 2048;
/// How long an SP certificate is valid. IdPs pin it, so long; rotation,
/// not expiry, is how a key is retired.
const CERTIFICATE_DAYS: i64 = 5 * 365 + 1;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, thiserror::Error)]
pub enum SpKeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("SP key: {0}")]
    Key(String),
}

fn openssl_error(e: openssl::error::ErrorStack) -> SpKeyError {
    SpKeyError::Key(e.to_string())
}

pub type SpKeyResult<T> = Result<T, SpKeyError>;

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Signing,
    Encryption,
}

impl Purpose {
    pub const ALL: [Purpose; 2] = [Purpose::Signing, Purpose::Encryption];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Signing => "signing",
            Purpose::Encryption => "encryption",
        }
    }
}

/// Where a key stands in its rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not used yet.
    Next,
    Current,
    /// Replaced, still published and tried for decryption.
    Previous,
    /// Older than previous (removed at the next rotation).
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Previous => "previous",
            KeyState::Retired => "retired",
        }
    }
}

/// One opened key: the private key in hand, the certificate as published.
pub struct SpKey {
    pub purpose: Purpose,
    pub generation: i64,
    pub active_from: i64,
    /// base64 DER.
    pub certificate: String,
    /// SHA-256 of the certificate's DER, hex.
    pub fingerprint: String,
    /// Unix ms.
    pub not_after: i64,
    pub private_key: PKey<Private>,
}

/// The key a handler signs with (AuthnRequests, LogoutResponses).
pub type SpSigningKey = SpKey;

impl SpKey {
    /// An RSA-SHA256 (PKCS#1 v1.5) signature of `data`.
    pub fn sign_rsa_sha256(&self, data: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &self.private_key)?;
        signer.update(data)?;
        signer.sign_to_vec()
    }
}

/// Every SP key this instance knows, newest generation first per purpose.
pub struct KeySet {
    keys: Vec<Arc<SpKey>>,
}

impl KeySet {
    /// The keys of `purpose` with their state at `now`, newest first.
    pub fn states(&self, purpose: Purpose, now: i64) -> Vec<(KeyState, &Arc<SpKey>)> {
        let mine: Vec<&Arc<SpKey>> = self.keys.iter().filter(|k| k.purpose == purpose).collect();
        states_of(mine.iter().map(|k| k.active_from), now)
            .into_iter()
            .zip(mine)
            .collect()
    }

    /// The keys in `wanted` states, in the order of `wanted` (IdPs that
    /// read one encryption key take the first: the current one).
    fn in_states(&self, purpose: Purpose, now: i64, wanted: &[KeyState]) -> Vec<Arc<SpKey>> {
        let states = self.states(purpose, now);
        wanted
            .iter()
            .flat_map(|w| states.iter().filter(move |(state, _)| state == w))
            .map(|(_, k)| (*k).clone())
            .collect()
    }

    /// The key to sign with now.
    pub fn signing(&self, now: i64) -> Option<Arc<SpSigningKey>> {
        self.in_states(Purpose::Signing, now, &[KeyState::Current])
            .into_iter()
            .next()
    }

    /// What SP metadata publishes for `purpose`: current and next, and for
    /// encryption also previous (an IdP may still encrypt to it).
    pub fn published(&self, purpose: Purpose, now: i64) -> Vec<Arc<SpKey>> {
        match purpose {
            Purpose::Signing => self.in_states(purpose, now, &[KeyState::Current, KeyState::Next]),
            Purpose::Encryption => self.in_states(
                purpose,
                now,
                &[KeyState::Current, KeyState::Next, KeyState::Previous],
            ),
        }
    }

    /// The private keys an encrypted assertion may be addressed to:
    /// current, next (an IdP that already took it up) and previous.
    pub fn decryption_keys(&self, now: i64) -> Vec<PKey<Private>> {
        self.published(Purpose::Encryption, now)
            .iter()
            .map(|k| k.private_key.clone())
            .collect()
    }
}

/// The state of each generation of one purpose at `now`, given their
/// `active_from` newest generation first: the newest already active is
/// current, one above it not yet active is next, the one below is previous.
fn states_of(active_from: impl Iterator<Item = i64>, now: i64) -> Vec<KeyState> {
    let (mut seen_current, mut seen_previous) = (false, false);
    active_from
        .map(|from| {
            if !seen_current && from > now {
                KeyState::Next
            } else if !seen_current {
                seen_current = true;
                KeyState::Current
            } else if !seen_previous {
                seen_previous = true;
                KeyState::Previous
            } else {
                KeyState::Retired
            }
        })
        .collect()
}

/// A fresh RSA key and its self-signed certificate (DER), with the
/// certificate's expiry (unix ms).
fn key_pair(purpose: Purpose, host: &str) -> SpKeyResult<(PKey<Private>, Vec<u8>, i64)> {
    let key =
        PKey::from_rsa(Rsa::generate(KEY_BITS).map_err(openssl_error)?).map_err(openssl_error)?;
    let now = now_ms();
    let not_after = now + CERTIFICATE_DAYS * DAY_MS;
    let certificate = (|| {
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_text("O", "sso-gateway")?;
        name.append_entry_by_text("CN", &format!("sso-gateway SP {} {host}", purpose.as_str()))?;
        let name = name.build();
        let mut builder = X509::builder()?;
        builder.set_version(2)?;
        let mut serial = BigNum::new()?;
        serial.rand(127, openssl::bn::MsbOption::MAYBE_ZERO, false)?;
        builder.set_serial_number(Asn1Integer::from_bn(&serial)?.as_ref())?;
        builder.set_subject_name(&name)?;
        builder.set_issuer_name(&name)?;
        builder.set_pubkey(&key)?;
        builder.set_not_before(Asn1Time::from_unix(now / 1000 - 60)?.as_ref())?;
        builder.set_not_after(Asn1Time::from_unix(not_after / 1000)?.as_ref())?;
        builder.sign(&key, MessageDigest::sha256())?;
        builder.build().to_der()
    })()
    .map_err(openssl_error)?;
    Ok((key, certificate, not_after))
}

/// A fresh key pair as a row to store (private key sealed).
fn generate(
    secrets: &SecretBox,
    purpose: Purpose,
    host: &str,
    generation: i64,
    active_from: i64,
) -> SpKeyResult<SpKeyRow> {
    let (key, certificate, not_after) = key_pair(purpose, host)?;
    let pem = key.private_key_to_pem_pkcs8().map_err(openssl_error)?;
    let pem = String::from_utf8(pem)
        .map_err(|_| SpKeyError::Key("the generated key's PEM is not text".into()))?;
    Ok(SpKeyRow {
        purpose: purpose.as_str().to_string(),
        generation,
        private_key: secrets.seal(&pem)?,
        fingerprint: hex::encode(Sha256::digest(&certificate)),
        certificate: STANDARD.encode(&certificate),
        not_after,
        created_at: now_ms(),
        active_from,
    })
}

/// Generates off the async workers (RSA key generation takes a while).
async fn generate_blocking(
    secrets: &SecretBox,
    purpose: Purpose,
    host: &str,
    generation: i64,
    active_from: i64,
) -> SpKeyResult<SpKeyRow> {
    let (secrets, host) = (secrets.clone(), host.to_string());
    tokio::task::spawn_blocking(move || generate(&secrets, purpose, &host, generation, active_from))
        .await
        .map_err(|e| SpKeyError::Key(format!("key generation stopped: {e}")))?
}

fn open(secrets: &SecretBox, row: &SpKeyRow) -> SpKeyResult<SpKey> {
    let purpose = match row.purpose.as_str() {
        "signing" => Purpose::Signing,
        "encryption" => Purpose::Encryption,
        other => return Err(SpKeyError::Key(format!("unknown purpose {other:?}"))),
    };
    let pem = secrets.open(&row.private_key)?;
    Ok(SpKey {
        purpose,
        generation: row.generation,
        active_from: row.active_from,
        certificate: row.certificate.clone(),
        fingerprint: row.fingerprint.clone(),
        not_after: row.not_after,
        private_key: PKey::private_key_from_pem(pem.as_bytes()).map_err(openssl_error)?,
    })
}

fn open_all(secrets: &SecretBox, rows: &[SpKeyRow]) -> SpKeyResult<KeySet> {
    Ok(KeySet {
        keys: rows
            .iter()
            .map(|row| open(secrets, row).map(Arc::new))
            .collect::<SpKeyResult<_>>()?,
    })
}

/// The host named in the certificates' subject.
pub fn subject_host(config: &crate::config::Config) -> String {
    config
        .public_url()
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "localhost".into())
}

/// The SP's keys as this instance uses them; cheap to clone.
#[derive(Clone)]
pub struct SpKeys {
    store: Store,
    secrets: SecretBox,
    set: Arc<RwLock<Arc<KeySet>>>,
    reload: Arc<ReloadGate>,
}

impl SpKeys {
    /// The stored keys, generating generation 1 of a purpose that has none.
    /// Instances starting together all try; one insert wins per purpose
    /// and everyone then reads the winner back.
    pub async fn load(store: &Store, secrets: &SecretBox, host: &str) -> SpKeyResult<SpKeys> {
        let rows = loop {
            let rows = store.sp_keys().await?;
            let missing: Vec<Purpose> = Purpose::ALL
                .into_iter()
                .filter(|p| !rows.iter().any(|r| r.purpose == p.as_str()))
                .collect();
            if missing.is_empty() {
                break rows;
            }
            for purpose in missing {
                let row = generate_blocking(secrets, purpose, host, 1, 0).await?;
                store.insert_sp_key(&row).await?;
            }
        };
        Ok(SpKeys {
            set: Arc::new(RwLock::new(Arc::new(open_all(secrets, &rows)?))),
            store: store.clone(),
            secrets: secrets.clone(),
            reload: Arc::new(ReloadGate::new()),
        })
    }

    /// The keys as of the last look (taking up a rotation when one is due).
    pub async fn keys(&self) -> Arc<KeySet> {
        if self.reload.due() {
            match self.store.sp_keys().await {
                Ok(rows) => match open_all(&self.secrets, &rows) {
                    Ok(set) => replace(&self.set, set),
                    Err(e) => tracing::error!(error = %e, "newer SP keys cannot be opened"),
                },
                // The keys in hand are still published: keep using them.
                Err(e) => tracing::warn!(error = %e, "could not look for newer SP keys"),
            }
        }
        read(&self.set)
    }

    /// The key to sign with now.
    pub async fn signing(&self) -> Option<Arc<SpSigningKey>> {
        self.keys().await.signing(now_ms())
    }
}

/// What `sp-keys rotate` did for one purpose.
#[derive(Debug)]
pub enum Rotated {
    /// A new generation was stored; it is current from `active_from`.
    Staged {
        purpose: Purpose,
        generation: i64,
        fingerprint: String,
        active_from: i64,
        removed: u64,
    },
    /// `--now` made an already staged generation current.
    Promoted {
        purpose: Purpose,
        generation: i64,
        removed: u64,
    },
}

/// What a rotation is asked to do.
pub struct Rotation<'a> {
    pub purposes: &'a [Purpose],
    /// Current at once rather than after the overlap.
    pub now: bool,
    pub overlap_hours: u64,
    pub host: &'a str,
}

/// `sso-gateway sp-keys rotate`: stages a next key per purpose (or with
/// `now`, makes it current at once, promoting one already staged), and
/// removes the generations below the one that stays previous.
pub async fn rotate(
    store: &Store,
    secrets: &SecretBox,
    rotation: &Rotation<'_>,
) -> SpKeyResult<Vec<Rotated>> {
    let mut done = Vec::new();
    for &purpose in rotation.purposes {
        let now = now_ms();
        let rows = store.sp_keys().await?;
        let mine: Vec<&SpKeyRow> = rows
            .iter()
            .filter(|r| r.purpose == purpose.as_str())
            .collect();
        let states = states_of(mine.iter().map(|r| r.active_from), now);
        let find = |wanted: KeyState| {
            states
                .iter()
                .zip(&mine)
                .find(|(state, _)| **state == wanted)
                .map(|(_, row)| *row)
        };
        let (staged, current) = (find(KeyState::Next), find(KeyState::Current));
        let newest = mine.first().map_or(0, |r| r.generation);
        if let Some(staged) = staged {
            if !rotation.now {
                return Err(SpKeyError::Key(format!(
                    "a next {} key (generation {}) is already staged and becomes current at {}; \
                     run with --now to make it current at once",
                    purpose.as_str(),
                    staged.generation,
                    when(staged.active_from)
                )));
            }
            store
                .activate_sp_key(purpose.as_str(), staged.generation, now)
                .await?;
            // The former current stays as previous; anything older goes.
            let keep_from = current.map_or(staged.generation, |c| c.generation);
            let removed = store
                .delete_sp_keys_below(purpose.as_str(), keep_from)
                .await?;
            done.push(Rotated::Promoted {
                purpose,
                generation: staged.generation,
                removed,
            });
            continue;
        }
        let active_from = if rotation.now {
            now
        } else {
            now + rotation.overlap_hours as i64 * 3_600_000
        };
        let row =
            generate_blocking(secrets, purpose, rotation.host, newest + 1, active_from).await?;
        if !store.insert_sp_key(&row).await? {
            return Err(SpKeyError::Key(
                "another rotation stored a key at the same moment; run it again".into(),
            ));
        }
        let removed = match current {
            Some(c) => {
                store
                    .delete_sp_keys_below(purpose.as_str(), c.generation)
                    .await?
            }
            None => 0,
        };
        done.push(Rotated::Staged {
            purpose,
            generation: row.generation,
            fingerprint: row.fingerprint,
            active_from,
            removed,
        });
    }
    Ok(done)
}

/// A stored time for people (UTC, to the minute).
pub fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || "-".into(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// A listed key: never its private half.
pub struct Listed {
    pub purpose: Purpose,
    pub state: KeyState,
    pub generation: i64,
    pub fingerprint: String,
    pub not_after: i64,
    pub active_from: i64,
}

impl Listed {
    /// Whole days until the certificate expires (negative once expired).
    pub fn expires_in_days(&self) -> i64 {
        (self.not_after - now_ms()).div_euclid(DAY_MS)
    }

    pub fn expires(&self) -> String {
        when(self.not_after)
    }
}

/// Every stored key with its state now (`sp-keys list`, the admin UI).
/// Reads rows only: listing needs no secrets key.
pub async fn list(store: &Store) -> Result<Vec<Listed>, StoreError> {
    let rows = store.sp_keys().await?;
    let now = now_ms();
    let mut listed = Vec::new();
    for purpose in Purpose::ALL {
        let mine: Vec<&SpKeyRow> = rows
            .iter()
            .filter(|r| r.purpose == purpose.as_str())
            .collect();
        let states = states_of(mine.iter().map(|r| r.active_from), now);
        listed.extend(states.into_iter().zip(mine).map(|(state, row)| Listed {
            purpose,
            state,
            generation: row.generation,
            fingerprint: row.fingerprint.clone(),
            not_after: row.not_after,
            active_from: row.active_from,
        }));
    }
    Ok(listed)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Keys for unit tests, without a database.
    use super::*;

    /// A signing key and its certificate (base64 DER).
    pub fn key_with_certificate() -> (SpKey, String) {
        let (private_key, der, not_after) = key_pair(Purpose::Signing, "test").unwrap();
        let certificate = STANDARD.encode(&der);
        let key = SpKey {
            purpose: Purpose::Signing,
            generation: 1,
            active_from: 0,
            certificate: certificate.clone(),
            fingerprint: hex::encode(Sha256::digest(&der)),
            not_after,
            private_key,
        };
        (key, certificate)
    }

    pub fn key() -> SpKey {
        key_with_certificate().0
    }

    fn of(purpose: Purpose, generation: i64, active_from: i64) -> Arc<SpKey> {
        let (key, _) = key_with_certificate();
        Arc::new(SpKey {
            purpose,
            generation,
            active_from,
            ..key
        })
    }

    /// Signing: next (gen 2) and current (1); encryption: next (4),
    /// current (3), previous (2), retired (1).
    pub fn key_set() -> KeySet {
        let later = now_ms() + 3_600_000;
        KeySet {
            keys: vec![
                of(Purpose::Encryption, 4, later),
                of(Purpose::Encryption, 3, 2),
                of(Purpose::Encryption, 2, 1),
                of(Purpose::Encryption, 1, 0),
                of(Purpose::Signing, 2, later),
                of(Purpose::Signing, 1, 0),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::key_set;
    use super::*;

    #[test]
    fn states_follow_generations_and_the_clock() {
        let set = key_set();
        let now = now_ms();
        let states = |p| -> Vec<(&str, i64)> {
            set.states(p, now)
                .iter()
                .map(|(s, k)| (s.as_str(), k.generation))
                .collect()
        };
        assert_eq!(
            states(Purpose::Encryption),
            [("next", 4), ("current", 3), ("previous", 2), ("retired", 1)]
        );
        assert_eq!(states(Purpose::Signing), [("next", 2), ("current", 1)]);
        assert_eq!(set.signing(now).unwrap().generation, 1);
        let generations =
            |keys: Vec<Arc<SpKey>>| keys.iter().map(|k| k.generation).collect::<Vec<_>>();
        // Current first, then next (and previous for encryption).
        assert_eq!(generations(set.published(Purpose::Signing, now)), [1, 2]);
        assert_eq!(
            generations(set.published(Purpose::Encryption, now)),
            [3, 4, 2]
        );
        assert_eq!(set.decryption_keys(now).len(), 3);
        // Once the overlap has passed, next is current everywhere at once.
        let later = now + 7_200_000;
        assert_eq!(set.signing(later).unwrap().generation, 2);
        assert_eq!(generations(set.published(Purpose::Signing, later)), [2]);
        assert_eq!(
            generations(set.published(Purpose::Encryption, later)),
            [4, 3]
        );
    }

    fn secrets() -> SecretBox {
        SecretBox::load(&crate::config::SecretsConfig {
            encryption_key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into(),
            key_file: "unused".into(),
        })
        .unwrap()
    }

    fn listed(rows: &[Listed]) -> Vec<(&'static str, &'static str, i64)> {
        rows.iter()
            .map(|l| (l.purpose.as_str(), l.state.as_str(), l.generation))
            .collect()
    }

    #[tokio::test]
    async fn instances_starting_together_share_one_pair_and_rotation_overlaps() {
        let t = crate::store::testing::test_store().await;
        let secrets = secrets();
        let starts: Vec<_> = (0..3)
            .map(|_| {
                let (store, secrets) = (t.store.clone(), secrets.clone());
                tokio::spawn(async move {
                    SpKeys::load(&store, &secrets, "sso.example.com")
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut fingerprints = Vec::new();
        for start in starts {
            let keys = start.await.unwrap();
            fingerprints.push(keys.signing().await.unwrap().fingerprint.clone());
        }
        assert!(
            fingerprints.windows(2).all(|w| w[0] == w[1]),
            "{fingerprints:?}"
        );
        let rows = t.store.sp_keys().await.unwrap();
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter().all(|r| !r.private_key.contains("PRIVATE KEY")),
            "sealed at rest"
        );
        let der = STANDARD.decode(&rows[0].certificate).unwrap();
        let cert = X509::from_der(&der).unwrap();
        let subject = format!(
            "{:?}",
            cert.subject_name()
                .entries()
                .map(|e| e.data().to_string())
                .collect::<Vec<_>>()
        );
        assert!(subject.contains("sso.example.com"), "{subject}");
        assert!(rows[0].not_after > now_ms() + 4 * 365 * DAY_MS);

        let rotate = |purposes: &'static [Purpose], now: bool| {
            let (store, secrets) = (t.store.clone(), secrets.clone());
            async move {
                rotate(
                    &store,
                    &secrets,
                    &Rotation {
                        purposes,
                        now,
                        overlap_hours: 48,
                        host: "sso.example.com",
                    },
                )
                .await
            }
        };
        // Staged: published as next, not used.
        let done = rotate(&[Purpose::Signing], false).await.unwrap();
        assert!(matches!(
            done[..],
            [Rotated::Staged {
                generation: 2,
                removed: 0,
                ..
            }]
        ));
        assert_eq!(
            listed(&list(&t.store).await.unwrap()),
            [
                ("signing", "next", 2),
                ("signing", "current", 1),
                ("encryption", "current", 1)
            ]
        );
        // A second rotation while one is staged: refused, clearly.
        let refused = rotate(&[Purpose::Signing], false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("already staged") && refused.contains("--now"),
            "{refused}"
        );
        // --now promotes the staged key; the former current is previous.
        let done = rotate(&[Purpose::Signing], true).await.unwrap();
        assert!(matches!(
            done[..],
            [Rotated::Promoted { generation: 2, .. }]
        ));
        // Both purposes at once, now: encryption 2 current, 1 previous;
        // signing 3 current, 2 previous, 1 removed.
        rotate(&Purpose::ALL, true).await.unwrap();
        assert_eq!(
            listed(&list(&t.store).await.unwrap()),
            [
                ("signing", "current", 3),
                ("signing", "previous", 2),
                ("encryption", "current", 2),
                ("encryption", "previous", 1)
            ]
        );
        // A fresh instance signs with the new key and decrypts with both.
        let keys = SpKeys::load(&t.store, &secrets, "sso.example.com")
            .await
            .unwrap();
        assert_eq!(keys.signing().await.unwrap().generation, 3);
        assert_eq!(keys.keys().await.decryption_keys(now_ms()).len(), 2);
        let running = keys;

        // A running instance takes a rotation up at its next look, not
        // before (at most every 30 s), without a restart.
        rotate(&Purpose::ALL, true).await.unwrap();
        assert_eq!(running.signing().await.unwrap().generation, 3);
        let running = SpKeys {
            reload: Arc::new(ReloadGate::open_now()),
            ..running
        };
        assert_eq!(running.signing().await.unwrap().generation, 4);
        assert_eq!(
            running
                .keys()
                .await
                .published(Purpose::Encryption, now_ms())
                .len(),
            2
        );
    }
}
