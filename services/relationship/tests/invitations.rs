//! Customer invitations over real gRPC: a reseller invites a customer to itself and its
//! provider at once; one acceptance by the customer's admin creates both relationships, or
//! neither.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::time::Duration;

use prost::Message;
use relationship::{RelationshipOptions, RelationshipStore};
use suite_auth::Role;
use suite_config::PeerUrls;
use suite_db::{Clock, ManualClock};
use suite_proto::relationship::v1 as pb;
use suite_testkit::{
    Actor, TestService, active_partnership, bad_fields, direct_bill_partner,
    direct_bill_sandbox_partner, enroll_indirect_reseller, eventually, indirect_reseller_partner,
    official_indirect_provider, page_codec, partnership_between, reason, record_customer,
    request_id, restrict_direct_bill, spawn_service,
};
use tonic::Code;
use uuid::Uuid;

const LINK_BASE: &str = "https://partners.test/customers/accept";
const DAY: Duration = Duration::from_secs(86_400);

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
        customer_invitation_link_base: LINK_BASE.into(),
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

impl Suite {
    /// `partner`'s reseller relationship request for itself alone, to `customer` if given,
    /// naming `subscriptions`.
    async fn request_alone(
        &self,
        partner: Uuid,
        customer: Option<Uuid>,
        subscriptions: &[&str],
    ) -> Result<pb::CustomerInvitation, tonic::Status> {
        self.relationship
            .relationship(&Actor::admin_agent(partner))
            .create_customer_invitation(pb::CreateCustomerInvitationRequest {
                request_id: request_id(),
                parent: format!("partners/{partner}"),
                provider: String::new(),
                customer_tenant_id: customer.map(|c| c.to_string()).unwrap_or_default(),
                subscriptions: subscriptions.iter().map(|s| (*s).to_owned()).collect(),
            })
            .await
            .map(|r| r.into_inner())
    }

    async fn invite(&self, reseller: Uuid, provider: Uuid) -> pb::CustomerInvitation {
        self.relationship
            .relationship(&Actor::admin_agent(reseller))
            .create_customer_invitation(pb::CreateCustomerInvitationRequest {
                request_id: request_id(),
                parent: format!("partners/{reseller}"),
                provider: format!("partners/{provider}"),
                customer_tenant_id: String::new(),
                subscriptions: Vec::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// The reseller invites customer tenant `customer` alone.
    async fn invite_tenant(
        &self,
        reseller: Uuid,
        provider: Uuid,
        customer: Uuid,
    ) -> Result<pb::CustomerInvitation, tonic::Status> {
        self.relationship
            .relationship(&Actor::admin_agent(reseller))
            .create_customer_invitation(pb::CreateCustomerInvitationRequest {
                request_id: request_id(),
                parent: format!("partners/{reseller}"),
                provider: format!("partners/{provider}"),
                customer_tenant_id: customer.to_string(),
                subscriptions: Vec::new(),
            })
            .await
            .map(|r| r.into_inner())
    }

    /// The customer's GLOBAL_ADMIN accepts, giving its company details.
    async fn accept(
        &self,
        customer: Uuid,
        invitation: &pb::CustomerInvitation,
    ) -> Result<pb::CustomerInvitation, tonic::Status> {
        let details = pb::Customer {
            display_name: "Coho Winery".into(),
            domain: "cohowinery.onmicrosoft.com".into(),
            country_code: "US".into(),
            ..Default::default()
        };
        self.accept_giving(customer, invitation, Some(details))
            .await
    }

    /// The customer's GLOBAL_ADMIN accepts with the link's token and `details`.
    async fn accept_giving(
        &self,
        customer: Uuid,
        invitation: &pb::CustomerInvitation,
        details: Option<pb::Customer>,
    ) -> Result<pb::CustomerInvitation, tonic::Status> {
        let token = invitation.link.rsplit_once("&token=").unwrap().1.to_owned();
        self.relationship
            .relationship(&Actor::global_admin(customer))
            .accept_customer_invitation(pb::AcceptCustomerInvitationRequest {
                request_id: request_id(),
                name: invitation.name.clone(),
                invitation_token: token,
                customer: details,
            })
            .await
            .map(|r| r.into_inner())
    }

    async fn send(
        &self,
        reseller: Uuid,
        invitation: &pb::CustomerInvitation,
        body: &str,
        link: &str,
    ) -> Result<pb::CustomerInvitation, tonic::Status> {
        self.relationship
            .relationship(&Actor::admin_agent(reseller))
            .send_customer_invitation(pb::SendCustomerInvitationRequest {
                request_id: request_id(),
                name: invitation.name.clone(),
                to: "it@cohowinery.example".into(),
                subject: invitation.email_subject.clone(),
                body: body.into(),
                link: link.into(),
            })
            .await
            .map(|r| r.into_inner())
    }

    async fn partners_of(&self, customer: Uuid) -> Vec<(String, pb::PartnerRole, bool)> {
        self.relationship
            .relationship(&Actor::global_admin(customer))
            .list_customer_partners(pb::ListCustomerPartnersRequest {
                parent: format!("customers/{customer}"),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .partners
            .iter()
            .map(|p| (p.partner.clone(), p.partner_role(), p.admin_permissions))
            .collect()
    }
}

#[tokio::test]
async fn one_acceptance_makes_the_reseller_and_the_provider_partners_of_record() {
    let suite = start().await;
    let (provider, reseller) = active_partnership(&suite.enrollment, &suite.relationship).await;
    let invitation = suite.invite(reseller, provider).await;
    assert!(
        invitation.link.starts_with(LINK_BASE),
        "{}",
        invitation.link
    );
    assert!(invitation.email_body.contains(&invitation.link));

    // The draft may be edited, but not without its link.
    let mut client = suite
        .relationship
        .relationship(&Actor::admin_agent(reseller));
    let send = |body: &str| pb::SendCustomerInvitationRequest {
        request_id: request_id(),
        name: invitation.name.clone(),
        to: "it@cohowinery.example".into(),
        subject: invitation.email_subject.clone(),
        body: body.into(),
        link: invitation.link.clone(),
    };
    let refused = client
        .send_customer_invitation(send("Dear customer, please accept our invitation."))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&refused), ["body"]);
    let outbox = suite.relationship.count_rows("outbox_messages").await;
    client
        .send_customer_invitation(send(&format!(
            "Dear Coho Winery team,\n\nplease accept here: {}\n\nThanks!",
            invitation.link
        )))
        .await
        .unwrap();
    let emails = suite.relationship.database.outbox("email").await;
    let last = String::from_utf8(emails.last().unwrap().clone()).unwrap();
    assert!(last.contains("Coho Winery team") && last.contains("it@cohowinery.example"));
    assert!(suite.relationship.count_rows("outbox_messages").await > outbox);

    let customer = Uuid::new_v4();
    let accepted = suite.accept(customer, &invitation).await.unwrap();
    assert_eq!(accepted.state(), pb::CustomerInvitationState::Accepted);
    assert_eq!(accepted.customer, format!("customers/{customer}"));
    assert_eq!(
        suite.partners_of(customer).await,
        [
            (
                format!("partners/{reseller}"),
                pb::PartnerRole::IndirectReseller,
                true
            ),
            (
                format!("partners/{provider}"),
                pb::PartnerRole::IndirectProvider,
                true
            ),
        ]
    );

    // The link works once.
    let again = suite.accept(customer, &invitation).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert_eq!(reason(&again), "INVITATION_ALREADY_USED");
}

#[tokio::test]
async fn a_failure_between_the_two_relationships_leaves_neither() {
    let suite = start().await;
    let (provider, reseller) = active_partnership(&suite.enrollment, &suite.relationship).await;
    let invitation = suite.invite(reseller, provider).await;
    let customers = suite.relationship.count_rows("customers").await;
    let keys = suite.relationship.count_rows("idempotency_keys").await;

    // The provider's record fails to be written, after the reseller's was.
    let postgres = std::env::var("TEST_DATABASE_URL").is_ok_and(|url| url.starts_with("postgres"));
    let trap: &[&str] = if postgres {
        &[
            "CREATE FUNCTION refuse_provider() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_provider BEFORE INSERT ON customers FOR EACH ROW \
             WHEN (NEW.partner_role = 'PARTNER_ROLE_INDIRECT_PROVIDER') EXECUTE FUNCTION refuse_provider()",
        ]
    } else {
        &["CREATE TRIGGER refuse_provider BEFORE INSERT ON customers \
           WHEN NEW.partner_role = 'PARTNER_ROLE_INDIRECT_PROVIDER' BEGIN SELECT RAISE(ABORT, 'injected'); END"]
    };
    let pool = suite.relationship.database.database();
    for statement in trap {
        sqlx::query(sqlx::AssertSqlSafe(*statement))
            .execute(pool.pool())
            .await
            .unwrap();
    }
    let customer = Uuid::new_v4();
    let failed = suite.accept(customer, &invitation).await.unwrap_err();
    assert_eq!(failed.code(), Code::Internal);
    assert_eq!(suite.relationship.count_rows("customers").await, customers);
    assert_eq!(
        suite.relationship.count_rows("idempotency_keys").await,
        keys
    );

    sqlx::query("DROP TRIGGER refuse_provider ON customers")
        .execute(pool.pool())
        .await
        .or(sqlx::query("DROP TRIGGER refuse_provider")
            .execute(pool.pool())
            .await)
        .unwrap();
    let accepted = suite.accept(customer, &invitation).await.unwrap();
    assert_eq!(accepted.state(), pb::CustomerInvitationState::Accepted);
    assert_eq!(suite.partners_of(customer).await.len(), 2);
}

#[tokio::test]
async fn expired_foreign_and_misdirected_acceptances_are_refused_and_write_nothing() {
    let suite = start().await;
    let (provider, reseller) = active_partnership(&suite.enrollment, &suite.relationship).await;
    let invitation = suite.invite(reseller, provider).await;
    let customer = Uuid::new_v4();
    let customers = suite.relationship.count_rows("customers").await;

    let mut forged = invitation.clone();
    forged.link = format!(
        "{LINK_BASE}?name={}&token={}",
        invitation.name,
        "ab".repeat(32)
    );
    let refused = suite.accept(customer, &forged).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    assert_eq!(reason(&refused), "INVITATION_NOT_FOUND");

    // Only the customer's GLOBAL_ADMIN accepts.
    let token = invitation.link.rsplit_once("&token=").unwrap().1.to_owned();
    let refused = suite
        .relationship
        .relationship(&Actor::user(customer, &[Role::AdminAgent]))
        .accept_customer_invitation(pb::AcceptCustomerInvitationRequest {
            request_id: request_id(),
            name: invitation.name.clone(),
            invitation_token: token,
            customer: None,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    // Another reseller cannot send this reseller's invitation.
    let (_, stranger) = active_partnership(&suite.enrollment, &suite.relationship).await;
    let refused = suite
        .relationship
        .relationship(&Actor::admin_agent(stranger))
        .send_customer_invitation(pb::SendCustomerInvitationRequest {
            request_id: request_id(),
            name: invitation.name.clone(),
            to: "it@cohowinery.example".into(),
            subject: "Invitation".into(),
            body: invitation.link.clone(),
            link: invitation.link.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);

    suite.clock.advance(DAY * 15);
    let refused = suite.accept(customer, &invitation).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "INVITATION_EXPIRED");
    assert_eq!(suite.relationship.count_rows("customers").await, customers);
}

#[tokio::test]
async fn a_partner_that_bills_customers_asks_for_a_relationship_alone_naming_the_subscriptions() {
    let suite = start().await;
    // The customer is served today by another direct-bill partner.
    let current = direct_bill_partner(&suite.enrollment).await;
    let customer = Uuid::new_v4();
    record_customer(&suite.relationship, current, customer).await;
    let target = direct_bill_partner(&suite.enrollment).await;
    let provider = official_indirect_provider(&suite.enrollment).await;
    let subscriptions = ["Microsoft 365 Business Premium, 25 licences"];

    let request = suite
        .request_alone(target, Some(customer), &subscriptions)
        .await
        .unwrap();
    assert_eq!(request.partner_role(), pb::PartnerRole::DirectBillPartner);
    assert_eq!(request.provider, "");
    assert_eq!(request.subscriptions, subscriptions);
    assert!(
        request.email_body.contains(subscriptions[0]),
        "{}",
        request.email_body
    );
    assert!(
        request.email_body.contains(&request.link),
        "{}",
        request.email_body
    );
    suite.accept(customer, &request).await.unwrap();
    let partners = suite.partners_of(customer).await;
    assert!(
        partners.contains(&(
            format!("partners/{target}"),
            pb::PartnerRole::DirectBillPartner,
            true
        )),
        "{partners:?}"
    );
    assert_eq!(partners.len(), 2, "{partners:?}");

    // A request alone never changes what a partner of record already is: the current
    // partner's acceptance is refused, and writes nothing.
    let named = suite
        .request_alone(current, Some(customer), &[])
        .await
        .unwrap_err();
    assert_eq!(reason(&named), "ALREADY_PARTNER_OF_RECORD");
    let again = suite.request_alone(current, None, &[]).await.unwrap();
    let rows = suite.relationship.database.row_counts().await;
    let refused = suite.accept(customer, &again).await.unwrap_err();
    assert_eq!(reason(&refused), "ALREADY_PARTNER_OF_RECORD");
    assert_eq!(suite.relationship.database.row_counts().await, rows);

    // Only a direct-bill partner asks alone: a provider without direct bill, or a sandbox,
    // is refused.
    for (partner, expected) in [
        (provider, "DIRECT_BILL_REQUIRED"),
        (
            direct_bill_sandbox_partner(&suite.enrollment).await,
            "SANDBOX_TENANT",
        ),
    ] {
        let refused = suite.request_alone(partner, None, &[]).await.unwrap_err();
        assert_eq!(reason(&refused), expected);
    }
}

#[tokio::test]
async fn a_request_alone_is_refused_at_acceptance_once_its_sender_may_no_longer_add_customers() {
    let suite = start().await;
    let target = direct_bill_partner(&suite.enrollment).await;
    let request = suite
        .request_alone(target, None, &["Microsoft 365 E5, 10 licences"])
        .await
        .unwrap();
    restrict_direct_bill(&suite.enrollment, target).await;
    let customer = Uuid::new_v4();
    // (The test services keep no capability answers: the restriction counts at once.)
    let refused = suite.accept(customer, &request).await.unwrap_err();
    assert_eq!(reason(&refused), "DIRECT_BILL_REQUIRED");
    assert!(suite.partners_of(customer).await.is_empty());
}

#[tokio::test]
async fn an_indirect_reseller_names_the_provider_and_only_a_request_alone_names_subscriptions() {
    let suite = start().await;
    let (provider, reseller) = active_partnership(&suite.enrollment, &suite.relationship).await;
    let rows = suite.relationship.database.row_counts().await;
    let ask = |provider: String, subscriptions: Vec<String>| {
        let mut client = suite
            .relationship
            .relationship(&Actor::admin_agent(reseller));
        async move {
            client
                .create_customer_invitation(pb::CreateCustomerInvitationRequest {
                    request_id: request_id(),
                    parent: format!("partners/{reseller}"),
                    provider,
                    customer_tenant_id: String::new(),
                    subscriptions,
                })
                .await
                .unwrap_err()
        }
    };
    let alone = ask(String::new(), Vec::new()).await;
    assert_eq!(alone.code(), Code::FailedPrecondition);
    assert_eq!(reason(&alone), "PROVIDER_REQUIRED");
    let named = ask(format!("partners/{provider}"), vec!["Azure".into()]).await;
    assert_eq!(bad_fields(&named), ["subscriptions"]);
    let blank = ask(String::new(), vec![" ".into()]).await;
    assert_eq!(bad_fields(&blank), ["subscriptions[0]"]);
    assert_eq!(suite.relationship.database.row_counts().await, rows);
}

const EXPIRED_TOPIC: &str = "relationship.v1.customer_invitation.expired";

#[tokio::test]
async fn an_invitation_nobody_accepts_expires_by_itself_once() {
    let suite = start().await;
    let (provider, reseller) = active_partnership(&suite.enrollment, &suite.relationship).await;
    let database = &suite.relationship.database;
    let accepted = suite.invite(reseller, provider).await;
    suite.accept(Uuid::new_v4(), &accepted).await.unwrap();
    let pending: Vec<_> = [
        suite.invite(reseller, provider).await,
        suite.invite(reseller, provider).await,
    ]
    .into_iter()
    .map(|invitation| invitation.name)
    .collect();

    // Two replicas sweep the same rows at once, past the links' expiry: each pending
    // invitation becomes EXPIRED once; the accepted one is left as it is.
    let later = suite.clock.now_micros() + 15 * 86_400_000_000;
    let first = RelationshipStore::new(database.database(), page_codec());
    let second = RelationshipStore::new(database.database(), page_codec());
    let (by_first, by_second) = tokio::join!(first.sweep(later), second.sweep(later));
    assert_eq!(by_first.unwrap() + by_second.unwrap(), pending.len());
    let (again_first, again_second) = tokio::join!(first.sweep(later), second.sweep(later));
    assert_eq!(again_first.unwrap() + again_second.unwrap(), 0);
    let mut expired: Vec<_> = database
        .outbox(EXPIRED_TOPIC)
        .await
        .iter()
        .map(|payload| pb::CustomerInvitation::decode(payload.as_slice()).unwrap())
        .inspect(|event| {
            assert_eq!(event.state(), pb::CustomerInvitationState::Expired);
            assert_eq!(event.link, "", "an event never carries the link");
        })
        .map(|event| event.name)
        .collect();
    expired.sort();
    let mut expected = pending.clone();
    expected.sort();
    assert_eq!(expired, expected);
    for name in &pending {
        assert_eq!(
            database.audit_actions(name).await,
            ["CreateCustomerInvitation", "ExpireCustomerInvitation"]
        );
    }
    assert_eq!(
        database.audit_actions(&accepted.name).await,
        ["CreateCustomerInvitation", "AcceptCustomerInvitation"]
    );
}

#[tokio::test]
async fn the_service_sweeps_expired_invitations_on_its_own_and_refuses_their_links() {
    let suite = start().await;
    let (provider, reseller) = active_partnership(&suite.enrollment, &suite.relationship).await;
    let database = &suite.relationship.database;
    let invitation = suite.invite(reseller, provider).await;

    suite.clock.advance(DAY * 15);
    eventually(
        "the expiry is recorded",
        Duration::from_secs(10),
        || async { database.outbox(EXPIRED_TOPIC).await.len() == 1 },
    )
    .await;
    let before = database.row_counts().await;
    let refused = suite.accept(Uuid::new_v4(), &invitation).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "INVITATION_EXPIRED");
    assert_eq!(database.row_counts().await, before);
}

/// The type of the resource a NOT_FOUND names.
fn resource_type(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .resource_info()
        .map(|info| info.resource_type.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_token_of_another_invitation_is_told_apart_from_a_token_of_none() {
    let suite = start().await;
    let (provider, reseller) = active_partnership(&suite.enrollment, &suite.relationship).await;
    let invitation = suite.invite(reseller, provider).await;
    let other = suite.invite(reseller, provider).await;
    let customer = Uuid::new_v4();
    let customers = suite.relationship.count_rows("customers").await;

    // The real token of the reseller's other invitation.
    let crossed = pb::CustomerInvitation {
        link: other.link.clone(),
        ..invitation.clone()
    };
    let refused = suite.accept(customer, &crossed).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "INVITATION_TOKEN_MISMATCH");

    // A token of no invitation, and an invitation that does not exist.
    let forged = pb::CustomerInvitation {
        link: format!(
            "{LINK_BASE}?name={}&token={}",
            invitation.name,
            "cd".repeat(32)
        ),
        ..invitation.clone()
    };
    let refused = suite.accept(customer, &forged).await.unwrap_err();
    assert_eq!(
        (refused.code(), reason(&refused), resource_type(&refused)),
        (
            Code::NotFound,
            "INVITATION_NOT_FOUND".to_owned(),
            "relationship.v1.CustomerInvitation".to_owned()
        )
    );
    let missing = pb::CustomerInvitation {
        name: format!("partners/{reseller}/customerInvitations/{}", Uuid::new_v4()),
        ..invitation.clone()
    };
    let refused = suite.accept(customer, &missing).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    assert_eq!(
        resource_type(&refused),
        "relationship.v1.CustomerInvitation"
    );
    let refused = suite
        .send(reseller, &missing, &missing.link, &missing.link)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    assert_eq!(
        resource_type(&refused),
        "relationship.v1.CustomerInvitation"
    );
    assert_eq!(suite.relationship.count_rows("customers").await, customers);

    // Each link still works for its own invitation.
    let accepted = suite.accept(customer, &invitation).await.unwrap();
    assert_eq!(accepted.state(), pb::CustomerInvitationState::Accepted);
}

#[tokio::test]
async fn the_e_mail_carries_the_link_the_service_built_and_leaves_only_while_it_works() {
    let suite = start().await;
    let (provider, reseller) = active_partnership(&suite.enrollment, &suite.relationship).await;
    let invitation = suite.invite(reseller, provider).await;
    let emails = suite.relationship.database.outbox("email").await.len();

    // This invitation's name and token behind another host: refused, in the field and in
    // the body alike.
    let token = invitation.link.rsplit_once("&token=").unwrap().1;
    let elsewhere = format!(
        "https://partners.test.example/customers/accept?name={}&token={token}",
        invitation.name
    );
    let body = |link: &str| format!("Dear customer,\n\nplease accept here: {link}\n");
    let refused = suite
        .send(reseller, &invitation, &body(&elsewhere), &elsewhere)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&refused), ["link"]);
    let refused = suite
        .send(reseller, &invitation, &body(&elsewhere), &invitation.link)
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&refused), ["body"]);
    assert_eq!(
        suite.relationship.database.outbox("email").await.len(),
        emails
    );

    suite
        .send(
            reseller,
            &invitation,
            &body(&invitation.link),
            &invitation.link,
        )
        .await
        .unwrap();
    assert_eq!(
        suite.relationship.database.outbox("email").await.len(),
        emails + 1
    );

    // Once expired, its link no longer works: it is not sent again.
    suite.clock.advance(DAY * 15);
    let refused = suite
        .send(
            reseller,
            &invitation,
            &body(&invitation.link),
            &invitation.link,
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "INVITATION_EXPIRED");
    assert_eq!(
        suite.relationship.database.outbox("email").await.len(),
        emails + 1
    );
}

#[tokio::test]
async fn a_customer_the_reseller_already_has_accepts_with_the_token_alone() {
    let suite = start().await;
    // A transitioning partner: a direct-bill customer on its books, now an indirect reseller
    // in an ACTIVE partnership.
    let reseller = direct_bill_partner(&suite.enrollment).await;
    let customer = Uuid::new_v4();
    record_customer(&suite.relationship, reseller, customer).await;
    restrict_direct_bill(&suite.enrollment, reseller).await;
    enroll_indirect_reseller(&suite.enrollment, reseller).await;
    let provider = official_indirect_provider(&suite.enrollment).await;
    partnership_between(&suite.relationship, provider, reseller).await;

    let invitation = suite
        .invite_tenant(reseller, provider, customer)
        .await
        .unwrap();
    let accepted = suite
        .accept_giving(customer, &invitation, None)
        .await
        .unwrap();
    assert_eq!(accepted.state(), pb::CustomerInvitationState::Accepted);
    assert_eq!(
        suite.partners_of(customer).await,
        [
            (
                format!("partners/{reseller}"),
                pb::PartnerRole::IndirectReseller,
                true
            ),
            (
                format!("partners/{provider}"),
                pb::PartnerRole::IndirectProvider,
                true
            ),
        ]
    );
    // The provider's view carries the reseller's record of the customer.
    let view = suite
        .relationship
        .relationship(&Actor::admin_agent(provider))
        .get_customer(pb::GetCustomerRequest {
            name: format!("partners/{provider}/customers/{customer}"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (view.display_name.as_str(), view.domain.as_str()),
        ("Fourth Coffee", "fourthcoffee.onmicrosoft.com")
    );

    // A customer neither partner has gives its details: without them, nothing is written.
    let newcomer = Uuid::new_v4();
    let invitation = suite.invite(reseller, provider).await;
    let customers = suite.relationship.count_rows("customers").await;
    let refused = suite
        .accept_giving(newcomer, &invitation, None)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&refused), ["customer"]);
    assert_eq!(suite.relationship.count_rows("customers").await, customers);
    suite.accept(newcomer, &invitation).await.unwrap();
    assert_eq!(suite.partners_of(newcomer).await.len(), 2);
}

#[tokio::test]
async fn neither_the_reseller_nor_the_provider_becomes_its_own_customer() {
    let suite = start().await;
    let (provider, reseller) = active_partnership(&suite.enrollment, &suite.relationship).await;
    let invitation = suite.invite(reseller, provider).await;
    let customers = suite.relationship.count_rows("customers").await;

    // The reseller created the link and holds its token; neither side accepts it itself.
    for partner in [reseller, provider] {
        let refused = suite.accept(partner, &invitation).await.unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition);
        assert_eq!(reason(&refused), "PARTNER_TENANT_CANNOT_ACCEPT");
    }
    assert_eq!(suite.relationship.count_rows("customers").await, customers);
    for partner in [reseller, provider] {
        let refused = suite
            .invite_tenant(reseller, provider, partner)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(bad_fields(&refused), ["customer_tenant_id"]);
    }

    // The customer still accepts it.
    let customer = Uuid::new_v4();
    suite.accept(customer, &invitation).await.unwrap();
    assert_eq!(suite.partners_of(customer).await.len(), 2);
}

/// Whether the tests run on PostgreSQL, which spells triggers its own way.
fn postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|url| url.starts_with("postgres"))
}

#[tokio::test]
async fn a_provider_record_written_first_by_a_concurrent_acceptance_makes_this_one_retryable() {
    let suite = start().await;
    let (provider, reseller) = active_partnership(&suite.enrollment, &suite.relationship).await;
    let invitation = suite.invite(reseller, provider).await;
    let customers = suite.relationship.count_rows("customers").await;

    // Just before the provider's record is written, another acceptance's record of the same
    // provider and customer appears, as when a concurrent transaction commits first.
    let rival = "INSERT INTO customers (id, partner_tenant_id, customer_tenant_id, display_name, domain, \
                 country_code, create_time, version) VALUES (NEW.id || '-rival', NEW.partner_tenant_id, \
                 NEW.customer_tenant_id, 'Rival', NEW.domain, NEW.country_code, NEW.create_time, 1)";
    let trap = if postgres() {
        vec![
            format!("CREATE FUNCTION rival_provider() RETURNS trigger AS $$ BEGIN {rival}; RETURN NEW; END $$ LANGUAGE plpgsql"),
            "CREATE TRIGGER rival_provider BEFORE INSERT ON customers FOR EACH ROW \
             WHEN (NEW.partner_role = 'PARTNER_ROLE_INDIRECT_PROVIDER') EXECUTE FUNCTION rival_provider()".to_owned(),
        ]
    } else {
        vec![format!(
            "CREATE TRIGGER rival_provider BEFORE INSERT ON customers \
             WHEN NEW.partner_role = 'PARTNER_ROLE_INDIRECT_PROVIDER' BEGIN {rival}; END"
        )]
    };
    let pool = suite.relationship.database.database();
    for statement in trap {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(pool.pool())
            .await
            .unwrap();
    }
    let customer = Uuid::new_v4();
    let refused = suite.accept(customer, &invitation).await.unwrap_err();
    assert_eq!(refused.code(), Code::Aborted);
    assert_eq!(reason(&refused), "CONCURRENT_CHANGE");
    assert_eq!(suite.relationship.count_rows("customers").await, customers);

    let drop = if postgres() {
        "DROP TRIGGER rival_provider ON customers"
    } else {
        "DROP TRIGGER rival_provider"
    };
    sqlx::query(drop).execute(pool.pool()).await.unwrap();
    let accepted = suite.accept(customer, &invitation).await.unwrap();
    assert_eq!(accepted.state(), pb::CustomerInvitationState::Accepted);
}

#[tokio::test]
async fn two_invitations_accepted_at_once_both_make_the_customers_partners() {
    let suite = start().await;
    let (provider, first) = active_partnership(&suite.enrollment, &suite.relationship).await;
    let second = indirect_reseller_partner(&suite.enrollment).await;
    partnership_between(&suite.relationship, provider, second).await;
    for _ in 0..3 {
        // A customer tenant the suite knows already (a direct-bill partner's customer),
        // invited by two resellers of one provider, accepts both at once.
        let direct = direct_bill_partner(&suite.enrollment).await;
        let customer = Uuid::new_v4();
        record_customer(&suite.relationship, direct, customer).await;
        let by_first = suite.invite(first, provider).await;
        let by_second = suite.invite(second, provider).await;
        let (one, other) = tokio::join!(
            suite.accept(customer, &by_first),
            suite.accept(customer, &by_second)
        );
        for result in [one, other] {
            let accepted = result.unwrap();
            assert_eq!(accepted.state(), pb::CustomerInvitationState::Accepted);
        }
        let mut partners = suite.partners_of(customer).await;
        partners.sort();
        let mut expected = vec![
            (
                format!("partners/{direct}"),
                pb::PartnerRole::DirectBillPartner,
                true,
            ),
            (
                format!("partners/{first}"),
                pb::PartnerRole::IndirectReseller,
                true,
            ),
            (
                format!("partners/{second}"),
                pb::PartnerRole::IndirectReseller,
                true,
            ),
            (
                format!("partners/{provider}"),
                pb::PartnerRole::IndirectProvider,
                true,
            ),
        ];
        expected.sort();
        assert_eq!(partners, expected);
    }
}

#[tokio::test]
async fn a_provider_no_longer_in_the_directory_takes_no_new_customer() {
    let suite = start().await;
    let (provider, reseller) = active_partnership(&suite.enrollment, &suite.relationship).await;
    let pending = suite.invite(reseller, provider).await;
    // The provider leaves the directory (the operator's removal, written where the
    // enrollment service keeps the directory).
    sqlx::query("DELETE FROM indirect_providers WHERE provider_tenant_id = $1")
        .bind(provider.to_string())
        .execute(suite.enrollment.database.database().pool())
        .await
        .unwrap();

    let refused = suite
        .relationship
        .relationship(&Actor::admin_agent(reseller))
        .create_customer_invitation(pb::CreateCustomerInvitationRequest {
            request_id: request_id(),
            parent: format!("partners/{reseller}"),
            provider: format!("partners/{provider}"),
            customer_tenant_id: String::new(),
            subscriptions: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "PROVIDER_NOT_OFFICIAL");

    // An invitation sent before cannot be accepted any more either.
    let customer = Uuid::new_v4();
    let token = pending.link.rsplit_once("&token=").unwrap().1.to_owned();
    let refused = suite
        .relationship
        .relationship(&Actor::global_admin(customer))
        .accept_customer_invitation(pb::AcceptCustomerInvitationRequest {
            request_id: request_id(),
            name: pending.name.clone(),
            invitation_token: token,
            customer: Some(pb::Customer {
                display_name: "Fourth Coffee".into(),
                domain: "fourthcoffee.onmicrosoft.com".into(),
                country_code: "US".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "PROVIDER_NOT_OFFICIAL");
    assert_eq!(suite.relationship.count_rows("customers").await, 0);
}
