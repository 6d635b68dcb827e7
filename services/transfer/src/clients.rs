//! The peers the transfer service calls, each through the one client builder.

use std::collections::HashMap;

use suite_auth::Caller;
use suite_client::{CapabilityCheck, Peer};
use suite_errors::ApiError;
use suite_proto::agreement::v1 as agreement;
use suite_proto::agreement::v1::agreement_service_client::AgreementServiceClient;
use suite_proto::enrollment::v1 as enrollment;
use suite_proto::enrollment::v1::enrollment_service_client::EnrollmentServiceClient;
use suite_proto::relationship::v1 as relationship;
use suite_proto::relationship::v1::relationship_service_client::RelationshipServiceClient;
use suite_server::{Platform, StartError};
use uuid::Uuid;

use crate::domain::subscription::partner_name;
use crate::domain::transfer::{PartnerParties, SourceStanding};
use crate::domain::{CustomerRef, Parties};
use crate::error::Error;

/// Clients of the other services.
#[derive(Clone)]
pub struct Peers {
    enrollment: Peer,
    relationship: Peer,
    agreement: Peer,
    /// Capabilities of tenants, from the enrollment service.
    pub capabilities: CapabilityCheck,
}

impl Peers {
    /// The peers this service calls; each one's URL is required.
    pub fn new(platform: &Platform) -> Result<Self, StartError> {
        Ok(Self {
            enrollment: platform.peer("enrollment")?,
            relationship: platform.peer("relationship")?,
            agreement: platform.peer("agreement")?,
            capabilities: platform.capability_check()?,
        })
    }

    /// The caller's view of customer `name`, asked of the relationship service as `caller`;
    /// `None` when there is none it may see.
    pub async fn customer(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Option<relationship::Customer>, Error> {
        let request = self.relationship.request(
            relationship::GetCustomerRequest {
                name: name.to_owned(),
            },
            Some(caller),
        )?;
        match RelationshipServiceClient::new(self.relationship.channel())
            .get_customer(request)
            .await
        {
            Ok(customer) => Ok(Some(customer.into_inner())),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(Error::Api(self.relationship.refusal(&status))),
        }
    }

    /// What the enrollment, relationship and agreement services say about the parties of a
    /// transfer of `customer` (the source's view) to `provider`, asked by this service for
    /// itself (no caller: the execution runs long after the request), all at once and one
    /// call per question asked of a service.
    pub async fn parties(
        &self,
        customer: CustomerRef,
        provider: Uuid,
    ) -> Result<Parties, ApiError> {
        let source = customer.partner_tenant_id;
        let both = [source, provider];
        let (capabilities, relationships, partnership, agreement) = tokio::try_join!(
            self.capabilities_of(&both),
            self.relationships_with(customer, &both),
            self.partnership_state(provider, source),
            self.agreement_with(customer, provider),
        )?;
        let source_capabilities = capabilities.get(&partner_name(source));
        let has = |capability: enrollment::Capability| {
            source_capabilities.is_some_and(|s| s.capabilities.contains(&(capability as i32)))
        };
        let role_of = |partner: Uuid| {
            relationships
                .get(&partner_name(partner))
                .map(|r| r.partner_role())
        };
        Ok(Parties {
            source_transitioning: source_capabilities.is_some_and(|s| s.transitioning_partner)
                && has(enrollment::Capability::SelfServiceTransfer),
            source_sandbox: source_capabilities.is_some_and(|s| s.integration_sandbox),
            provider_sandbox: capabilities
                .get(&partner_name(provider))
                .is_some_and(|p| p.integration_sandbox),
            provider_related: role_of(provider)
                == Some(relationship::PartnerRole::IndirectProvider),
            source_listed_as_reseller: role_of(source)
                == Some(relationship::PartnerRole::IndirectReseller),
            partnership_active: partnership == Some(relationship::PartnershipState::Active),
            agreement_valid: agreement.valid,
            agreement_action: agreement::RequiredAction::try_from(agreement.required_action)
                .map(|action| action.as_str_name().to_owned())
                .unwrap_or_default(),
        })
    }

    /// What the enrollment and relationship services say about the parties of a New
    /// Commerce partner-to-partner transfer of `customer` (the source's view) to `target`,
    /// asked by this service for itself, all at once and one call per service. Only a
    /// direct-bill partner that may purchase, or an official provider, bills: the rule
    /// orders follow.
    pub async fn partner_parties(
        &self,
        customer: CustomerRef,
        target: Uuid,
    ) -> Result<PartnerParties, ApiError> {
        let source = customer.partner_tenant_id;
        let both = [source, target];
        let (capabilities, relationships) = tokio::try_join!(
            self.capabilities_of(&both),
            self.relationships_with(customer, &both),
        )?;
        let target_capabilities = capabilities.get(&partner_name(target));
        let target_relationship = relationships.get(&partner_name(target));
        let accepted = target_relationship
            .is_some_and(|r| r.acquisition() == relationship::Acquisition::Invitation);
        Ok(PartnerParties {
            target_sandbox: target_capabilities.is_some_and(|t| t.integration_sandbox),
            target_accepted: accepted,
            target_bills: target_relationship.is_some_and(|r| match r.partner_role() {
                relationship::PartnerRole::DirectBillPartner => {
                    target_capabilities.is_some_and(|c| {
                        c.capabilities
                            .contains(&(enrollment::Capability::PurchaseOrders as i32))
                    })
                }
                relationship::PartnerRole::IndirectProvider => {
                    target_capabilities.is_some_and(|c| c.official_indirect_provider)
                }
                _ => false,
            }),
            source: Some(SourceStanding {
                sandbox: capabilities
                    .get(&partner_name(source))
                    .is_some_and(|c| c.integration_sandbox),
                related: relationships.contains_key(&partner_name(source)),
            }),
        })
    }

    /// Where partner `tenant_id` is e-mailed (its primary contact), asked of the enrollment
    /// service by this service for itself; `None` for a tenant without a partner account.
    pub async fn contact_email(&self, tenant_id: Uuid) -> Result<Option<String>, ApiError> {
        let request = self.enrollment.request(
            enrollment::GetPartnerRequest {
                name: partner_name(tenant_id),
            },
            None,
        )?;
        match EnrollmentServiceClient::new(self.enrollment.channel())
            .get_partner(request)
            .await
        {
            Ok(partner) => {
                let email = partner.into_inner().primary_contact_email;
                Ok((!email.is_empty()).then_some(email))
            }
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(self.enrollment.refusal(&status)),
        }
    }

    /// What each of `tenants` may do, by partner name, asked in one call; a tenant without
    /// a partner account is absent (it may do nothing).
    async fn capabilities_of(
        &self,
        tenants: &[Uuid],
    ) -> Result<HashMap<String, enrollment::Capabilities>, ApiError> {
        let request = self.enrollment.request(
            enrollment::BatchGetCapabilitiesRequest {
                partners: distinct_partner_names(tenants),
            },
            None,
        )?;
        let answer = EnrollmentServiceClient::new(self.enrollment.channel())
            .batch_get_capabilities(request)
            .await
            .map_err(|status| self.enrollment.refusal(&status))?
            .into_inner();
        Ok(answer
            .capabilities
            .into_iter()
            .map(|capabilities| (capabilities.partner.clone(), capabilities))
            .collect())
    }

    /// What each of `partners` is to the customer, by partner name, for those that are its
    /// partners of record; asked in one call.
    async fn relationships_with(
        &self,
        customer: CustomerRef,
        partners: &[Uuid],
    ) -> Result<HashMap<String, relationship::CustomerRelationship>, ApiError> {
        let request = self.relationship.request(
            relationship::BatchCheckCustomerRelationshipsRequest {
                parent: customer.customer_name(),
                partners: distinct_partner_names(partners),
            },
            None,
        )?;
        let answer = RelationshipServiceClient::new(self.relationship.channel())
            .batch_check_customer_relationships(request)
            .await
            .map_err(|status| self.relationship.refusal(&status))?
            .into_inner();
        Ok(answer
            .relationships
            .into_iter()
            .filter(|relationship| relationship.related)
            .map(|relationship| (relationship.partner.clone(), relationship))
            .collect())
    }

    /// Where the partnership between `provider` and `reseller` stands, if there is one.
    async fn partnership_state(
        &self,
        provider: Uuid,
        reseller: Uuid,
    ) -> Result<Option<relationship::PartnershipState>, ApiError> {
        let request = self.relationship.request(
            relationship::CheckPartnershipRequest {
                name: format!("{}/indirectResellers/{reseller}", partner_name(provider)),
            },
            None,
        )?;
        let answer = RelationshipServiceClient::new(self.relationship.channel())
            .check_partnership(request)
            .await
            .map_err(|status| self.relationship.refusal(&status))?
            .into_inner();
        Ok(answer.exists.then(|| answer.state()))
    }

    async fn agreement_with(
        &self,
        customer: CustomerRef,
        provider: Uuid,
    ) -> Result<agreement::CustomerAgreementValidity, ApiError> {
        let request = self.agreement.request(
            agreement::CheckCustomerAgreementRequest {
                customer: customer.customer_name(),
                partner: partner_name(provider),
            },
            None,
        )?;
        Ok(AgreementServiceClient::new(self.agreement.channel())
            .check_customer_agreement(request)
            .await
            .map_err(|status| self.agreement.refusal(&status))?
            .into_inner())
    }
}

/// `partners/{id}` of each of `tenants`, each once, as a batch requires (a request whose
/// two parties are one tenant is refused before any peer is asked; nothing here relies on it).
fn distinct_partner_names(tenants: &[Uuid]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(tenants.len());
    for name in tenants.iter().map(|tenant| partner_name(*tenant)) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}
