//! ID-token signing keys: RS256 pairs kept in the database (the private
//! half sealed with the secrets key) so every instance signs with the same
//! ones. The highest generation signs; `sso-gateway op-keys rotate` adds a
//! generation, and the one before stays in `/oauth2/jwks` until every token
//! it can have signed has expired.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use josekit::jwk::KeyPair;
use josekit::jws::alg::rsassa::RsassaJwsSigner;
use josekit::jws::{JwsHeader, RS256};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value};

use super::{OpError, OpResult};
use crate::config::OpConfig;
use crate::secrets::SecretBox;
use crate::store::{now_ms, SigningKeyRow, Store};

/// How often an instance looks for a newer generation (another instance or
/// the CLI may have rotated): a rotation takes effect everywhere within this.
const RELOAD_MS: i64 = 30_000;
/// Relying parties' clocks may run behind ours.
const CLOCK_MARGIN_MS: i64 = 60_000;
const KEY_BITS: u32 = 2048;

/// The key this instance signs with: parsed once, used for every token.
struct Current {
    generation: i64,
    signer: RsassaJwsSigner,
}

/// Signs ID tokens; cheap to clone.
#[derive(Clone)]
pub struct Keys {
    store: Store,
    secrets: SecretBox,
    current: Arc<RwLock<Arc<Current>>>,
    reload: Arc<ReloadGate>,
}

/// When a process looks in the database for keys another instance or the
/// CLI rotated in: at most every 30 s, by the one caller that moves the
/// gate on (the rest carry on with the keys in hand). Shared by the OP's
/// keys and the SAML SP's (`saml::keys`).
pub(crate) struct ReloadGate {
    /// Unix ms after which the next caller looks.
    next_check: AtomicI64,
}

impl ReloadGate {
    pub(crate) fn new() -> Self {
        ReloadGate {
            next_check: AtomicI64::new(now_ms() + RELOAD_MS),
        }
    }

    /// A gate the next caller passes at once (tests of the reload).
    #[cfg(test)]
    pub(crate) fn open_now() -> Self {
        ReloadGate {
            next_check: AtomicI64::new(0),
        }
    }

    /// True for exactly one caller once the interval has passed.
    pub(crate) fn due(&self) -> bool {
        let now = now_ms();
        let due = self.next_check.load(Ordering::Acquire);
        now >= due
            && self
                .next_check
                .compare_exchange(due, now + RELOAD_MS, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }
}

/// Fills a value behind a lock, whatever a panicking writer left (the
/// value is replaced whole, so it is never half-written).
pub(crate) fn replace<T>(lock: &RwLock<Arc<T>>, value: T) {
    let mut guard = match lock.write() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    *guard = Arc::new(value);
}

/// The value behind a lock, as [`replace`] left it.
pub(crate) fn read<T>(lock: &RwLock<Arc<T>>) -> Arc<T> {
    match lock.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

fn jose(e: josekit::JoseError) -> OpError {
    OpError::Key(e.to_string())
}

/// A fresh key pair: (kid, PKCS#8 PEM of the private key, public JWK).
fn generate() -> OpResult<(String, String, String)> {
    let pair = RS256.generate_key_pair(KEY_BITS).map_err(jose)?;
    let kid = uuid::Uuid::new_v4().simple().to_string();
    let pem = String::from_utf8(pair.to_pem_private_key())
        .map_err(|_| OpError::Key("the generated key's PEM is not text".into()))?;
    let mut jwk = pair.to_jwk_public_key();
    jwk.set_key_id(&kid);
    jwk.set_key_use("sig");
    jwk.set_algorithm("RS256");
    Ok((kid, pem, jwk.to_string()))
}

fn open(secrets: &SecretBox, row: &SigningKeyRow) -> OpResult<Current> {
    let pem = secrets.open(&row.private_key)?;
    let mut signer = RS256.signer_from_pem(pem.as_bytes()).map_err(jose)?;
    signer.set_key_id(&row.kid);
    Ok(Current {
        generation: row.generation,
        signer,
    })
}

/// Stores generation `generation`; false when another instance or
/// command stored it first.
async fn insert_generation(store: &Store, secrets: &SecretBox, generation: i64) -> OpResult<bool> {
    let (kid, pem, jwk) = tokio::task::spawn_blocking(generate)
        .await
        .map_err(|e| OpError::Key(format!("key generation stopped: {e}")))??;
    let sealed = secrets.seal(&pem)?;
    Ok(store
        .insert_op_signing_key(generation, &kid, &sealed, &jwk)
        .await?)
}

impl Keys {
    /// The current key, generating the first one when there is none. Two
    /// instances starting together both try generation 1; one insert wins
    /// and both then use the winner's key.
    pub async fn load(store: &Store, secrets: &SecretBox) -> OpResult<Keys> {
        let row = loop {
            if let Some(row) = store.op_current_signing_key().await? {
                break row;
            }
            insert_generation(store, secrets, 1).await?;
        };
        Ok(Keys {
            current: Arc::new(RwLock::new(Arc::new(open(secrets, &row)?))),
            store: store.clone(),
            secrets: secrets.clone(),
            reload: Arc::new(ReloadGate::new()),
        })
    }

    fn current(&self) -> Arc<Current> {
        read(&self.current)
    }

    /// Takes up a newer generation if one was stored since the last look.
    async fn refresh(&self) {
        if !self.reload.due() {
            return;
        }
        let newer = match self.store.op_current_signing_key().await {
            Ok(Some(row)) if row.generation > self.current().generation => row,
            Ok(_) => return,
            Err(e) => {
                // The key in hand is still published: keep signing with it.
                tracing::warn!(error = %e, "could not look for a newer OP signing key");
                return;
            }
        };
        match open(&self.secrets, &newer) {
            Ok(current) => replace(&self.current, current),
            Err(e) => tracing::error!(error = %e, "a newer OP signing key cannot be opened"),
        }
    }

    /// A signed JWT (RS256, `kid` of the current key) of these claims: one
    /// RSA signature, nothing else costly.
    pub async fn sign(&self, claims: Map<String, Value>) -> OpResult<String> {
        self.refresh().await;
        let current = self.current();
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        let payload = JwtPayload::from_map(claims).map_err(jose)?;
        jwt::encode_with_signer(&payload, &header, &current.signer).map_err(jose)
    }
}

/// How long after its successor appeared a key stays published: the
/// longest an instance may still sign with it, plus the tokens' lifetime.
fn overlap_ms(config: &OpConfig) -> i64 {
    RELOAD_MS + CLOCK_MARGIN_MS + config.id_token_seconds as i64 * 1000
}

/// The generations to publish, newest first: the current one, and each
/// older one whose successor is younger than the overlap.
fn published(rows: Vec<SigningKeyRow>, config: &OpConfig, now: i64) -> Vec<SigningKeyRow> {
    let mut successor_created: Option<i64> = None;
    let mut keep = Vec::new();
    for row in rows {
        let live = successor_created.is_none_or(|at| now < at + overlap_ms(config));
        successor_created = Some(row.created_at);
        if !live {
            break;
        }
        keep.push(row);
    }
    keep
}

/// The JWK set `/oauth2/jwks` serves. Read from the database each time, so
/// a key another instance just rotated in is published everywhere at once.
pub async fn jwks(store: &Store, config: &OpConfig) -> OpResult<Value> {
    let keys: Vec<Value> = published(store.op_signing_keys().await?, config, now_ms())
        .into_iter()
        .filter_map(|row| serde_json::from_str(&row.public_jwk).ok())
        .collect();
    Ok(serde_json::json!({ "keys": keys }))
}

/// The published public keys by `kid`, to check an `id_token_hint` with.
pub async fn verifier_for(
    store: &Store,
    config: &OpConfig,
    kid: &str,
) -> OpResult<Option<josekit::jws::alg::rsassa::RsassaJwsVerifier>> {
    let Some(row) = published(store.op_signing_keys().await?, config, now_ms())
        .into_iter()
        .find(|row| row.kid == kid)
    else {
        return Ok(None);
    };
    let jwk = josekit::jwk::Jwk::from_bytes(row.public_jwk.as_bytes()).map_err(jose)?;
    Ok(Some(RS256.verifier_from_jwk(&jwk).map_err(jose)?))
}

/// What a rotation did: the new key's id and how many retired keys went.
pub struct Rotated {
    pub kid: String,
    pub generation: i64,
    pub removed: u64,
}

/// `sso-gateway op-keys rotate`: a new generation signs from now on (each
/// instance takes it up within 30 s); keys no token can need any more are
/// deleted.
pub async fn rotate(store: &Store, secrets: &SecretBox, config: &OpConfig) -> OpResult<Rotated> {
    let next = store
        .op_current_signing_key()
        .await?
        .map_or(1, |row| row.generation + 1);
    if !insert_generation(store, secrets, next).await? {
        return Err(OpError::Key(
            "another rotation stored a key at the same moment; run it again".into(),
        ));
    }
    let rows = store.op_signing_keys().await?;
    let kid = rows.first().map(|row| row.kid.clone()).unwrap_or_default();
    let oldest_published = published(rows, config, now_ms())
        .last()
        .map_or(next, |row| row.generation);
    let removed = store.delete_op_signing_keys_below(oldest_published).await?;
    Ok(Rotated {
        kid,
        generation: next,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(generation: i64, created_at: i64) -> SigningKeyRow {
        SigningKeyRow {
            generation,
            kid: format!("k{generation}"),
            private_key: String::new(),
            public_jwk: String::new(),
            created_at,
        }
    }

    #[test]
    fn the_previous_key_is_published_until_its_tokens_expired() {
        let config = OpConfig {
            code_seconds: 60,
            id_token_seconds: 3600,
            access_token_seconds: 3600,
        };
        let overlap = overlap_ms(&config);
        let now = 10_000_000_000;
        let gens = |rows: Vec<SigningKeyRow>| -> Vec<i64> {
            published(rows, &config, now)
                .iter()
                .map(|r| r.generation)
                .collect()
        };
        // Rotated a minute ago: both; rotated long ago: the current only.
        assert_eq!(gens(vec![row(2, now - 60_000), row(1, 0)]), vec![2, 1]);
        assert_eq!(gens(vec![row(2, now - overlap - 1), row(1, 0)]), vec![2]);
        // Two quick rotations keep all three; the oldest goes with its successor's age.
        assert_eq!(
            gens(vec![row(3, now - 10), row(2, now - 20), row(1, 0)]),
            vec![3, 2, 1]
        );
        assert_eq!(
            gens(vec![row(3, now - 10), row(2, now - overlap - 5), row(1, 0)]),
            vec![3, 2]
        );
        assert_eq!(gens(vec![row(1, 0)]), vec![1]);
    }

    #[tokio::test]
    async fn instances_starting_together_share_one_key_and_rotation_adds_one() {
        let t = crate::store::testing::test_store().await;
        let secrets = SecretBox::load(&crate::config::SecretsConfig {
            encryption_key: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into(),
            key_file: "unused".into(),
        })
        .unwrap();
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let (store, secrets) = (t.store.clone(), secrets.clone());
                tokio::spawn(async move { Keys::load(&store, &secrets).await.unwrap() })
            })
            .collect();
        let mut generations = Vec::new();
        for start in starts {
            generations.push(start.await.unwrap().current().generation);
        }
        assert_eq!(generations, vec![1; 4]);
        let rows = t.store.op_signing_keys().await.unwrap();
        assert_eq!(rows.len(), 1);
        assert!(
            !rows[0].private_key.contains("PRIVATE KEY"),
            "sealed at rest"
        );

        let config = OpConfig {
            code_seconds: 60,
            id_token_seconds: 3600,
            access_token_seconds: 3600,
        };
        let rotated = rotate(&t.store, &secrets, &config).await.unwrap();
        assert_eq!((rotated.generation, rotated.removed), (2, 0));
        let published = jwks(&t.store, &config).await.unwrap();
        let kids: Vec<&str> = published["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, vec![rotated.kid.as_str(), rows[0].kid.as_str()]);
    }

    #[test]
    fn a_generated_key_signs_tokens_its_public_half_verifies() {
        let (kid, pem, jwk) = generate().unwrap();
        let sealed_row = SigningKeyRow {
            generation: 1,
            kid: kid.clone(),
            private_key: String::new(),
            public_jwk: jwk.clone(),
            created_at: 0,
        };
        let mut signer = RS256.signer_from_pem(pem.as_bytes()).unwrap();
        signer.set_key_id(&sealed_row.kid);
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::from("u1"));
        let payload = JwtPayload::from_map(claims).unwrap();
        let token = jwt::encode_with_signer(&payload, &JwsHeader::new(), &signer).unwrap();
        let public = josekit::jwk::Jwk::from_bytes(jwk.as_bytes()).unwrap();
        assert_eq!(public.key_id(), Some(kid.as_str()));
        assert!(public.parameter("d").is_none(), "no private part published");
        let verifier = RS256.verifier_from_jwk(&public).unwrap();
        let (decoded, header) = jwt::decode_with_verifier(&token, &verifier).unwrap();
        assert_eq!(decoded.subject(), Some("u1"));
        assert_eq!(header.key_id(), Some(kid.as_str()));
        assert_eq!(header.algorithm(), Some("RS256"));
    }
}
