//! The peers the agreement service calls, each through the one client builder.

use std::sync::Arc;

use suite_auth::Caller;
use suite_client::{PeerChannel, ServiceIdentity, peer_channel};
use suite_config::ServiceConfig;
use suite_proto::enrollment::v1 as enrollment;
use suite_proto::enrollment::v1::enrollment_service_client::EnrollmentServiceClient;
use suite_server::StartError;
use tonic::{Code, Status};

use crate::domain::partner::{ActivationRequest, EnrollmentStanding};
use crate::error::Error;

/// Clients of the other services.
#[derive(Clone)]
pub struct Peers {
    enrollment: EnrollmentServiceClient<PeerChannel>,
    identity: Arc<ServiceIdentity>,
}

impl Peers {
    /// Channels to every peer named in `config`; each one is required.
    pub fn new(config: &ServiceConfig, identity: Arc<ServiceIdentity>) -> Result<Self, StartError> {
        let url = config
            .peers
            .enrollment
            .as_deref()
            .ok_or(StartError::MissingPeer("ENROLLMENT_URL"))?;
        let channel = peer_channel(url, config.request_timeout)
            .map_err(|e| StartError::Peer(e.to_string()))?;
        Ok(Self {
            enrollment: EnrollmentServiceClient::new(channel),
            identity,
        })
    }

    /// Where enrollment `name` stands, asked as `caller`; `Unknown` when the enrollment
    /// service does not answer.
    pub async fn enrollment_standing(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<EnrollmentStanding, Error> {
        let request = self.identity.request(
            enrollment::GetEnrollmentRequest {
                name: name.to_owned(),
            },
            Some(caller),
        )?;
        match self.enrollment.clone().get_enrollment(request).await {
            Ok(response) => Ok(
                match enrollment::EnrollmentState::try_from(response.into_inner().state) {
                    Ok(enrollment::EnrollmentState::Approved) => EnrollmentStanding::Approved,
                    Ok(enrollment::EnrollmentState::Active) => EnrollmentStanding::Active,
                    _ => EnrollmentStanding::NotApproved,
                },
            ),
            Err(status) if status.code() == Code::NotFound => Ok(EnrollmentStanding::NotApproved),
            Err(status) if is_outage(&status) => {
                tracing::warn!(code = ?status.code(), "enrollment service unreachable: accepting, activation follows when it is back");
                Ok(EnrollmentStanding::Unknown)
            }
            Err(status) => Err(Error::PeerFailed {
                peer: "enrollment",
                status,
            }),
        }
    }

    /// Asks the enrollment service, as this service, to activate an enrollment. The
    /// acceptance id is the `request_id`, so a repeated delivery activates once.
    pub async fn activate(&self, activation: &ActivationRequest) -> Result<(), Status> {
        let message = enrollment::ActivateEnrollmentRequest {
            request_id: activation.acceptance_id.to_string(),
            name: activation.enrollment.clone(),
            agreement_version: activation.agreement_version.clone(),
            accept_time: Some(suite_db::timestamp(activation.accept_time)),
        };
        let request = self
            .identity
            .request(message, None)
            .map_err(|e| e.into_status(crate::SERVICE))?;
        self.enrollment
            .clone()
            .activate_enrollment(request)
            .await
            .map(|_| ())
    }
}

/// Failures worth retrying: the peer is down, slow, overloaded or raced.
pub fn is_outage(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Cancelled
            | Code::Unknown
    )
}
