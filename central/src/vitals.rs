//! The machine's vitals for `/health` (CPU, memory, the spool's disk),
//! sampled in the background.
//!
//! `/health` is unauthenticated and polled by load balancers and
//! monitoring; measuring CPU usage needs two readings some time apart, so
//! sampling per request cost each request 200 ms of waiting and a thread.
//! One task samples every [`INTERVAL`] with a `sysinfo::System` it keeps,
//! so CPU usage is the average since the previous sample, and requests
//! read the latest sample. The database is still checked per request:
//! that is what a health check is for, and it costs one round trip.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sysinfo::{CpuRefreshKind, Disks, MemoryRefreshKind, RefreshKind, System};
use tokio::sync::watch;

/// How often the vitals are sampled.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// One sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Vitals {
    /// Average over the time since the previous sample (0 until there is one).
    pub cpu_percent: f32,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub disk_free_bytes: u64,
    pub disk_total_bytes: u64,
}

/// Keeps the readers of one machine's vitals current.
pub struct Sampler {
    system: System,
    disks: Disks,
    disk_path: PathBuf,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("disk_path", &self.disk_path)
            .finish_non_exhaustive()
    }
}

impl Sampler {
    pub fn new(disk_path: &Path) -> Self {
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_cpu_usage())
                .with_memory(MemoryRefreshKind::nothing().with_ram()),
        );
        Self {
            system,
            disks: Disks::new_with_refreshed_list(),
            disk_path: std::fs::canonicalize(disk_path).unwrap_or_else(|_| disk_path.to_owned()),
        }
    }

    /// Takes a sample (blocking: reads /proc and statfs).
    pub fn sample(&mut self) -> Vitals {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.disks.refresh(true);
        let disk = self
            .disks
            .list()
            .iter()
            .filter(|d| self.disk_path.starts_with(d.mount_point()))
            .max_by_key(|d| d.mount_point().as_os_str().len());
        Vitals {
            cpu_percent: self.system.global_cpu_usage(),
            memory_used_bytes: self.system.used_memory(),
            memory_total_bytes: self.system.total_memory(),
            disk_free_bytes: disk.map(|d| d.available_space()).unwrap_or(0),
            disk_total_bytes: disk.map(|d| d.total_space()).unwrap_or(0),
        }
    }
}

/// A sampler's first sample and the channel its later ones go to.
pub fn channel(disk_path: &Path) -> (Sampler, watch::Sender<Vitals>, watch::Receiver<Vitals>) {
    let mut sampler = Sampler::new(disk_path);
    let (tx, rx) = watch::channel(sampler.sample());
    (sampler, tx, rx)
}

/// Samples every [`INTERVAL`] until `stop`.
pub async fn run(mut sampler: Sampler, tx: watch::Sender<Vitals>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let taken = tokio::task::spawn_blocking(move || {
            let v = sampler.sample();
            (sampler, v)
        })
        .await;
        match taken {
            Ok((s, v)) => {
                sampler = s;
                tx.send_replace(v);
            }
            Err(e) => {
                tracing::error!(error = %e, "vitals sampler failed; /health keeps the last sample");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_reads_memory_and_the_spool_disk() {
        let dir = std::env::temp_dir();
        let mut s = Sampler::new(&dir);
        let v = s.sample();
        assert!(v.memory_total_bytes > 0 && v.memory_used_bytes <= v.memory_total_bytes);
        assert!(v.disk_total_bytes > 0 && v.disk_free_bytes <= v.disk_total_bytes);
        let again = s.sample();
        assert!((0.0..=100.0).contains(&again.cpu_percent));
    }
}
