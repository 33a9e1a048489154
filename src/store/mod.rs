//! Storage: one data-access layer over SQLite and PostgreSQL.
//!
//! Every query is written once in the SQL both engines share and runs through
//! sqlx's `Any` driver, so business logic never forks per backend. The few
//! engine differences (connection pragmas, how a write transaction starts)
//! live in this file, and how several statements are sent at once in
//! `script.rs`.

mod api_keys;
mod audit;
mod batches;
mod domains;
mod events;
mod idp_groups;
mod integrations;
mod op;
mod orgs;
mod scim;
mod script;
mod sp_keys;
mod teams;
mod tokens;
mod users;
mod views;
mod webhooks;

pub use api_keys::{ApiKey, SetupLink};
pub use audit::{AuditEvent, AuditFilter, NewAuditEvent};
pub use batches::{Savepoint, Transient};
pub use domains::OrgDomain;
pub use events::{Envelope, Event, EventFilter, NewEvent};
pub use idp_groups::{mapping_facts, MappingFacts, BY_ADMIN, BY_IDP};
pub use integrations::{Integration, Kind};
pub use op::{OpClient, SigningKeyRow, StoredClient};
pub use orgs::Organization;
pub use scim::{CreatesTaken, NewScimMembers, ScimGroupMember, ScimUserRow};
pub use sp_keys::SpKeyRow;
pub use teams::{Team, TeamState};
pub use users::{email_key, Member, MemberTeam, Role, User, UserProfile};
pub use webhooks::{
    NewWebhookEndpoint, WebhookDelivery, WebhookEndpoint, WebhookProgress, STATE_ACTIVE,
    STATE_DISABLED,
};

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Transaction};

use crate::cache::Cache;
use crate::config::DatabaseConfig;
use views::{Versions, Views, VIEW_MAX_AGE};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where write transactions run (`write_tx`): on SQLite one connection
    /// of its own, on PostgreSQL the pool.
    writer: AnyPool,
    backend: Backend,
    /// Members and integrations read recently (see `remember_reads`).
    /// `None`: every read goes to the database.
    remembered: Option<Remembered>,
    /// Counts the events this process commits (`/metrics`), when set.
    events_recorded: Option<prometheus::IntCounter>,
    /// Woken after this process commits events (the webhook worker).
    events_committed: Option<Arc<tokio::sync::Notify>>,
    /// Group commit of writes (`group_write`).
    write_batches: batches::WriteBatches,
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

/// Rows of `sql` for `keys`, a statement per `BATCH` of them: `sql` gets
/// the chunk's `IN (…)` list of parameters, bound after `before`.
async fn fetch_in_chunks<T>(
    conn: &mut sqlx::AnyConnection,
    before: &[&str],
    keys: &[&str],
    sql: impl Fn(&str) -> String,
) -> StoreResult<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let mut out = Vec::new();
    for chunk in keys.chunks(BATCH) {
        let sql = sql(&numbered_parameters(before.len() + 1, chunk.len()));
        let mut query = sqlx::query_as::<_, T>(&sql);
        for value in before.iter().chain(chunk) {
            query = query.bind(*value);
        }
        out.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// `($1, …, $columns), ($columns+1, …), …` for `rows` rows: the VALUES of
/// a multi-row INSERT.
fn numbered_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|i| format!("({})", numbered_parameters(i * columns + 1, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Deletes at most `batch` rows of `table` (whose `id`s are UUIDv7, so
/// they sort by creation time) made before `cutoff` (unix ms), found
/// through the primary key alone; how many went.
async fn delete_oldest(
    pool: &AnyPool,
    table: &'static str,
    cutoff: i64,
    batch: i64,
) -> StoreResult<u64> {
    let done = sqlx::query(&format!(
        "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE id < $1 ORDER BY id LIMIT $2)"
    ))
    .bind(audit::first_uuid_v7_at(cutoff))
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// How many members are remembered (`remember_reads`); a miss is one
/// indexed read.
const MEMBER_VIEWS: u64 = 10_000;

/// How many integrations are remembered: every one a busy process serves.
const INTEGRATION_VIEWS: u64 = 20_000;

/// Members as read, by (organization, user), under their organization's
/// version: every commit that changes what a member read answers moves it.
type MemberViews = Views<(String, String), Option<Member>>;

/// Integrations as read, by id, under `INTEGRATIONS_VERSION`.
type IntegrationViews = Views<String, Option<Integration>>;

fn version_key(org_id: &str) -> String {
    format!("org-version:{org_id}")
}

/// One version for every integration: they change seldom (an admin's edit,
/// a SCIM token, a metadata refresh) and are read by id alone, before the
/// organization is known.
const INTEGRATIONS_VERSION: &str = "integrations-version";

/// What `remember_reads` keeps in this process.
#[derive(Clone)]
struct Remembered {
    versions: Versions,
    members: MemberViews,
    integrations: IntegrationViews,
}

/// A write transaction. Committing it writes the events it emitted, then
/// moves on the version of every organization it changed (and that of the
/// integrations, when it changed one), which is how remembered reads learn
/// of the change.
pub struct Tx {
    inner: Transaction<'static, sqlx::Any>,
    backend: Backend,
    versions: Option<Versions>,
    /// Version keys of what this transaction changed without an event
    /// saying so (`members_changed`, `integrations_changed`); organizations
    /// with events count too.
    changed: BTreeSet<String>,
    /// Lifecycle events of this transaction's changes (`emit`), written
    /// at commit.
    events: Vec<NewEvent>,
    events_recorded: Option<prometheus::IntCounter>,
    events_committed: Option<Arc<tokio::sync::Notify>>,
}

impl Tx {
    /// Marks the organization's members changed by something that emits no
    /// event (every change with an event is seen by `commit` already).
    pub fn members_changed(&mut self, org_id: &str) {
        if self.versions.is_some() {
            self.changed.insert(version_key(org_id));
        }
    }

    /// Marks an integration written (added, edited, removed, its SCIM
    /// token set): every instance reads integrations afresh after commit.
    pub(super) fn integrations_changed(&mut self) {
        if self.versions.is_some() {
            self.changed.insert(INTEGRATIONS_VERSION.to_string());
        }
    }

    /// Every change to what a member read answers (membership, role,
    /// names, teams and their names) emits an event naming its
    /// organization, or is marked with `members_changed`: both end here.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let mut changed = std::mem::take(&mut self.changed);
        if self.versions.is_some() {
            changed.extend(self.events.iter().map(|e| version_key(&e.org_id)));
        }
        let emitted = self.flush_events().await?;
        let result = self.inner.commit().await;
        // Also after a failed commit: whether it reached the database is
        // not known (a connection lost mid-commit may have committed).
        if let Some(versions) = &self.versions {
            versions.move_on(changed).await;
        }
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
        let acquire_timeout = Duration::from_secs(config.acquire_timeout_seconds);
        // A SQLite connection is a file handle in this process: nothing on
        // the far side can drop it, so the test before each acquire (a
        // hand-off to the connection's thread and back, one per read or
        // write batch) finds nothing. A PostgreSQL connection may have been
        // closed by the server; it keeps the test.
        let options = move |max_connections: u32| {
            AnyPoolOptions::new()
                .max_connections(max_connections)
                .test_before_acquire(backend == Backend::Postgres)
                .acquire_timeout(acquire_timeout)
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
                })
        };
        let pool = options(config.max_connections).connect(&url).await?;
        // SQLite has one writer, and a connection drops its whole page cache
        // when another has written since its last transaction: with write
        // transactions taking pool connections in turn, each began cold and
        // read its pages again. One connection for all of them stays warm.
        // A database that is no file (sqlx names `:memory:` anew for each
        // pool) keeps the pool: a second one would be another database.
        let writer = match backend {
            Backend::Sqlite if sqlite_file(&url).is_some() => options(1).connect(&url).await?,
            _ => pool.clone(),
        };
        Ok(Store {
            pool,
            writer,
            backend,
            remembered: None,
            events_recorded: None,
            events_committed: None,
            write_batches: batches::WriteBatches::default(),
        })
    }

    /// Keeps recently read members (for `/auth/verify`, which reads one
    /// per request) and integrations (every SCIM request and sign-in reads
    /// one) in memory, checked against versions in `versions`
    /// (`views.rs`). Exact as long as every instance writing shares that
    /// cache: one process with the in-process cache, or any number on one
    /// Redis.
    pub fn remember_reads(self, versions: Cache) -> Self {
        self.remember_reads_for(versions, VIEW_MAX_AGE)
    }

    fn remember_reads_for(mut self, versions: Cache, max_age: Duration) -> Self {
        self.remembered = Some(Remembered {
            versions: Versions::new(versions),
            members: Views::new(MEMBER_VIEWS, max_age),
            integrations: Views::new(INTEGRATION_VIEWS, max_age),
        });
        self
    }

    /// The cache key of the organization's member version, when members
    /// are remembered: read with the session in one round trip, then
    /// handed to `member_at`.
    pub fn member_version_key(&self, org_id: &str) -> Option<String> {
        self.remembered.as_ref().map(|_| version_key(org_id))
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
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        };
        Ok(Tx {
            inner,
            backend: self.backend,
            versions: self.remembered.as_ref().map(|r| r.versions.clone()),
            changed: BTreeSet::new(),
            events: Vec::new(),
            events_recorded: self.events_recorded.clone(),
            events_committed: self.events_committed.clone(),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// The file path and query of an SQLite URL; `None` when it names no file
/// (`:memory:`, or an empty path: a private temporary database).
fn sqlite_file(url: &str) -> Option<(&str, &str)> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    (!path.is_empty() && path != ":memory:").then_some((path, query))
}

/// Creates the parent folder of an SQLite file and asks sqlx to create the
/// file itself (`mode=rwc`).
fn prepare_sqlite_url(url: &str) -> StoreResult<String> {
    let Some((path, query)) = sqlite_file(url) else {
        return Ok(url.to_string());
    };
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

#[cfg(test)]
mod tests {
    //! Two `Store`s on one database, each with its own remembered members,
    //! are two instances: what one commits, the other must see.
    use super::*;
    use crate::audit::Actor;
    use crate::cache::MemoryCache;
    use crate::provisioning::{
        admit_on_sign_in, create_organization, create_team, deprovision_member, update_team,
        TeamChanges,
    };
    use crate::store::testing::test_store;
    use std::time::Instant;

    /// The version engines to share: in-process, and Redis when the suite
    /// has one.
    async fn shared_caches() -> Vec<Cache> {
        let mut caches = vec![Cache::Memory(MemoryCache::new(1000))];
        if let Ok(url) = std::env::var("SSO_GATEWAY_TEST_REDIS_URL") {
            let config = crate::config::CacheConfig {
                url,
                memory_max_entries: 1000,
            };
            caches.push(Cache::connect(&config).await.unwrap());
        }
        caches
    }

    /// An organization with a team pre-approving corp.com and one member
    /// in it, read once through `a` (so `a` remembers them).
    async fn member_in_a_team(a: &Store) -> (String, String, String) {
        let org = create_organization(a, "Acme", &Actor::Cli)
            .await
            .unwrap()
            .organization;
        let team = create_team(a, &org.id, "Eng", &["corp.com".into()], &Actor::Cli)
            .await
            .unwrap();
        let profile = UserProfile::default();
        let sso = Actor::Sso("x".into());
        let user = admit_on_sign_in(a, &org.id, "dan@corp.com", &profile, &sso)
            .await
            .unwrap()
            .user;
        assert!(a.member(&org.id, &user.id).await.unwrap().is_some());
        (org.id, team.id, user.id)
    }

    fn team_names(m: Option<Member>) -> Vec<String> {
        m.unwrap().teams.into_iter().map(|t| t.name).collect()
    }

    #[tokio::test]
    async fn a_change_committed_by_one_instance_shows_at_the_next_read_on_another() {
        for cache in shared_caches().await {
            let t = test_store().await;
            let a = t.store.clone().remember_reads(cache.clone());
            let b = t.store.clone().remember_reads(cache.clone());
            let (org_id, team_id, user_id) = member_in_a_team(&a).await;
            assert_eq!(
                team_names(a.member(&org_id, &user_id).await.unwrap()),
                ["Eng"]
            );

            let rename = TeamChanges {
                name: Some("Platform".into()),
                ..Default::default()
            };
            update_team(&b, &org_id, &team_id, &rename, &Actor::Cli)
                .await
                .unwrap();
            assert_eq!(
                team_names(a.member(&org_id, &user_id).await.unwrap()),
                ["Platform"],
                "{}",
                cache.engine()
            );

            deprovision_member(&b, &org_id, &user_id, &Actor::Cli)
                .await
                .unwrap();
            assert!(
                a.member(&org_id, &user_id).await.unwrap().is_none(),
                "{}",
                cache.engine()
            );
        }
    }

    /// An integration written through one instance (created, its SCIM
    /// token set and replaced, then deleted) is read afresh by another at
    /// its very next read: a replaced token stops working everywhere at once.
    #[tokio::test]
    async fn an_integration_changed_by_one_instance_shows_at_the_next_read_on_another() {
        for cache in shared_caches().await {
            let t = test_store().await;
            let a = t.store.clone().remember_reads(cache.clone());
            let b = t.store.clone().remember_reads(cache.clone());
            let org = create_organization(&a, "Acme", &Actor::Cli)
                .await
                .unwrap()
                .organization;
            let id = new_id();
            let token = || async {
                a.integration(&id)
                    .await
                    .unwrap()
                    .map(|i| i.scim_token_hash.unwrap_or_default())
            };
            assert_eq!(token().await, None, "not there yet");
            let integration = Integration {
                id: id.clone(),
                org_id: org.id.clone(),
                kind: Kind::Entra,
                name: "Entra ID".into(),
                settings: "{}".into(),
                scim_token_hash: None,
                scim_enabled_at: None,
                created_at: now_ms(),
                updated_at: now_ms(),
            };
            let mut tx = b.write_tx().await.unwrap();
            tx.insert_integration(&integration).await.unwrap();
            tx.commit().await.unwrap();
            assert_eq!(token().await.as_deref(), Some(""), "{}", cache.engine());
            for hash in ["first-token-hash", "second-token-hash"] {
                let mut tx = b.write_tx().await.unwrap();
                assert!(tx.set_scim_token(&org.id, &id, Some(hash)).await.unwrap());
                tx.commit().await.unwrap();
                assert_eq!(token().await.as_deref(), Some(hash), "{}", cache.engine());
            }
            b.replace_integration_settings(&id, r#"{"refreshed":true}"#)
                .await
                .unwrap();
            let settings = a.integration(&id).await.unwrap().unwrap().settings;
            assert_eq!(settings, r#"{"refreshed":true}"#, "{}", cache.engine());
            let mut tx = b.write_tx().await.unwrap();
            assert!(tx.delete_integration(&org.id, &id).await.unwrap());
            tx.commit().await.unwrap();
            assert_eq!(token().await, None, "{}", cache.engine());
        }
    }

    /// A commit whose version could not be moved (modelled by a writer
    /// bumping a cache the reader does not read) shows within the views'
    /// bounded age, not never.
    #[tokio::test]
    async fn an_unmoved_version_is_bounded_by_the_views_age() {
        let t = test_store().await;
        let max_age = Duration::from_millis(300);
        let a = t
            .store
            .clone()
            .remember_reads_for(Cache::Memory(MemoryCache::new(100)), max_age);
        let b = t
            .store
            .clone()
            .remember_reads(Cache::Memory(MemoryCache::new(100)));
        let (org_id, _, user_id) = member_in_a_team(&a).await;
        deprovision_member(&b, &org_id, &user_id, &Actor::Cli)
            .await
            .unwrap();
        let deadline = Instant::now() + max_age;
        while a.member(&org_id, &user_id).await.unwrap().is_some() {
            assert!(
                Instant::now() < deadline,
                "still served past the views' age"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What `Tx::members_changed` marks moves the organization on even
    /// without an event.
    #[tokio::test]
    async fn a_change_without_an_event_moves_the_version_too() {
        let t = test_store().await;
        let cache = Cache::Memory(MemoryCache::new(100));
        let store = t.store.clone().remember_reads(cache.clone());
        let key = version_key("org-1");
        let before = cache.version(&key).await.unwrap();
        let tx = store.write_tx().await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            cache.version(&key).await.unwrap(),
            before,
            "nothing changed"
        );
        let mut tx = store.write_tx().await.unwrap();
        tx.members_changed("org-1");
        tx.commit().await.unwrap();
        assert_eq!(cache.version(&key).await.unwrap(), before + 1);
    }
}
