//! The OpenID Provider's records: the product's apps (clients) and the
//! generations of ID-token signing keys.

use serde::Serialize;

use super::{now_ms, Store, StoreError, StoreResult};

/// A registered client as lists show it: never its secret.
#[derive(Debug, Clone, Serialize)]
pub struct OpClient {
    pub id: String,
    pub name: String,
    /// Whether the client has no secret (and so must use PKCE S256).
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A client and the SHA-256 of its secret (`None` for a public client).
pub struct StoredClient {
    pub client: OpClient,
    pub secret_hash: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    name: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    created_at: i64,
}

impl ClientRow {
    fn into_stored(self) -> StoreResult<StoredClient> {
        // Written by `insert_op_client` only, so unreadable lists mean a
        // damaged row: an error, not an empty list that would refuse quietly.
        let list = |json: &str| {
            serde_json::from_str::<Vec<String>>(json)
                .map_err(|e| StoreError::Other(sqlx::Error::Decode(Box::new(e))))
        };
        Ok(StoredClient {
            client: OpClient {
                public: self.secret_hash.is_none(),
                redirect_uris: list(&self.redirect_uris)?,
                post_logout_redirect_uris: list(&self.post_logout_redirect_uris)?,
                id: self.id,
                name: self.name,
                created_at: self.created_at,
            },
            secret_hash: self.secret_hash,
        })
    }
}

const CLIENT_COLUMNS: &str =
    "id, name, secret_hash, redirect_uris, post_logout_redirect_uris, created_at";

/// One generation of signing key, its private half still sealed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRow {
    pub generation: i64,
    pub kid: String,
    pub private_key: String,
    pub public_jwk: String,
    pub created_at: i64,
}

impl Store {
    pub async fn op_clients(&self) -> StoreResult<Vec<OpClient>> {
        let rows: Vec<ClientRow> = sqlx::query_as(&format!(
            "SELECT {CLIENT_COLUMNS} FROM op_clients ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| r.into_stored().map(|s| s.client))
            .collect()
    }

    pub async fn op_client(&self, id: &str) -> StoreResult<Option<StoredClient>> {
        let row: Option<ClientRow> = sqlx::query_as(&format!(
            "SELECT {CLIENT_COLUMNS} FROM op_clients WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ClientRow::into_stored).transpose()
    }

    pub async fn insert_op_client(
        &self,
        client: &OpClient,
        secret_hash: Option<&str>,
    ) -> StoreResult<()> {
        let json = |list: &[String]| serde_json::to_string(list).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO op_clients (id, name, secret_hash, redirect_uris, \
             post_logout_redirect_uris, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&client.id)
        .bind(&client.name)
        .bind(secret_hash)
        .bind(json(&client.redirect_uris))
        .bind(json(&client.post_logout_redirect_uris))
        .bind(client.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// False when there is no such client.
    pub async fn delete_op_client(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM op_clients WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every key generation, newest first.
    pub async fn op_signing_keys(&self) -> StoreResult<Vec<SigningKeyRow>> {
        Ok(sqlx::query_as(
            "SELECT generation, kid, private_key, public_jwk, created_at \
             FROM op_signing_keys ORDER BY generation DESC",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The newest generation, if any key exists.
    pub async fn op_current_signing_key(&self) -> StoreResult<Option<SigningKeyRow>> {
        Ok(sqlx::query_as(
            "SELECT generation, kid, private_key, public_jwk, created_at \
             FROM op_signing_keys ORDER BY generation DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Stores a key as generation `generation`; false when another
    /// instance stored that generation first (the caller re-reads).
    pub async fn insert_op_signing_key(
        &self,
        generation: i64,
        kid: &str,
        sealed_private_key: &str,
        public_jwk: &str,
    ) -> StoreResult<bool> {
        let inserted = sqlx::query(
            "INSERT INTO op_signing_keys (generation, kid, private_key, public_jwk, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(generation)
        .bind(kid)
        .bind(sealed_private_key)
        .bind(public_jwk)
        .bind(now_ms())
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) => match StoreError::from(e) {
                StoreError::Conflict => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Drops generations below `generation` (keys no token can need).
    pub async fn delete_op_signing_keys_below(&self, generation: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM op_signing_keys WHERE generation < $1")
            .bind(generation)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
