//! The self-service transfer over real gRPC with the four services running: a transitioning
//! partner asks its indirect provider to take over a customer's subscriptions, the provider
//! accepts, and the transfer runs as a durable workflow in the transfer service's database.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use prost_types::FieldMask;
use suite_config::Secret;
use suite_identity::Role;
use suite_proto::enrollment::v1::Money;
use suite_proto::transfer::v1 as pb;
use suite_testkit::{
    Actor, TestService, customer_joins_reseller_and_provider, direct_bill_partner,
    direct_bill_sandbox_partner, enroll_indirect_reseller, eventually, fast_transfer_options,
    official_indirect_provider, partnership_between, reason, record_customer, request_id,
    restrict_direct_bill, spawn_service_adjusted, spawn_service_with,
};
use suite_time::Clock;
use tokio::sync::Notify;
use tonic::Code;
use transfer::{StepHook, TransferOptions};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

/// The one harness's four services, with this file's steps of the story.
struct Suite(suite_testkit::Suite);

impl std::ops::Deref for Suite {
    type Target = suite_testkit::Suite;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Suite {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

async fn start(options: TransferOptions) -> Suite {
    Suite(suite_testkit::Suite::start_with(options).await)
}

/// A transitioning partner's customer and its subscriptions, ordered while the partner was
/// direct bill, then moved to the provider by invitation with an MCA the provider attested.
struct World {
    source: Uuid,
    customer: Uuid,
    provider: Uuid,
    azure: pb::Subscription,
    licences: pb::Subscription,
    add_on: pb::Subscription,
    new_commerce: pb::Subscription,
    /// More Azure pay-as-you-go subscriptions, when asked for.
    more_azure: Vec<pb::Subscription>,
}

impl World {
    fn parent(&self) -> String {
        format!("partners/{}/customers/{}", self.source, self.customer)
    }

    fn request(&self, subscriptions: &[&pb::Subscription]) -> pb::CreateTransferRequestRequest {
        transfer_of(self.source, self.customer, self.provider, subscriptions)
    }
}

/// A request from `source` to `provider` for `subscriptions` of `customer`.
fn transfer_of(
    source: Uuid,
    customer: Uuid,
    provider: Uuid,
    subscriptions: &[&pb::Subscription],
) -> pb::CreateTransferRequestRequest {
    pb::CreateTransferRequestRequest {
        request_id: request_id(),
        parent: format!("partners/{source}/customers/{customer}"),
        provider: format!("partners/{provider}"),
        subscriptions: subscriptions.iter().map(|s| s.name.clone()).collect(),
    }
}

fn price(minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: "USD".into(),
        amount_minor: minor,
    })
}

fn azure_payg() -> pb::Subscription {
    pb::Subscription {
        offer_id: "MS-AZR-0145P".into(),
        offer_kind: pb::OfferKind::AzurePayAsYouGo as i32,
        quantity: 1,
        billing_period: pb::BillingPeriod::Usage as i32,
        unit_price: price(0),
        azure_subscription_id: Uuid::new_v4().to_string(),
        ..Default::default()
    }
}

fn licence(kind: pb::OfferKind, offer: &str, quantity: i32, base: &str) -> pb::Subscription {
    pb::Subscription {
        offer_id: offer.into(),
        offer_kind: kind as i32,
        quantity,
        billing_period: pb::BillingPeriod::Monthly as i32,
        unit_price: price(2_300),
        auto_renew: true,
        base_subscription: base.into(),
        ..Default::default()
    }
}

async fn order(
    transfer: &TestService,
    partner: Uuid,
    customer: Uuid,
    subscription: pb::Subscription,
) -> pb::Subscription {
    transfer
        .transfer(&Actor::admin_agent(partner))
        .create_subscription(pb::CreateSubscriptionRequest {
            request_id: request_id(),
            parent: format!("partners/{partner}/customers/{customer}"),
            subscription: Some(subscription),
        })
        .await
        .expect("order a subscription")
        .into_inner()
}

impl Suite {
    /// A direct-bill partner with `customer` and four subscriptions for it.
    async fn direct_bill_customer(&self, partner: Uuid) -> (Uuid, [pb::Subscription; 4]) {
        let customer = Uuid::new_v4();
        record_customer(&self.relationship, partner, customer).await;
        let azure = order(self.transfer(), partner, customer, azure_payg()).await;
        let licences = order(
            self.transfer(),
            partner,
            customer,
            licence(pb::OfferKind::LegacyLicense, "O365-E3", 25, ""),
        )
        .await;
        let add_on = order(
            self.transfer(),
            partner,
            customer,
            licence(
                pb::OfferKind::LegacyLicense,
                "O365-AUDIO-CONF",
                25,
                &licences.name,
            ),
        )
        .await;
        let new_commerce = order(
            self.transfer(),
            partner,
            customer,
            licence(pb::OfferKind::NewCommerceLicense, "CFQ7TTC0LF8R", 10, ""),
        )
        .await;
        (customer, [azure, licences, add_on, new_commerce])
    }

    /// The article's starting point for a transfer: every precondition holds.
    async fn world(&self) -> World {
        self.world_with(0).await
    }

    /// As [`Self::world`], with `more_azure` more Azure subscriptions.
    async fn world_with(&self, more_azure: usize) -> World {
        let source = direct_bill_partner(&self.enrollment).await;
        let (customer, [azure, licences, add_on, new_commerce]) =
            self.direct_bill_customer(source).await;
        let mut more = Vec::new();
        for _ in 0..more_azure {
            more.push(order(self.transfer(), source, customer, azure_payg()).await);
        }
        let provider = self.transition_to_provider(source, customer).await;
        World {
            source,
            customer,
            provider,
            azure,
            licences,
            add_on,
            new_commerce,
            more_azure: more,
        }
    }

    fn transfers(
        &self,
        actor: &Actor,
    ) -> suite_proto::transfer::v1::transfer_service_client::TransferServiceClient<
        suite_testkit::AuthedChannel,
    > {
        self.transfer().transfer(actor)
    }

    /// Step 1 as the source's ADMIN_AGENT: a request for `subscriptions` that must succeed.
    async fn request_transfer(
        &self,
        world: &World,
        subscriptions: &[&pb::Subscription],
    ) -> pb::TransferRequest {
        self.transfers(&Actor::admin_agent(world.source))
            .create_transfer_request(world.request(subscriptions))
            .await
            .expect("the transfer request is created")
            .into_inner()
    }

    async fn get(&self, actor: &Actor, name: &str) -> pb::TransferRequest {
        self.transfers(actor)
            .get_transfer_request(pb::GetTransferRequestRequest { name: name.into() })
            .await
            .unwrap()
            .into_inner()
    }

    async fn accept(&self, provider: Uuid, name: &str) -> pb::TransferRequest {
        self.transfers(&Actor::user(provider, &[Role::SalesAgent]))
            .accept_transfer_request(pb::AcceptTransferRequestRequest {
                request_id: request_id(),
                name: name.into(),
                etag: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn wait_for_state(
        &self,
        actor: &Actor,
        name: &str,
        state: pb::TransferRequestState,
    ) -> pb::TransferRequest {
        let reached = Arc::new(std::sync::Mutex::new(None));
        eventually(&format!("{name} {}", state.as_str_name()), WAIT, || {
            let reached = reached.clone();
            async move {
                let request = self.get(actor, name).await;
                let done = request.state == state as i32;
                *reached.lock().unwrap() = Some(request);
                done
            }
        })
        .await;
        reached.lock().unwrap().take().unwrap()
    }

    /// `actor` sets subscription `name`'s quantity to `quantity`.
    async fn change_quantity(&self, actor: &Actor, name: &str, quantity: i32) {
        self.transfers(actor)
            .update_subscription(pb::UpdateSubscriptionRequest {
                request_id: request_id(),
                subscription: Some(pb::Subscription {
                    name: name.into(),
                    quantity,
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["quantity".into()],
                }),
            })
            .await
            .unwrap();
    }

    async fn subscriptions(&self, partner: Uuid, customer: Uuid) -> Vec<pb::Subscription> {
        self.transfers(&Actor::admin_agent(partner))
            .list_subscriptions(pb::ListSubscriptionsRequest {
                parent: format!("partners/{partner}/customers/{customer}"),
                page_size: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .subscriptions
    }

    /// How many partners bill each of `originals` as ACTIVE, following the transfer lineage.
    async fn owners(&self, world: &World, originals: &[&pb::Subscription]) -> Vec<usize> {
        let at_source = self.subscriptions(world.source, world.customer).await;
        let at_provider = self.subscriptions(world.provider, world.customer).await;
        originals
            .iter()
            .map(|original| {
                let active =
                    |s: &&pb::Subscription| s.status == pb::SubscriptionStatus::Active as i32;
                at_source
                    .iter()
                    .filter(active)
                    .filter(|s| s.name == original.name)
                    .count()
                    + at_provider
                        .iter()
                        .filter(active)
                        .filter(|s| s.transferred_from == original.name)
                        .count()
            })
            .collect()
    }
}

fn precondition_kinds(status: &tonic::Status) -> Vec<(String, String)> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .precondition_failure()
        .map(|failure| {
            failure
                .violations
                .iter()
                .map(|v| (v.r#type.clone(), v.subject.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_mixed_request_moves_in_four_steps() {
    let suite = start(fast_transfer_options()).await;
    let world = suite.world().await;
    let source_agent = Actor::admin_agent(world.source);

    // Eligibility says, for each subscription, whether it moves and why not.
    let eligibilities = suite
        .transfers(&source_agent)
        .list_transfer_eligibilities(pb::ListTransferEligibilitiesRequest {
            parent: world.parent(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .eligibilities;
    let nce = eligibilities
        .iter()
        .find(|e| e.subscription == world.new_commerce.name)
        .unwrap();
    assert!(!nce.eligible);
    assert_eq!(nce.reason(), pb::IneligibilityReason::NewCommerceLicense);
    assert!(nce.advice.contains("auto-renew off"), "{}", nce.advice);
    assert_eq!(eligibilities.iter().filter(|e| e.eligible).count(), 3);

    // A request naming the New Commerce subscription is refused with a result per line item.
    let refused = suite
        .transfers(&source_agent)
        .create_transfer_request(world.request(&[
            &world.azure,
            &world.licences,
            &world.new_commerce,
        ]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "SUBSCRIPTION_NOT_TRANSFERABLE");
    assert_eq!(
        precondition_kinds(&refused),
        [(
            "INELIGIBILITY_REASON_NEW_COMMERCE_LICENSE".to_owned(),
            world.new_commerce.name.clone()
        )]
    );
    assert_eq!(suite.transfer().count_rows("transfer_requests").await, 0);

    // Step 1: the request, with the add-on included after its base.
    let created = suite
        .request_transfer(&world, &[&world.azure, &world.licences])
        .await;
    assert_eq!(created.state(), pb::TransferRequestState::Active);
    let items: Vec<_> = created
        .line_items
        .iter()
        .map(|i| (i.subscription.clone(), i.included_with_base))
        .collect();
    assert_eq!(
        items,
        [
            (world.azure.name.clone(), false),
            (world.licences.name.clone(), false),
            (world.add_on.name.clone(), true)
        ]
    );
    // The provider is notified, and both sides list it as active.
    assert_eq!(
        suite
            .transfer()
            .database
            .outbox("transfer.v1.transfer_request.created")
            .await
            .len(),
        1
    );
    for (partner, role) in [
        (world.source, pb::TransferRole::Source),
        (world.provider, pb::TransferRole::Provider),
    ] {
        let listed = suite
            .transfers(&Actor::admin_agent(partner))
            .list_transfer_requests(pb::ListTransferRequestsRequest {
                parent: format!("partners/{partner}"),
                role: role as i32,
                state: pb::TransferRequestState::Active as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .transfer_requests;
        assert_eq!(listed.len(), 1, "listed for {role:?}");
        assert_eq!(listed[0].name, created.name);
    }

    // Steps 2 and 3: the provider's sales agent accepts; the transfer runs.
    let accepted = suite.accept(world.provider, &created.name).await;
    assert_eq!(accepted.state(), pb::TransferRequestState::Accepted);
    let completed = suite
        .wait_for_state(
            &source_agent,
            &created.name,
            pb::TransferRequestState::Completed,
        )
        .await;
    assert_eq!(
        completed.execution.as_ref().unwrap().step(),
        pb::TransferStep::Done
    );
    assert!(
        completed
            .line_items
            .iter()
            .all(|i| !i.transferred_subscription.is_empty())
    );

    // Step 4: Azure left the source's list, licences stay as SUSPENDED.
    let at_source = suite.subscriptions(world.source, world.customer).await;
    assert!(at_source.iter().all(|s| s.name != world.azure.name));
    for name in [&world.licences.name, &world.add_on.name] {
        let left = at_source.iter().find(|s| &s.name == name).unwrap();
        assert_eq!(left.status(), pb::SubscriptionStatus::Suspended);
    }
    let new_commerce = at_source
        .iter()
        .find(|s| s.name == world.new_commerce.name)
        .unwrap();
    assert_eq!(new_commerce.status(), pb::SubscriptionStatus::Active);

    // The provider holds the three, the Azure one under a new name with its Azure id, the
    // add-on linked to the provider's copy of its base.
    let at_provider = suite.subscriptions(world.provider, world.customer).await;
    assert_eq!(at_provider.len(), 3);
    let azure = at_provider
        .iter()
        .find(|s| s.transferred_from == world.azure.name)
        .unwrap();
    assert_ne!(azure.name, world.azure.name);
    assert_eq!(
        azure.azure_subscription_id,
        world.azure.azure_subscription_id
    );
    let base = at_provider
        .iter()
        .find(|s| s.transferred_from == world.licences.name)
        .unwrap();
    let add_on = at_provider
        .iter()
        .find(|s| s.transferred_from == world.add_on.name)
        .unwrap();
    assert_eq!(add_on.base_subscription, base.name);
    assert_eq!(base.quantity, 25);
    assert_eq!(
        suite
            .owners(
                &world,
                &[
                    &world.azure,
                    &world.licences,
                    &world.add_on,
                    &world.new_commerce
                ]
            )
            .await,
        [1, 1, 1, 1]
    );
    // Both sides are told it completed, and each keeps it in its trail.
    assert_eq!(
        suite
            .transfer()
            .database
            .outbox("transfer.v1.transfer_request.completed")
            .await
            .len(),
        1
    );
    let trail = suite.transfer().database.audit_actions(&created.name).await;
    assert_eq!(
        trail
            .iter()
            .filter(|a| a.as_str() == "ExecuteTransfer")
            .count(),
        2,
        "{trail:?}"
    );
}

#[tokio::test]
async fn each_unmet_precondition_is_refused_with_its_reason() {
    let suite = start(fast_transfer_options()).await;
    let world = suite.world().await;
    let create = |actor: Actor, request: pb::CreateTransferRequestRequest| {
        let mut client = suite.transfers(&actor);
        async move { client.create_transfer_request(request).await.unwrap_err() }
    };

    // A provider the customer has no reseller relationship with (nor an MCA with).
    let stranger = official_indirect_provider(&suite.enrollment).await;
    let mut request = world.request(&[&world.azure]);
    request.provider = format!("partners/{stranger}");
    let refused = create(Actor::admin_agent(world.source), request).await;
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "RESELLER_RELATIONSHIP_REQUIRED");
    let kinds: Vec<_> = precondition_kinds(&refused)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        kinds,
        [
            "RESELLER_RELATIONSHIP_REQUIRED",
            "PARTNERSHIP_NOT_ACTIVE",
            "CUSTOMER_AGREEMENT_REQUIRED"
        ]
    );

    // A customer of the source that was never moved to the provider.
    let unmoved = Uuid::new_v4();
    record_customer_as_operator(&suite, world.source, unmoved).await;
    let mut request = world.request(&[&world.azure]);
    request.parent = format!("partners/{}/customers/{unmoved}", world.source);
    request.subscriptions = vec![];
    request.subscriptions.push(format!(
        "partners/{}/customers/{unmoved}/subscriptions/{}",
        world.source,
        Uuid::new_v4()
    ));
    let refused = create(Actor::admin_agent(world.source), request).await;
    assert_eq!(reason(&refused), "RESELLER_RELATIONSHIP_REQUIRED");
    let kinds: Vec<_> = precondition_kinds(&refused)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(
        kinds.contains(&"INDIRECT_RESELLER_REQUIRED".to_owned()),
        "{kinds:?}"
    );

    // A direct-bill partner that is not transitioning.
    let direct = direct_bill_partner(&suite.enrollment).await;
    let (customer, [azure, ..]) = suite.direct_bill_customer(direct).await;
    let request = transfer_of(direct, customer, world.provider, &[&azure]);
    let refused = create(Actor::admin_agent(direct), request).await;
    assert_eq!(reason(&refused), "TRANSITIONING_PARTNER_REQUIRED");

    // An integration sandbox.
    let sandbox = direct_bill_sandbox_partner(&suite.enrollment).await;
    let (customer, [azure, ..]) = suite.direct_bill_customer(sandbox).await;
    let request = transfer_of(sandbox, customer, world.provider, &[&azure]);
    let refused = create(Actor::admin_agent(sandbox), request).await;
    assert_eq!(reason(&refused), "SANDBOX_TENANT");

    // The MCA not valid with the provider: another world without the attestation.
    let source = direct_bill_partner(&suite.enrollment).await;
    let (customer, [azure, ..]) = suite.direct_bill_customer(source).await;
    restrict_direct_bill(&suite.enrollment, source).await;
    enroll_indirect_reseller(&suite.enrollment, source).await;
    partnership_between(&suite.relationship, world.provider, source).await;
    customer_joins_reseller_and_provider(&suite.relationship, source, world.provider, customer)
        .await;
    let request = transfer_of(source, customer, world.provider, &[&azure]);
    let refused = create(Actor::admin_agent(source), request).await;
    assert_eq!(reason(&refused), "CUSTOMER_AGREEMENT_REQUIRED");
    assert!(
        refused.message().contains("REQUIRED_ACTION_ACCEPT_MCA"),
        "{}",
        refused.message()
    );

    // An add-on without its base, and a sales agent (not an admin agent) of the source.
    let refused = create(
        Actor::admin_agent(world.source),
        world.request(&[&world.add_on]),
    )
    .await;
    assert_eq!(reason(&refused), "SUBSCRIPTION_NOT_TRANSFERABLE");
    assert_eq!(
        precondition_kinds(&refused)[0].0,
        "INELIGIBILITY_REASON_ADD_ON_WITHOUT_BASE"
    );
    let refused = create(
        Actor::user(world.source, &[Role::SalesAgent]),
        world.request(&[&world.azure]),
    )
    .await;
    assert_eq!(refused.code(), Code::PermissionDenied);
    // Another partner cannot even see the customer.
    let refused = create(Actor::admin_agent(stranger), world.request(&[&world.azure])).await;
    assert_eq!(refused.code(), Code::NotFound);
    assert_eq!(suite.transfer().count_rows("transfer_requests").await, 0);
}

/// `side` suspends (or, with `resume`, resumes) its partnership with the other one.
async fn set_partnership(suite: &Suite, side: Uuid, world: &World, resume: bool) {
    use suite_proto::relationship::v1 as rel;
    let name = if side == world.provider {
        format!(
            "partners/{}/indirectResellers/{}",
            world.provider, world.source
        )
    } else {
        format!(
            "partners/{}/indirectProviders/{}",
            world.source, world.provider
        )
    };
    let mut client = suite.relationship.relationship(&Actor::admin_agent(side));
    let changed = if resume {
        client
            .resume_partnership(rel::ResumePartnershipRequest {
                request_id: request_id(),
                name,
                etag: String::new(),
            })
            .await
    } else {
        client
            .suspend_partnership(rel::SuspendPartnershipRequest {
                request_id: request_id(),
                name,
                etag: String::new(),
            })
            .await
    };
    changed.expect("the partnership changes");
}

#[tokio::test]
async fn a_suspended_partnership_carries_no_transfer_until_resumed() {
    let suite = start(fast_transfer_options()).await;
    let world = suite.world().await;
    let source_agent = Actor::admin_agent(world.source);

    // Suspended by the provider: no request is created.
    set_partnership(&suite, world.provider, &world, false).await;
    let refused = suite
        .transfers(&source_agent)
        .create_transfer_request(world.request(&[&world.azure]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "PARTNERSHIP_NOT_ACTIVE");
    assert!(
        refused.message().contains("resume"),
        "{}",
        refused.message()
    );
    assert_eq!(suite.transfer().count_rows("transfer_requests").await, 0);

    // Resumed by the side that suspended it: the request is created; suspended again (by
    // the reseller this time) before it runs, the execution's second check stops it.
    set_partnership(&suite, world.provider, &world, true).await;
    let created = suite.request_transfer(&world, &[&world.azure]).await;
    set_partnership(&suite, world.source, &world, false).await;
    suite.accept(world.provider, &created.name).await;
    let failed = suite
        .wait_for_state(
            &source_agent,
            &created.name,
            pb::TransferRequestState::Failed,
        )
        .await;
    assert_eq!(
        failed.execution.unwrap().failure_reason,
        "PARTNERSHIP_NOT_ACTIVE"
    );
    assert_eq!(suite.owners(&world, &[&world.azure]).await, [1]);

    // Revoked, for good: still no transfer, while what the customer has stays its own:
    // both partners of record, the provider's orders for it included.
    {
        use suite_proto::relationship::v1 as rel;
        suite
            .relationship
            .relationship(&Actor::admin_agent(world.provider))
            .revoke_partnership(rel::RevokePartnershipRequest {
                request_id: request_id(),
                name: format!(
                    "partners/{}/indirectResellers/{}",
                    world.provider, world.source
                ),
                etag: String::new(),
            })
            .await
            .expect("the provider revokes");
        let refused = suite
            .transfers(&source_agent)
            .create_transfer_request(world.request(&[&world.azure]))
            .await
            .unwrap_err();
        assert_eq!(reason(&refused), "PARTNERSHIP_NOT_ACTIVE");
        let partners = suite
            .relationship
            .relationship(&Actor::global_admin(world.customer))
            .list_customer_partners(rel::ListCustomerPartnersRequest {
                parent: format!("customers/{}", world.customer),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .partners;
        assert_eq!(partners.len(), 2, "{partners:?}");
        order(
            suite.transfer(),
            world.provider,
            world.customer,
            azure_payg(),
        )
        .await;
    }
}

/// The operator records a customer of `partner` (a RESTRICTED partner adds none itself).
async fn record_customer_as_operator(suite: &Suite, partner: Uuid, customer: Uuid) {
    use suite_proto::relationship::v1 as rel;
    suite
        .relationship
        .relationship(&Actor::operator())
        .create_customer(rel::CreateCustomerRequest {
            request_id: request_id(),
            parent: format!("partners/{partner}"),
            customer: Some(rel::Customer {
                customer_tenant_id: customer.to_string(),
                display_name: "Northwind Traders".into(),
                domain: "northwind.onmicrosoft.com".into(),
                country_code: "US".into(),
                ..Default::default()
            }),
            indirect_reseller: String::new(),
        })
        .await
        .expect("record the customer");
}

#[tokio::test]
async fn a_subscription_is_in_one_open_request_even_under_concurrent_creates() {
    let suite = start(fast_transfer_options()).await;
    let world = suite.world().await;
    let mut first = suite.transfers(&Actor::admin_agent(world.source));
    let mut second = suite.transfers(&Actor::admin_agent(world.source));
    // Both are polled together, so their transactions overlap.
    let (one, other) = tokio::join!(
        first.create_transfer_request(world.request(&[&world.azure])),
        second.create_transfer_request(world.request(&[&world.azure])),
    );
    let results = [one, other];
    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(lost.code(), Code::FailedPrecondition);
    assert!(
        [
            "SUBSCRIPTION_NOT_TRANSFERABLE",
            "SUBSCRIPTION_IN_OPEN_TRANSFER_REQUEST"
        ]
        .contains(&reason(lost).as_str()),
        "{lost:?}"
    );

    // Cancelling the request frees the subscription for a new one.
    let first = won[0].get_ref().name.clone();
    let cancelled = suite
        .transfers(&Actor::admin_agent(world.source))
        .cancel_transfer_request(pb::CancelTransferRequestRequest {
            request_id: request_id(),
            name: first,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.state(), pb::TransferRequestState::Cancelled);
    suite
        .transfers(&Actor::admin_agent(world.source))
        .create_transfer_request(world.request(&[&world.azure]))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_quantity_changed_after_creation_is_not_carried_over_and_shows_as_drift() {
    let suite = start(fast_transfer_options()).await;
    let world = suite.world().await;
    let source_agent = Actor::admin_agent(world.source);
    let created = suite.request_transfer(&world, &[&world.licences]).await;
    suite
        .change_quantity(&source_agent, &world.licences.name, 30)
        .await;
    let read = suite.get(&source_agent, &created.name).await;
    let item = &read.line_items[0];
    assert_eq!(
        (item.quantity, item.current_quantity, item.quantity_drift),
        (25, 30, true)
    );

    suite.accept(world.provider, &created.name).await;
    suite
        .wait_for_state(
            &source_agent,
            &created.name,
            pb::TransferRequestState::Completed,
        )
        .await;
    let at_provider = suite.subscriptions(world.provider, world.customer).await;
    let moved = at_provider
        .iter()
        .find(|s| s.transferred_from == world.licences.name)
        .unwrap();
    assert_eq!(moved.quantity, 25); // Once the request has ended, it shows the quantities it moved, not the source's later
    // counts.
    let ended = suite
        .get(&Actor::admin_agent(world.provider), &created.name)
        .await;
    let item = &ended.line_items[0];
    assert_eq!((item.current_quantity, item.quantity_drift), (25, false));
}

#[tokio::test]
async fn a_listed_page_shows_each_request_with_its_own_line_items_and_quantities() {
    let suite = start(fast_transfer_options()).await;
    let world = suite.world_with(2).await;
    let source_agent = Actor::admin_agent(world.source);
    // Three requests of one, two (a base with its add-on) and two line items.
    let mut created = vec![
        suite
            .request_transfer(&world, &[&world.more_azure[1]])
            .await,
        suite.request_transfer(&world, &[&world.licences]).await,
        suite
            .request_transfer(&world, &[&world.azure, &world.more_azure[0]])
            .await,
    ];
    suite
        .change_quantity(&source_agent, &world.licences.name, 30)
        .await;

    // Two a page, newest first, to the end.
    let mut listed = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = suite
            .transfers(&source_agent)
            .list_transfer_requests(pb::ListTransferRequestsRequest {
                parent: format!("partners/{}", world.source),
                role: pb::TransferRole::Source as i32,
                page_size: 2,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.transfer_requests.len() <= 2);
        listed.extend(page.transfer_requests);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    created.reverse();
    let names = |requests: &[pb::TransferRequest]| -> Vec<String> {
        requests.iter().map(|r| r.name.clone()).collect()
    };
    assert_eq!(names(&listed), names(&created));
    let items = |request: &pb::TransferRequest| -> Vec<(String, i32, i32)> {
        request
            .line_items
            .iter()
            .map(|i| (i.subscription.clone(), i.quantity, i.current_quantity))
            .collect()
    };
    assert_eq!(
        listed
            .iter()
            .map(|r| r.line_items.len())
            .collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    for request in &listed {
        let read = suite.get(&source_agent, &request.name).await;
        assert_eq!(items(request), items(&read), "{}", request.name);
    }
    let licences = &listed[1].line_items[0];
    assert_eq!(
        (
            licences.subscription.as_str(),
            licences.quantity,
            licences.current_quantity,
            licences.quantity_drift
        ),
        (world.licences.name.as_str(), 25, 30, true)
    );
}

#[tokio::test]
async fn rejected_cancelled_and_expired_requests_free_their_subscriptions() {
    let (clock, hands) = Clock::manual(suite_time::now_micros());
    let suite = start(TransferOptions {
        clock,
        request_lifetime: Duration::from_secs(3_600),
        ..fast_transfer_options()
    })
    .await;
    let world = suite.world().await;
    let source_agent = Actor::admin_agent(world.source);
    let provider_agent = Actor::admin_agent(world.provider);
    let create = || async { suite.request_transfer(&world, &[&world.azure]).await };

    // Each side does only its own part; another partner sees nothing.
    let first = create().await;
    let refused = suite
        .transfers(&source_agent)
        .accept_transfer_request(pb::AcceptTransferRequestRequest {
            request_id: request_id(),
            name: first.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (refused.code(), reason(&refused).as_str()),
        (Code::PermissionDenied, "PROVIDER_REQUIRED")
    );
    let refused = suite
        .transfers(&provider_agent)
        .cancel_transfer_request(pb::CancelTransferRequestRequest {
            request_id: request_id(),
            name: first.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (refused.code(), reason(&refused).as_str()),
        (Code::PermissionDenied, "SOURCE_REQUIRED")
    );
    let stranger = Actor::admin_agent(Uuid::new_v4());
    let hidden = suite
        .transfers(&stranger)
        .get_transfer_request(pb::GetTransferRequestRequest {
            name: first.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);

    // Rejected with a note.
    let rejected = suite
        .transfers(&provider_agent)
        .reject_transfer_request(pb::RejectTransferRequestRequest {
            request_id: request_id(),
            name: first.name.clone(),
            note: "Please include the Azure plan first".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rejected.state(), pb::TransferRequestState::Rejected);
    assert_eq!(
        rejected.rejection_note,
        "Please include the Azure plan first"
    );

    // Expired unaccepted: the clock passes the hour.
    let second = create().await;
    hands.advance(Duration::from_secs(3_601));
    suite
        .wait_for_state(
            &source_agent,
            &second.name,
            pb::TransferRequestState::Expired,
        )
        .await;
    let late = suite
        .transfers(&provider_agent)
        .accept_transfer_request(pb::AcceptTransferRequestRequest {
            request_id: request_id(),
            name: second.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&late), "TRANSFER_REQUEST_NOT_ACTIVE");
    assert_eq!(
        suite
            .transfer()
            .database
            .outbox("transfer.v1.transfer_request.expired")
            .await
            .len(),
        1
    );

    // Still free: a third request takes it.
    create().await;
}

#[tokio::test]
async fn a_downstream_outage_during_execution_is_retried_until_the_peer_is_back() {
    let mut suite = start(fast_transfer_options()).await;
    let world = suite.world().await;
    let source_agent = Actor::admin_agent(world.source);
    let created = suite.request_transfer(&world, &[&world.azure]).await;

    // The agreement service goes down between the request and the acceptance.
    let agreement = suite.agreement.take().unwrap();
    let agreement_peers = suite.agreement_peers();
    let (addr, database) = agreement.stop_keeping_database().await;
    suite.accept(world.provider, &created.name).await;
    eventually("the execution retries the outage", WAIT, || async {
        let request = suite.get(&source_agent, &created.name).await;
        request
            .execution
            .as_ref()
            .is_some_and(|e| e.attempts >= 2 && !e.last_error.is_empty())
            && request.state() == pb::TransferRequestState::Accepted
    })
    .await;
    assert_eq!(suite.owners(&world, &[&world.azure]).await, [1]);

    // Back up: the transfer resumes and completes.
    let restarted = spawn_service_with(agreement::run, agreement_peers, database, addr).await;
    suite.agreement = Some(restarted);
    let completed = suite
        .wait_for_state(
            &source_agent,
            &created.name,
            pb::TransferRequestState::Completed,
        )
        .await;
    assert!(completed.execution.unwrap().last_error.is_empty());
    assert_eq!(suite.owners(&world, &[&world.azure]).await, [1]);
}

#[tokio::test]
async fn an_outage_past_the_deadline_fails_the_transfer_and_moves_nothing() {
    let mut suite = start(TransferOptions {
        execution_deadline: Duration::ZERO,
        ..fast_transfer_options()
    })
    .await;
    let world = suite.world().await;
    let source_agent = Actor::admin_agent(world.source);
    let created = suite
        .request_transfer(&world, &[&world.azure, &world.licences])
        .await;
    suite.agreement.take().unwrap().stop().await;
    suite.accept(world.provider, &created.name).await;
    let failed = suite
        .wait_for_state(
            &source_agent,
            &created.name,
            pb::TransferRequestState::Failed,
        )
        .await;
    let execution = failed.execution.unwrap();
    assert_eq!(execution.failure_reason, "EXECUTION_DEADLINE_PASSED");
    assert!(
        execution.last_error.contains("agreement"),
        "{}",
        execution.last_error
    );
    assert_eq!(
        suite
            .owners(&world, &[&world.azure, &world.licences, &world.add_on])
            .await,
        [1, 1, 1]
    );
    assert!(
        suite
            .subscriptions(world.provider, world.customer)
            .await
            .is_empty()
    );
    // The subscriptions are free again.
    let eligibilities = suite
        .transfers(&source_agent)
        .list_transfer_eligibilities(pb::ListTransferEligibilitiesRequest {
            parent: world.parent(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .eligibilities;
    assert!(
        eligibilities
            .iter()
            .any(|e| e.subscription == world.azure.name && e.eligible)
    );
}

/// A hook that halts the execution for good at `step` and tells the test it got there.
fn halt_at(step: pb::TransferStep, reached: Arc<Notify>) -> StepHook {
    Arc::new(move |at| {
        let reached = reached.clone();
        Box::pin(async move {
            if at == step {
                reached.notify_one();
                std::future::pending::<()>().await;
            }
        })
    })
}

#[tokio::test]
async fn a_transfer_service_stopped_at_each_step_resumes_after_restart_and_ends_consistent() {
    for step in [
        pb::TransferStep::CheckPreconditions,
        pb::TransferStep::MoveSubscriptions,
    ] {
        let reached = Arc::new(Notify::new());
        let mut suite = start(TransferOptions {
            before_step: Some(halt_at(step, reached.clone())),
            ..fast_transfer_options()
        })
        .await;
        let world = suite.world().await;
        let source_agent = Actor::admin_agent(world.source);
        let created = suite
            .request_transfer(&world, &[&world.azure, &world.licences])
            .await;
        suite.accept(world.provider, &created.name).await;
        tokio::time::timeout(WAIT, reached.notified())
            .await
            .expect("the step is reached");

        // The service dies in the middle of the step, with the message leased.
        let peers = suite.transfer_peers();
        let transfer = suite.transfer.take().unwrap();
        let (addr, database) = transfer.stop_keeping_database().await;
        let request = suite_db_request_state(&database, &created.name).await;
        assert_eq!(
            request,
            (
                "TRANSFER_REQUEST_STATE_ACCEPTED".to_owned(),
                step.as_str_name().to_owned()
            )
        );

        let restarted = spawn_service_with(
            |config, listener, shutdown| {
                transfer::run_with(fast_transfer_options(), config, listener, shutdown)
            },
            peers,
            database,
            addr,
        )
        .await;
        suite.transfer = Some(restarted);
        suite
            .wait_for_state(
                &source_agent,
                &created.name,
                pb::TransferRequestState::Completed,
            )
            .await;
        assert_eq!(
            suite
                .owners(&world, &[&world.azure, &world.licences, &world.add_on])
                .await,
            [1, 1, 1],
            "after a stop at {step:?}"
        );
        assert_eq!(
            suite
                .subscriptions(world.provider, world.customer)
                .await
                .len(),
            3
        );
    }
}

/// The state and step of the request named `name`, read from the stopped service's database.
async fn suite_db_request_state(
    database: &suite_testkit::TestDatabase,
    name: &str,
) -> (String, String) {
    use sqlx::Row;
    let id = name.rsplit('/').next().unwrap();
    let row = sqlx::query("SELECT state, step FROM transfer_requests WHERE id = $1")
        .bind(id)
        .fetch_one(database.database().pool())
        .await
        .unwrap();
    (row.get("state"), row.get("step"))
}

#[tokio::test]
async fn two_replicas_execute_each_accepted_transfer_exactly_once() {
    const TRANSFERS: usize = 6;
    let suite = start(fast_transfer_options()).await;
    let second = spawn_service_adjusted(
        |config, listener, shutdown| {
            transfer::run_with(fast_transfer_options(), config, listener, shutdown)
        },
        {
            let url = suite.transfer().database.url().to_owned();
            let peers = suite.transfer_peers();
            move |config| {
                config.database_url = Secret::new(url);
                config.peers = peers;
            }
        },
    )
    .await;
    let world = suite.world_with(TRANSFERS).await;
    let source_agent = Actor::admin_agent(world.source);
    let mut names = Vec::new();
    for azure in &world.more_azure {
        let created = suite.request_transfer(&world, &[azure]).await;
        names.push(created.name);
    }
    // Half are accepted through one replica, half through the other; both run executors.
    for (index, name) in names.iter().enumerate() {
        let replica = if index % 2 == 0 {
            suite.transfer()
        } else {
            &second
        };
        replica
            .transfer(&Actor::admin_agent(world.provider))
            .accept_transfer_request(pb::AcceptTransferRequestRequest {
                request_id: request_id(),
                name: name.clone(),
                etag: String::new(),
            })
            .await
            .unwrap();
    }
    for name in &names {
        suite
            .wait_for_state(&source_agent, name, pb::TransferRequestState::Completed)
            .await;
    }
    // Side effects, counted: one provider subscription per transfer, one completion each.
    let at_provider = suite.subscriptions(world.provider, world.customer).await;
    assert_eq!(at_provider.len(), TRANSFERS);
    let origins: HashSet<_> = at_provider
        .iter()
        .map(|s| s.transferred_from.clone())
        .collect();
    assert_eq!(origins.len(), TRANSFERS);
    let completions =
        sqlx::query("SELECT COUNT(*) AS n FROM transfer_steps WHERE outcome = 'COMPLETED'")
            .fetch_one(suite.transfer().database.database().pool())
            .await
            .map(|row| sqlx::Row::get::<i64, _>(&row, "n"))
            .unwrap();
    assert_eq!(completions, TRANSFERS as i64);
    second.stop().await;
}

async fn cancel(
    suite: &Suite,
    partner: Uuid,
    name: &str,
) -> Result<pb::Subscription, tonic::Status> {
    suite
        .transfers(&Actor::admin_agent(partner))
        .cancel_subscription(pb::CancelSubscriptionRequest {
            request_id: request_id(),
            name: name.into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn cancelling_credits_the_unused_days_and_new_commerce_only_within_72_hours() {
    // 2026-01-01 09:00 UTC: January has 31 days.
    let (clock, hands) = Clock::manual(1_767_258_000_000_000);
    let suite = start(TransferOptions {
        clock,
        ..fast_transfer_options()
    })
    .await;
    let partner = direct_bill_partner(&suite.enrollment).await;
    let customer = Uuid::new_v4();
    record_customer(&suite.relationship, partner, customer).await;
    let mut base = licence(pb::OfferKind::LegacyLicense, "O365-E3", 10, "");
    base.unit_price = price(3_100);
    let base = order(suite.transfer(), partner, customer, base).await;
    let mut add_on = licence(
        pb::OfferKind::LegacyLicense,
        "O365-AUDIO-CONF",
        10,
        &base.name,
    );
    add_on.unit_price = price(3_100);
    let add_on = order(suite.transfer(), partner, customer, add_on).await;
    let mut nce = licence(pb::OfferKind::NewCommerceLicense, "CFQ7TTC0LF8R", 5, "");
    nce.unit_price = price(2_000);
    let early = order(suite.transfer(), partner, customer, nce.clone()).await;
    let late = order(suite.transfer(), partner, customer, nce).await;

    // A base with an ACTIVE add-on is not cancelled; the add-on first.
    let refused = cancel(&suite, partner, &base.name).await.unwrap_err();
    assert_eq!(reason(&refused), "ADD_ONS_ACTIVE");

    // Exactly one day in: one day used, 30 of 31 credited.
    hands.advance(Duration::from_secs(86_400));
    let cancelled = cancel(&suite, partner, &add_on.name).await.unwrap();
    assert_eq!(cancelled.status(), pb::SubscriptionStatus::Cancelled);
    assert_eq!(cancelled.cancellation_credit.unwrap().amount_minor, 30_000);
    // One microsecond later a second day has started: 29 of 31.
    hands.advance(Duration::from_micros(1));
    let cancelled = cancel(&suite, partner, &base.name).await.unwrap();
    assert_eq!(cancelled.cancellation_credit.unwrap().amount_minor, 29_000);
    assert!(!cancelled.auto_renew);
    let again = cancel(&suite, partner, &base.name).await.unwrap_err();
    assert_eq!(reason(&again), "SUBSCRIPTION_NOT_ACTIVE");

    // New Commerce: the whole fee within 72 hours, no cancellation after.
    let credited = cancel(&suite, partner, &early.name).await.unwrap();
    assert_eq!(credited.cancellation_credit.unwrap().amount_minor, 10_000);
    hands.advance(Duration::from_secs(2 * 86_400));
    let closed = cancel(&suite, partner, &late.name).await.unwrap_err();
    assert_eq!(closed.code(), Code::FailedPrecondition);
    assert_eq!(reason(&closed), "CANCELLATION_WINDOW_CLOSED");
    // What the partner does instead: turn auto-renew off.
    let renewal_off = suite
        .transfers(&Actor::admin_agent(partner))
        .update_subscription(pb::UpdateSubscriptionRequest {
            request_id: request_id(),
            subscription: Some(pb::Subscription {
                name: late.name.clone(),
                auto_renew: false,
                etag: late.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["auto_renew".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!renewal_off.auto_renew);
    assert_eq!(
        suite
            .transfer()
            .database
            .outbox("transfer.v1.subscription.cancelled")
            .await
            .len(),
        3
    );
}

#[tokio::test]
async fn a_subscription_in_an_open_request_is_not_cancelled() {
    let suite = start(fast_transfer_options()).await;
    let world = suite.world().await;
    suite
        .transfers(&Actor::admin_agent(world.source))
        .create_transfer_request(world.request(&[&world.azure, &world.licences]))
        .await
        .unwrap();
    let refused = cancel(&suite, world.source, &world.azure.name)
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "SUBSCRIPTION_IN_OPEN_TRANSFER_REQUEST");
}

/// `prober`, another partner, names the source's customer under its own tenant, with the
/// provider.
fn probe(prober: Uuid, world: &World) -> pb::CreateTransferRequestRequest {
    pb::CreateTransferRequestRequest {
        request_id: request_id(),
        parent: format!("partners/{prober}/customers/{}", world.customer),
        provider: format!("partners/{}", world.provider),
        subscriptions: vec![format!(
            "partners/{prober}/customers/{}/subscriptions/{}",
            world.customer,
            Uuid::new_v4()
        )],
    }
}

#[tokio::test]
async fn nothing_about_another_partners_customer_leaks_through_a_transfer_request() {
    let suite = start(fast_transfer_options()).await;
    let world = suite.world().await;
    // Another partner names the source's customer under its own tenant, with the provider.
    let prober = direct_bill_partner(&suite.enrollment).await;
    let refused = suite
        .transfers(&Actor::admin_agent(prober))
        .create_transfer_request(probe(prober, &world))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    assert!(precondition_kinds(&refused).is_empty());
    // The operator neither asks nor accepts for the partners.
    let operator = suite
        .transfers(&Actor::operator())
        .create_transfer_request(world.request(&[&world.azure]))
        .await
        .unwrap_err();
    assert_eq!(operator.code(), Code::PermissionDenied);
    let created = suite.request_transfer(&world, &[&world.azure]).await;
    let operator = suite
        .transfers(&Actor::operator())
        .accept_transfer_request(pb::AcceptTransferRequestRequest {
            request_id: request_id(),
            name: created.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(operator.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_customer_the_caller_does_not_have_is_not_found_even_while_a_checked_peer_is_down() {
    let mut suite = start(fast_transfer_options()).await;
    let world = suite.world().await;
    let prober = direct_bill_partner(&suite.enrollment).await;
    // The agreement service, which the creation's checks ask as this service, is down.
    let agreement = suite.agreement.take().unwrap();
    let _kept = agreement.stop_keeping_database().await;

    let refused = suite
        .transfers(&Actor::admin_agent(prober))
        .create_transfer_request(probe(prober, &world))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    // The source's own request does reach the checks, and is told the peer is down.
    let unavailable = suite
        .transfers(&Actor::admin_agent(world.source))
        .create_transfer_request(world.request(&[&world.azure]))
        .await
        .unwrap_err();
    assert_eq!(unavailable.code(), Code::Unavailable, "{unavailable:?}");
    assert_eq!(suite.transfer().count_rows("transfer_requests").await, 0);
}

#[tokio::test]
async fn a_customer_the_caller_does_not_have_is_not_found_without_waiting_for_a_hung_check() {
    let mut suite = start(fast_transfer_options()).await;
    let world = suite.world().await;
    let prober = direct_bill_partner(&suite.enrollment).await;
    // An "agreement service" that accepts connections and never answers.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_url = format!("http://{}", hung.local_addr().unwrap());
    let _holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = hung.accept().await {
            held.push(stream);
        }
    });
    let peers = suite_config::PeerUrls {
        agreement: Some(hung_url),
        ..suite.transfer_peers()
    };
    let (addr, database) = suite.transfer.take().unwrap().stop_keeping_database().await;
    suite.transfer = Some(
        spawn_service_with(
            |config, listener, shutdown| {
                transfer::run_with(fast_transfer_options(), config, listener, shutdown)
            },
            peers,
            database,
            addr,
        )
        .await,
    );

    // The check asked of the hung peer would run into its 10 s timeout, past the caller's
    // deadline: the answer comes from GetCustomer alone.
    let mut request = tonic::Request::new(probe(prober, &world));
    request.set_timeout(Duration::from_secs(8));
    let refused = suite
        .transfers(&Actor::admin_agent(prober))
        .create_transfer_request(request)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
}

#[tokio::test]
async fn each_named_subscription_gets_its_own_result_and_an_azure_id_is_billed_once() {
    let suite = start(fast_transfer_options()).await;
    let world = suite.world().await;
    let unknown = format!("{}/subscriptions/{}", world.parent(), Uuid::new_v4());
    let mut request = world.request(&[&world.new_commerce]);
    request.subscriptions.push(unknown.clone());
    let refused = suite
        .transfers(&Actor::admin_agent(world.source))
        .create_transfer_request(request)
        .await
        .unwrap_err();
    assert_eq!(
        precondition_kinds(&refused),
        [
            (
                "INELIGIBILITY_REASON_NEW_COMMERCE_LICENSE".to_owned(),
                world.new_commerce.name.clone()
            ),
            ("INELIGIBILITY_REASON_NOT_FOUND".to_owned(), unknown)
        ]
    );

    // The transferred Azure subscription is the provider's; nobody orders it again.
    let created = suite.request_transfer(&world, &[&world.azure]).await;
    suite.accept(world.provider, &created.name).await;
    suite
        .wait_for_state(
            &Actor::admin_agent(world.source),
            &created.name,
            pb::TransferRequestState::Completed,
        )
        .await;
    let mut again = azure_payg();
    again.azure_subscription_id = world.azure.azure_subscription_id.clone();
    let refused = suite
        .transfers(&Actor::admin_agent(world.provider))
        .create_subscription(pb::CreateSubscriptionRequest {
            request_id: request_id(),
            parent: format!("partners/{}/customers/{}", world.provider, world.customer),
            subscription: Some(again),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "AZURE_SUBSCRIPTION_ALREADY_BILLED");
    // Only Azure pay-as-you-go is ordered as such.
    let mut claimed = azure_payg();
    claimed.offer_id = "DZH318Z0BPS6".into();
    let refused = suite
        .transfers(&Actor::admin_agent(world.provider))
        .create_subscription(pb::CreateSubscriptionRequest {
            request_id: request_id(),
            parent: format!("partners/{}/customers/{}", world.provider, world.customer),
            subscription: Some(claimed),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_sandbox_is_declared_by_the_operator_and_refused_on_either_side() {
    let suite = start(fast_transfer_options()).await;
    let world = suite.world().await;
    let tenant = Uuid::new_v4();
    let refused = suite
        .enrollment
        .enrollment(&Actor::global_admin(tenant))
        .create_partner(suite_proto::enrollment::v1::CreatePartnerRequest {
            request_id: request_id(),
            partner: Some(suite_proto::enrollment::v1::Partner {
                legal_name: "Sandbox Ltd".into(),
                country_code: "US".into(),
                primary_contact_email: "ops@sandbox.example".into(),
                integration_sandbox: true,
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let sandbox_provider = direct_bill_sandbox_partner(&suite.enrollment).await;
    let refused = suite
        .transfers(&Actor::admin_agent(world.source))
        .create_transfer_request(transfer_of(
            world.source,
            world.customer,
            sandbox_provider,
            &[&world.azure],
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "SANDBOX_TENANT");
    assert_eq!(
        precondition_kinds(&refused)[0],
        (
            "SANDBOX_TENANT".to_owned(),
            format!("partners/{sandbox_provider}")
        )
    );
}

/// The target's request for `customer`'s New Commerce subscriptions held by `source`.
fn partner_transfer(
    target: Uuid,
    source: Uuid,
    customer: Uuid,
) -> pb::CreatePartnerTransferRequestRequest {
    pb::CreatePartnerTransferRequestRequest {
        request_id: request_id(),
        parent: format!("partners/{target}"),
        source: format!("partners/{source}"),
        customer_tenant_id: customer.to_string(),
        customer_email: "it@fourthcoffee.example".into(),
    }
}

fn submission(name: &str, subscriptions: &[&pb::Subscription]) -> pb::SubmitTransferRequestRequest {
    pb::SubmitTransferRequestRequest {
        request_id: request_id(),
        name: name.into(),
        subscriptions: subscriptions.iter().map(|s| s.name.clone()).collect(),
        etag: String::new(),
    }
}

#[tokio::test]
async fn a_new_commerce_transfer_goes_from_partner_to_partner() {
    use suite_proto::enrollment::v1 as enr;
    let suite = start(fast_transfer_options()).await;
    let source = direct_bill_partner(&suite.enrollment).await;
    let (customer, [_, licences, _, new_commerce]) = suite.direct_bill_customer(source).await;
    let nce_add_on = order(
        suite.transfer(),
        source,
        customer,
        licence(
            pb::OfferKind::NewCommerceLicense,
            "CFQ7TTC0LF8R-ADDON",
            10,
            &new_commerce.name,
        ),
    )
    .await;
    let target = direct_bill_partner(&suite.enrollment).await;
    let (source_agent, target_agent) = (Actor::admin_agent(source), Actor::admin_agent(target));
    let transfer_db = &suite.transfer().database;

    // Before the customer accepted the target's relationship request, the target is told
    // that and nothing about the source.
    let refused = suite
        .transfers(&target_agent)
        .create_partner_transfer_request(partner_transfer(target, source, customer))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "RESELLER_RELATIONSHIP_REQUIRED");
    assert_eq!(precondition_kinds(&refused).len(), 1);
    suite_testkit::customer_accepts_relationship_request(
        &suite.relationship,
        target,
        customer,
        &["New Commerce CFQ7TTC0LF8R, 10 licences, with its add-on"],
    )
    .await;

    // The source declines a first request; the target withdraws a second.
    let create = || async {
        suite
            .transfers(&target_agent)
            .create_partner_transfer_request(partner_transfer(target, source, customer))
            .await
            .expect("the target's request is created")
            .into_inner()
    };
    let declined = create().await;
    let declined = suite
        .transfers(&source_agent)
        .reject_transfer_request(pb::RejectTransferRequestRequest {
            request_id: request_id(),
            name: declined.name,
            note: "not agreed with the customer".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(declined.state(), pb::TransferRequestState::Rejected);
    let withdrawn = create().await;
    let not_target = suite
        .transfers(&source_agent)
        .cancel_transfer_request(pb::CancelTransferRequestRequest {
            request_id: request_id(),
            name: withdrawn.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&not_target), "TARGET_REQUIRED");
    let withdrawn = suite
        .transfers(&target_agent)
        .cancel_transfer_request(pb::CancelTransferRequestRequest {
            request_id: request_id(),
            name: withdrawn.name,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(withdrawn.state(), pb::TransferRequestState::Cancelled);

    // The request: under the source's name, ACTIVE without line items; the customer and the
    // source's primary contact are e-mailed, and it is in the source's audit trail.
    let emails_before = transfer_db.outbox("email").await.len();
    let requested = create().await;
    assert_eq!(
        (requested.kind(), requested.state()),
        (
            pb::TransferKind::NewCommercePartner,
            pb::TransferRequestState::Active
        )
    );
    assert!(
        requested
            .name
            .starts_with(&format!("partners/{source}/customers/{customer}/"))
    );
    assert!(requested.line_items.is_empty());
    let source_contact = suite
        .enrollment
        .enrollment(&source_agent)
        .get_partner(enr::GetPartnerRequest {
            name: format!("partners/{source}"),
        })
        .await
        .unwrap()
        .into_inner()
        .primary_contact_email;
    let emails: Vec<String> = transfer_db.outbox("email").await[emails_before..]
        .iter()
        .map(|payload| String::from_utf8_lossy(payload).into_owned())
        .collect();
    assert_eq!(emails.len(), 2, "{emails:?}");
    assert!(
        emails[0].contains("it@fourthcoffee.example"),
        "{}",
        emails[0]
    );
    assert!(emails[1].contains(&source_contact), "{}", emails[1]);
    assert!(emails[1].contains(&requested.name), "{}", emails[1]);
    let in_source_trail: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE tenant_id = $1 AND resource_name = $2 AND action = $3",
    )
    .bind(source.to_string())
    .bind(&requested.name)
    .bind("CreatePartnerTransferRequest")
    .fetch_one(transfer_db.database().pool())
    .await
    .unwrap();
    assert_eq!(in_source_trail, 1);
    // The customer's address stays in the request: not in the trails or the events.
    let recorded: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT after_state FROM audit_events WHERE resource_name = $1")
            .bind(&requested.name)
            .fetch_all(transfer_db.database().pool())
            .await
            .unwrap();
    let published = transfer_db
        .outbox("transfer.v1.transfer_request.created")
        .await;
    assert!(!recorded.is_empty() && !published.is_empty());
    for payload in recorded.iter().chain(&published) {
        assert!(!String::from_utf8_lossy(payload).contains("fourthcoffee"));
    }
    // One ACTIVE request per source and customer.
    let second = suite
        .transfers(&target_agent)
        .create_partner_transfer_request(partner_transfer(target, source, customer))
        .await
        .unwrap_err();
    assert_eq!(reason(&second), "OPEN_REQUEST_EXISTS");

    // The source opens it: only it submits, and only New Commerce licences move.
    let eligibilities = suite
        .transfers(&source_agent)
        .list_transfer_eligibilities(pb::ListTransferEligibilitiesRequest {
            parent: format!("partners/{source}/customers/{customer}"),
            kind: pb::TransferKind::NewCommercePartner as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .eligibilities;
    let eligible: Vec<_> = eligibilities
        .iter()
        .filter(|e| e.eligible)
        .map(|e| e.subscription.clone())
        .collect();
    assert_eq!(
        eligible,
        [new_commerce.name.clone(), nce_add_on.name.clone()]
    );
    let accepting = suite
        .transfers(&source_agent)
        .accept_transfer_request(pb::AcceptTransferRequestRequest {
            request_id: request_id(),
            name: requested.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&accepting), "SUBMISSION_REQUIRED");
    let by_target = suite
        .transfers(&target_agent)
        .submit_transfer_request(submission(&requested.name, &[&new_commerce]))
        .await
        .unwrap_err();
    assert_eq!(reason(&by_target), "SOURCE_REQUIRED");
    let legacy = suite
        .transfers(&source_agent)
        .submit_transfer_request(submission(&requested.name, &[&licences]))
        .await
        .unwrap_err();
    assert_eq!(reason(&legacy), "SUBSCRIPTION_NOT_TRANSFERABLE");
    assert_eq!(
        precondition_kinds(&legacy)[0].0,
        "INELIGIBILITY_REASON_NOT_NEW_COMMERCE"
    );

    let submitted = suite
        .transfers(&source_agent)
        .submit_transfer_request(submission(&requested.name, &[&new_commerce]))
        .await
        .unwrap()
        .into_inner();
    let items: Vec<_> = submitted
        .line_items
        .iter()
        .map(|i| (i.subscription.clone(), i.included_with_base))
        .collect();
    assert_eq!(
        items,
        [
            (new_commerce.name.clone(), false),
            (nce_add_on.name.clone(), true)
        ]
    );
    let done = suite
        .wait_for_state(
            &source_agent,
            &requested.name,
            pb::TransferRequestState::Completed,
        )
        .await;

    // New subscriptions on the target's billing account, the source's cancelled.
    let on_target = suite.subscriptions(target, customer).await;
    assert_eq!(on_target.len(), 2);
    for (item, original) in done.line_items.iter().zip([&new_commerce, &nce_add_on]) {
        let new = on_target
            .iter()
            .find(|s| s.name == item.transferred_subscription)
            .expect("the target's subscription");
        assert_eq!(
            (new.status(), new.offer_id.as_str(), new.quantity),
            (
                pb::SubscriptionStatus::Active,
                original.offer_id.as_str(),
                original.quantity
            )
        );
        assert_eq!(new.transferred_from, original.name);
        let old = suite
            .transfers(&source_agent)
            .get_subscription(pb::GetSubscriptionRequest {
                name: original.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(old.status(), pb::SubscriptionStatus::Cancelled);
        assert_eq!(old.transferred_to, new.name);
    }
    let add_on = on_target
        .iter()
        .find(|s| s.offer_id == nce_add_on.offer_id)
        .unwrap();
    assert_eq!(
        add_on.base_subscription,
        done.line_items[0].transferred_subscription
    );
    // The fee was the source's: the target gets no cancellation window of its own.
    let refused = cancel(&suite, target, &done.line_items[1].transferred_subscription)
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "CANCELLATION_WINDOW_CLOSED");
}

#[tokio::test]
async fn a_partner_transfer_tells_the_target_nothing_of_the_source_before_it_acts() {
    let suite = start(fast_transfer_options()).await;
    let source = direct_bill_partner(&suite.enrollment).await;
    let (customer, [_, _, _, new_commerce]) = suite.direct_bill_customer(source).await;
    let target = direct_bill_partner(&suite.enrollment).await;
    suite_testkit::customer_accepts_relationship_request(
        &suite.relationship,
        target,
        customer,
        &[],
    )
    .await;
    // A tenant that serves the customer and one that does not get the same answer.
    let stranger = direct_bill_partner(&suite.enrollment).await;
    let emails = suite.transfer().database.outbox("email").await.len();
    let mut names = Vec::new();
    for named in [source, stranger] {
        let created = suite
            .transfers(&Actor::admin_agent(target))
            .create_partner_transfer_request(partner_transfer(target, named, customer))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(created.state(), pb::TransferRequestState::Active);
        names.push(created.name);
    }
    // The stranger learns nothing of the customer: no e-mail (one to the source and one to
    // the customer each time, no more), no request to read or list, nothing in its trail.
    assert_eq!(
        suite.transfer().database.outbox("email").await.len(),
        emails + 3
    );
    let unseen = suite
        .transfers(&Actor::admin_agent(stranger))
        .get_transfer_request(pb::GetTransferRequestRequest {
            name: names[1].clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(unseen.code(), Code::NotFound);
    let listed_by_stranger = suite
        .transfers(&Actor::admin_agent(stranger))
        .list_transfer_requests(pb::ListTransferRequestsRequest {
            parent: format!("partners/{stranger}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .transfer_requests;
    assert!(listed_by_stranger.is_empty());
    let in_stranger_trail: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE tenant_id = $1")
            .bind(stranger.to_string())
            .fetch_one(suite.transfer().database.database().pool())
            .await
            .unwrap();
    assert_eq!(in_stranger_trail, 0);
    // A target asks a few times a day at most.
    for _ in 0..3 {
        let cancelled = suite
            .transfers(&Actor::admin_agent(target))
            .cancel_transfer_request(pb::CancelTransferRequestRequest {
                request_id: request_id(),
                name: names.pop().unwrap(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(cancelled.state(), pb::TransferRequestState::Cancelled);
        let created = suite
            .transfers(&Actor::admin_agent(target))
            .create_partner_transfer_request(partner_transfer(target, stranger, customer))
            .await
            .unwrap()
            .into_inner();
        names.push(created.name);
    }
    let limited = suite
        .transfers(&Actor::admin_agent(target))
        .create_partner_transfer_request(partner_transfer(target, Uuid::new_v4(), customer))
        .await
        .unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted);
    assert_eq!(reason(&limited), "PARTNER_REQUESTS_LIMITED");
    // The real source finds its request, submits, and the transfer completes.
    let listed = suite
        .transfers(&Actor::admin_agent(source))
        .list_transfer_requests(pb::ListTransferRequestsRequest {
            parent: format!("partners/{source}"),
            role: pb::TransferRole::Source as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .transfer_requests;
    assert_eq!(listed.len(), 1);
    suite
        .transfers(&Actor::admin_agent(source))
        .submit_transfer_request(submission(&listed[0].name, &[&new_commerce]))
        .await
        .unwrap();
    suite
        .wait_for_state(
            &Actor::admin_agent(source),
            &listed[0].name,
            pb::TransferRequestState::Completed,
        )
        .await;
}
