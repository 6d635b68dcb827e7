//! The peers the transfer service calls, each through the one client builder.

use std::sync::Arc;

use suite_auth::Caller;
use suite_client::{PeerChannel, ServiceIdentity, peer_channel};
use suite_config::ServiceConfig;
use suite_proto::relationship::v1 as relationship;
use suite_proto::relationship::v1::relationship_service_client::RelationshipServiceClient;
use suite_server::StartError;
use tonic::Code;

use crate::error::Error;

/// Clients of the other services.
#[derive(Clone)]
pub struct Peers {
    relationship: RelationshipServiceClient<PeerChannel>,
    identity: Arc<ServiceIdentity>,
}

impl Peers {
    /// Channels to every peer named in `config`; each one is required.
    pub fn new(config: &ServiceConfig, identity: Arc<ServiceIdentity>) -> Result<Self, StartError> {
        let url = config
            .peers
            .relationship
            .as_deref()
            .ok_or(StartError::MissingPeer("RELATIONSHIP_URL"))?;
        let channel = peer_channel(url, config.request_timeout)
            .map_err(|e| StartError::Peer(e.to_string()))?;
        Ok(Self {
            relationship: RelationshipServiceClient::new(channel),
            identity,
        })
    }

    /// Whether customer `name` exists and `caller` may see it, asked of the relationship
    /// service as `caller`.
    pub async fn customer_exists(&self, caller: &Caller, name: &str) -> Result<bool, Error> {
        let request = self.identity.request(
            relationship::GetCustomerRequest {
                name: name.to_owned(),
            },
            Some(caller),
        )?;
        match self.relationship.clone().get_customer(request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(Error::PeerFailed {
                peer: "relationship",
                status,
            }),
        }
    }
}
