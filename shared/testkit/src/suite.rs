//! The four services at once, each on a fresh database and on `127.0.0.1:0`, wired to each
//! other over real gRPC the way they run in production: enrollment calls no one,
//! relationship calls enrollment, agreement calls both, transfer calls all three. The
//! Microsoft Customer Agreement is published, so customers can accept it from the start.

use std::time::Duration;

use suite_config::PeerUrls;
use suite_db::RelaySettings;
use transfer::TransferOptions;

use uuid::Uuid;

use crate::{
    TestService, attest_customer_agreement, azure_pay_as_you_go,
    customer_joins_reseller_and_provider, direct_bill_partner, enroll_indirect_reseller,
    official_indirect_provider, order_subscription, partnership_between,
    publish_customer_agreement, record_customer, restrict_direct_bill, spawn_service,
};

/// A customer whose subscription its partner may transfer to an indirect provider now.
pub struct Transferable {
    /// The partner, once direct bill, now an indirect reseller.
    pub source: Uuid,
    /// The customer's tenant.
    pub customer: Uuid,
    /// The indirect provider that serves the customer with the source.
    pub provider: Uuid,
    /// An Azure pay-as-you-go subscription the source bills the customer.
    pub subscription: suite_proto::transfer::v1::Subscription,
}

/// The four services, running.
pub struct Suite {
    /// Partners, programs, capabilities and the directory of indirect providers.
    pub enrollment: TestService,
    /// Customers, partnerships, invitations and GDAP.
    pub relationship: TestService,
    /// Partner and customer agreements; `None` while a test has it stopped.
    pub agreement: Option<TestService>,
    /// Subscriptions and their transfer; `None` while a test has it stopped.
    pub transfer: Option<TestService>,
    /// Where the agreement service listens, kept for the transfer service's peers while the
    /// agreement service is stopped (it is restarted on the same address).
    agreement_url: String,
}

/// Transfer options with a fast relay, so that executions and retries happen within a test's
/// patience.
pub fn fast_transfer_options() -> TransferOptions {
    TransferOptions {
        relay: RelaySettings {
            interval: Duration::from_millis(50),
            lease: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(5),
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            batch: 50,
            concurrency: 16,
            gauge_interval: Duration::from_millis(100),
        },
        expiry_interval: Duration::from_millis(50),
        ..TransferOptions::default()
    }
}

impl Suite {
    /// Starts the four services with [`fast_transfer_options`].
    pub async fn start() -> Self {
        Self::start_with(fast_transfer_options()).await
    }

    /// Starts the four services, the transfer service with `options`; the services that
    /// call no one first, then those that call them.
    pub async fn start_with(options: TransferOptions) -> Self {
        let enrollment = spawn_service(enrollment::run, PeerUrls::default()).await;
        let relationship = spawn_service(
            relationship::run,
            PeerUrls {
                enrollment: Some(enrollment.url()),
                ..PeerUrls::default()
            },
        )
        .await;
        let agreement = spawn_service(
            agreement::run,
            PeerUrls {
                enrollment: Some(enrollment.url()),
                relationship: Some(relationship.url()),
                ..PeerUrls::default()
            },
        )
        .await;
        publish_customer_agreement(&agreement).await;
        let agreement_url = agreement.url();
        let peers = PeerUrls {
            enrollment: Some(enrollment.url()),
            relationship: Some(relationship.url()),
            agreement: Some(agreement_url.clone()),
            transfer: None,
        };
        let transfer = spawn_service(
            move |config, listener, shutdown| {
                transfer::run_with(options, config, listener, shutdown)
            },
            peers,
        )
        .await;
        Self {
            enrollment,
            relationship,
            agreement: Some(agreement),
            transfer: Some(transfer),
            agreement_url,
        }
    }

    /// The agreement service; panics while a test has it stopped.
    pub fn agreement(&self) -> &TestService {
        self.agreement
            .as_ref()
            .expect("the agreement service is running")
    }

    /// The transfer service; panics while a test has it stopped.
    pub fn transfer(&self) -> &TestService {
        self.transfer
            .as_ref()
            .expect("the transfer service is running")
    }

    /// The service that serves `rpc`, for tests that sweep every RPC of every service.
    pub fn serving(&self, rpc: &crate::raw::Rpc) -> &TestService {
        match rpc.package.as_str() {
            "enrollment.v1" => &self.enrollment,
            "relationship.v1" => &self.relationship,
            "agreement.v1" => self.agreement(),
            "transfer.v1" => self.transfer(),
            other => panic!("no service in the suite serves package {other}"),
        }
    }

    /// The peers the agreement service calls, to start it again.
    pub fn agreement_peers(&self) -> PeerUrls {
        PeerUrls {
            enrollment: Some(self.enrollment.url()),
            relationship: Some(self.relationship.url()),
            ..PeerUrls::default()
        }
    }

    /// The peers the transfer service calls, to start it again or to start another replica.
    pub fn transfer_peers(&self) -> PeerUrls {
        PeerUrls {
            enrollment: Some(self.enrollment.url()),
            relationship: Some(self.relationship.url()),
            agreement: Some(self.agreement_url.clone()),
            transfer: None,
        }
    }

    /// The article's starting point for a transfer, every precondition met: a direct-bill
    /// partner orders Azure for a customer, becomes an indirect reseller of a provider, the
    /// customer accepts both, and the provider attests the customer's MCA.
    pub async fn transferable_customer(&self) -> Transferable {
        let source = direct_bill_partner(&self.enrollment).await;
        let customer = Uuid::new_v4();
        record_customer(&self.relationship, source, customer).await;
        let subscription =
            order_subscription(self.transfer(), source, customer, azure_pay_as_you_go()).await;
        let provider = self.transition_to_provider(source, customer).await;
        Transferable {
            source,
            customer,
            provider,
            subscription,
        }
    }

    /// The article's transition of direct-bill partner `source` with its `customer`: the
    /// partner is restricted and enrolls as indirect reseller, a new official indirect
    /// provider partners with it, the customer accepts both, and the provider attests the
    /// customer's MCA. Returns the provider; every transfer precondition then holds.
    pub async fn transition_to_provider(&self, source: Uuid, customer: Uuid) -> Uuid {
        restrict_direct_bill(&self.enrollment, source).await;
        enroll_indirect_reseller(&self.enrollment, source).await;
        let provider = official_indirect_provider(&self.enrollment).await;
        partnership_between(&self.relationship, provider, source).await;
        customer_joins_reseller_and_provider(&self.relationship, source, provider, customer).await;
        attest_customer_agreement(self.agreement(), provider, customer).await;
        provider
    }
}
