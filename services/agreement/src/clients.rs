//! The peers the agreement service calls, each through the one client builder.

use suite_auth::Caller;
use suite_client::{CapabilityCheck, Peer};
use suite_errors::ApiError;
use suite_proto::enrollment::v1 as enrollment;
use suite_proto::enrollment::v1::enrollment_service_client::EnrollmentServiceClient;
use suite_proto::relationship::v1 as relationship;
use suite_proto::relationship::v1::relationship_service_client::RelationshipServiceClient;
use suite_server::{Platform, StartError};
use uuid::Uuid;

use crate::domain::partner::{ActivationRequest, EnrollmentStanding};
use crate::error::Error;

/// Clients of the other services.
#[derive(Clone)]
pub struct Peers {
    enrollment: Peer,
    relationship: Peer,
    /// Capabilities of tenants, from the enrollment service.
    pub capabilities: CapabilityCheck,
}

impl Peers {
    /// The peers this service calls; each one's URL is required.
    pub fn new(platform: &Platform) -> Result<Self, StartError> {
        Ok(Self {
            enrollment: platform.peer("enrollment")?,
            relationship: platform.peer("relationship")?,
            capabilities: platform.capability_check()?,
        })
    }

    fn enrollment_client(&self) -> EnrollmentServiceClient<suite_client::PeerChannel> {
        EnrollmentServiceClient::new(self.enrollment.channel())
    }

    /// Where enrollment `name` stands, asked as `caller`; `Unknown` when the enrollment
    /// service does not answer.
    pub async fn enrollment_standing(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<EnrollmentStanding, Error> {
        let request = self.enrollment.request(
            enrollment::GetEnrollmentRequest {
                name: name.to_owned(),
            },
            Some(caller),
        )?;
        match self.enrollment_client().get_enrollment(request).await {
            Ok(response) => Ok(
                match enrollment::EnrollmentState::try_from(response.into_inner().state) {
                    Ok(enrollment::EnrollmentState::Approved) => EnrollmentStanding::Approved,
                    Ok(enrollment::EnrollmentState::Active) => EnrollmentStanding::Active,
                    _ => EnrollmentStanding::NotApproved,
                },
            ),
            Err(status) if status.code() == tonic::Code::NotFound => {
                Ok(EnrollmentStanding::NotApproved)
            }
            Err(status) if suite_status::is_outage(&status) => {
                tracing::warn!(code = ?status.code(), "enrollment service unreachable: accepting, activation follows when it is back");
                Ok(EnrollmentStanding::Unknown)
            }
            Err(status) => Err(Error::Api(self.enrollment.refusal(&status))),
        }
    }

    /// Asks the enrollment service, as this service, to activate an enrollment. The
    /// acceptance id is the `request_id`, so a repeated delivery activates once.
    pub async fn activate(&self, activation: &ActivationRequest) -> Result<(), ApiError> {
        let message = enrollment::ActivateEnrollmentRequest {
            request_id: activation.acceptance_id.to_string(),
            name: activation.enrollment.clone(),
            agreement_version: activation.agreement_version.clone(),
            accept_time: Some(suite_time::timestamp(activation.accept_time)),
        };
        let request = self.enrollment.request(message, None)?;
        self.enrollment_client()
            .activate_enrollment(request)
            .await
            .map(|_| ())
            .map_err(|status| self.enrollment.refusal(&status))
    }

    /// Whether `partner` is one of `customer`'s partners of record, asked of the
    /// relationship service as `caller`; a customer `caller` may not see counts as none.
    pub async fn is_partner_of_record(
        &self,
        caller: &Caller,
        customer: Uuid,
        partner: Uuid,
    ) -> Result<bool, Error> {
        let request = self.relationship.request(
            relationship::CheckCustomerRelationshipRequest {
                customer: format!("customers/{customer}"),
                partner: format!("partners/{partner}"),
            },
            Some(caller),
        )?;
        match RelationshipServiceClient::new(self.relationship.channel())
            .check_customer_relationship(request)
            .await
        {
            Ok(answer) => Ok(answer.into_inner().related),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(false),
            Err(status) => Err(Error::Api(self.relationship.refusal(&status))),
        }
    }
}
