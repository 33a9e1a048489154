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
pub use scim::{ScimGroupMember, ScimUserRow, Transient};
pub use sp_keys::SpKeyRow;
pub use teams::{Team, TeamState};
pub use users::{email_key, Member, MemberTeam, Role, User, UserProfile};
pub use webhooks::{
    NewWebhookEndpoint, WebhookDelivery, WebhookEndpoint, WebhookProgress, STATE_ACTIVE,
    STATE_DISABLED,
};

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Transaction};

use crate::cache::Cache;
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
    /// Members read recently (see `remember_members`). `None`: every read
    /// goes to the database.
    member_views: Option<MemberViews>,
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

/// How many members `remember_members` keeps; a miss is one indexed read.
const MEMBER_VIEWS: u64 = 10_000;

/// The longest a remembered member is served without a fresh read. Not
/// what keeps views right — the organization's version does that, at the
/// very next request — but the backstop for a version a commit could not
/// move (the cache unreachable from the writing instance just then): its
/// change shows on every instance within this.
const MEMBER_VIEW_MAX_AGE: Duration = Duration::from_secs(5);

/// Members remembered in this process, each tagged with the version of
/// its organization (kept in the cache, so shared by every instance) that
/// was current before it was read. Every commit that can change what a
/// member read answers moves its organization's version on (`Tx::commit`),
/// so a view whose tag is no longer current is read again.
#[derive(Clone)]
struct MemberViews {
    views: moka::sync::Cache<(String, String), MemberView>,
    versions: Cache,
    max_age: Duration,
    /// Organizations whose version a commit could not move: moved with the
    /// next commit's, until then covered by `max_age`.
    unmoved: Arc<Mutex<BTreeSet<String>>>,
}

/// One member as read at `version`. Requests that miss together share
/// the one read (`read` is filled once): a version moving under load
/// costs one database read, not one per request in flight.
#[derive(Clone)]
struct MemberView {
    version: u64,
    read_at: Instant,
    read: Arc<tokio::sync::OnceCell<Option<Member>>>,
}

impl MemberView {
    fn current(&self, version: u64, max_age: Duration) -> bool {
        self.version == version && self.read_at.elapsed() < max_age
    }
}

fn version_key(org_id: &str) -> String {
    format!("org-version:{org_id}")
}

impl MemberViews {
    fn new(versions: Cache, max_age: Duration) -> Self {
        MemberViews {
            views: moka::sync::Cache::builder()
                .max_capacity(MEMBER_VIEWS)
                .build(),
            versions,
            max_age,
            unmoved: Arc::default(),
        }
    }

    /// The organization's current version, read before the member so that
    /// a write committed meanwhile leaves the view tagged out of date.
    /// `None` when the cache cannot say: the caller reads the database and
    /// remembers nothing.
    async fn version(&self, org_id: &str) -> Option<u64> {
        match self.versions.version(&version_key(org_id)).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::debug!(error = %e, "members read fresh: no version");
                None
            }
        }
    }

    /// The member as remembered at `version`, or as `query` reads it now
    /// (once for all who ask at that version meanwhile). A member gone is
    /// remembered as gone, until the version moves.
    async fn read<F>(
        &self,
        org_id: &str,
        user_id: &str,
        version: u64,
        query: impl FnOnce() -> F,
    ) -> StoreResult<Option<Member>>
    where
        F: std::future::Future<Output = StoreResult<Option<Member>>>,
    {
        let key = (org_id.to_string(), user_id.to_string());
        let view = match self.views.get(&key) {
            Some(view) if view.current(version, self.max_age) => view,
            _ => self.view_at(key, version),
        };
        view.read.get_or_try_init(query).await.cloned()
    }

    /// The view of `key` at `version`: the one there when current, else a
    /// new one to read, put there in one step so that concurrent misses
    /// find the same.
    fn view_at(&self, key: (String, String), version: u64) -> MemberView {
        use moka::ops::compute::{CompResult, Op};
        let fresh = || MemberView {
            version,
            read_at: Instant::now(),
            read: Arc::default(),
        };
        let result = self.views.entry(key).and_compute_with(|current| {
            match current.map(|e| e.into_value()) {
                Some(view) if view.current(version, self.max_age) => Op::Nop,
                _ => Op::Put(fresh()),
            }
        });
        match result {
            CompResult::Inserted(e) | CompResult::ReplacedWith(e) | CompResult::Unchanged(e) => {
                e.into_value()
            }
            // Not produced by the closure above (it neither removes nor
            // leaves a key absent); an unshared read is still right.
            CompResult::StillNone(_) | CompResult::Removed(_) => fresh(),
        }
    }

    /// Moves on the versions of `orgs` and of any a previous commit could
    /// not move. Only after the commit: a bump before it would let another
    /// instance read the old rows under the new version, so it would not
    /// spare the bump after, and a failed bump must not undo a commit.
    async fn move_on(&self, mut orgs: BTreeSet<String>) {
        orgs.append(&mut self.unmoved.lock().unwrap_or_else(PoisonError::into_inner));
        let mut failed = BTreeSet::new();
        for org_id in orgs {
            if let Err(e) = self.versions.bump_version(&version_key(&org_id)).await {
                tracing::warn!(org_id, error = %e, "a committed change could not move the organization's version; other instances see it within {} s", self.max_age.as_secs());
                failed.insert(org_id);
            }
        }
        if !failed.is_empty() {
            self.unmoved
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .append(&mut failed);
        }
    }
}

/// A write transaction. Committing it writes the events it emitted, then
/// moves on the version of every organization it changed, which is how
/// remembered member reads learn that the directory changed.
pub struct Tx {
    inner: Transaction<'static, sqlx::Any>,
    member_views: Option<MemberViews>,
    /// Organizations whose members this transaction changed without an
    /// event saying so (`members_changed`); those with events count too.
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
        if self.member_views.is_some() {
            self.changed.insert(org_id.to_string());
        }
    }

    /// Every change to what a member read answers (membership, role,
    /// names, teams and their names) emits an event naming its
    /// organization, or is marked with `members_changed`: both end here.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let mut changed = std::mem::take(&mut self.changed);
        if self.member_views.is_some() {
            changed.extend(self.events.iter().map(|e| e.org_id.clone()));
        }
        let emitted = self.flush_events().await?;
        let result = self.inner.commit().await;
        // Also after a failed commit: whether it reached the database is
        // not known (a connection lost mid-commit may have committed).
        if let Some(views) = &self.member_views {
            views.move_on(changed).await;
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
            member_views: None,
            events_recorded: None,
            events_committed: None,
            scim_batches: scim::ScimBatches::default(),
        })
    }

    /// Keeps recently read members in memory (for `/auth/verify`, which
    /// reads one per request), checked against per-organization versions
    /// in `versions`. Exact as long as every instance writing the directory
    /// shares that cache: one process with the in-process cache, or any
    /// number on one Redis.
    pub fn remember_members(self, versions: Cache) -> Self {
        self.remember_members_for(versions, MEMBER_VIEW_MAX_AGE)
    }

    fn remember_members_for(mut self, versions: Cache, max_age: Duration) -> Self {
        self.member_views = Some(MemberViews::new(versions, max_age));
        self
    }

    /// The cache key of the organization's member version, when members
    /// are remembered: read with the session in one round trip, then
    /// handed to `member_at`.
    pub fn member_version_key(&self, org_id: &str) -> Option<String> {
        self.member_views.as_ref().map(|_| version_key(org_id))
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
            member_views: self.member_views.clone(),
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
            let a = t.store.clone().remember_members(cache.clone());
            let b = t.store.clone().remember_members(cache.clone());
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
            .remember_members_for(Cache::Memory(MemoryCache::new(100)), max_age);
        let b = t
            .store
            .clone()
            .remember_members(Cache::Memory(MemoryCache::new(100)));
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
        let store = t.store.clone().remember_members(cache.clone());
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

    /// Requests that miss at one version share a single database read;
    /// a moved version reads again.
    #[tokio::test]
    async fn requests_missing_together_share_one_read() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let views = MemberViews::new(Cache::Memory(MemoryCache::new(100)), MEMBER_VIEW_MAX_AGE);
        let reads = Arc::new(AtomicUsize::new(0));
        let readers: Vec<_> = (0..16)
            .map(|_| {
                let (views, reads) = (views.clone(), reads.clone());
                tokio::spawn(async move {
                    views
                        .read("org-1", "user-1", 7, || async move {
                            reads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok(None)
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        for r in readers {
            assert!(r.await.unwrap().is_none());
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        let again = reads.clone();
        views
            .read("org-1", "user-1", 8, || async move {
                again.fetch_add(1, Ordering::SeqCst);
                Ok(None)
            })
            .await
            .unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }
}
