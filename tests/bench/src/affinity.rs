//! Pins processes to cores with `taskset`, so that a load generator and the service it
//! measures do not take each other's CPU time: on a machine this small the generator's own
//! work at twice a service's maximum is as much as the service's.

use std::process::{Command, Stdio};

use crate::BenchError;

/// Processes pinned to cores until dropped; then each may run on every core again.
pub struct Pinning {
    pids: Vec<u32>,
    /// Every core, as counted before pinning: counted after, from a pinned thread, it would
    /// be only the cores of the pin.
    every_core: String,
}

impl Pinning {
    /// Pins every thread of each `(pid, cores)` to `cores` (a `taskset` list such as `0` or
    /// `1-3`); threads started later inherit it from the thread that starts them.
    pub fn apply(pins: &[(u32, String)]) -> Result<Self, BenchError> {
        let mut pinning = Self {
            pids: Vec::new(),
            every_core: format!("0-{}", cores().saturating_sub(1)),
        };
        for (pid, cores) in pins {
            taskset(*pid, cores)?;
            pinning.pids.push(*pid);
        }
        Ok(pinning)
    }
}

impl Drop for Pinning {
    fn drop(&mut self) {
        for pid in &self.pids {
            // A process that has gone needs no unpinning.
            let _ = taskset(*pid, &self.every_core);
        }
    }
}

/// The cores the calling thread may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn taskset(pid: u32, cores: &str) -> Result<(), BenchError> {
    let status = Command::new("taskset")
        .args([
            "--all-tasks",
            "--pid",
            "--cpu-list",
            cores,
            &pid.to_string(),
        ])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run taskset (util-linux): {e}"))?;
    if !status.success() {
        return Err(
            format!("taskset could not pin process {pid} to cores {cores}: {status}").into(),
        );
    }
    Ok(())
}
