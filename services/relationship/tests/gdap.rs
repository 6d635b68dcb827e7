//! GDAP over real gRPC: a partner of record asks for admin roles in a customer tenant, locks
//! the request for approval, the customer's GLOBAL_ADMIN approves or rejects, either side
//! terminates; the access answer follows; relationships expire or extend with a moved clock,
//! and two replicas sweeping one database change each relationship once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::time::Duration;

use relationship::{RelationshipOptions, RelationshipStore};
use suite_config::{PeerUrls, Secret};
use suite_db::{Clock, ManualClock};
use suite_proto::relationship::v1 as pb;
use suite_proto::relationship::v1::{DelegatedAdminRole as R, DelegatedAdminStatus as S};
use suite_testkit::{
    Actor, TestService, active_partnership, bad_fields, customer_joins_reseller_and_provider,
    direct_bill_partner, eventually, page_codec, reason, record_customer, request_id,
    spawn_service, spawn_service_adjusted,
};
use tonic::{Code, Status};
use uuid::Uuid;

const DAY: Duration = Duration::from_secs(86_400);
const SWEPT: Duration = Duration::from_secs(15);
/// A sweep interval no test outlives: the service's sweep never runs.
const HELD_OFF: Duration = Duration::from_secs(3_600);
const TABLE: &str = "delegated_admin_relationships";

struct Suite {
    enrollment: TestService,
    relationship: TestService,
    clock: Clock,
    hand: ManualClock,
    start: i64,
}

fn relationship_options(clock: Clock) -> RelationshipOptions {
    RelationshipOptions {
        clock,
        ..RelationshipOptions::default()
    }
}

/// The suite with the service sweeping every second.
async fn start() -> Suite {
    start_sweeping_every(RelationshipOptions::default().sweep_interval).await
}

async fn start_sweeping_every(sweep_interval: Duration) -> Suite {
    let enrollment = spawn_service(enrollment::run, PeerUrls::default()).await;
    let start = suite_db::now_micros();
    let (clock, hand) = Clock::manual(start);
    let options = RelationshipOptions {
        sweep_interval,
        ..relationship_options(clock.clone())
    };
    let relationship = spawn_service(
        move |config, listener, shutdown| {
            relationship::run_with(options, config, listener, shutdown)
        },
        PeerUrls {
            enrollment: Some(enrollment.url()),
            ..PeerUrls::default()
        },
    )
    .await;
    Suite {
        enrollment,
        relationship,
        clock,
        hand,
        start,
    }
}

fn ask(display_name: &str, duration: &str, auto_extend: &str) -> pb::DelegatedAdminRelationship {
    pb::DelegatedAdminRelationship {
        display_name: display_name.into(),
        roles: vec![R::UserAdministrator as i32, R::DirectoryReaders as i32],
        duration: duration.into(),
        auto_extend_duration: auto_extend.into(),
        ..Default::default()
    }
}

fn code_and_reason(result: Result<impl std::fmt::Debug, Status>) -> (Code, String) {
    let status = result.expect_err("refused");
    (status.code(), reason(&status))
}

impl Suite {
    /// A direct-bill partner with a new customer tenant on its books.
    async fn partner_with_customer(&self) -> (Uuid, Uuid) {
        let partner = direct_bill_partner(&self.enrollment).await;
        let customer = Uuid::new_v4();
        record_customer(&self.relationship, partner, customer).await;
        (partner, customer)
    }

    async fn create(
        &self,
        actor: &Actor,
        partner: Uuid,
        customer: Uuid,
        relationship: pb::DelegatedAdminRelationship,
    ) -> Result<pb::DelegatedAdminRelationship, Status> {
        self.relationship
            .relationship(actor)
            .create_delegated_admin_relationship(pb::CreateDelegatedAdminRelationshipRequest {
                request_id: request_id(),
                parent: format!("partners/{partner}/customers/{customer}"),
                delegated_admin_relationship: Some(relationship),
            })
            .await
            .map(|r| r.into_inner())
    }

    async fn get(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<pb::DelegatedAdminRelationship, Status> {
        self.relationship
            .relationship(actor)
            .get_delegated_admin_relationship(pb::GetDelegatedAdminRelationshipRequest {
                name: name.into(),
            })
            .await
            .map(|r| r.into_inner())
    }

    async fn lock(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<pb::DelegatedAdminRelationship, Status> {
        self.relationship
            .relationship(actor)
            .lock_delegated_admin_relationship_for_approval(
                pb::LockDelegatedAdminRelationshipForApprovalRequest {
                    request_id: request_id(),
                    name: name.into(),
                    etag: String::new(),
                },
            )
            .await
            .map(|r| r.into_inner())
    }

    async fn approve_with(
        &self,
        actor: &Actor,
        request: pb::ApproveDelegatedAdminRelationshipRequest,
    ) -> Result<pb::DelegatedAdminRelationship, Status> {
        self.relationship
            .relationship(actor)
            .approve_delegated_admin_relationship(request)
            .await
            .map(|r| r.into_inner())
    }

    async fn approve(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<pb::DelegatedAdminRelationship, Status> {
        self.approve_with(
            actor,
            pb::ApproveDelegatedAdminRelationshipRequest {
                request_id: request_id(),
                name: name.into(),
                etag: String::new(),
            },
        )
        .await
    }

    async fn reject(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<pb::DelegatedAdminRelationship, Status> {
        self.relationship
            .relationship(actor)
            .reject_delegated_admin_relationship(pb::RejectDelegatedAdminRelationshipRequest {
                request_id: request_id(),
                name: name.into(),
                etag: String::new(),
            })
            .await
            .map(|r| r.into_inner())
    }

    async fn terminate(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<pb::DelegatedAdminRelationship, Status> {
        self.relationship
            .relationship(actor)
            .terminate_delegated_admin_relationship(
                pb::TerminateDelegatedAdminRelationshipRequest {
                    request_id: request_id(),
                    name: name.into(),
                    etag: String::new(),
                },
            )
            .await
            .map(|r| r.into_inner())
    }

    async fn access(
        &self,
        actor: &Actor,
        customer: Uuid,
        partner: Uuid,
    ) -> Result<pb::DelegatedAdminAccess, Status> {
        self.relationship
            .relationship(actor)
            .check_delegated_admin_access(pb::CheckDelegatedAdminAccessRequest {
                customer: format!("customers/{customer}"),
                partner: format!("partners/{partner}"),
            })
            .await
            .map(|r| r.into_inner())
    }

    /// A relationship asked, locked and approved: ACTIVE.
    async fn active(
        &self,
        partner: Uuid,
        customer: Uuid,
        relationship: pb::DelegatedAdminRelationship,
    ) -> pb::DelegatedAdminRelationship {
        let agent = Actor::admin_agent(partner);
        let created = self
            .create(&agent, partner, customer, relationship)
            .await
            .unwrap();
        self.lock(&agent, &created.name).await.unwrap();
        self.approve(&Actor::global_admin(customer), &created.name)
            .await
            .unwrap()
    }

    /// What the sweep (or a change) wrote to relationship `name` after its creation, lock
    /// and approval, from the audit trail: the stored state, not the one read at this time.
    async fn stored_lapses(&self, name: &str) -> Vec<String> {
        let actions = self.relationship.database.audit_actions(name).await;
        actions.get(3..).unwrap_or_default().to_vec()
    }

    async fn status(&self, name: &str) -> S {
        let partner = name.split('/').nth(1).unwrap().parse::<Uuid>().unwrap();
        self.get(&Actor::admin_agent(partner), name)
            .await
            .unwrap()
            .status()
    }
}

#[tokio::test]
async fn an_approved_request_lets_the_partner_manage_users_and_licences() {
    let suite = start().await;
    let (partner, customer) = suite.partner_with_customer().await;
    let agent = Actor::admin_agent(partner);
    let customer_admin = Actor::global_admin(customer);

    let created = suite
        .create(
            &agent,
            partner,
            customer,
            ask("Fourth Coffee helpdesk", "P90D", ""),
        )
        .await
        .unwrap();
    assert_eq!(created.status(), S::Created);
    assert!(created.name.starts_with(&format!(
        "partners/{partner}/customers/{customer}/delegatedAdminRelationships/"
    )));
    assert_eq!(
        created.roles,
        vec![R::DirectoryReaders as i32, R::UserAdministrator as i32]
    );
    let before = suite
        .access(&customer_admin, customer, partner)
        .await
        .unwrap();
    assert!(!before.manages_users_and_licenses);
    assert_eq!(before.relationship, "");

    // The customer approves only what the partner locked for approval, and only its admin does.
    let (code, why) = code_and_reason(suite.approve(&customer_admin, &created.name).await);
    assert_eq!(
        (code, why.as_str()),
        (Code::FailedPrecondition, "DELEGATED_ADMIN_STATUS")
    );
    let locked = suite.lock(&agent, &created.name).await.unwrap();
    assert_eq!(locked.status(), S::ApprovalPending);
    let (code, why) = code_and_reason(suite.approve(&agent, &created.name).await);
    assert_eq!(
        (code, why.as_str()),
        (Code::PermissionDenied, "DELEGATED_ADMIN_SIDE_REQUIRED")
    );
    let (code, why) = code_and_reason(
        suite
            .approve(&Actor::admin_agent(customer), &created.name)
            .await,
    );
    assert_eq!(
        (code, why.as_str()),
        (Code::PermissionDenied, "DELEGATED_ADMIN_SIDE_REQUIRED")
    );

    // A stale etag is refused; the approval with the current one is replayed on retry.
    let (code, why) = code_and_reason(
        suite
            .approve_with(
                &customer_admin,
                pb::ApproveDelegatedAdminRelationshipRequest {
                    request_id: request_id(),
                    name: created.name.clone(),
                    etag: created.etag.clone(),
                },
            )
            .await,
    );
    assert_eq!((code, why.as_str()), (Code::Aborted, "ETAG_MISMATCH"));
    let approval = pb::ApproveDelegatedAdminRelationshipRequest {
        request_id: request_id(),
        name: created.name.clone(),
        etag: locked.etag.clone(),
    };
    let approved = suite
        .approve_with(&customer_admin, approval.clone())
        .await
        .unwrap();
    assert_eq!(approved.status(), S::Active);
    assert_eq!(
        approved.end_time.unwrap().seconds,
        suite.start / 1_000_000 + 90 * 86_400
    );
    let replayed = suite.approve_with(&customer_admin, approval).await.unwrap();
    assert_eq!(replayed, approved);

    for asker in [&customer_admin, &agent, &Actor::operator()] {
        let access = suite.access(asker, customer, partner).await.unwrap();
        assert!(access.manages_users_and_licenses);
        assert_eq!(access.relationship, created.name);
        assert_eq!(access.roles, approved.roles);
    }
    assert_eq!(
        suite
            .relationship
            .database
            .audit_actions(&created.name)
            .await,
        [
            "CreateDelegatedAdminRelationship",
            "LockDelegatedAdminRelationshipForApproval",
            "ApproveDelegatedAdminRelationship",
        ]
    );
    for topic in ["requested", "approval_requested", "approved"] {
        let events = suite
            .relationship
            .database
            .outbox(&format!("relationship.v1.gdap.{topic}"))
            .await;
        assert_eq!(events.len(), 1, "{topic}");
    }
}

#[tokio::test]
async fn a_relationship_without_user_administrator_grants_no_user_management() {
    let suite = start().await;
    let (partner, customer) = suite.partner_with_customer().await;
    suite
        .active(
            partner,
            customer,
            pb::DelegatedAdminRelationship {
                roles: vec![R::GlobalReader as i32, R::LicenseAdministrator as i32],
                ..ask("Readers", "P30D", "")
            },
        )
        .await;
    let access = suite
        .access(&Actor::admin_agent(partner), customer, partner)
        .await
        .unwrap();
    assert!(!access.manages_users_and_licenses);
}

#[tokio::test]
async fn the_customer_rejects_a_request() {
    let suite = start().await;
    let (partner, customer) = suite.partner_with_customer().await;
    let agent = Actor::admin_agent(partner);
    let created = suite
        .create(&agent, partner, customer, ask("Onboarding", "P6M", ""))
        .await
        .unwrap();
    suite.lock(&agent, &created.name).await.unwrap();
    let (code, why) = code_and_reason(suite.reject(&agent, &created.name).await);
    assert_eq!(
        (code, why.as_str()),
        (Code::PermissionDenied, "DELEGATED_ADMIN_SIDE_REQUIRED")
    );

    let rejected = suite
        .reject(&Actor::global_admin(customer), &created.name)
        .await
        .unwrap();
    assert_eq!(rejected.status(), S::Terminated);
    assert_eq!(rejected.end_reason(), pb::DelegatedAdminEndReason::Rejected);
    assert_eq!(rejected.ended_by, format!("customers/{customer}"));
    let (code, why) = code_and_reason(
        suite
            .approve(&Actor::global_admin(customer), &created.name)
            .await,
    );
    assert_eq!(
        (code, why.as_str()),
        (Code::FailedPrecondition, "DELEGATED_ADMIN_STATUS")
    );
    let access = suite.access(&agent, customer, partner).await.unwrap();
    assert!(!access.manages_users_and_licenses);
    assert_eq!(
        suite
            .relationship
            .database
            .outbox("relationship.v1.gdap.rejected")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn either_side_terminates() {
    let suite = start().await;
    let (partner, customer) = suite.partner_with_customer().await;
    let agent = Actor::admin_agent(partner);
    let customer_admin = Actor::global_admin(customer);
    let by_partner = suite
        .active(partner, customer, ask("First", "P1Y", ""))
        .await;
    let by_customer = suite
        .active(partner, customer, ask("Second", "P2Y", "P180D"))
        .await;

    let ended = suite.terminate(&agent, &by_partner.name).await.unwrap();
    assert_eq!(
        (ended.status(), ended.end_reason()),
        (S::Terminated, pb::DelegatedAdminEndReason::Terminated)
    );
    assert_eq!(ended.ended_by, format!("partners/{partner}"));
    let access = suite
        .access(&customer_admin, customer, partner)
        .await
        .unwrap();
    assert_eq!(access.relationship, by_customer.name);

    let ended = suite
        .terminate(&customer_admin, &by_customer.name)
        .await
        .unwrap();
    assert_eq!(ended.status(), S::Terminated);
    assert_eq!(ended.ended_by, format!("customers/{customer}"));
    let access = suite
        .access(&customer_admin, customer, partner)
        .await
        .unwrap();
    assert!(!access.manages_users_and_licenses);

    let (code, why) = code_and_reason(suite.terminate(&agent, &by_customer.name).await);
    assert_eq!(
        (code, why.as_str()),
        (Code::FailedPrecondition, "DELEGATED_ADMIN_STATUS")
    );
    // A user of the customer tenant without GLOBAL_ADMIN sees it but does not end it.
    let (code, why) = code_and_reason(
        suite
            .terminate(&Actor::admin_agent(customer), &by_customer.name)
            .await,
    );
    assert_eq!(
        (code, why.as_str()),
        (Code::PermissionDenied, "DELEGATED_ADMIN_SIDE_REQUIRED")
    );
    assert_eq!(
        suite
            .relationship
            .database
            .outbox("relationship.v1.gdap.terminated")
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn a_display_name_is_each_partners_own_per_customer() {
    let suite = start().await;
    let (provider, reseller) = active_partnership(&suite.enrollment, &suite.relationship).await;
    let customer = Uuid::new_v4();
    customer_joins_reseller_and_provider(&suite.relationship, reseller, provider, customer).await;
    let helpdesk = || ask("Helpdesk", "P90D", "");
    suite
        .create(
            &Actor::admin_agent(reseller),
            reseller,
            customer,
            helpdesk(),
        )
        .await
        .unwrap();
    // The provider's relationship of the same name is its own: nothing tells it of the
    // reseller's.
    suite
        .create(
            &Actor::admin_agent(provider),
            provider,
            customer,
            helpdesk(),
        )
        .await
        .unwrap();
    let (code, why) = code_and_reason(
        suite
            .create(
                &Actor::admin_agent(reseller),
                reseller,
                customer,
                helpdesk(),
            )
            .await,
    );
    assert_eq!(
        (code, why.as_str()),
        (Code::AlreadyExists, "DISPLAY_NAME_TAKEN")
    );
}

#[tokio::test]
async fn refused_requests_write_nothing() {
    let suite = start().await;
    let (partner, customer) = suite.partner_with_customer().await;
    let agent = Actor::admin_agent(partner);
    suite
        .create(&agent, partner, customer, ask("Helpdesk", "P90D", ""))
        .await
        .unwrap();
    let rows_before = suite.relationship.database.row_counts().await;

    let (code, why) = code_and_reason(
        suite
            .create(&agent, partner, customer, ask(" Helpdesk ", "P30D", ""))
            .await,
    );
    assert_eq!(
        (code, why.as_str()),
        (Code::AlreadyExists, "DISPLAY_NAME_TAKEN")
    );

    let field = |name: &str| format!("delegated_admin_relationship.{name}");
    let refusals = [
        (ask("Long", "P3Y", ""), field("duration")),
        (ask("Long", "PT12H", ""), field("duration")),
        (ask("Long", "P731D", ""), field("duration")),
        (ask("Long", "P90D", "P90D"), field("auto_extend_duration")),
        (ask(&"x".repeat(51), "P90D", ""), field("display_name")),
        (
            pb::DelegatedAdminRelationship {
                roles: vec![99],
                ..ask("Roles", "P90D", "")
            },
            field("roles"),
        ),
        (
            pb::DelegatedAdminRelationship {
                roles: vec![],
                ..ask("Roles", "P90D", "")
            },
            field("roles"),
        ),
    ];
    for (relationship, bad_field) in refusals {
        let status = suite
            .create(&agent, partner, customer, relationship)
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{bad_field}");
        assert_eq!(bad_fields(&status), [bad_field]);
    }

    // A partner that is not a partner of record of the customer asks nothing of it.
    let stranger = direct_bill_partner(&suite.enrollment).await;
    let rows_before_stranger = suite.relationship.database.row_counts().await;
    let (code, why) = code_and_reason(
        suite
            .create(
                &Actor::admin_agent(stranger),
                stranger,
                customer,
                ask("Stranger", "P90D", ""),
            )
            .await,
    );
    assert_eq!(
        (code, why.as_str()),
        (Code::FailedPrecondition, "NOT_PARTNER_OF_RECORD")
    );
    // Only ADMIN_AGENT asks.
    let (code, why) = code_and_reason(
        suite
            .create(
                &Actor::global_admin(partner),
                partner,
                customer,
                ask("Admin", "P90D", ""),
            )
            .await,
    );
    assert_eq!(
        (code, why.as_str()),
        (Code::PermissionDenied, "ROLE_REQUIRED")
    );
    assert_eq!(
        suite.relationship.database.row_counts().await,
        rows_before_stranger
    );
    assert_eq!(
        rows_before.get(TABLE),
        rows_before_stranger.get(TABLE),
        "no refused request left a relationship"
    );
    assert_eq!(suite.relationship.database.count_rows(TABLE).await, 1);
}

#[tokio::test]
async fn another_tenant_is_told_nothing_exists() {
    let suite = start().await;
    let (partner, customer) = suite.partner_with_customer().await;
    let (other_partner, other_customer) = suite.partner_with_customer().await;
    let pending = {
        let agent = Actor::admin_agent(partner);
        let created = suite
            .create(&agent, partner, customer, ask("Pending", "P90D", ""))
            .await
            .unwrap();
        suite.lock(&agent, &created.name).await.unwrap()
    };
    let id = pending.name.rsplit('/').next().unwrap();

    let strangers = [
        Actor::admin_agent(other_partner),
        Actor::global_admin(other_partner),
        Actor::global_admin(other_customer),
    ];
    for stranger in &strangers {
        let code = |result: Result<pb::DelegatedAdminRelationship, Status>| {
            result.expect_err("refused").code()
        };
        assert_eq!(
            code(suite.get(stranger, &pending.name).await),
            Code::NotFound
        );
        assert_eq!(
            code(suite.lock(stranger, &pending.name).await),
            Code::NotFound
        );
        assert_eq!(
            code(suite.approve(stranger, &pending.name).await),
            Code::NotFound
        );
        assert_eq!(
            code(suite.reject(stranger, &pending.name).await),
            Code::NotFound
        );
        assert_eq!(
            code(suite.terminate(stranger, &pending.name).await),
            Code::NotFound
        );
        let access = suite.access(stranger, customer, partner).await;
        assert_eq!(access.expect_err("refused").code(), Code::NotFound);
    }
    // The id under another partner's or customer's name is no relationship of theirs.
    let other_agent = Actor::admin_agent(other_partner);
    let borrowed =
        format!("partners/{other_partner}/customers/{customer}/delegatedAdminRelationships/{id}");
    let status = suite
        .get(&other_agent, &borrowed)
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::NotFound);
    let borrowed =
        format!("partners/{partner}/customers/{other_customer}/delegatedAdminRelationships/{id}");
    let status = suite
        .approve(&Actor::global_admin(other_customer), &borrowed)
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(suite.status(&pending.name).await, S::ApprovalPending);
    // Both sides and the operator see it.
    for viewer in [
        Actor::admin_agent(partner),
        Actor::global_admin(customer),
        Actor::operator(),
    ] {
        assert_eq!(suite.get(&viewer, &pending.name).await.unwrap(), pending);
    }
}

#[tokio::test]
async fn relationships_expire_or_extend_when_the_clock_moves() {
    let suite = start().await;
    let (partner, customer) = suite.partner_with_customer().await;
    let ending = suite
        .active(partner, customer, ask("Ending", "P30D", "P0D"))
        .await;
    let extending = suite
        .active(partner, customer, ask("Extending", "P30D", "P180D"))
        .await;
    let end = ending.end_time.unwrap().seconds;

    suite.hand.advance(DAY * 24);
    eventually(
        "the ending relationship is marked EXPIRING",
        SWEPT,
        || async {
            suite.stored_lapses(&ending.name).await == ["MarkDelegatedAdminRelationshipExpiring"]
        },
    )
    .await;
    assert_eq!(suite.status(&ending.name).await, S::Expiring);
    assert_eq!(suite.status(&extending.name).await, S::Active);
    let access = suite
        .access(&Actor::global_admin(customer), customer, partner)
        .await
        .unwrap();
    assert!(access.manages_users_and_licenses);

    suite.hand.advance(DAY * 7);
    eventually("the ending relationship is EXPIRED", SWEPT, || async {
        suite.stored_lapses(&ending.name).await.len() == 2
    })
    .await;
    eventually("the extending relationship is extended", SWEPT, || async {
        suite.stored_lapses(&extending.name).await.len() == 1
    })
    .await;
    let now = suite
        .get(&Actor::admin_agent(partner), &extending.name)
        .await
        .unwrap();
    assert_eq!(now.end_time.unwrap().seconds, end + 180 * 86_400);
    let extended = suite
        .get(&Actor::admin_agent(partner), &extending.name)
        .await
        .unwrap();
    assert_eq!(extended.status(), S::Active);
    let expired = suite
        .get(&Actor::admin_agent(partner), &ending.name)
        .await
        .unwrap();
    assert_eq!(expired.end_reason(), pb::DelegatedAdminEndReason::Expired);

    let access = suite
        .access(&Actor::global_admin(customer), customer, partner)
        .await
        .unwrap();
    assert_eq!(access.relationship, extending.name);
    let database = &suite.relationship.database;
    assert_eq!(
        database.audit_actions(&ending.name).await[3..],
        [
            "MarkDelegatedAdminRelationshipExpiring",
            "ExpireDelegatedAdminRelationship"
        ]
    );
    assert_eq!(
        database.audit_actions(&extending.name).await[3..],
        ["ExtendDelegatedAdminRelationship"]
    );
    assert_eq!(
        database.outbox("relationship.v1.gdap.expired").await.len(),
        1
    );
    assert_eq!(
        database.outbox("relationship.v1.gdap.extended").await.len(),
        1
    );
}

#[tokio::test]
async fn two_replicas_sweeping_one_database_change_each_relationship_once() {
    let suite = start().await;
    let options = relationship_options(suite.clock.clone());
    let database_url = suite.relationship.database.url().to_owned();
    let enrollment_url = suite.enrollment.url();
    let second = spawn_service_adjusted(
        move |config, listener, shutdown| {
            relationship::run_with(options, config, listener, shutdown)
        },
        move |config| {
            config.database_url = Secret::new(database_url);
            config.peers = PeerUrls {
                enrollment: Some(enrollment_url),
                ..PeerUrls::default()
            };
        },
    )
    .await;

    let (partner, customer) = suite.partner_with_customer().await;
    let mut names = Vec::new();
    for index in 0..6 {
        let auto_extend = if index % 2 == 0 { "P180D" } else { "" };
        let active = suite
            .active(
                partner,
                customer,
                ask(&format!("Swept {index}"), "P30D", auto_extend),
            )
            .await;
        names.push((active.name, !auto_extend.is_empty()));
    }
    // The second replica sees what the first wrote.
    let seen = second
        .relationship(&Actor::admin_agent(partner))
        .get_delegated_admin_relationship(pb::GetDelegatedAdminRelationshipRequest {
            name: names[0].0.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.status(), S::Active);

    // Each replica sweeps every second: moving the clock to within the notice of the end,
    // then past it, gives both replicas the same due rows each time.
    let swept = |extends: bool| -> &'static [&'static str] {
        if extends {
            &["ExtendDelegatedAdminRelationship"]
        } else {
            &[
                "MarkDelegatedAdminRelationshipExpiring",
                "ExpireDelegatedAdminRelationship",
            ]
        }
    };
    suite.hand.advance(DAY * 24);
    eventually(
        "those that do not extend are marked EXPIRING",
        SWEPT,
        || async {
            let mut done = true;
            for (name, extends) in &names {
                done &= *extends || suite.stored_lapses(name).await.len() == 1;
            }
            done
        },
    )
    .await;
    suite.hand.advance(DAY * 7);
    eventually("every relationship is swept", SWEPT, || async {
        let database = &suite.relationship.database;
        let mut done = true;
        for (name, extends) in &names {
            done &= database.audit_actions(name).await.len() == 3 + swept(*extends).len();
        }
        done
    })
    .await;
    // Let both replicas sweep a few more times over the same rows.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let database = &suite.relationship.database;
    for (name, extends) in &names {
        assert_eq!(
            database.audit_actions(name).await[3..],
            *swept(*extends),
            "{name}"
        );
    }
    for topic in ["expiring", "expired", "extended"] {
        let events = database
            .outbox(&format!("relationship.v1.gdap.{topic}"))
            .await;
        assert_eq!(events.len(), 3, "{topic}");
    }
    second.stop().await;
}

#[tokio::test]
async fn a_retried_request_is_answered_once() {
    let suite = start().await;
    let (partner, customer) = suite.partner_with_customer().await;
    let mut client = suite
        .relationship
        .relationship(&Actor::admin_agent(partner));
    let request = pb::CreateDelegatedAdminRelationshipRequest {
        request_id: request_id(),
        parent: format!("partners/{partner}/customers/{customer}"),
        delegated_admin_relationship: Some(ask("Retried", "P90D", "")),
    };
    let first = client
        .create_delegated_admin_relationship(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = client
        .create_delegated_admin_relationship(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(suite.relationship.database.count_rows(TABLE).await, 1);
    assert_eq!(
        suite
            .relationship
            .database
            .outbox("relationship.v1.gdap.requested")
            .await
            .len(),
        1
    );

    let reused = client
        .create_delegated_admin_relationship(pb::CreateDelegatedAdminRelationshipRequest {
            delegated_admin_relationship: Some(ask("Another", "P90D", "")),
            ..request
        })
        .await
        .expect_err("refused");
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&reused), ["request_id"]);
    assert_eq!(suite.relationship.database.count_rows(TABLE).await, 1);

    let missing = client
        .create_delegated_admin_relationship(pb::CreateDelegatedAdminRelationshipRequest {
            request_id: String::new(),
            parent: format!("partners/{partner}/customers/{customer}"),
            delegated_admin_relationship: Some(ask("No id", "P90D", "")),
        })
        .await
        .expect_err("refused");
    assert_eq!(bad_fields(&missing), ["request_id"]);
}

#[tokio::test]
async fn both_sides_list_a_partners_relationships_with_the_customer() {
    let suite = start().await;
    let (partner, customer) = suite.partner_with_customer().await;
    let (other_partner, _) = suite.partner_with_customer().await;
    let agent = Actor::admin_agent(partner);
    let mut created = Vec::new();
    for index in 0..3 {
        let relationship = suite
            .create(
                &agent,
                partner,
                customer,
                ask(&format!("Listed {index}"), "P1Y", ""),
            )
            .await
            .unwrap();
        created.push(relationship.name);
    }
    created.sort();
    let parent = format!("partners/{partner}/customers/{customer}");
    for viewer in [
        agent.clone(),
        Actor::global_admin(customer),
        Actor::operator(),
    ] {
        let mut client = suite.relationship.relationship(&viewer);
        let mut listed = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = client
                .list_delegated_admin_relationships(pb::ListDelegatedAdminRelationshipsRequest {
                    parent: parent.clone(),
                    page_size: 2,
                    page_token,
                })
                .await
                .unwrap()
                .into_inner();
            listed.extend(
                page.delegated_admin_relationships
                    .into_iter()
                    .map(|r| r.name),
            );
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        assert_eq!(listed, created);
    }
    let status = suite
        .relationship
        .relationship(&Actor::admin_agent(other_partner))
        .list_delegated_admin_relationships(pb::ListDelegatedAdminRelationshipsRequest {
            parent,
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn sweeps_racing_on_one_database_change_each_relationship_once() {
    let suite = start().await;
    let (partner, customer) = suite.partner_with_customer().await;
    let mut names = Vec::new();
    for index in 0..8 {
        let auto_extend = if index % 2 == 0 { "P180D" } else { "" };
        let active = suite
            .active(
                partner,
                customer,
                ask(&format!("Raced {index}"), "P30D", auto_extend),
            )
            .await;
        names.push(active.name);
    }
    // Two stores on the service's database, as two replicas have, sweep at a time past every
    // end at once; the service's own sweep keeps its unmoved clock and has nothing due.
    let database = suite.relationship.database.database();
    let first = RelationshipStore::new(database.clone(), page_codec());
    let second = RelationshipStore::new(database, page_codec());
    let later = suite.start + 31 * 86_400_000_000;
    let (by_first, by_second) = tokio::join!(first.sweep_gdap(later), second.sweep_gdap(later));
    assert_eq!(by_first.unwrap() + by_second.unwrap(), names.len());
    let (again_first, again_second) =
        tokio::join!(first.sweep_gdap(later), second.sweep_gdap(later));
    assert_eq!(again_first.unwrap() + again_second.unwrap(), 0);
    let audit = &suite.relationship.database;
    for name in &names {
        assert_eq!(audit.audit_actions(name).await.len(), 4, "{name}");
    }
    assert_eq!(audit.outbox("relationship.v1.gdap.extended").await.len(), 4);
    assert_eq!(audit.outbox("relationship.v1.gdap.expired").await.len(), 4);
}

#[tokio::test]
async fn a_relationship_past_its_end_grants_nothing_before_the_sweep_writes_it() {
    let suite = start_sweeping_every(HELD_OFF).await;
    let (partner, customer) = suite.partner_with_customer().await;
    let agent = Actor::admin_agent(partner);
    let customer_admin = Actor::global_admin(customer);
    let ending = suite
        .active(partner, customer, ask("Ending", "P30D", ""))
        .await;
    let end = ending.end_time.unwrap().seconds;

    suite.hand.advance(DAY * 31);
    // Nothing was swept: the stored row is still ACTIVE.
    assert!(suite.stored_lapses(&ending.name).await.is_empty());
    for asker in [&customer_admin, &agent, &Actor::operator()] {
        let access = suite.access(asker, customer, partner).await.unwrap();
        assert!(!access.manages_users_and_licenses);
        assert_eq!(access.relationship, "");
    }
    // Read, it is EXPIRED, one by one and in the list.
    let read = suite.get(&agent, &ending.name).await.unwrap();
    assert_eq!(
        (read.status(), read.end_reason()),
        (S::Expired, pb::DelegatedAdminEndReason::Expired)
    );
    let listed = suite
        .relationship
        .relationship(&customer_admin)
        .list_delegated_admin_relationships(pb::ListDelegatedAdminRelationshipsRequest {
            parent: format!("partners/{partner}/customers/{customer}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .delegated_admin_relationships;
    assert_eq!(listed, std::slice::from_ref(&read));
    // A change applies to it as it stands: it has ended, so it is not terminated, and the
    // refusal writes nothing.
    let (code, why) = code_and_reason(suite.terminate(&customer_admin, &ending.name).await);
    assert_eq!(
        (code, why.as_str()),
        (Code::FailedPrecondition, "DELEGATED_ADMIN_STATUS")
    );
    assert!(suite.stored_lapses(&ending.name).await.is_empty());

    // One that extends itself goes on granting access past its first end; terminated, the
    // extension the clock brought is written first, then the termination.
    let extending = suite
        .active(partner, customer, ask("Extending", "P30D", "P180D"))
        .await;
    let extended_end = extending.end_time.unwrap().seconds + 180 * 86_400;
    suite.hand.advance(DAY * 31);
    let access = suite.access(&agent, customer, partner).await.unwrap();
    assert!(access.manages_users_and_licenses);
    assert_eq!(access.relationship, extending.name);
    assert_eq!(access.end_time.unwrap().seconds, extended_end);
    let read = suite.get(&agent, &extending.name).await.unwrap();
    assert_eq!(read.status(), S::Active);
    assert_eq!(read.end_time.unwrap().seconds, extended_end);
    let terminated = suite
        .relationship
        .relationship(&agent)
        .terminate_delegated_admin_relationship(pb::TerminateDelegatedAdminRelationshipRequest {
            request_id: request_id(),
            name: extending.name.clone(),
            etag: read.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(terminated.status(), S::Terminated);
    assert_eq!(terminated.end_time.unwrap().seconds, extended_end);
    assert_eq!(
        suite.stored_lapses(&extending.name).await,
        [
            "ExtendDelegatedAdminRelationship",
            "TerminateDelegatedAdminRelationship"
        ]
    );
    assert!(end < extended_end);
}

/// Writes a relationship row straight into the service's database, as a replica with a
/// different release (or a damaged row) might have left it.
async fn insert_raw_relationship(
    suite: &Suite,
    status: S,
    roles: &str,
    auto_extend: bool,
    end_time: i64,
) -> String {
    let (partner, customer, id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    sqlx::query(
        "INSERT INTO delegated_admin_relationships (id, partner_tenant_id, customer_tenant_id, display_name, roles, \
         duration, duration_days, auto_extend, status, end_reason, ended_by, create_time, activate_time, end_time, \
         update_time, version) VALUES ($1, $2, $3, $4, $5, 'P30D', 30, $6, $7, $8, '', $9, $9, $10, $9, 2)",
    )
    .bind(id.to_string())
    .bind(partner.to_string())
    .bind(customer.to_string())
    .bind(format!("Raw {id}"))
    .bind(roles)
    .bind(i64::from(auto_extend))
    .bind(status.as_str_name())
    .bind(pb::DelegatedAdminEndReason::Unspecified.as_str_name())
    .bind(suite.start)
    .bind(end_time)
    .execute(suite.relationship.database.database().pool())
    .await
    .unwrap();
    format!("partners/{partner}/customers/{customer}/delegatedAdminRelationships/{id}")
}

#[tokio::test]
async fn an_unreadable_relationship_does_not_stop_the_sweep() {
    let suite = start().await;
    let (partner, customer) = suite.partner_with_customer().await;
    let good = suite
        .active(partner, customer, ask("Good", "P30D", ""))
        .await;
    // Ended first, so read first: a role this release does not know.
    insert_raw_relationship(
        &suite,
        S::Active,
        "DELEGATED_ADMIN_ROLE_FROM_THE_FUTURE",
        false,
        suite.start + 86_400_000_000,
    )
    .await;

    suite.hand.advance(DAY * 31);
    eventually("the readable relationship is expired", SWEPT, || async {
        suite.stored_lapses(&good.name).await == ["ExpireDelegatedAdminRelationship"]
    })
    .await;
}

#[tokio::test]
async fn relationships_with_nothing_due_do_not_fill_the_sweeps_batch() {
    let suite = start().await;
    let (partner, customer) = suite.partner_with_customer().await;
    let due = suite
        .active(partner, customer, ask("Due", "P30D", ""))
        .await;
    // A sweep's batch (500) of relationships ending before it, none of them due at day 24:
    // EXPIRING ones not ended yet, and ones that extend themselves within the notice.
    let day = 86_400_000_000;
    for index in 0..500 {
        let (status, auto_extend) = match index % 2 {
            0 => (S::Expiring, false),
            _ => (S::Active, true),
        };
        let roles = R::UserAdministrator.as_str_name();
        insert_raw_relationship(&suite, status, roles, auto_extend, suite.start + 25 * day).await;
    }

    suite.hand.advance(DAY * 24);
    eventually("the due relationship is marked EXPIRING", SWEPT, || async {
        suite.stored_lapses(&due.name).await == ["MarkDelegatedAdminRelationshipExpiring"]
    })
    .await;
    assert_eq!(
        suite
            .relationship
            .database
            .outbox("relationship.v1.gdap.expiring")
            .await
            .len(),
        1
    );
}
