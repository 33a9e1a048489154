//! Storage: one data-access layer over SQLite and PostgreSQL.
//!
//! Every query is written once in the SQL both engines share and runs through
//! sqlx's `Any` driver, so business logic never forks per backend. The few
//! engine differences (connection pragmas, how a write transaction starts)
//! live in this file.

mod api_keys;
mod audit;
mod domains;
mod events;
mod idp_groups;
mod integrations;
mod op;
mod orgs;
mod scim;
mod sp_keys;
mod teams;
mod tokens;
mod users;
mod webhooks;

pub use api_keys::{ApiKey, SetupLink};
pub use audit::{AuditEvent, AuditFilter, NewAuditEvent};
pub use domains::OrgDomain;
pub use events::{Envelope, Event, EventFilter, NewEvent};
pub use idp_groups::{mapping_facts, MappingFacts, BY_ADMIN, BY_IDP};
pub use integrations::{Integration, Kind};
pub use op::{OpClient, SigningKeyRow, StoredClient};
pub use orgs::Organization;
pub use scim::{ScimUserRow, Transient};
pub use sp_keys::SpKeyRow;
pub use teams::{Team, TeamState};
pub use users::{email_key, Member, MemberTeam, Role, User, UserProfile};
pub use webhooks::{
    NewWebhookEndpoint, WebhookDelivery, WebhookEndpoint, WebhookProgress, STATE_ACTIVE,
    STATE_DISABLED,
};

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Transaction};

use crate::config::DatabaseConfig;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Moves on after every write transaction this process commits: a
    /// remembered read tagged with an older version may be out of date.
    version: Arc<AtomicU64>,
    /// Members read recently, each tagged with the `version` it was read
    /// at (see `remember_members`). `None`: every read goes to the database.
    member_views: Option<moka::sync::Cache<(String, String), (u64, Member)>>,
    /// Counts the events this process commits (`/metrics`), when set.
    events_recorded: Option<prometheus::IntCounter>,
    /// Woken after this process commits events (the webhook worker).
    events_committed: Option<Arc<tokio::sync::Notify>>,
    /// Group commit of SCIM writes (`scim_write`).
    scim_batches: scim::ScimBatches,
}

/// Ids (or rows) bound one parameter each per statement: under every
/// engine's parameter limit, and few statements for a long list.
const BATCH: usize = 500;

/// `$first, $first+1, …` for `count` parameters: an `IN (…)` list.
fn numbered_parameters(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many members `remember_members` keeps; a miss is one indexed read.
const MEMBER_VIEWS: u64 = 10_000;

/// A write transaction. Committing it writes the events it emitted, then
/// moves the store's version on, which is how remembered reads learn that
/// the directory changed.
pub struct Tx {
    inner: Transaction<'static, sqlx::Any>,
    version: Arc<AtomicU64>,
    /// Lifecycle events of this transaction's changes (`emit`), written
    /// at commit.
    events: Vec<NewEvent>,
    events_recorded: Option<prometheus::IntCounter>,
    events_committed: Option<Arc<tokio::sync::Notify>>,
}

impl Tx {
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let emitted = self.flush_events().await?;
        let result = self.inner.commit().await;
        // Also after a failed commit: whether it reached the database is
        // not known (a connection lost mid-commit may have committed).
        self.version.fetch_add(1, Ordering::AcqRel);
        if let (Ok(()), Some(counter)) = (&result, &self.events_recorded) {
            counter.inc_by(emitted);
        }
        if let (Ok(()), true, Some(notify)) = (&result, emitted > 0, &self.events_committed) {
            notify.notify_one();
        }
        result
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }
}

impl std::ops::Deref for Tx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is overloaded: worth a 503 and a retry.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A uniqueness rule was hit (duplicate name, email …).
    #[error("conflict with an existing record")]
    Conflict,
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            sqlx::Error::Database(db) if is_transient(db.code().as_deref()) => {
                StoreError::Unavailable(e)
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            _ => StoreError::Other(e),
        }
    }
}

/// Errors that mean "the database is not there right now", worth a 503 and
/// a retry: SQLite BUSY/LOCKED; PostgreSQL connection exceptions (08),
/// insufficient resources (53, e.g. too many connections), operator
/// intervention (57, shutdown), a database not accepting connections (55000)
/// and serialization/deadlock failures.
fn is_transient(code: Option<&str>) -> bool {
    match code {
        Some("5") | Some("6") | Some("517") | Some("261") => true,
        Some(c) => {
            ["08", "53", "57"].iter().any(|class| c.starts_with(class))
                || ["55000", "40001", "40P01"].contains(&c)
        }
        None => false,
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Milliseconds since the Unix epoch: the unit of every stored time.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Store {
    /// Opens the pool (creating an SQLite file and its folder when needed).
    pub async fn connect(config: &DatabaseConfig) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = if config.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(&config.url)?,
            Backend::Postgres => config.url.clone(),
        };
        let options = AnyPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(Duration::from_secs(config.acquire_timeout_seconds))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers proceed during a write; the busy
                        // timeout makes writers queue instead of failing.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            });
        let pool = options.connect(&url).await?;
        Ok(Store {
            pool,
            backend,
            version: Arc::new(AtomicU64::new(0)),
            member_views: None,
            events_recorded: None,
            events_committed: None,
            scim_batches: scim::ScimBatches::default(),
        })
    }

    /// Keeps recently read members in memory (for `/auth/verify`, which
    /// reads one per request). Exact only while this process makes every
    /// write to the directory, i.e. a single instance: the in-process
    /// cache's deployment. Instances sharing a database must not use it —
    /// another instance's deprovisioning would go unseen.
    pub fn remember_members(mut self) -> Self {
        self.member_views = Some(
            moka::sync::Cache::builder()
                .max_capacity(MEMBER_VIEWS)
                .build(),
        );
        self
    }

    /// Counts committed events into `counter`.
    pub fn count_events(mut self, counter: prometheus::IntCounter) -> Self {
        self.events_recorded = Some(counter);
        self
    }

    /// Wakes `notify` (one waiter, or the next to wait) after every commit
    /// that recorded events.
    pub fn notify_events(mut self, notify: Arc<tokio::sync::Notify>) -> Self {
        self.events_committed = Some(notify);
        self
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => StoreError::from(e),
            other => StoreError::Other(sqlx::Error::Migrate(Box::new(other))),
        })
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// A transaction that will write. SQLite takes its write lock up front so
    /// concurrent writers wait on the busy timeout instead of failing midway.
    pub async fn write_tx(&self) -> StoreResult<Tx> {
        let inner = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx {
            inner,
            version: self.version.clone(),
            events: Vec::new(),
            events_recorded: self.events_recorded.clone(),
            events_committed: self.events_committed.clone(),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates the parent folder of an SQLite file and asks sqlx to create the
/// file itself (`mode=rwc`).
fn prepare_sqlite_url(url: &str) -> StoreResult<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" {
        return Ok(url.to_string());
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
    }
    let mut url = format!("sqlite://{path}");
    if query.is_empty() {
        url.push_str("?mode=rwc");
    } else if query.contains("mode=") {
        url.push('?');
        url.push_str(query);
    } else {
        url.push_str("?mode=rwc&");
        url.push_str(query);
    }
    Ok(url)
}

/// Creates an empty PostgreSQL database with a random name next to the one
/// `admin_url` points at, and returns its URL. Tests and benchmarks use it
/// to get a clean database each.
#[doc(hidden)]
pub async fn create_scratch_database(admin_url: &str) -> Result<String, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = AnyPool::connect(admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await?;
    admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').unwrap_or((admin_url, ""));
    Ok(format!("{base}/{name}"))
}

#[cfg(test)]
pub(crate) mod testing {
    //! A real database per unit test: a temp SQLite file, or a fresh
    //! PostgreSQL database when `SSO_GATEWAY_TEST_POSTGRES_URL` is set.
    use super::*;

    pub struct TestStore {
        pub store: Store,
        _dir: tempfile::TempDir,
    }

    pub async fn test_store() -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        let url = match std::env::var("SSO_GATEWAY_TEST_POSTGRES_URL") {
            Ok(admin_url) => fresh_postgres_database(&admin_url).await,
            Err(_) => format!("sqlite://{}/test.db", dir.path().display()),
        };
        let config = DatabaseConfig {
            url,
            max_connections: 5,
            acquire_timeout_seconds: 5,
        };
        let store = Store::connect(&config).await.unwrap();
        store.migrate().await.unwrap();
        TestStore { store, _dir: dir }
    }

    async fn fresh_postgres_database(admin_url: &str) -> String {
        create_scratch_database(admin_url).await.unwrap()
    }
}
