//! The peers the transfer service calls, each through the one client builder.

use suite_auth::Caller;
use suite_client::{CapabilityCheck, Peer};
use suite_proto::relationship::v1 as relationship;
use suite_proto::relationship::v1::relationship_service_client::RelationshipServiceClient;
use suite_server::{Platform, StartError};

use crate::error::Error;

/// Clients of the other services.
#[derive(Clone)]
pub struct Peers {
    relationship: Peer,
    /// Capabilities of tenants, from the enrollment service.
    pub capabilities: CapabilityCheck,
}

impl Peers {
    /// The peers this service calls; each one's URL is required.
    pub fn new(platform: &Platform) -> Result<Self, StartError> {
        Ok(Self {
            relationship: platform.peer("relationship")?,
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
}
