//! A running enrollment service with a clock the tests move, and one helper per step of the
//! partner journey so tests read as scenarios.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // shared by several test files

use std::time::Duration;

use enrollment::EnrollmentOptions;
use prost_types::FieldMask;
use suite_auth::Role;
use suite_config::PeerUrls;
use suite_db::{Clock, ManualClock};
use suite_proto::enrollment::v1 as pb;
use suite_proto::enrollment::v1::enrollment_service_client::EnrollmentServiceClient;
use suite_testkit::{Actor, AuthedChannel, TestService, request_id, spawn_service};
use uuid::Uuid;

/// Friday 2026-11-20 09:00 UTC.
pub const FRIDAY: i64 = 1_795_165_200_000_000;
pub const DAY: Duration = Duration::from_secs(86_400);
/// The override grace period the tests run with.
pub const GRACE_DAYS: u32 = 30;

pub struct Suite {
    pub service: TestService,
    pub clock: ManualClock,
}

pub async fn start() -> Suite {
    let (clock, handle) = Clock::manual(FRIDAY);
    let options = EnrollmentOptions {
        clock,
        override_grace: DAY * GRACE_DAYS,
        sweep_interval: Duration::from_millis(20),
    };
    let service = spawn_service(
        move |config, listener, shutdown| enrollment::run_with(options, config, listener, shutdown),
        PeerUrls::default(),
    )
    .await;
    Suite {
        service,
        clock: handle,
    }
}

/// A partner tenant with its GLOBAL_ADMIN.
pub struct Partner {
    pub tenant: Uuid,
    pub admin: Actor,
}

impl Partner {
    pub fn name(&self) -> String {
        format!("partners/{}", self.tenant)
    }

    pub fn enrollment(&self, slug: &str) -> String {
        format!("partners/{}/enrollments/{slug}", self.tenant)
    }
}

impl Suite {
    pub fn client(&self, actor: &Actor) -> EnrollmentServiceClient<AuthedChannel> {
        self.service.enrollment(actor)
    }

    pub fn operator(&self) -> EnrollmentServiceClient<AuthedChannel> {
        self.client(&Actor::operator())
    }

    /// A registered partner without a PartnerID.
    pub async fn new_partner(&self) -> Partner {
        let tenant = Uuid::new_v4();
        let admin = Actor::global_admin(tenant);
        let partner = pb::Partner {
            legal_name: "Contoso Cloud Ltd".into(),
            country_code: "GB".into(),
            primary_contact_email: "ops@contoso.example".into(),
            program_account_email: "partner-program@contoso.example".into(),
            ..Default::default()
        };
        self.client(&admin)
            .create_partner(pb::CreatePartnerRequest {
                request_id: request_id(),
                partner: Some(partner),
            })
            .await
            .unwrap();
        Partner { tenant, admin }
    }

    /// A partner whose PartnerID (a new one) is recorded and verified by the operator.
    pub async fn verified_partner(&self) -> Partner {
        let program_id = (Uuid::new_v4().as_u128() % 90_000_000 + 10_000_000).to_string();
        self.verified_partner_with_id(&program_id).await
    }

    /// A new tenant of the organisation with PartnerID `program_id`, verified by the operator.
    pub async fn verified_partner_with_id(&self, program_id: &str) -> Partner {
        let partner = self.new_partner().await;
        self.update(
            &partner.admin,
            &partner,
            pb::Partner {
                partner_program_id: program_id.into(),
                ..Default::default()
            },
            &["partner_program_id"],
        )
        .await
        .unwrap();
        self.update(
            &Actor::operator(),
            &partner,
            pb::Partner {
                partner_program_id_verified: true,
                ..Default::default()
            },
            &["partner_program_id_verified"],
        )
        .await
        .unwrap();
        partner
    }

    pub async fn update(
        &self,
        actor: &Actor,
        partner: &Partner,
        mut values: pb::Partner,
        mask: &[&str],
    ) -> Result<pb::Partner, tonic::Status> {
        values.name = partner.name();
        let request = pb::UpdatePartnerRequest {
            request_id: request_id(),
            partner: Some(values),
            update_mask: Some(FieldMask {
                paths: mask.iter().map(|p| p.to_string()).collect(),
            }),
        };
        self.client(actor)
            .update_partner(request)
            .await
            .map(|r| r.into_inner())
    }

    /// Records `monthly_usd` for each of the 12 months before the current one.
    pub async fn record_year_of_revenue(&self, partner: &Partner, monthly_usd: i64) {
        for month in [
            "2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06",
            "2026-07", "2026-08", "2026-09", "2026-10",
        ] {
            self.record_revenue(&Actor::operator(), partner, month, monthly_usd * 100, "USD")
                .await
                .unwrap();
        }
    }

    pub async fn record_revenue(
        &self,
        actor: &Actor,
        partner: &Partner,
        month: &str,
        amount_minor: i64,
        currency: &str,
    ) -> Result<pb::MonthlyRevenue, tonic::Status> {
        let request = pb::RecordMonthlyRevenueRequest {
            request_id: request_id(),
            parent: partner.name(),
            revenue: Some(pb::MonthlyRevenue {
                month: month.into(),
                amount: Some(pb::Money {
                    currency_code: currency.into(),
                    amount_minor,
                }),
                ..Default::default()
            }),
        };
        self.client(actor)
            .record_monthly_revenue(request)
            .await
            .map(|r| r.into_inner())
    }

    pub async fn enroll(
        &self,
        partner: &Partner,
        program: pb::Program,
    ) -> Result<pb::Enrollment, tonic::Status> {
        let request = pb::CreateEnrollmentRequest {
            request_id: request_id(),
            parent: partner.name(),
            program: program as i32,
        };
        self.client(&partner.admin)
            .create_enrollment(request)
            .await
            .map(|r| r.into_inner())
    }

    pub async fn approve(&self, name: &str) -> Result<pb::Enrollment, tonic::Status> {
        let request = pb::ApproveEnrollmentRequest {
            request_id: request_id(),
            name: name.into(),
        };
        self.operator()
            .approve_enrollment(request)
            .await
            .map(|r| r.into_inner())
    }

    /// What the agreement service sends once the program's agreement is accepted.
    pub async fn activate(&self, name: &str) -> Result<pb::Enrollment, tonic::Status> {
        let request = pb::ActivateEnrollmentRequest {
            request_id: request_id(),
            name: name.into(),
            agreement_version: "agreementVersions/mpa-2026".into(),
            accept_time: None,
        };
        self.client(&Actor::service("agreement", "enrollment"))
            .activate_enrollment(request)
            .await
            .map(|r| r.into_inner())
    }

    pub async fn restrict(&self, name: &str) -> Result<pb::Enrollment, tonic::Status> {
        let request = pb::RestrictEnrollmentRequest {
            request_id: request_id(),
            name: name.into(),
        };
        self.operator()
            .restrict_enrollment(request)
            .await
            .map(|r| r.into_inner())
    }

    /// A partner with an ACTIVE direct-bill enrollment.
    pub async fn direct_bill_partner(&self) -> Partner {
        let partner = self.verified_partner().await;
        self.record_year_of_revenue(&partner, 25_000).await;
        let enrollment = self
            .enroll(&partner, pb::Program::DirectBill)
            .await
            .unwrap();
        self.approve(&enrollment.name).await.unwrap();
        self.activate(&enrollment.name).await.unwrap();
        partner
    }

    pub async fn program_information(&self, partner: &Partner) -> pb::ProgramInformation {
        let request = pb::GetProgramInformationRequest {
            partner: partner.name(),
        };
        self.client(&partner.admin)
            .get_program_information(request)
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn capabilities(&self, actor: &Actor, partner: &Partner) -> pb::Capabilities {
        let request = pb::GetCapabilitiesRequest {
            partner: partner.name(),
        };
        self.client(actor)
            .get_capabilities(request)
            .await
            .unwrap()
            .into_inner()
    }

    /// E-mails waiting in the outbox, as (to, subject).
    pub async fn emails(&self) -> Vec<(String, String)> {
        self.service
            .database
            .outbox("email")
            .await
            .iter()
            .map(|payload| {
                let email: serde_json::Value = serde_json::from_slice(payload).unwrap();
                (
                    email["to"].as_str().unwrap().to_owned(),
                    email["subject"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

pub fn state(enrollment: &pb::Enrollment) -> pb::EnrollmentState {
    pb::EnrollmentState::try_from(enrollment.state).unwrap()
}

pub fn sales_agent(partner: &Partner) -> Actor {
    Actor::user(partner.tenant, &[Role::SalesAgent])
}
