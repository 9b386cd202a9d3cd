//! Import jobs: a file's dry run and its application run as background tasks the page polls
//! for progress. Jobs live in memory for an hour (at most [`MAX_JOBS`], the oldest settled one
//! making room); a preview lost to a restart is uploaded again: nothing is written until a
//! person applies.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rekey_core::Rekey;
use rekey_core::audit::Actor;
use rekey_core::inventory::import::{
    self, ImportFile, ImportFormat, ImportOutcome, ImportPreview, Phase, Problems, Progress,
};
use serde::Serialize;
use tokio::sync::watch;

const KEEP_FOR: Duration = Duration::from_secs(3600);
/// A previewed file stays in memory until applied; this many jobs at most are kept.
const MAX_JOBS: usize = 16;
/// Imports reading or writing at once. Each holds its file (up to 50 MB) and what it parsed,
/// and parsing takes a core: more at once only queues work while using memory.
const MAX_RUNNING: usize = 2;
/// Imports one identity may have in memory; a new upload makes room by dropping that
/// identity's oldest settled one.
const PER_IDENTITY: usize = 2;

/// Where a job is.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobState {
    Previewing,
    /// The file reads well: this is what applying it would do.
    Ready {
        preview: ImportPreview,
    },
    /// The file has problems; nothing can be applied.
    Refused {
        problems: Problems,
    },
    Applying {
        preview: ImportPreview,
    },
    /// `outcome.applied` is false when the database changed since the preview and the file no
    /// longer applies; the outcome lists why.
    Finished {
        outcome: ImportOutcome,
    },
    Failed {
        error: String,
    },
}

impl JobState {
    fn is_busy(&self) -> bool {
        matches!(self, JobState::Previewing | JobState::Applying { .. })
    }
}

/// What a caller sees of a job.
#[derive(Clone, Debug, Serialize)]
pub struct JobView {
    pub id: u64,
    pub format: ImportFormat,
    pub bytes: u64,
    pub phase: Phase,
    pub done: u64,
    pub total: u64,
    #[serde(flatten)]
    pub state: JobState,
}

struct Job {
    owner: Actor,
    format: ImportFormat,
    bytes: u64,
    started: Instant,
    progress: Arc<Progress>,
    state: watch::Sender<JobState>,
    file: Mutex<Option<Arc<ImportFile>>>,
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
}

#[derive(Default)]
pub struct ImportJobs {
    next: AtomicU64,
    jobs: Mutex<HashMap<u64, Arc<Job>>>,
    /// Uploads admitted whose bodies are still arriving: they count as running.
    arriving: Mutex<Vec<Actor>>,
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

impl std::fmt::Debug for ImportJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImportJobs")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ImportJobs {
    fn get(&self, id: u64, owner: &Actor) -> Option<Arc<Job>> {
        // Another person's job is "not found": its file is theirs.
        lock(&self.jobs)
            .get(&id)
            .filter(|j| &j.owner == owner)
            .cloned()
    }

    /// Admits one more upload of `owner`'s, or says why not: every running import counts (not
    /// only finished ones), at most [`MAX_RUNNING`] at once and [`PER_IDENTITY`] per identity.
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
        let running = jobs.values().filter(|j| j.state.borrow().is_busy()).count() + arriving.len();
        if running >= MAX_RUNNING {
            return Err(AppError::Unavailable(format!(
                "{running} imports are being read or written right now, the most Rekey runs at once; try again in a minute"
            )));
        }
        // Room for this one: drop the owner's oldest settled previews, then anyone's.
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

    /// Starts the dry run of a file an [`Admission`] let in.
    pub fn preview(
        &self,
        admission: Admission,
        rk: &Rekey,
        format: ImportFormat,
        bytes: Vec<u8>,
    ) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let job = Arc::new(Job {
            owner: admission.owner.clone(),
            format,
            bytes: bytes.len() as u64,
            started: Instant::now(),
            progress: Progress::new(),
            state: watch::channel(JobState::Previewing).0,
            file: Mutex::new(None),
        });
        lock(&self.jobs).insert(id, job.clone());
        // The job now counts as running itself.
        drop(admission);
        let rk = rk.clone();
        tokio::spawn(async move {
            let progress = job.progress.clone();
            let read =
                tokio::task::spawn_blocking(move || import::read(format, &bytes, &progress)).await;
            let state = match read {
                Err(e) => JobState::Failed {
                    error: format!("reading the file failed: {e}"),
                },
                Ok(Err(problems)) => JobState::Refused { problems },
                Ok(Ok(file)) => match import::plan(&rk.db, &file, &job.progress).await {
                    Ok(preview) if preview.problems.is_empty() => {
                        *lock(&job.file) = Some(Arc::new(file));
                        JobState::Ready { preview }
                    }
                    Ok(preview) => JobState::Refused {
                        problems: preview.problems,
                    },
                    Err(e) => JobState::Failed { error: failure(e) },
                },
            };
            job.state.send_replace(state);
        });
        id
    }

    /// Applies a previewed file. Refused unless the job is ready.
    pub fn apply(
        &self,
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
        let Some(file) = lock(&job.file).take() else {
            return Err(AppError::Conflict(
                "this import is already being applied".into(),
            ));
        };
        job.state.send_replace(JobState::Applying { preview });
        let rk = rk.clone();
        tokio::spawn(async move {
            let state = match import::apply(
                &rk.db,
                job.owner.clone(),
                rk.now(),
                &file,
                &job.progress,
            )
            .await
            {
                Ok(outcome) => JobState::Finished { outcome },
                Err(e) => JobState::Failed { error: failure(e) },
            };
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
