//! The running camera source, whichever kind it is: an RTSP task on tokio
//! or a file-playing thread. The pipeline only needs to know when it ended
//! and how to stop it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::StartError;
use crate::config::{Config, SourceUrl};
use crate::source::file::FileOptions;
use crate::source::rtsp::RtspOptions;
use crate::source::supervisor::{Backoff, SourceContext, run_file, run_rtsp};

/// A started source.
#[derive(Debug)]
pub struct Running {
    /// The RTSP task or the file thread (joined on a blocking thread);
    /// `None` once joined (a join handle must not be awaited twice).
    task: Option<JoinHandle<()>>,
    /// Tells the file thread to stop (the RTSP task watches `stop`).
    file_stop: Arc<AtomicBool>,
}

/// Starts the configured source.
pub fn start(
    config: &Config,
    source: SourceUrl,
    ctx: SourceContext,
    stop: watch::Receiver<bool>,
) -> Result<Running, StartError> {
    let file_stop = Arc::new(AtomicBool::new(false));
    let task = match source {
        SourceUrl::Rtsp(url) => {
            let mut o = RtspOptions::new(url);
            o.credentials = config.credentials()?;
            o.stall_timeout = Duration::from_secs_f64(config.camera.stall_timeout_s);
            let backoff = Backoff::new(
                Duration::from_secs_f64(config.camera.reconnect_initial_s),
                Duration::from_secs_f64(config.camera.reconnect_max_s),
            );
            atrium_worker::spawn(run_rtsp(ctx, o, backoff, stop))
        }
        SourceUrl::File(path) => {
            let o = FileOptions {
                path,
                realtime: config.camera.realtime,
                loop_file: config.camera.loop_file,
                threads: config.camera.decode_threads,
            };
            let thread = run_file(ctx, o, file_stop.clone()).map_err(|source| StartError::Io {
                what: "starting the file source".into(),
                source,
            })?;
            // The thread reports its own end; a panic is logged here.
            atrium_worker::spawn(async move {
                atrium_worker::joined_thread("file source", thread).await;
            })
        }
    };
    Ok(Running {
        task: Some(task),
        file_stop,
    })
}

impl Running {
    /// Waits until the source ends by itself (a file without `loop`) or,
    /// once `stop` was signalled, because it was told to.
    /// Cancel-safe: a dropped wait leaves the handle in place.
    pub async fn ended(&mut self) {
        if let Some(task) = self.task.as_mut() {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "the camera source ended abnormally");
            }
            self.task = None;
        }
    }

    /// Stops the source and waits for it.
    pub async fn stop(mut self) {
        self.file_stop.store(true, Ordering::Relaxed);
        self.ended().await;
    }
}
