//! Child processes under test: the four release binaries and the bare tonic server (this
//! binary again), each on a free loopback port, waited for until it reports SERVING, read
//! for its resident memory, and killed when dropped (also on an error or a panic).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::Instant;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::BenchError;

/// How long a child may take to report SERVING (PostgreSQL migrations included).
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// How often readiness is asked again while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A free port on 127.0.0.1, as the kernel hands out for port 0.
pub fn free_addr() -> Result<SocketAddr, BenchError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// A running child process.
pub struct Process {
    /// Its name in the tables.
    pub name: String,
    /// Where it serves gRPC.
    pub addr: SocketAddr,
    /// Where its output goes.
    pub log: PathBuf,
    child: Child,
}

impl Process {
    /// Starts `program` with `args` and `env` (on top of this process's environment), its
    /// output in `log_dir/<name>.log`, and waits until it serves `addr` and reports SERVING.
    pub async fn start(
        name: &str,
        program: &Path,
        args: &[&str],
        env: &[(&str, String)],
        addr: SocketAddr,
        log_dir: &Path,
    ) -> Result<Self, BenchError> {
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let mut process = Self {
            name: name.to_owned(),
            addr,
            log,
            child,
        };
        process.wait_until_serving().await?;
        Ok(process)
    }

    async fn wait_until_serving(&mut self) -> Result<(), BenchError> {
        let deadline = Instant::now() + READY_DEADLINE;
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))?
            .connect_timeout(Duration::from_secs(1))
            .connect_lazy();
        let mut health = HealthClient::new(channel);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!(
                    "{} exited before it was ready ({status}); see {}",
                    self.name,
                    self.log.display()
                )
                .into());
            }
            let asked = tokio::time::timeout(
                Duration::from_secs(1),
                health.check(HealthCheckRequest {
                    service: String::new(),
                }),
            )
            .await;
            if let Ok(Ok(answer)) = asked
                && answer.into_inner().status() == ServingStatus::Serving
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not report SERVING within {READY_DEADLINE:?}; see {}",
                    self.name,
                    self.log.display()
                )
                .into());
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Resident memory now and at its peak (VmRSS, VmHWM), in KiB.
    pub fn memory(&self) -> Option<Memory> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        };
        Some(Memory {
            rss_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
        })
    }

    /// Whether it is still running; a crash under load is a finding.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills it and waits for it to exit.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Resident memory of a process, KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// VmRSS.
    pub rss_kib: u64,
    /// VmHWM, the peak of VmRSS.
    pub peak_kib: u64,
}

/// The release binary `name` next to this executable (the same target directory).
pub fn release_binary(name: &str) -> Result<PathBuf, BenchError> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or("the benchmark's executable has no directory")?;
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: build it first (cargo build --release -p {name})",
            path.display()
        )
        .into())
    }
}
