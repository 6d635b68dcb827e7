//! The four services as child processes from their release binaries, each on a fresh
//! database (a temporary SQLite file, or a new PostgreSQL database), wired to each other the
//! way the local launcher wires them, with the test harness's secret so that its actors'
//! tokens are trusted.

use std::net::SocketAddr;
use std::path::Path;

use sqlx::Connection;
use suite_testkit::{TEST_SECRET, TestDatabase, TestService};

use crate::BenchError;
use crate::process::{Memory, Process, free_addr, release_binary};

/// The services in the order they start.
pub const NAMES: [&str; 4] = ["enrollment", "relationship", "agreement", "transfer"];

/// The four services, running.
pub struct Services {
    /// The child processes, in [`NAMES`] order.
    pub processes: Vec<Process>,
    /// Handles for the test harness's helpers (and the databases), in [`NAMES`] order.
    pub handles: Vec<TestService>,
    /// Resident memory of each right after it reported SERVING.
    pub idle: Vec<Option<Memory>>,
    /// The environment every service was started with, for another instance.
    env: Vec<(&'static str, String)>,
}

impl Services {
    /// Starts the four services on fresh databases (PostgreSQL when `admin_url` is given).
    pub async fn start(admin_url: Option<&str>, log_dir: &Path) -> Result<Self, BenchError> {
        let addrs: Vec<SocketAddr> = NAMES
            .iter()
            .map(|_| free_addr())
            .collect::<Result<_, _>>()?;
        let url = |index: usize| format!("http://{}", addrs[index]);
        let env: Vec<(&'static str, String)> = vec![
            ("AUTH_HS256_SECRET", TEST_SECRET.to_owned()),
            // As in the test harness: the set-up changes a partner's programs and acts at
            // once (restricted direct bill, then indirect reseller), which a cached answer of
            // the enrollment service would refuse for up to 5 s.
            ("CAPABILITY_CACHE_TTL_MS", "0".to_owned()),
            ("ENROLLMENT_URL", url(0)),
            ("RELATIONSHIP_URL", url(1)),
            ("AGREEMENT_URL", url(2)),
            ("TRANSFER_URL", url(3)),
        ];
        let mut processes = Vec::new();
        let mut handles = Vec::new();
        for (index, name) in NAMES.iter().enumerate() {
            let database = TestDatabase::fresh_on(admin_url).await;
            let mut own = env.clone();
            own.push(("LISTEN_ADDR", addrs[index].to_string()));
            own.push(("DATABASE_URL", database.url().to_owned()));
            let process = Process::start(
                name,
                &release_binary(name)?,
                &[],
                &own,
                addrs[index],
                log_dir,
            )
            .await?;
            processes.push(process);
            handles.push(TestService::attach(addrs[index], database));
        }
        let idle = processes.iter().map(Process::memory).collect();
        suite_testkit::publish_customer_agreement(&handles[2]).await;
        Ok(Self {
            processes,
            handles,
            idle,
            env,
        })
    }

    /// The child process named `name` (one of [`NAMES`]).
    pub fn process(&self, name: &str) -> Option<&Process> {
        self.processes.iter().find(|process| process.name == name)
    }

    /// Enrollment.
    pub fn enrollment(&self) -> &TestService {
        &self.handles[0]
    }

    /// Relationship.
    pub fn relationship(&self) -> &TestService {
        &self.handles[1]
    }

    /// Agreement.
    pub fn agreement(&self) -> &TestService {
        &self.handles[2]
    }

    /// Transfer.
    pub fn transfer(&self) -> &TestService {
        &self.handles[3]
    }

    /// Another instance of service `index` (in [`NAMES`]) on the same database, with
    /// `extra` environment, named `name`.
    pub async fn another(
        &self,
        index: usize,
        name: &str,
        extra: &[(&'static str, String)],
        log_dir: &Path,
    ) -> Result<Process, BenchError> {
        let addr = free_addr()?;
        let mut env = self.env.clone();
        env.push(("LISTEN_ADDR", addr.to_string()));
        env.push((
            "DATABASE_URL",
            self.handles[index].database.url().to_owned(),
        ));
        env.extend(extra.iter().cloned());
        Process::start(
            name,
            &release_binary(NAMES[index])?,
            &[],
            &env,
            addr,
            log_dir,
        )
        .await
    }

    /// Which services are no longer running, and how they ended.
    pub fn crashed(&mut self) -> Vec<String> {
        self.processes
            .iter_mut()
            .filter_map(|process| {
                process.exited().map(|status| {
                    format!(
                        "{} exited ({status}); see {}",
                        process.name,
                        process.log.display()
                    )
                })
            })
            .collect()
    }

    /// Stops the services; on PostgreSQL drops their databases.
    pub async fn stop(self, admin_url: Option<&str>) {
        for process in self.processes {
            process.stop().await;
        }
        let Some(admin_url) = admin_url else {
            return;
        };
        let names: Vec<String> = self
            .handles
            .iter()
            .filter_map(|handle| {
                let url = handle.database.url();
                let path = url.split('?').next()?;
                Some(path.rsplit_once('/')?.1.to_owned())
            })
            .collect();
        drop(self.handles);
        if let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await {
            for name in names {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await;
            }
        }
    }
}

/// Whether the PostgreSQL server of `admin_url` answers.
pub async fn postgres_reachable(admin_url: &str) -> Result<(), BenchError> {
    let connection = sqlx::PgConnection::connect(admin_url).await?;
    let _ = connection.close().await;
    Ok(())
}
