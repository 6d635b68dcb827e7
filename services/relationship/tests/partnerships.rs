//! Partnerships over real gRPC: an official indirect provider invites a reseller, the e-mailed
//! single-use link is accepted by the reseller's GLOBAL_ADMIN, each side lists the other, and
//! either side suspends, resumes (the side that suspended) or revokes (final).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::time::Duration;

use prost::Message;
use relationship::{RelationshipOptions, RelationshipStore};
use suite_auth::Role;
use suite_config::PeerUrls;
use suite_db::{Clock, ManualClock};
use suite_proto::relationship::v1 as pb;
use suite_testkit::{
    Actor, TestService, direct_bill_partner, enroll_indirect_reseller, eventually,
    indirect_reseller_partner, official_indirect_provider, page_codec, partnership_between, reason,
    record_customer, request_id, restrict_direct_bill, spawn_service, spawn_service_adjusted,
};
use tonic::{Code, Status};
use uuid::Uuid;

const LINK_BASE: &str = "https://partners.test/accept";
const DAY: Duration = Duration::from_secs(86_400);
const DAY_MICROS: i64 = 86_400_000_000;
const EMAIL: &str = "admin@reseller.example";

struct Suite {
    enrollment: TestService,
    relationship: TestService,
    clock: ManualClock,
}

async fn start() -> Suite {
    let enrollment = spawn_service(enrollment::run, PeerUrls::default()).await;
    let (clock, handle) = Clock::manual(suite_db::now_micros());
    let options = RelationshipOptions {
        clock,
        invitation_lifetime: DAY * 14,
        invitation_link_base: LINK_BASE.into(),
        ..RelationshipOptions::default()
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
        clock: handle,
    }
}

fn resellers_name(provider: Uuid, reseller: Uuid) -> String {
    format!("partners/{provider}/indirectResellers/{reseller}")
}

fn providers_name(provider: Uuid, reseller: Uuid) -> String {
    format!("partners/{reseller}/indirectProviders/{provider}")
}

fn invitation(provider: Uuid, reseller: Uuid) -> pb::InviteIndirectResellerRequest {
    pb::InviteIndirectResellerRequest {
        request_id: request_id(),
        parent: format!("partners/{provider}"),
        reseller_tenant_id: reseller.to_string(),
        invite_email: EMAIL.into(),
    }
}

/// The e-mailed link: its partnership name and token.
struct Link {
    name: String,
    token: String,
}

impl Suite {
    async fn invite(&self, provider: Uuid, reseller: Uuid) -> Result<pb::Partnership, Status> {
        self.relationship
            .relationship(&Actor::admin_agent(provider))
            .invite_indirect_reseller(invitation(provider, reseller))
            .await
            .map(|r| r.into_inner())
    }

    /// The links of every invitation e-mail so far, oldest first, with their e-mails.
    async fn links(&self) -> Vec<(Link, String)> {
        let mut links = Vec::new();
        for payload in self.relationship.database.outbox("email").await {
            let email = String::from_utf8(payload).unwrap();
            let link_start = email.find(LINK_BASE).expect("a link in the e-mail");
            let link: String = email[link_start..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '\\' && *c != '"')
                .collect();
            let query = link.split_once('?').unwrap().1;
            let (name, token) = query.split_once('&').unwrap();
            links.push((
                Link {
                    name: name.strip_prefix("name=").unwrap().to_owned(),
                    token: token.strip_prefix("token=").unwrap().to_owned(),
                },
                email,
            ));
        }
        links
    }

    async fn last_link(&self) -> Link {
        self.links().await.pop().expect("an invitation e-mail").0
    }

    async fn accept_as(
        &self,
        actor: &Actor,
        name: &str,
        token: &str,
    ) -> Result<pb::Partnership, Status> {
        self.relationship
            .relationship(actor)
            .accept_partnership_invitation(pb::AcceptPartnershipInvitationRequest {
                request_id: request_id(),
                name: name.into(),
                invitation_token: token.into(),
            })
            .await
            .map(|r| r.into_inner())
    }

    /// An ACTIVE partnership between a new official provider and a new indirect reseller.
    async fn active_partnership(&self) -> (Uuid, Uuid) {
        let provider = official_indirect_provider(&self.enrollment).await;
        let reseller = indirect_reseller_partner(&self.enrollment).await;
        self.invite(provider, reseller).await.unwrap();
        let link = self.last_link().await;
        self.accept_as(&Actor::global_admin(reseller), &link.name, &link.token)
            .await
            .unwrap();
        (provider, reseller)
    }

    async fn get(&self, actor: &Actor, name: &str) -> Result<pb::Partnership, Status> {
        self.relationship
            .relationship(actor)
            .get_partnership(pb::GetPartnershipRequest { name: name.into() })
            .await
            .map(|r| r.into_inner())
    }

    async fn resellers_of(&self, provider: Uuid) -> Vec<pb::Partnership> {
        self.relationship
            .relationship(&Actor::admin_agent(provider))
            .list_indirect_resellers(pb::ListIndirectResellersRequest {
                parent: format!("partners/{provider}"),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .partnerships
    }

    async fn providers_of(&self, reseller: Uuid) -> Vec<pb::Partnership> {
        self.relationship
            .relationship(&Actor::global_admin(reseller))
            .list_indirect_providers(pb::ListIndirectProvidersRequest {
                parent: format!("partners/{reseller}"),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .partnerships
    }

    async fn change(
        &self,
        actor: &Actor,
        action: &str,
        name: &str,
        etag: &str,
    ) -> Result<pb::Partnership, Status> {
        let mut client = self.relationship.relationship(actor);
        let (request_id, name, etag) = (request_id(), name.to_owned(), etag.to_owned());
        let answer = match action {
            "suspend" => {
                client
                    .suspend_partnership(pb::SuspendPartnershipRequest {
                        request_id,
                        name,
                        etag,
                    })
                    .await
            }
            "resume" => {
                client
                    .resume_partnership(pb::ResumePartnershipRequest {
                        request_id,
                        name,
                        etag,
                    })
                    .await
            }
            "revoke" => {
                client
                    .revoke_partnership(pb::RevokePartnershipRequest {
                        request_id,
                        name,
                        etag,
                    })
                    .await
            }
            other => panic!("no action {other}"),
        };
        answer.map(|r| r.into_inner())
    }

    fn store(&self) -> RelationshipStore {
        RelationshipStore::new(self.relationship.database.database(), page_codec())
    }

    async fn allows_new_business(&self, provider: Uuid, reseller: Uuid) -> bool {
        self.store()
            .active_partnership(provider, reseller)
            .await
            .unwrap()
    }
}

fn assert_refused(status: &Status, code: Code, expected_reason: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(reason(status), expected_reason, "{status:?}");
}

fn state(partnership: &pb::Partnership) -> pb::PartnershipState {
    partnership.state()
}

#[tokio::test]
async fn invitation_is_emailed_accepted_and_each_side_lists_the_other() {
    let suite = start().await;
    let provider = official_indirect_provider(&suite.enrollment).await;
    let reseller = indirect_reseller_partner(&suite.enrollment).await;

    let invited = suite.invite(provider, reseller).await.unwrap();
    assert_eq!(invited.name, resellers_name(provider, reseller));
    assert_eq!(state(&invited), pb::PartnershipState::Invited);
    let expiry =
        invited.invitation_expire_time.unwrap().seconds - invited.invite_time.unwrap().seconds;
    assert_eq!(expiry, 14 * 86_400);

    let links = suite.links().await;
    assert_eq!(links.len(), 1);
    let (link, email) = &links[0];
    assert!(email.contains(EMAIL), "{email}");
    assert_eq!(link.name, providers_name(provider, reseller));
    assert_eq!(link.token.len(), 64);
    // Only the token's hash is kept: neither the row nor the answers hold the token.
    let stored: String = sqlx::query_scalar("SELECT invitation_token_hash FROM partnerships")
        .fetch_one(suite.relationship.database.database().pool())
        .await
        .unwrap();
    assert_ne!(stored, link.token);
    assert!(!format!("{invited:?}").contains(&link.token));
    // The invited reseller already sees the pending invitation.
    let pending = suite.providers_of(reseller).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(state(&pending[0]), pb::PartnershipState::Invited);
    assert!(!suite.allows_new_business(provider, reseller).await);

    let accepted = suite
        .accept_as(&Actor::global_admin(reseller), &link.name, &link.token)
        .await
        .unwrap();
    assert_eq!(accepted.name, providers_name(provider, reseller));
    assert_eq!(state(&accepted), pb::PartnershipState::Active);
    assert!(accepted.accept_time.is_some());
    assert_ne!(accepted.etag, invited.etag);

    let resellers = suite.resellers_of(provider).await;
    assert_eq!(resellers.len(), 1);
    assert_eq!(resellers[0].reseller_tenant_id, reseller.to_string());
    assert_eq!(state(&resellers[0]), pb::PartnershipState::Active);
    let providers = suite.providers_of(reseller).await;
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0].name, providers_name(provider, reseller));
    assert_eq!(providers[0].provider_tenant_id, provider.to_string());
    assert!(suite.allows_new_business(provider, reseller).await);

    let database = &suite.relationship.database;
    assert_eq!(
        database
            .audit_trail(&resellers_name(provider, reseller))
            .await,
        vec![
            ("InviteIndirectReseller".to_owned(), false, true),
            ("AcceptPartnershipInvitation".to_owned(), true, true),
        ]
    );
    for topic in [
        "relationship.v1.partnership.invitation_sent",
        "relationship.v1.partnership.accepted",
    ] {
        assert_eq!(database.outbox(topic).await.len(), 1, "{topic}");
    }
}

#[tokio::test]
async fn lists_are_paged_by_the_other_sides_tenant() {
    let suite = start().await;
    let provider = official_indirect_provider(&suite.enrollment).await;
    let mut resellers = Vec::new();
    for _ in 0..3 {
        let reseller = Uuid::new_v4();
        suite.invite(provider, reseller).await.unwrap();
        resellers.push(reseller.to_string());
    }
    resellers.sort();
    let mut client = suite
        .relationship
        .relationship(&Actor::global_admin(provider));
    let first = client
        .list_indirect_resellers(pb::ListIndirectResellersRequest {
            parent: format!("partners/{provider}"),
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.partnerships.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = client
        .list_indirect_resellers(pb::ListIndirectResellersRequest {
            parent: format!("partners/{provider}"),
            page_size: 2,
            page_token: first.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(second.next_page_token.is_empty());
    let seen: Vec<String> = first
        .partnerships
        .iter()
        .chain(&second.partnerships)
        .map(|p| p.reseller_tenant_id.clone())
        .collect();
    assert_eq!(seen, resellers);
}

#[tokio::test]
async fn only_an_official_provider_invites_and_only_its_admin_agent() {
    let suite = start().await;
    let not_listed = direct_bill_partner(&suite.enrollment).await;
    let reseller = indirect_reseller_partner(&suite.enrollment).await;

    let refused = suite.invite(not_listed, reseller).await.unwrap_err();
    assert_refused(
        &refused,
        Code::FailedPrecondition,
        "OFFICIAL_INDIRECT_PROVIDER_REQUIRED",
    );

    let provider = official_indirect_provider(&suite.enrollment).await;
    let as_global_admin = suite
        .relationship
        .relationship(&Actor::global_admin(provider))
        .invite_indirect_reseller(invitation(provider, reseller))
        .await
        .unwrap_err();
    assert_refused(&as_global_admin, Code::PermissionDenied, "ROLE_REQUIRED");
    let for_another_tenant = suite
        .relationship
        .relationship(&Actor::admin_agent(not_listed))
        .invite_indirect_reseller(invitation(provider, reseller))
        .await
        .unwrap_err();
    assert_refused(&for_another_tenant, Code::NotFound, "RESOURCE_NOT_FOUND");

    assert_eq!(suite.relationship.count_rows("partnerships").await, 0);
    assert_eq!(suite.relationship.count_rows("outbox_messages").await, 0);
    assert_eq!(suite.relationship.count_rows("audit_events").await, 0);
}

#[tokio::test]
async fn a_second_invitation_while_invited_or_active_already_exists() {
    let suite = start().await;
    let provider = official_indirect_provider(&suite.enrollment).await;
    let reseller = indirect_reseller_partner(&suite.enrollment).await;
    suite.invite(provider, reseller).await.unwrap();
    let again = suite.invite(provider, reseller).await.unwrap_err();
    assert_refused(&again, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");

    let (provider, reseller) = suite.active_partnership().await;
    let again = suite.invite(provider, reseller).await.unwrap_err();
    assert_refused(&again, Code::AlreadyExists, "RESOURCE_ALREADY_EXISTS");
}

#[tokio::test]
async fn only_a_global_admin_of_an_indirect_reseller_accepts() {
    let suite = start().await;
    let provider = official_indirect_provider(&suite.enrollment).await;
    let not_reseller = direct_bill_partner(&suite.enrollment).await;
    suite.invite(provider, not_reseller).await.unwrap();
    let link = suite.last_link().await;
    let before = suite.relationship.database.row_counts().await;

    let refused = suite
        .accept_as(&Actor::global_admin(not_reseller), &link.name, &link.token)
        .await
        .unwrap_err();
    assert_refused(&refused, Code::FailedPrecondition, "CAPABILITY_REQUIRED");
    assert!(
        refused
            .message()
            .contains("CAPABILITY_REQUEST_PROVIDER_ORDERS")
    );
    assert_eq!(suite.relationship.database.row_counts().await, before);

    let reseller = indirect_reseller_partner(&suite.enrollment).await;
    suite.invite(provider, reseller).await.unwrap();
    let link = suite.last_link().await;
    let before_agent = suite.relationship.database.row_counts().await;
    let as_agent = suite
        .accept_as(&Actor::admin_agent(reseller), &link.name, &link.token)
        .await
        .unwrap_err();
    assert_refused(&as_agent, Code::PermissionDenied, "ROLE_REQUIRED");
    assert_eq!(suite.relationship.database.row_counts().await, before_agent);

    let still = suite
        .get(
            &Actor::global_admin(not_reseller),
            &providers_name(provider, not_reseller),
        )
        .await
        .unwrap();
    assert_eq!(state(&still), pb::PartnershipState::Invited);
    assert_eq!(
        suite
            .relationship
            .database
            .audit_actions(&resellers_name(provider, not_reseller))
            .await,
        vec!["InviteIndirectReseller".to_owned()]
    );
}

#[tokio::test]
async fn replayed_expired_and_foreign_tokens_are_refused_and_write_nothing() {
    let suite = start().await;
    let first_provider = official_indirect_provider(&suite.enrollment).await;
    let second_provider = official_indirect_provider(&suite.enrollment).await;
    let reseller = indirect_reseller_partner(&suite.enrollment).await;
    let stranger = indirect_reseller_partner(&suite.enrollment).await;
    let admin = Actor::global_admin(reseller);
    suite.invite(first_provider, reseller).await.unwrap();
    let first = suite.last_link().await;
    suite.invite(second_provider, reseller).await.unwrap();
    let second = suite.last_link().await;
    let database = &suite.relationship.database;
    let before = database.row_counts().await;

    // The token of another invitation of the same reseller.
    let crossed = suite
        .accept_as(&admin, &first.name, &second.token)
        .await
        .unwrap_err();
    assert_refused(
        &crossed,
        Code::FailedPrecondition,
        "INVITATION_TOKEN_MISMATCH",
    );
    // A token no invitation has.
    let garbage = suite
        .accept_as(&admin, &first.name, "not-a-token-of-ours")
        .await
        .unwrap_err();
    assert_refused(&garbage, Code::NotFound, "INVITATION_NOT_FOUND");
    // Another tenant's GLOBAL_ADMIN, with the right link, or naming its own pair.
    let foreign = suite
        .accept_as(&Actor::global_admin(stranger), &first.name, &first.token)
        .await
        .unwrap_err();
    assert_refused(&foreign, Code::NotFound, "RESOURCE_NOT_FOUND");
    let own_pair = suite
        .accept_as(
            &Actor::global_admin(stranger),
            &providers_name(first_provider, stranger),
            &first.token,
        )
        .await
        .unwrap_err();
    assert_refused(&own_pair, Code::NotFound, "RESOURCE_NOT_FOUND");
    // The provider's side of the name is not the link's.
    let provider_side = suite
        .accept_as(
            &Actor::global_admin(first_provider),
            &resellers_name(first_provider, reseller),
            &first.token,
        )
        .await
        .unwrap_err();
    assert_eq!(provider_side.code(), Code::InvalidArgument);
    assert_eq!(database.row_counts().await, before);

    // Used once, then refused.
    suite
        .accept_as(&admin, &first.name, &first.token)
        .await
        .unwrap();
    let after_accept = database.row_counts().await;
    let replayed = suite
        .accept_as(&admin, &first.name, &first.token)
        .await
        .unwrap_err();
    assert_refused(
        &replayed,
        Code::FailedPrecondition,
        "INVITATION_ALREADY_USED",
    );
    assert_eq!(database.row_counts().await, after_accept);

    // Past its lifetime the sweep records the expiry once, with its event; the partnership
    // stays INVITED, and the second link is refused.
    suite.clock.advance(DAY * 15);
    eventually(
        "the expiry is recorded",
        Duration::from_secs(10),
        || async { database.outbox(EXPIRED_TOPIC).await.len() == 1 },
    )
    .await;
    let canonical = resellers_name(second_provider, reseller);
    assert_eq!(
        database.audit_actions(&canonical).await,
        ["InviteIndirectReseller", "ExpirePartnershipInvitation"]
    );
    let lapsed = suite
        .get(&Actor::admin_agent(second_provider), &canonical)
        .await
        .unwrap();
    assert_eq!(state(&lapsed), pb::PartnershipState::Invited);
    let after_expiry = database.row_counts().await;
    let expired = suite
        .accept_as(&admin, &second.name, &second.token)
        .await
        .unwrap_err();
    assert_refused(&expired, Code::FailedPrecondition, "INVITATION_EXPIRED");
    assert_eq!(database.row_counts().await, after_expiry);

    // A new invitation sends a new link, whose own expiry is recorded again.
    let renewed = suite.invite(second_provider, reseller).await.unwrap();
    assert_eq!(state(&renewed), pb::PartnershipState::Invited);
    assert_eq!(renewed.etag, "2");
    let third = suite.last_link().await;
    assert_ne!(third.token, second.token);
    let old = suite
        .accept_as(&admin, &second.name, &second.token)
        .await
        .unwrap_err();
    assert_refused(&old, Code::NotFound, "INVITATION_NOT_FOUND");
    let accepted = suite
        .accept_as(&admin, &third.name, &third.token)
        .await
        .unwrap();
    assert_eq!(state(&accepted), pb::PartnershipState::Active);
    assert_eq!(suite.providers_of(reseller).await.len(), 2);
}

const EXPIRED_TOPIC: &str = "relationship.v1.partnership.invitation_expired";

#[tokio::test]
async fn an_unaccepted_invitation_is_recorded_expired_once_per_link() {
    let suite = start().await;
    let provider = official_indirect_provider(&suite.enrollment).await;
    let reseller = indirect_reseller_partner(&suite.enrollment).await;
    let database = &suite.relationship.database;
    let canonical = resellers_name(provider, reseller);
    suite.invite(provider, reseller).await.unwrap();

    // Two replicas sweeping the same rows at once, past the link's expiry: one records it.
    let later = suite.clock.now_micros() + 15 * DAY_MICROS;
    let first = RelationshipStore::new(database.database(), page_codec());
    let second = RelationshipStore::new(database.database(), page_codec());
    let (by_first, by_second) = tokio::join!(first.sweep(later), second.sweep(later));
    assert_eq!(by_first.unwrap() + by_second.unwrap(), 1);
    let (again_first, again_second) = tokio::join!(first.sweep(later), second.sweep(later));
    assert_eq!(again_first.unwrap() + again_second.unwrap(), 0);
    let events = database.outbox(EXPIRED_TOPIC).await;
    assert_eq!(events.len(), 1);
    let event = pb::Partnership::decode(events[0].as_slice()).unwrap();
    assert_eq!(event.name, canonical);
    assert_eq!(state(&event), pb::PartnershipState::Invited);
    // Nothing a side reads changed: the etag is the invitation's.
    let read = suite
        .get(&Actor::admin_agent(provider), &canonical)
        .await
        .unwrap();
    assert_eq!(
        (state(&read), read.etag.as_str()),
        (pb::PartnershipState::Invited, "1")
    );

    // Once recorded expired, the link stays refused, even asked of a replica whose clock
    // is behind (this service's has not moved).
    let link = suite.last_link().await;
    let admin = Actor::global_admin(reseller);
    let late = suite
        .accept_as(&admin, &link.name, &link.token)
        .await
        .unwrap_err();
    assert_refused(&late, Code::FailedPrecondition, "INVITATION_EXPIRED");

    // A new link is accepted, and an accepted invitation never expires: a later sweep has
    // nothing to record.
    suite.invite(provider, reseller).await.unwrap();
    let link = suite.last_link().await;
    suite
        .accept_as(&admin, &link.name, &link.token)
        .await
        .unwrap();
    let much_later = suite.clock.now_micros() + 30 * DAY_MICROS;
    assert_eq!(first.sweep(much_later).await.unwrap(), 0);
    assert_eq!(database.outbox(EXPIRED_TOPIC).await.len(), 1);
}

#[tokio::test]
async fn either_side_suspends_the_suspender_resumes_and_revocation_is_final() {
    let suite = start().await;
    let (provider, reseller) = suite.active_partnership().await;
    let provider_admin = Actor::admin_agent(provider);
    let reseller_admin = Actor::admin_agent(reseller);
    let on_provider = resellers_name(provider, reseller);
    let on_reseller = providers_name(provider, reseller);

    let current = suite.get(&reseller_admin, &on_reseller).await.unwrap();
    let suspended = suite
        .change(&reseller_admin, "suspend", &on_reseller, &current.etag)
        .await
        .unwrap();
    assert_eq!(state(&suspended), pb::PartnershipState::Suspended);
    assert_eq!(suspended.suspended_by, format!("partners/{reseller}"));
    // Still seen by both sides, but nothing new goes through it.
    assert_eq!(
        state(&suite.resellers_of(provider).await[0]),
        pb::PartnershipState::Suspended
    );
    assert_eq!(
        state(&suite.providers_of(reseller).await[0]),
        pb::PartnershipState::Suspended
    );
    assert!(!suite.allows_new_business(provider, reseller).await);

    let not_theirs = suite
        .change(&provider_admin, "resume", &on_provider, "")
        .await
        .unwrap_err();
    assert_refused(
        &not_theirs,
        Code::FailedPrecondition,
        "SUSPENDED_BY_OTHER_SIDE",
    );
    let twice = suite
        .change(&provider_admin, "suspend", &on_provider, "")
        .await
        .unwrap_err();
    assert_refused(
        &twice,
        Code::FailedPrecondition,
        "PARTNERSHIP_STATE_CONFLICT",
    );
    let stale = suite
        .change(&reseller_admin, "resume", &on_reseller, &current.etag)
        .await
        .unwrap_err();
    assert_refused(&stale, Code::Aborted, "ETAG_MISMATCH");
    let resumed = suite
        .change(&reseller_admin, "resume", &on_reseller, &suspended.etag)
        .await
        .unwrap();
    assert_eq!(state(&resumed), pb::PartnershipState::Active);
    assert!(resumed.suspended_by.is_empty());
    assert!(suite.allows_new_business(provider, reseller).await);

    // The provider's GLOBAL_ADMIN suspends and resumes from its side too.
    let provider_global = Actor::global_admin(provider);
    suite
        .change(&provider_global, "suspend", &on_provider, "")
        .await
        .unwrap();
    suite
        .change(&provider_global, "resume", &on_provider, "")
        .await
        .unwrap();
    let sales = Actor::user(provider, &[Role::SalesAgent]);
    let no_role = suite
        .change(&sales, "suspend", &on_provider, "")
        .await
        .unwrap_err();
    assert_refused(&no_role, Code::PermissionDenied, "ROLE_REQUIRED");

    let revoked = suite
        .change(&provider_admin, "revoke", &on_provider, "")
        .await
        .unwrap();
    assert_eq!(state(&revoked), pb::PartnershipState::Revoked);
    assert!(!suite.allows_new_business(provider, reseller).await);
    for (actor, name) in [
        (&reseller_admin, &on_reseller),
        (&provider_admin, &on_provider),
    ] {
        for action in ["resume", "suspend", "revoke"] {
            let refused = suite.change(actor, action, name, "").await.unwrap_err();
            assert_refused(
                &refused,
                Code::FailedPrecondition,
                "PARTNERSHIP_STATE_CONFLICT",
            );
        }
    }
    let again = suite.invite(provider, reseller).await.unwrap_err();
    assert_refused(&again, Code::FailedPrecondition, "PARTNERSHIP_REVOKED");
    // Both sides keep the record.
    assert_eq!(
        state(&suite.get(&reseller_admin, &on_reseller).await.unwrap()),
        pb::PartnershipState::Revoked
    );
    assert_eq!(suite.resellers_of(provider).await.len(), 1);

    let database = &suite.relationship.database;
    let trail = database.audit_trail(&on_provider).await;
    let actions: Vec<&str> = trail.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "InviteIndirectReseller",
            "AcceptPartnershipInvitation",
            "SuspendPartnership",
            "ResumePartnership",
            "SuspendPartnership",
            "ResumePartnership",
            "RevokePartnership",
        ]
    );
    assert!(
        trail[2..]
            .iter()
            .all(|(_, before, after)| *before && *after)
    );
    for (topic, count) in [
        ("relationship.v1.partnership.suspended", 2),
        ("relationship.v1.partnership.resumed", 2),
        ("relationship.v1.partnership.revoked", 1),
    ] {
        assert_eq!(database.outbox(topic).await.len(), count, "{topic}");
    }
}

#[tokio::test]
async fn a_reseller_declines_by_revoking_the_invitation() {
    let suite = start().await;
    let provider = official_indirect_provider(&suite.enrollment).await;
    let reseller = indirect_reseller_partner(&suite.enrollment).await;
    suite.invite(provider, reseller).await.unwrap();
    let link = suite.last_link().await;
    let declined = suite
        .change(&Actor::global_admin(reseller), "revoke", &link.name, "")
        .await
        .unwrap();
    assert_eq!(state(&declined), pb::PartnershipState::Revoked);
    let too_late = suite
        .accept_as(&Actor::global_admin(reseller), &link.name, &link.token)
        .await
        .unwrap_err();
    assert_refused(&too_late, Code::FailedPrecondition, "PARTNERSHIP_REVOKED");
}

#[tokio::test]
async fn another_tenants_partnership_is_not_found() {
    let suite = start().await;
    let (provider, reseller) = suite.active_partnership().await;
    let stranger = Actor::user(Uuid::new_v4(), &[Role::GlobalAdmin, Role::AdminAgent]);
    let before = suite.relationship.database.row_counts().await;
    for name in [
        resellers_name(provider, reseller),
        providers_name(provider, reseller),
    ] {
        let read = suite.get(&stranger, &name).await.unwrap_err();
        assert_refused(&read, Code::NotFound, "RESOURCE_NOT_FOUND");
        for action in ["suspend", "resume", "revoke"] {
            let changed = suite
                .change(&stranger, action, &name, "")
                .await
                .unwrap_err();
            assert_refused(&changed, Code::NotFound, "RESOURCE_NOT_FOUND");
        }
    }
    // Each side reaches the partnership only under its own name.
    let other_side = suite
        .get(
            &Actor::admin_agent(provider),
            &providers_name(provider, reseller),
        )
        .await
        .unwrap_err();
    assert_refused(&other_side, Code::NotFound, "RESOURCE_NOT_FOUND");
    let listed = suite
        .relationship
        .relationship(&stranger)
        .list_indirect_resellers(pb::ListIndirectResellersRequest {
            parent: format!("partners/{provider}"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&listed, Code::NotFound, "RESOURCE_NOT_FOUND");
    let listed = suite
        .relationship
        .relationship(&stranger)
        .list_indirect_providers(pb::ListIndirectProvidersRequest {
            parent: format!("partners/{reseller}"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_refused(&listed, Code::NotFound, "RESOURCE_NOT_FOUND");
    assert_eq!(suite.relationship.database.row_counts().await, before);
}

#[tokio::test]
async fn retried_requests_replay_the_first_answer_and_write_nothing() {
    let suite = start().await;
    let provider = official_indirect_provider(&suite.enrollment).await;
    let reseller = indirect_reseller_partner(&suite.enrollment).await;
    let database = &suite.relationship.database;
    let mut provider_client = suite
        .relationship
        .relationship(&Actor::admin_agent(provider));

    let request = invitation(provider, reseller);
    let first = provider_client
        .invite_indirect_reseller(request.clone())
        .await
        .unwrap()
        .into_inner();
    let written = database.row_counts().await;
    let retried = provider_client
        .invite_indirect_reseller(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, first);
    assert_eq!(database.row_counts().await, written);
    assert_eq!(suite.links().await.len(), 1);
    let reused = provider_client
        .invite_indirect_reseller(pb::InviteIndirectResellerRequest {
            invite_email: "other@reseller.example".into(),
            ..request
        })
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::InvalidArgument);

    let link = suite.last_link().await;
    let accept = pb::AcceptPartnershipInvitationRequest {
        request_id: request_id(),
        name: link.name.clone(),
        invitation_token: link.token.clone(),
    };
    let mut reseller_client = suite
        .relationship
        .relationship(&Actor::global_admin(reseller));
    let accepted = reseller_client
        .accept_partnership_invitation(accept.clone())
        .await
        .unwrap()
        .into_inner();
    let written = database.row_counts().await;
    let again = reseller_client
        .accept_partnership_invitation(accept)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, accepted);
    assert_eq!(database.row_counts().await, written);

    let suspend = pb::SuspendPartnershipRequest {
        request_id: request_id(),
        name: link.name.clone(),
        etag: accepted.etag.clone(),
    };
    let suspended = reseller_client
        .suspend_partnership(suspend.clone())
        .await
        .unwrap()
        .into_inner();
    let written = database.row_counts().await;
    // The etag sent is stale by now, yet the retry is answered from the first attempt.
    let again = reseller_client
        .suspend_partnership(suspend)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, suspended);
    assert_eq!(database.row_counts().await, written);
}

fn customer_for(provider: Uuid, reseller: Option<Uuid>) -> pb::CreateCustomerRequest {
    pb::CreateCustomerRequest {
        request_id: request_id(),
        parent: format!("partners/{provider}"),
        customer: Some(pb::Customer {
            customer_tenant_id: Uuid::new_v4().to_string(),
            display_name: "Alpine Ski House".into(),
            domain: "alpineskihouse.onmicrosoft.com".into(),
            country_code: "AT".into(),
            ..Default::default()
        }),
        indirect_reseller: reseller
            .map(|r| format!("partners/{r}"))
            .unwrap_or_default(),
    }
}

#[tokio::test]
async fn a_provider_creates_a_customer_for_its_reseller_who_then_lists_it() {
    let suite = start().await;
    let (provider, reseller) = suite.active_partnership().await;
    let created = suite
        .relationship
        .relationship(&Actor::admin_agent(provider))
        .create_customer(customer_for(provider, Some(reseller)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.partner_role(), pb::PartnerRole::IndirectProvider);
    assert_eq!(created.acquisition(), pb::Acquisition::CreatedByProvider);
    // No direct-bill products where an indirect reseller relationship exists.
    assert_eq!(
        created.available_actions,
        [pb::CustomerAction::ManageBillingProfile as i32]
    );

    let listed = suite
        .relationship
        .relationship(&Actor::admin_agent(reseller))
        .list_customers(pb::ListCustomersRequest {
            parent: format!("partners/{reseller}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .customers;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].customer_tenant_id, created.customer_tenant_id);
    assert_eq!(listed[0].partner_role(), pb::PartnerRole::IndirectReseller);
    assert_eq!(listed[0].acquisition(), pb::Acquisition::CreatedByProvider);
    assert!(listed[0].admin_permissions);
    assert_eq!(
        suite
            .relationship
            .database
            .audit_trail(&listed[0].name)
            .await,
        [("CreateCustomer".to_owned(), false, true)]
    );
}

#[tokio::test]
async fn a_reseller_cannot_create_customers_and_a_provider_only_through_an_active_partnership() {
    let suite = start().await;
    let (provider, reseller) = suite.active_partnership().await;

    let refused = suite
        .relationship
        .relationship(&Actor::admin_agent(reseller))
        .create_customer(customer_for(reseller, None))
        .await
        .unwrap_err();
    assert_refused(
        &refused,
        Code::FailedPrecondition,
        "PROVIDER_CREATES_CUSTOMER",
    );

    // Not for a reseller it has no partnership with, nor once the partnership is suspended.
    let stranger = indirect_reseller_partner(&suite.enrollment).await;
    let mut client = suite
        .relationship
        .relationship(&Actor::admin_agent(provider));
    let refused = client
        .create_customer(customer_for(provider, Some(stranger)))
        .await
        .unwrap_err();
    assert_refused(&refused, Code::FailedPrecondition, "PARTNERSHIP_NOT_ACTIVE");
    suite
        .change(
            &Actor::admin_agent(reseller),
            "suspend",
            &providers_name(provider, reseller),
            "",
        )
        .await
        .unwrap();
    let refused = client
        .create_customer(customer_for(provider, Some(reseller)))
        .await
        .unwrap_err();
    assert_refused(&refused, Code::FailedPrecondition, "PARTNERSHIP_NOT_ACTIVE");

    // A partner that is not an official provider designates no reseller.
    let direct = suite_testkit::direct_bill_partner(&suite.enrollment).await;
    let refused = suite
        .relationship
        .relationship(&Actor::admin_agent(direct))
        .create_customer(customer_for(direct, Some(reseller)))
        .await
        .unwrap_err();
    assert_refused(
        &refused,
        Code::FailedPrecondition,
        "OFFICIAL_INDIRECT_PROVIDER_REQUIRED",
    );
    assert_eq!(suite.relationship.count_rows("customers").await, 0);
}

#[tokio::test]
async fn a_partner_whose_programs_just_changed_is_not_refused_on_a_cached_answer() {
    let enrollment = spawn_service(enrollment::run, PeerUrls::default()).await;
    // Answers kept far longer than the test runs, as a production cache keeps them.
    let relationship = spawn_service_adjusted(relationship::run, {
        let enrollment = enrollment.url();
        move |config| {
            config.peers = PeerUrls {
                enrollment: Some(enrollment),
                ..PeerUrls::default()
            };
            config.capability_cache_ttl = Duration::from_secs(3_600);
        }
    })
    .await;
    let provider = official_indirect_provider(&enrollment).await;
    let partner = direct_bill_partner(&enrollment).await;
    // The relationship service learns the partner's programs while it is direct bill only.
    record_customer(&relationship, partner, Uuid::new_v4()).await;
    // The partner becomes an indirect reseller and at once accepts a provider's invitation:
    // the cached answer (no indirect-reseller capability) must not refuse it.
    restrict_direct_bill(&enrollment, partner).await;
    enroll_indirect_reseller(&enrollment, partner).await;
    partnership_between(&relationship, provider, partner).await;
    let listed = relationship
        .relationship(&Actor::admin_agent(provider))
        .get_partnership(pb::GetPartnershipRequest {
            name: resellers_name(provider, partner),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.state(), pb::PartnershipState::Active);
}
