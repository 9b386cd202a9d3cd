//! Import jobs: a file's dry run and its application run as background tasks the page polls
//! for progress. A preview lost to a restart is uploaded again: nothing is written until a
//! person applies.
//!
//! Memory stays bounded however many clients upload at once: an upload is admitted before its
//! body is read ([`ImportJobs::admit`]), the body streams to a spool file on disk (0600, in the
//! data folder) instead of into memory, and files are parsed one at a time (parsing holds the
//! file and several times its size in records, and takes a core anyway). A previewed job keeps
//! only its spool file and its preview; applying parses the file again. Jobs live for an hour.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rekey_core::Rekey;
use rekey_core::audit::Actor;
use rekey_core::inventory::import::{self, ImportFormat, Problems, Progress};
use rekey_core::inventory::import_report::{JobState, JobView};
use tokio::sync::{Semaphore, watch};

const KEEP_FOR: Duration = Duration::from_secs(3600);
/// Jobs kept (their spool files on disk); the oldest settled one makes room.
const MAX_JOBS: usize = 32;
/// Uploads arriving or waiting for their preview at once; more are told to come back (503).
const MAX_IN_PROGRESS: usize = 8;
/// Imports one identity may have in progress (409 beyond); a new upload makes room by dropping
/// that identity's oldest settled one.
const PER_IDENTITY: usize = 2;

struct Job {
    owner: Actor,
    format: ImportFormat,
    bytes: u64,
    started: Instant,
    progress: Arc<Progress>,
    state: watch::Sender<JobState>,
    /// The spooled upload, until it is applied or the job goes.
    spool: Mutex<Option<PathBuf>>,
}

impl Job {
    fn view(&self, id: u64) -> JobView {
        let (phase, done, total) = self.progress.snapshot();
        JobView {
            id,
            format: self.format,
            bytes: self.bytes,
            phase,
            done,
            total,
            state: self.state.borrow().clone(),
        }
    }

    fn take_spool(&self) -> Option<PathBuf> {
        lock(&self.spool).take()
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(path) = self.take_spool() {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub struct ImportJobs {
    next: AtomicU64,
    jobs: Mutex<HashMap<u64, Arc<Job>>>,
    /// Uploads admitted whose bodies are still arriving: they count as in progress.
    arriving: Mutex<Vec<Actor>>,
    /// One file is parsed at a time, for a preview or an apply.
    parsing: Semaphore,
    /// The thread that parses. One thread, not the blocking pool: the allocator keeps an arena
    /// per thread, and a parse's few hundred MB freed in one thread's arena are what the next
    /// parse reuses; spread over the pool's threads, every arena kept its own peak (measured:
    /// 2.4 GB after 16 files of 48 MB, against 0.65 GB for one).
    parser: std::sync::mpsc::Sender<ParseRequest>,
    spool_dir: PathBuf,
}

type Parsed = Result<import::ImportFile, Problems>;

struct ParseRequest {
    format: ImportFormat,
    bytes: Vec<u8>,
    progress: Arc<Progress>,
    reply: tokio::sync::oneshot::Sender<Parsed>,
}

fn start_parser() -> std::sync::mpsc::Sender<ParseRequest> {
    let (tx, rx) = std::sync::mpsc::channel::<ParseRequest>();
    let started = std::thread::Builder::new()
        .name("import-parser".into())
        .spawn(move || {
            for request in rx {
                let parsed = import::read(request.format, &request.bytes, &request.progress);
                drop(request.bytes);
                let _ = request.reply.send(parsed);
            }
        });
    if let Err(e) = started {
        tracing::error!(error = %e, "cannot start the import parser thread; uploads will fail");
    }
    tx
}

impl std::fmt::Debug for ImportJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImportJobs")
    }
}

/// A place for one more import, taken before its body is read (so a refused upload's 50 MB
/// are never buffered) and handed to [`ImportJobs::preview`].
pub struct Admission {
    jobs: Arc<ImportJobs>,
    owner: Actor,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut arriving = lock(&self.jobs.arriving);
        if let Some(i) = arriving.iter().position(|a| *a == self.owner) {
            arriving.remove(i);
        }
    }
}

impl Admission {
    /// Where this upload's body goes.
    pub fn spool_path(&self) -> PathBuf {
        self.jobs.spool_dir.join(format!(
            "upload-{}.part",
            self.jobs.next.fetch_add(1, Ordering::Relaxed) + 1
        ))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ImportJobs {
    /// Jobs spooling to `spool_dir` (created 0700); files left by an earlier run go, as their
    /// jobs did.
    pub fn new(spool_dir: PathBuf) -> Self {
        let _ = std::fs::remove_dir_all(&spool_dir);
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        if let Err(e) = builder.create(&spool_dir) {
            tracing::error!(dir = %spool_dir.display(), error = %e, "cannot create the import spool folder; uploads will fail");
        }
        Self {
            next: AtomicU64::new(0),
            jobs: Mutex::default(),
            arriving: Mutex::default(),
            parsing: Semaphore::new(1),
            parser: start_parser(),
            spool_dir,
        }
    }

    fn get(&self, id: u64, owner: &Actor) -> Option<Arc<Job>> {
        // Another person's job is "not found": its file is theirs.
        lock(&self.jobs)
            .get(&id)
            .filter(|j| &j.owner == owner)
            .cloned()
    }

    /// Admits one more upload of `owner`'s, or says why not: every import in progress counts
    /// (not only finished ones), [`PER_IDENTITY`] per identity and [`MAX_IN_PROGRESS`] in all.
    pub fn admit(self: &Arc<Self>, owner: &Actor) -> Result<Admission, rekey_app::error::AppError> {
        use rekey_app::error::AppError;
        let mut jobs = lock(&self.jobs);
        let mut arriving = lock(&self.arriving);
        jobs.retain(|_, j| j.started.elapsed() < KEEP_FOR || j.state.borrow().is_busy());
        let own = |jobs: &HashMap<u64, Arc<Job>>| {
            jobs.iter()
                .filter(|(_, j)| j.owner == *owner)
                .map(|(id, j)| (*id, j.started, j.state.borrow().is_busy()))
                .collect::<Vec<_>>()
        };
        let mut mine = own(&jobs);
        let busy_mine = mine.iter().filter(|(_, _, busy)| *busy).count()
            + arriving.iter().filter(|a| *a == owner).count();
        if busy_mine >= PER_IDENTITY {
            return Err(AppError::Conflict(format!(
                "you have {busy_mine} imports running; wait for one to finish before uploading another"
            )));
        }
        let in_progress =
            jobs.values().filter(|j| j.state.borrow().is_busy()).count() + arriving.len();
        if in_progress >= MAX_IN_PROGRESS {
            return Err(AppError::Unavailable(format!(
                "{in_progress} imports are in progress, the most Rekey takes at once; try again in a minute"
            )));
        }
        // Room for this one: drop the owner's oldest settled jobs, then anyone's.
        mine.sort_by_key(|(_, started, _)| *started);
        for (id, _, busy) in mine {
            if own(&jobs).len() < PER_IDENTITY {
                break;
            }
            if !busy {
                jobs.remove(&id);
            }
        }
        while jobs.len() + arriving.len() >= MAX_JOBS {
            let oldest = jobs
                .iter()
                .filter(|(_, j)| !j.state.borrow().is_busy())
                .min_by_key(|(_, j)| j.started)
                .map(|(id, _)| *id);
            match oldest {
                Some(old) => jobs.remove(&old),
                None => break,
            };
        }
        arriving.push(owner.clone());
        Ok(Admission {
            jobs: self.clone(),
            owner: owner.clone(),
        })
    }

    /// Starts the dry run of a spooled file an [`Admission`] let in.
    pub fn preview(
        self: &Arc<Self>,
        admission: Admission,
        rk: &Rekey,
        format: ImportFormat,
        spool: PathBuf,
        bytes: u64,
    ) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let job = Arc::new(Job {
            owner: admission.owner.clone(),
            format,
            bytes,
            started: Instant::now(),
            progress: Progress::new(),
            state: watch::channel(JobState::Previewing).0,
            spool: Mutex::new(Some(spool.clone())),
        });
        lock(&self.jobs).insert(id, job.clone());
        // The job now counts as in progress itself.
        drop(admission);
        let rk = rk.clone();
        let jobs = self.clone();
        tokio::spawn(async move {
            let state = match jobs.parse(&job, &spool).await {
                Err(error) => JobState::Failed { error },
                Ok(Err(problems)) => JobState::Refused { problems },
                Ok(Ok(file)) => match import::plan(&rk.db, &file, &job.progress).await {
                    Ok(preview) if preview.problems.is_empty() => JobState::Ready { preview },
                    Ok(preview) => JobState::Refused {
                        problems: preview.problems,
                    },
                    Err(e) => JobState::Failed { error: failure(e) },
                },
            };
            if !matches!(state, JobState::Ready { .. })
                && let Some(path) = job.take_spool()
            {
                let _ = std::fs::remove_file(path);
            }
            job.state.send_replace(state);
        });
        id
    }

    /// Reads and checks a spooled file, when it is this file's turn to be parsed.
    async fn parse(&self, job: &Job, spool: &std::path::Path) -> Result<Parsed, String> {
        let _turn = self
            .parsing
            .acquire()
            .await
            .map_err(|e| format!("the import queue closed: {e}"))?;
        let bytes = tokio::fs::read(spool)
            .await
            .map_err(|e| format!("the uploaded file could not be read back: {e}"))?;
        let (reply, parsed) = tokio::sync::oneshot::channel();
        self.parser
            .send(ParseRequest {
                format: job.format,
                bytes,
                progress: job.progress.clone(),
                reply,
            })
            .map_err(|_| "the import parser has stopped".to_string())?;
        parsed
            .await
            .map_err(|_| "reading the file failed".to_string())
    }

    /// Applies a previewed file. Refused unless the job is ready.
    pub fn apply(
        self: &Arc<Self>,
        rk: &Rekey,
        id: u64,
        owner: &Actor,
    ) -> Result<(), rekey_app::error::AppError> {
        use rekey_app::error::AppError;
        let job = self.get(id, owner).ok_or_else(|| not_found(id))?;
        let preview = match &*job.state.borrow() {
            JobState::Ready { preview } => preview.clone(),
            JobState::Previewing => {
                return Err(AppError::Conflict(
                    "the preview is still running; apply it once it is ready".into(),
                ));
            }
            JobState::Refused { .. } => {
                return Err(AppError::Conflict(
                    "the file has problems; fix them and upload it again".into(),
                ));
            }
            JobState::Applying { .. } => {
                return Err(AppError::Conflict(
                    "this import is already being applied".into(),
                ));
            }
            JobState::Finished { .. } => {
                return Err(AppError::Conflict(
                    "this import was applied already; upload the file again to re-import it".into(),
                ));
            }
            JobState::Failed { .. } => {
                return Err(AppError::Conflict(
                    "this import failed; upload the file again".into(),
                ));
            }
        };
        let Some(spool) = job.take_spool() else {
            return Err(AppError::Conflict(
                "this import is already being applied".into(),
            ));
        };
        job.state.send_replace(JobState::Applying { preview });
        let rk = rk.clone();
        let jobs = self.clone();
        tokio::spawn(async move {
            let state = match jobs.parse(&job, &spool).await {
                Err(error) => JobState::Failed { error },
                // The file read well at the preview; it is the same file.
                Ok(Err(problems)) => JobState::Refused { problems },
                Ok(Ok(file)) => {
                    match import::apply(&rk.db, job.owner.clone(), rk.now(), &file, &job.progress)
                        .await
                    {
                        Ok(outcome) => JobState::Finished { outcome },
                        Err(e) => JobState::Failed { error: failure(e) },
                    }
                }
            };
            let _ = std::fs::remove_file(&spool);
            job.state.send_replace(state);
        });
        Ok(())
    }

    pub fn view(&self, id: u64, owner: &Actor) -> Option<JobView> {
        self.get(id, owner).map(|j| j.view(id))
    }

    /// Waits until the job is no longer busy, then shows it.
    pub async fn settled(&self, id: u64, owner: &Actor) -> Option<JobView> {
        let job = self.get(id, owner)?;
        let mut changes = job.state.subscribe();
        // The sender lives in the job, which this function holds: the wait cannot fail.
        let _ = changes.wait_for(|s| !s.is_busy()).await;
        Some(job.view(id))
    }
}

pub fn not_found(id: u64) -> rekey_app::error::AppError {
    rekey_app::error::AppError::NotFound(format!(
        "there is no import {id}; previews are kept for an hour, so upload the file again"
    ))
}

/// A failure as the job shows it: the person-facing message, the cause logged.
fn failure(e: rekey_core::error::Error) -> String {
    rekey_app::error::AppError::from(e).to_string()
}
