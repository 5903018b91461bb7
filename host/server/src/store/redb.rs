//! The embedded store: redb, one table of string keys and byte values in one file.
//!
//! Every write is its own redb transaction, so compare-and-swap and increment (which read and
//! write inside one) are atomic: redb runs one write transaction at a time. Writes commit
//! without waiting for the disk (`Durability::None`) and are made durable in groups by `sync`:
//! one durable commit, with one fsync, covers every write before it, however many requests made
//! them (group commit). redb's durable commit holds its writer lock through the fsync, so a
//! request with others of this process committing behind it leaves the durable commit to the
//! last of them (`Store::sync_in_turn`): one fsync for the queue, not one per request. redb
//! persists commits in order, so a crash keeps a prefix of the writes.
//!
//! A write the disk refuses (full, over a file-size limit, failing) poisons a redb database:
//! every later operation fails until it is reopened. The store then reopens the file at its last
//! durable commit (`reopen`), so reads go on at once, and refuses writes for `WRITE_RETRY` before
//! it tries the disk again. Each refusal is `StoreError::Unavailable` (503 with `Retry-After`)
//! naming the cause. The writes made since the last durable commit are lost with the reopen
//! (unless a durable commit that failed reached the file after all: each write records its
//! count in the file, in its own transaction, so the reopened file says exactly which writes it
//! kept). No request was answered for a lost write, since a request is answered only after a
//! `sync` covering its writes; but one still running may have made or read one. Its writes and
//! its `sync` then fail (`Session`), so that it neither builds on a lost write nor is
//! acknowledged; a request whose writes were all kept is answered as usual. What a request has
//! made or read is tracked in its own view of the store (`Store::session`: a `RedbStore` sharing
//! the database, with a `Session` of its own), which the shell makes for it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use levee_core::store::{Batch, Store, StoreError, parse_counter};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
/// The store's own bookkeeping: `WRITTEN`, the count of the last write, made in the same
/// transaction as the write, so that a reopened file says exactly which writes it kept.
const BOOKKEEPING: TableDefinition<&str, u64> = TableDefinition::new("levee_store");
const WRITTEN: &str = "written";

/// After a write failed on the disk, how long writes are refused before the disk is tried again
/// (a reopen after each failed write would keep reads waiting).
const WRITE_RETRY: Duration = Duration::from_secs(1);

/// How long a sync waits at a time for the durable commit of a request about to write, before
/// it looks again (`Shared::group_commit`); and how long in all before it makes one itself.
const DEFER_STEP: Duration = Duration::from_millis(1);
const DEFER_AT_MOST: Duration = Duration::from_millis(4);

/// How much memory redb keeps the file's pages in unless `store.cache_mib` says otherwise.
/// redb's own default is 1 GiB, and a busy levee grew towards it as its file grew: 444 MiB
/// resident after 41,000 submissions in a minute, against 237 MiB with 64 MiB of cache, at the
/// same rate (BENCHMARKS.md).
pub const DEFAULT_CACHE_MIB: u64 = 64;

/// The page cache `store.cache_mib` asks for, in MiB: `DEFAULT_CACHE_MIB` if unset.
pub fn cache_mib(configured: Option<u64>) -> u64 {
    configured.unwrap_or(DEFAULT_CACHE_MIB)
}

/// `store.cache_mib` in bytes (`cache_mib`), refused if it is 0 or beyond what the machine can
/// address.
pub fn cache_bytes(configured: Option<u64>) -> anyhow::Result<usize> {
    let mib = cache_mib(configured);
    if mib == 0 {
        anyhow::bail!(
            "store.cache_mib is 0: redb needs a cache of at least 1 MiB (the default is {DEFAULT_CACHE_MIB} MiB)"
        );
    }
    mib.checked_mul(1 << 20)
        .and_then(|bytes| usize::try_from(bytes).ok())
        .ok_or_else(|| anyhow::anyhow!("store.cache_mib = {mib} is more memory than this machine can address"))
}

/// A redb database file, as one request sees it: the database and its commit count, shared
/// with every other view (`new_session`), and what this request has done since its last `sync`.
pub struct RedbStore {
    shared: Arc<Shared>,
    session: Mutex<Session>,
}

/// The database file and its bookkeeping, the same for every view.
struct Shared {
    path: PathBuf,
    /// The memory redb keeps the file's pages in, in bytes (`store.cache_mib`).
    cache_bytes: usize,
    /// The open database, or `None` while it cannot be reopened. Every operation holds the read
    /// lock for its whole transaction and a reopen holds the write lock, so no transaction spans
    /// a reopen, and the generation cannot change under one.
    db: RwLock<Option<Database>>,
    commits: GroupCommit,
    /// How long a sync leaves the durable commit to a request about to write: `DEFER_AT_MOST`.
    defer_at_most: Duration,
}

/// How far writes are made, and how far they are durable, counted in commits; and the reopens
/// that lost writes.
#[derive(Default)]
struct CommitCount {
    /// Counted just before each commit, while its write transaction excludes every other.
    written: u64,
    durable: u64,
    /// A durable commit is under way; others wait for it rather than start their own.
    syncing: bool,
    /// How many durable commits (each one flush of the file) the group commit has made.
    durable_commits: u64,
    /// How many times the database was reopened after a failure.
    generation: u64,
    /// `durable` at each reopen, indexed by the generation it ended: the writes of that
    /// generation counted past it were lost.
    durable_at_reopen: Vec<u64>,
    /// The last failure (its cause, and when): writes are refused until `WRITE_RETRY` after it.
    failure: Option<(String, Instant)>,
}

/// The group commit's bookkeeping: `sync` callers wait on `synced` while one of them commits.
#[derive(Default)]
struct GroupCommit {
    count: Mutex<CommitCount>,
    synced: Condvar,
}

/// What one request has done with the store since its last `sync`: enough to tell whether a
/// reopen lost a write it made or read. Each view of the store (`new_session`, which the shell
/// asks for once per request or run of the schedule through `Store::session`) has its own.
#[derive(Clone, Copy, Default)]
struct Session {
    /// The generation of its last operation.
    generation: u64,
    /// The last write it could have seen: one it made, or the last counted when a read ended.
    seen: u64,
    /// A reopen lost a write it had seen.
    lost: bool,
}

/// What an operation needs of the database.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// A read: tried once more after a reopen.
    Read,
    /// A request's write: refused while writes wait for the disk, or if the request lost a write.
    Write,
    /// The group commit, made for every request.
    Commit,
}

/// Why an operation on the database failed.
enum Failure {
    Redb(redb::Error),
    /// levee refused what it found (a counter that is not a number).
    Store(StoreError),
}

/// How one attempt at an operation failed.
enum Failed {
    /// The answer.
    Store(StoreError),
    /// An I/O error poisoned the database in `generation`: it must be reopened.
    Io { generation: u64, cause: String },
}

impl RedbStore {
    /// Opens (or creates) the database at `path` with the default cache.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Self::open_with_cache(path, cache_bytes(None)?)
    }

    /// Opens (or creates) the database at `path`, creating its directory, with a page cache
    /// of `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> anyhow::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
        }
        let db = database_at(path, cache_bytes).with_context(|| {
            format!("open the store {} (is another levee using it? stop it, or use its HTTP API)", path.display())
        })?;
        let written = written_in(&db).with_context(|| format!("read the store {}", path.display()))?;
        let count = CommitCount { written, durable: written, ..CommitCount::default() };
        let shared = Shared {
            path: path.to_owned(),
            cache_bytes,
            db: RwLock::new(Some(db)),
            commits: GroupCommit { count: Mutex::new(count), synced: Condvar::new() },
            defer_at_most: DEFER_AT_MOST,
        };
        let store = RedbStore { shared: Arc::new(shared), session: Mutex::default() };
        store.write(|_| Ok(())).and_then(|()| store.sync()).context("initialise the store")?;
        Ok(store)
    }

    /// Another view of the same database, for another request: a session of its own.
    pub fn new_session(&self) -> RedbStore {
        let generation = self.shared.counted().map(|count| count.generation).unwrap_or_default();
        RedbStore {
            shared: Arc::clone(&self.shared),
            session: Mutex::new(Session { generation, ..Session::default() }),
        }
    }

    fn session_state(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Refuses a write of a request that made or read a write a reopen lost.
    fn refuse_if_lost(&self) -> Result<(), StoreError> {
        let count = self.shared.counted()?;
        match self.track(&count, 0).lost {
            true => Err(lost(count.cause())),
            false => Ok(()),
        }
    }

    /// Brings this view's session up to date, having seen the writes counted up to `seen`.
    fn track(&self, count: &CommitCount, seen: u64) -> Session {
        let mut session = self.session_state();
        session.track(count, seen);
        *session
    }

    /// Runs `change` on the table inside one write transaction, committed without waiting for
    /// the disk; `sync` makes it durable.
    fn write<T>(
        &self,
        change: impl FnOnce(&mut redb::Table<'_, &str, &[u8]>) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let shared = &self.shared;
        let attempt = shared.attempt(Access::Write, |db| {
            // Under the database's read lock, which a reopen waits for: no reopen comes between
            // this check and the write, so a request never builds on a write it lost.
            self.refuse_if_lost()?;
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::None)?;
            let result = {
                let mut table = txn.open_table(RECORDS)?;
                change(&mut table)?
            };
            let written = {
                let mut count = shared.counted()?;
                count.written += 1;
                count.written
            };
            txn.open_table(BOOKKEEPING)?.insert(WRITTEN, written)?;
            txn.commit()?;
            // Only now has the request seen its write: one that failed is not built on.
            self.track(&*shared.counted()?, written);
            shared.writes_again()?;
            Ok(result)
        });
        attempt.map_err(|failed| shared.give_up(failed, Access::Write))
    }

    /// Runs `read` in a read transaction, once more if the database had to be reopened.
    fn read<T>(
        &self,
        read: impl Fn(&redb::ReadOnlyTable<&'static str, &'static [u8]>) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let shared = &self.shared;
        let once = || {
            shared.attempt(Access::Read, |db| {
                let txn = db.begin_read()?;
                let table = txn.open_table(RECORDS)?;
                let value = read(&table)?;
                let count = shared.counted()?;
                self.track(&count, count.written);
                Ok(value)
            })
        };
        match once() {
            Err(Failed::Io { generation, cause }) => {
                shared.reopen(generation, cause);
                once().map_err(|failed| shared.give_up(failed, Access::Read))
            }
            other => other.map_err(|failed| shared.give_up(failed, Access::Read)),
        }
    }
}

impl Shared {
    /// One durable (empty) commit: redb persists every commit before it with it.
    fn durable_commit(&self) -> Result<(), StoreError> {
        let attempt = self.attempt(Access::Commit, |db| {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            Ok(txn.commit()?)
        });
        attempt.map_err(|failed| self.give_up(failed, Access::Commit))
    }

    /// Runs `op` on the database, if `access` is allowed now; an I/O error is handed back for a
    /// reopen.
    fn attempt<T>(&self, access: Access, op: impl FnOnce(&Database) -> Result<T, Failure>) -> Result<T, Failed> {
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let Some(database) = db.as_ref() else {
            drop(db);
            self.open_again().map_err(Failed::Store)?;
            return self.attempt(access, op);
        };
        let generation = self.admit(access).map_err(Failed::Store)?;
        match op(database) {
            Ok(value) => Ok(value),
            Err(Failure::Store(error)) => Err(Failed::Store(error)),
            Err(Failure::Redb(error)) => match io_cause(&error) {
                Some(cause) => Err(Failed::Io { generation, cause }),
                None => Err(Failed::Store(backend(error))),
            },
        }
    }

    /// Whether `access` may go ahead now (in the generation it returns): a write is refused
    /// while writes wait for the disk (and, inside its transaction, if its request lost a write
    /// to a reopen: `RedbStore::refuse_if_lost`).
    fn admit(&self, access: Access) -> Result<u64, StoreError> {
        let count = self.counted()?;
        if access == Access::Write
            && let Some((cause, at)) = &count.failure
            && at.elapsed() < WRITE_RETRY
        {
            return Err(unwritable(cause));
        }
        Ok(count.generation)
    }

    /// The error for an operation that failed; reopens the database if an I/O error poisoned it.
    fn give_up(&self, failed: Failed, access: Access) -> StoreError {
        match failed {
            Failed::Store(error) => error,
            Failed::Io { generation, cause } => {
                let cause = self.reopen(generation, cause);
                match access {
                    Access::Read => StoreError::Unavailable(format!("the store could not read from disk: {cause}")),
                    Access::Write | Access::Commit => unwritable(&cause),
                }
            }
        }
    }

    /// Closes the database, which an I/O error poisoned in `generation`, and opens the file
    /// again at its last durable commit, unless another thread has already. Every write counted
    /// past the last one the file kept is lost. Returns the cause.
    fn reopen(&self, generation: u64, cause: String) -> String {
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        {
            let count = self.commits.count.lock().unwrap_or_else(PoisonError::into_inner);
            if count.generation != generation {
                return count.cause();
            }
        }
        // A poisoned database closes without writing anything; one that the error left usable
        // makes its pending writes durable as it closes. Either way the file says what it kept:
        // a durable commit that failed may still have reached it.
        if let Some(database) = db.take() {
            let _ = database.close();
        }
        *db = self.open_database();
        let kept = db.as_ref().and_then(|database| written_in(database).ok());
        let mut count = self.commits.count.lock().unwrap_or_else(PoisonError::into_inner);
        // Without the file's word (it could not be opened), only durable writes count as kept.
        let durable = kept.unwrap_or(count.durable).min(count.written);
        let lost_writes = count.written - durable;
        count.durable_at_reopen.push(durable);
        count.generation += 1;
        count.resume_at(durable);
        count.failure = Some((cause.clone(), Instant::now()));
        drop(count);
        tracing::error!(
            store = %self.path.display(), %cause, lost_writes,
            "the store could not write to disk; reopened it at its last durable commit (no request was answered for \
             the writes lost), refusing writes for a second before trying again"
        );
        cause
    }

    /// Opens the database again after a reopen could not (at most once per `WRITE_RETRY`).
    fn open_again(&self) -> Result<(), StoreError> {
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if db.is_some() {
            return Ok(());
        }
        let mut count = self.counted()?;
        let cause = count.cause();
        if count.failure.as_ref().is_some_and(|(_, at)| at.elapsed() < WRITE_RETRY) {
            return Err(unopened(&cause));
        }
        count.failure = Some((cause, Instant::now()));
        drop(count);
        *db = self.open_database();
        let Some(database) = db.as_ref() else {
            return Err(unopened(&self.counted().map(|count| count.cause()).unwrap_or_default()));
        };
        // The reopen that could not open the file counted only durable writes as kept; the
        // file may hold more (a failed durable commit that reached it), and says which.
        let kept = written_in(database).map_err(backend)?;
        let mut count = self.counted()?;
        if let Some(durable) = count.durable_at_reopen.last_mut() {
            *durable = (*durable).max(kept);
        }
        let resumed = count.written.max(kept);
        count.resume_at(resumed);
        Ok(())
    }

    /// Opens the file, or records why not.
    fn open_database(&self) -> Option<Database> {
        match database_at(&self.path, self.cache_bytes) {
            Ok(database) => Some(database),
            Err(error) => {
                tracing::error!(store = %self.path.display(), %error, "the store could not be reopened");
                if let Ok(mut count) = self.counted() {
                    count.failure = Some((error.to_string(), Instant::now()));
                }
                None
            }
        }
    }

    /// After a write reached the disk: if writes were failing, they are no longer.
    fn writes_again(&self) -> Result<(), StoreError> {
        if let Some((cause, _)) = self.counted()?.failure.take() {
            tracing::warn!(store = %self.path.display(), %cause, "the store writes to disk again");
        }
        Ok(())
    }

    fn counted(&self) -> Result<MutexGuard<'_, CommitCount>, StoreError> {
        self.commits.count.lock().map_err(|_| StoreError::Backend("redb commit count lock poisoned".into()))
    }

    /// Waits until a durable commit covers the writes counted up to `needed` in `generation`:
    /// joins the one under way if it started late enough, or makes one for everyone waiting.
    /// Once a reopen has ended that generation there is nothing to wait for: the file kept the
    /// writes it kept, and the sessions say whose were lost.
    ///
    /// While `more_writes_coming()` (another request is about to write and then sync), it
    /// waits for that request's durable commit instead of making one, `DEFER_STEP` at a time
    /// and `defer_at_most` in all: redb's durable commit holds the writer lock through its
    /// flush, so a commit made for each request in turn would flush once per request.
    fn group_commit(
        &self,
        needed: u64,
        generation: u64,
        more_writes_coming: &dyn Fn() -> bool,
    ) -> Result<(), StoreError> {
        let mut count = self.counted()?;
        let mut deferred = Duration::ZERO;
        loop {
            if count.generation != generation || count.durable >= needed {
                return Ok(());
            }
            if !count.syncing && deferred < self.defer_at_most && more_writes_coming() {
                count = self
                    .commits
                    .synced
                    .wait_timeout(count, DEFER_STEP)
                    .map_err(|_| StoreError::Backend("redb commit count lock poisoned".into()))?
                    .0;
                deferred += DEFER_STEP;
                continue;
            }
            if !count.syncing {
                count.syncing = true;
                let target = count.written;
                drop(count);
                let committed = self.durable_commit();
                count = self.counted()?;
                count.syncing = false;
                self.commits.synced.notify_all();
                if count.generation == generation {
                    committed?;
                    count.durable = count.durable.max(target);
                    count.durable_commits += 1;
                }
                continue;
            }
            count = self
                .commits
                .synced
                .wait(count)
                .map_err(|_| StoreError::Backend("redb commit count lock poisoned".into()))?;
        }
    }
}

impl CommitCount {
    /// Counts on from `written`, the last write the reopened file holds, all of it durable.
    fn resume_at(&mut self, written: u64) {
        self.written = written;
        self.durable = written;
    }

    fn cause(&self) -> String {
        self.failure.as_ref().map(|(cause, _)| cause.clone()).unwrap_or_else(|| "an earlier write failed".to_owned())
    }
}

impl Session {
    /// Brings the session up to date with `count`, having seen the writes counted up to `seen`:
    /// a reopen since its last operation ended its generation, and it lost a write if it had
    /// seen one past what that generation kept.
    fn track(&mut self, count: &CommitCount, seen: u64) {
        if self.generation != count.generation {
            let durable = count.durable_at_reopen.get(self.generation as usize);
            self.lost |= durable.is_some_and(|&durable| self.seen > durable);
            // What it saw of that generation is durable or lost (and it knows which).
            self.generation = count.generation;
            self.seen = 0;
        }
        self.seen = self.seen.max(seen);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let every_write = self.counted().map(|count| (count.written, count.generation));
        if let Err(error) =
            every_write.and_then(|(written, generation)| self.group_commit(written, generation, &|| false))
        {
            tracing::error!(%error, "the last writes could not be made durable");
        }
    }
}

/// The cause of an error that poisons the database until it is reopened, if it is one.
fn io_cause(error: &redb::Error) -> Option<String> {
    match error {
        redb::Error::Io(error) => Some(error.to_string()),
        redb::Error::PreviousIo | redb::Error::DatabaseClosed => Some("an earlier write failed".to_owned()),
        _ => None,
    }
}

fn unwritable(cause: &str) -> StoreError {
    StoreError::Unavailable(format!("the store could not write to disk: {cause}"))
}

fn unopened(cause: &str) -> StoreError {
    StoreError::Unavailable(format!("the store could not be reopened after a failed write: {cause}"))
}

fn lost(cause: String) -> StoreError {
    StoreError::Unavailable(format!(
        "the store could not write to disk: {cause}; it was reopened at its last durable commit, without a write \
         this request made or read: retry the request"
    ))
}

fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("redb: {error}"))
}

/// `From` each redb error an operation can meet, and levee's own.
macro_rules! failures {
    ($($error:ty),*) => {$(
        impl From<$error> for Failure {
            fn from(error: $error) -> Self {
                Failure::Redb(error.into())
            }
        }
    )*};
}

failures!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Store(error)
    }
}

/// Opens (or creates) the database file with a page cache of `cache_bytes`.
fn database_at(path: &Path, cache_bytes: usize) -> Result<Database, redb::DatabaseError> {
    redb::Builder::new().set_cache_size(cache_bytes).create(path)
}

/// The count of the last write `database` holds (0 for a file without one).
fn written_in(database: &Database) -> Result<u64, redb::Error> {
    let txn = database.begin_read()?;
    let table = match txn.open_table(BOOKKEEPING) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(error) => return Err(error.into()),
    };
    Ok(table.get(WRITTEN)?.map_or(0, |written| written.value()))
}

fn read_value(table: &impl ReadableTable<&'static str, &'static [u8]>, key: &str) -> Result<Option<Vec<u8>>, Failure> {
    Ok(table.get(key)?.map(|value| value.value().to_vec()))
}

impl Store for RedbStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|table| read_value(table, key))
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.read(|table| keys.iter().map(|key| read_value(table, key)).collect())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.write(|table| {
            table.insert(key, value)?;
            Ok(())
        })
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        self.write(|table| {
            for (key, value) in entries {
                table.insert(key.as_str(), value.as_slice())?;
            }
            Ok(())
        })
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.write(|table| {
            table.remove(key)?;
            Ok(())
        })
    }

    fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        self.write(|table| {
            if read_value(table, key)?.as_deref() != current {
                return Ok(false);
            }
            table.insert(key, new)?;
            Ok(true)
        })
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.write(|table| {
            let current = match read_value(table, key)? {
                Some(bytes) => parse_counter(key, &bytes)?,
                None => 0,
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| StoreError::Backend(format!("counter {key} would overflow")))?;
            table.insert(key, next.to_string().as_bytes())?;
            Ok(next)
        })
    }

    /// One write transaction: redb runs one at a time, so the check and the writes are atomic.
    fn atomic_batches(&self) -> bool {
        true
    }

    fn commit_batch(&self, batch: &Batch) -> Result<bool, StoreError> {
        self.write(|table| {
            for (key, expected) in &batch.expected {
                if read_value(table, key)? != *expected {
                    return Ok(false);
                }
            }
            for (key, value) in &batch.writes {
                match value {
                    Some(value) => table.insert(key.as_str(), value.as_slice())?,
                    None => table.remove(key.as_str())?,
                };
            }
            Ok(true)
        })
    }

    /// Waits until a durable commit covers every write this request made or read
    /// (`group_commit`), and fails if a reopen lost one of them. Writes of other requests
    /// still waiting for the disk do not fail it: a request whose own writes are durable is
    /// answered as it is.
    fn sync(&self) -> Result<(), StoreError> {
        self.sync_in_turn(&|| false)
    }

    /// `sync`, leaving the durable commit to a request about to write while there is one
    /// (`group_commit`).
    fn sync_in_turn(&self, more_writes_coming: &dyn Fn() -> bool) -> Result<(), StoreError> {
        let (needed, generation) = {
            let count = self.shared.counted()?;
            (self.track(&count, 0).seen, count.generation)
        };
        let committed = self.shared.group_commit(needed, generation, more_writes_coming);
        let count = self.shared.counted()?;
        // The request's writes are durable or lost now; a new session starts after it.
        let ended = self.track(&count, 0);
        *self.session_state() = Session { generation: count.generation, ..Session::default() };
        if ended.lost {
            return Err(lost(count.cause()));
        }
        committed
    }

    fn session(&self) -> Option<Arc<dyn Store>> {
        Some(Arc::new(self.new_session()))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;
    use std::sync::Arc;

    use levee_core::store::{Store, StoreError};

    use super::{RedbStore, WRITE_RETRY};

    #[test]
    fn synced_writes_survive_reopening_and_concurrent_syncs_share_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("levee.redb");
        let store = Arc::new(RedbStore::open(&path).unwrap());
        let writers: Vec<_> = (0..8)
            .map(|writer| {
                let store = store.new_session();
                std::thread::spawn(move || {
                    for round in 0..50 {
                        store.set(&format!("w{writer}/{round}"), b"v").unwrap();
                        store.sync().unwrap();
                    }
                })
            })
            .collect();
        writers.into_iter().for_each(|writer| writer.join().unwrap());
        let count = store.shared.commits.count.lock().unwrap();
        assert_eq!((count.written, count.durable), (401, 401), "every write counted and made durable");
        drop(count);
        drop(store);
        let reopened = RedbStore::open(&path).unwrap();
        assert_eq!(reopened.get("w7/49").unwrap().as_deref(), Some(&b"v"[..]));
    }

    /// A request whose sync finds another about to write leaves the flush to that request's
    /// sync: one durable commit covers both writes, and both syncs return once it has.
    #[test]
    fn a_sync_with_a_writer_behind_it_leaves_the_flush_to_that_writer() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let mut store = RedbStore::open(&dir.path().join("levee.redb")).unwrap();
        Arc::get_mut(&mut store.shared).expect("not shared yet").defer_at_most = std::time::Duration::from_secs(60);
        let store = Arc::new(store);
        let commits = || store.shared.commits.count.lock().unwrap().durable_commits;
        let before = commits();
        let second_synced = Arc::new(AtomicBool::new(false));
        let (asked, was_asked) = std::sync::mpsc::channel();
        let first = std::thread::spawn({
            let (store, second_synced) = (store.new_session(), Arc::clone(&second_synced));
            move || {
                store.set("first", b"1").unwrap();
                store
                    .sync_in_turn(&|| {
                        let _ = asked.send(());
                        !second_synced.load(Ordering::SeqCst)
                    })
                    .unwrap();
            }
        });
        was_asked
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the first sync asked whether a writer follows");
        let second = store.new_session();
        second.set("second", b"2").unwrap();
        second.sync().unwrap();
        second_synced.store(true, Ordering::SeqCst);
        first.join().unwrap();
        assert_eq!(commits() - before, 1, "one durable commit for both requests");
        let count = store.shared.commits.count.lock().unwrap();
        assert_eq!(count.durable, count.written, "both writes durable");
    }

    #[test]
    fn a_sync_waits_only_for_the_writes_its_request_made_or_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(RedbStore::open(&dir.path().join("levee.redb")).unwrap());
        let (wrote, written) = std::sync::mpsc::channel();
        let (other_wrote, other_written) = std::sync::mpsc::channel::<()>();
        let request = std::thread::spawn({
            let store = store.new_session();
            move || {
                store.set("mine", b"1").unwrap();
                wrote.send(()).unwrap();
                other_written.recv().unwrap();
                store.sync().unwrap();
            }
        });
        written.recv().unwrap();
        // Another request's sync makes the first request's write durable with its own; then it
        // writes again, and the first request's sync has nothing to wait for.
        store.set("another request's", b"2").unwrap();
        store.sync().unwrap();
        store.set("another request's next", b"3").unwrap();
        other_wrote.send(()).unwrap();
        request.join().unwrap();
        let count = store.shared.commits.count.lock().unwrap();
        assert_eq!(
            (count.durable, count.written),
            (count.written - 1, count.written),
            "the first request's sync made no durable commit for the other's last write"
        );
    }

    #[test]
    fn redb_store_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("levee.redb")).unwrap();
        levee_core::store::contract::check_store_contract(&store);
    }

    /// Where `disk_refuses_writes` (the child) keeps its store.
    const CHILD_DIR: &str = "LEVEE_REDB_TEST_DIR";

    /// A write the disk refuses is a 503 naming the cause, loses nothing synced, fails the sync
    /// of a write the reopen lost, and the store writes again once the disk lets it, without a
    /// restart. Real failed writes: `disk_refuses_writes` runs in a child process whose files may
    /// not grow (RLIMIT_FSIZE, so write(2) fails with EFBIG), with SIGXFSZ ignored.
    #[test]
    fn a_write_the_disk_refuses_fails_cleanly_and_the_store_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new("sh")
            .args(["-c", r#"trap '' XFSZ; exec "$@""#, "sh"])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "store::redb::tests::disk_refuses_writes", "--ignored", "--nocapture"])
            .env(CHILD_DIR, dir.path())
            .output()
            .unwrap();
        let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success() && printed.contains("1 passed"), "{printed}");
        println!("{}", printed.lines().find(|line| line.contains("writes synced")).unwrap_or_default());
    }

    /// The child of `a_write_the_disk_refuses_fails_cleanly_and_the_store_recovers`.
    #[test]
    #[ignore = "run by a_write_the_disk_refuses_fails_cleanly_and_the_store_recovers, under a file-size limit"]
    fn disk_refuses_writes() {
        let dir = std::env::var_os(CHILD_DIR).expect("run by its parent test");
        let path = Path::new(&dir).join("levee.redb");
        let store = Arc::new(RedbStore::open(&path).unwrap());
        let synced: Vec<String> = (0..20).map(|index| format!("synced/{index}")).collect();
        synced.iter().for_each(|key| store.set(key, &[7; 1_000]).unwrap());
        store.sync().unwrap();
        limit_file_size(Some(std::fs::metadata(&path).unwrap().len()));

        // A request writes within the file; another's write would grow it and fails; the reopen
        // loses the first request's write, so its sync fails too.
        let runtime = tokio::runtime::Builder::new_multi_thread().max_blocking_threads(1).build().unwrap();
        let (wrote, written) = std::sync::mpsc::channel();
        let (failed, failure_seen) = std::sync::mpsc::channel::<()>();
        let first = runtime.spawn_blocking({
            let store = store.new_session();
            move || {
                store.set("unsynced", b"small").unwrap();
                wrote.send(()).unwrap();
                failure_seen.recv().unwrap();
                store.sync()
            }
        });
        written.recv().unwrap();
        let refused = store.set("too-big", &vec![1; 4 << 20]);
        failed.send(()).unwrap();
        assert_unwritable(refused, "the write that would grow the file");
        assert_unwritable(runtime.block_on(first).unwrap(), "the sync of a write the reopen lost");
        assert_eq!(store.get("unsynced").unwrap(), None, "a write never synced is gone");
        assert_eq!(store.get("too-big").unwrap(), None);
        for key in &synced {
            assert_eq!(store.get(key).unwrap().as_deref(), Some(&[7; 1_000][..]), "{key} was synced");
        }

        // A request that wrote and ended without a sync (it failed) does not fail a later one,
        // even on the same thread (the only blocking thread), when a reopen loses its write: each
        // request has its own session.
        std::thread::sleep(WRITE_RETRY);
        let on_the_blocking_thread = |work: fn(&RedbStore) -> Result<(), StoreError>| {
            let store = store.new_session();
            runtime.block_on(runtime.spawn_blocking(move || (work(&store), std::thread::current().id()))).unwrap()
        };
        let (unsynced, thread) = on_the_blocking_thread(|store| store.set("unsynced", b"small"));
        unsynced.unwrap();
        assert_unwritable(store.set("too-big", &vec![1; 4 << 20]), "the write that would grow the file");
        std::thread::sleep(WRITE_RETRY);
        let (later, later_thread) =
            on_the_blocking_thread(|store| store.set("later", b"small").and_then(|()| store.sync()));
        assert_eq!(later_thread, thread, "the same blocking thread");
        later.expect("a later request writes within the file");
        assert_eq!(store.get("unsynced").unwrap(), None, "a write never synced is gone");

        // Writes and syncs until the file would grow: each synced write stays.
        let mut acknowledged = Vec::new();
        let failure = (0..1_000)
            .map(|index| format!("filling/{index}"))
            .find_map(|key| match store.set(&key, &[3; 16_384]).and_then(|()| store.sync()) {
                Ok(()) => {
                    acknowledged.push(key);
                    None
                }
                Err(error) => Some(error),
            })
            .expect("the file stops growing");
        assert_unwritable(Err(failure), "a write once the file is full");
        for key in synced.iter().chain(&acknowledged) {
            assert!(store.get(key).unwrap().is_some(), "{key} was synced");
        }

        // The limit lifted, the same store writes again.
        limit_file_size(None);
        std::thread::sleep(WRITE_RETRY);
        store.set("after", &vec![5; 4 << 20]).unwrap();
        store.sync().unwrap();
        drop(store);
        let reopened = RedbStore::open(&path).unwrap();
        for key in synced.iter().chain(&acknowledged).chain(&["later".to_owned(), "after".to_owned()]) {
            assert!(reopened.get(key).unwrap().is_some(), "{key} after a restart");
        }
        println!(
            "{} writes synced before the file was full, then refused; written again once lifted",
            acknowledged.len()
        );
    }

    fn assert_unwritable(result: Result<(), StoreError>, what: &str) {
        match result {
            Err(StoreError::Unavailable(message)) => {
                assert!(message.starts_with("the store could not write to disk: File too large"), "{what}: {message}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }

    /// Sets this process's (soft) limit on the size of a file it writes (`None`: none), with
    /// util-linux's prlimit. The hard limit stays, so lifting it needs no privilege.
    fn limit_file_size(bytes: Option<u64>) {
        let limit = bytes.map_or_else(|| "unlimited".to_owned(), |bytes| bytes.to_string());
        let status = Command::new("prlimit")
            .args(["--pid", &std::process::id().to_string(), &format!("--fsize={limit}:")])
            .status()
            .expect("prlimit (util-linux) runs");
        assert!(status.success(), "prlimit --fsize={limit}");
    }
}
