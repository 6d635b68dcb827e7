//! Pins processes to cores with `taskset`, so that a load generator and the service it
//! measures do not take each other's CPU time: on a machine this small the generator's own
//! work at twice a service's maximum is as much as the service's.

use std::process::{Command, Stdio};

use crate::BenchError;

/// Processes pinned to cores until dropped; then each runs on the cores it had before.
pub struct Pinning {
    /// Each process pinned, with the cores it had (a `taskset` list).
    pinned: Vec<(u32, String)>,
}

impl Pinning {
    /// Pins every thread of each `(pid, cores)` to `cores` (a `taskset` list such as `0` or
    /// `1-3`); threads started later inherit it from the thread that starts them.
    pub fn apply(pins: &[(u32, String)]) -> Result<Self, BenchError> {
        let mut pinning = Self { pinned: Vec::new() };
        for (pid, cores) in pins {
            let before = cores_of(*pid)?;
            taskset(*pid, cores)?;
            pinning.pinned.push((*pid, before));
        }
        Ok(pinning)
    }
}

impl Drop for Pinning {
    fn drop(&mut self) {
        for (pid, before) in &self.pinned {
            if let Err(error) = taskset(*pid, before) {
                println!("could not give process {pid} its cores {before} back: {error}");
            }
        }
    }
}

/// The cores process `pid` may run on, each one (from `taskset`'s list, such as `0-1,4`).
pub fn cores(pid: u32) -> Result<Vec<u32>, BenchError> {
    let list = cores_of(pid)?;
    let mut cores = Vec::new();
    for range in list.split(',') {
        let (first, last) = range.split_once('-').unwrap_or((range, range));
        let (first, last): (u32, u32) = (first.trim().parse()?, last.trim().parse()?);
        cores.extend(first..=last);
    }
    Ok(cores)
}

/// `taskset`'s list of the cores of `pid`.
fn cores_of(pid: u32) -> Result<String, BenchError> {
    let output = Command::new("taskset")
        .args(["--cpu-list", "--pid", &pid.to_string()])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run taskset (util-linux): {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "pid 42's current affinity list: 0-1"
    match text.rsplit_once(": ") {
        Some((_, list)) if output.status.success() => Ok(list.trim().to_owned()),
        _ => Err(format!("taskset could not read the cores of process {pid}").into()),
    }
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
