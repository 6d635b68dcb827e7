//! The whole suite on loopback, each service wired to the peers it calls, for tests that
//! sweep every RPC of every service.

// Each test binary that includes this module uses part of it.
#![allow(dead_code)]

use suite_config::PeerUrls;
use suite_testkit::raw::Rpc;
use suite_testkit::{TestService, spawn_service};

/// The four services, running.
pub struct Suite {
    pub enrollment: TestService,
    pub relationship: TestService,
    pub agreement: TestService,
    pub transfer: TestService,
}

impl Suite {
    /// Starts the services that call no one first, then those that call them.
    pub async fn start() -> Self {
        let enrollment = spawn_service(enrollment::run, PeerUrls::default()).await;
        let relationship = spawn_service(
            relationship::run,
            PeerUrls {
                enrollment: Some(enrollment.url()),
                ..PeerUrls::default()
            },
        )
        .await;
        let peers = PeerUrls {
            enrollment: Some(enrollment.url()),
            relationship: Some(relationship.url()),
            ..PeerUrls::default()
        };
        let agreement = spawn_service(agreement::run, peers.clone()).await;
        let transfer = spawn_service(
            transfer::run,
            PeerUrls {
                agreement: Some(agreement.url()),
                ..peers
            },
        )
        .await;
        Self {
            enrollment,
            relationship,
            agreement,
            transfer,
        }
    }

    /// The service that serves `rpc`.
    pub fn serving(&self, rpc: &Rpc) -> &TestService {
        match rpc.package.as_str() {
            "enrollment.v1" => &self.enrollment,
            "relationship.v1" => &self.relationship,
            "agreement.v1" => &self.agreement,
            "transfer.v1" => &self.transfer,
            other => panic!("no service in the suite serves package {other}"),
        }
    }
}
