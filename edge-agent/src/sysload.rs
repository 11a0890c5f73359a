//! CPU and memory readings for the adaptive controller and the heartbeat.

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// Samples system CPU use (between calls) and this process's memory.
pub struct SysLoad {
    system: System,
    pid: Option<Pid>,
}

impl std::fmt::Debug for SysLoad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SysLoad").finish_non_exhaustive()
    }
}

impl Default for SysLoad {
    fn default() -> Self {
        Self::new()
    }
}

/// One reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Percent of all cores since the previous reading.
    pub cpu_percent: f32,
    pub rss_bytes: u64,
    /// Percent of memory in use system-wide.
    pub memory_percent: f32,
}

impl SysLoad {
    pub fn new() -> Self {
        let mut system = System::new();
        system.refresh_cpu_usage();
        Self {
            system,
            pid: sysinfo::get_current_pid().ok(),
        }
    }

    /// Reads CPU use since the last call and current memory.
    pub fn read(&mut self) -> Reading {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        let mut rss = 0;
        if let Some(pid) = self.pid {
            self.system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                ProcessRefreshKind::nothing().with_memory(),
            );
            rss = self.system.process(pid).map_or(0, |p| p.memory());
        }
        let total = self.system.total_memory().max(1);
        Reading {
            cpu_percent: self.system.global_cpu_usage(),
            rss_bytes: rss,
            memory_percent: (self.system.used_memory() as f64 / total as f64 * 100.0) as f32,
        }
    }
}
