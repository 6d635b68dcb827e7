//! Delivers enrollment activations from the outbox: retried while the enrollment service is
//! unreachable, recorded on the acceptance when it answers.

use std::future::Future;
use std::pin::Pin;

use suite_auth::Caller;
use suite_db::{Deliverer, Delivery, PendingMessage, StoreError};

use crate::clients::Peers;
use crate::domain::partner::{ACTIVATION_TOPIC, ActivationRequest, ActivationState};
use crate::store::AgreementStore;

/// The outbox deliverer for activation requests.
pub struct Activations {
    store: AgreementStore,
    peers: Peers,
}

impl Activations {
    /// Deliveries through `peers`, recorded in `store`.
    pub fn new(store: AgreementStore, peers: Peers) -> Self {
        Self { store, peers }
    }

    async fn deliver_activation(&self, message: &PendingMessage) -> Delivery {
        let request: ActivationRequest = match serde_json::from_slice(&message.payload) {
            Ok(request) => request,
            Err(error) => {
                return Delivery::Failed(format!("unreadable activation request: {error}"));
            }
        };
        // A redelivery after the outcome was recorded (the relay's own write was lost) calls
        // no one: activating after a recorded refusal would leave the enrollment ACTIVE and
        // the acceptance FAILED.
        match self.store.partner_acceptance(request.acceptance_id).await {
            Ok(Some(acceptance)) if acceptance.activation_state != ActivationState::Pending => {
                return Delivery::Delivered;
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return Delivery::Failed(format!("no acceptance {}", request.acceptance_id));
            }
            Err(error) => return Delivery::Retry(format!("reading the acceptance: {error}")),
        }
        let (state, error) = match self.peers.activate(&request).await {
            Ok(()) => (ActivationState::Activated, None),
            // Only a refusal of the activation itself is final; anything else (an outage, a
            // key not yet rotated in, a bug) is retried, since the acceptance stands.
            Err(refusal) if refusal.is_final() => {
                (ActivationState::Failed, Some(refusal.message().to_owned()))
            }
            Err(refusal) => return Delivery::Retry(refusal.to_string()),
        };
        let recorded = self
            .store
            .finish_activation(
                &Caller::service(crate::SERVICE),
                request.acceptance_id,
                state,
                error.clone(),
                suite_time::now_micros(),
            )
            .await;
        match (recorded, error) {
            // The acceptance is gone or unreadable: retrying cannot help.
            (Err(StoreError::Corrupt(detail)), _) => Delivery::Failed(detail),
            (Err(store_error), _) => {
                Delivery::Retry(format!("recording the activation: {store_error}"))
            }
            (Ok(()), None) => Delivery::Delivered,
            (Ok(()), Some(refusal)) => Delivery::Failed(refusal),
        }
    }
}

impl Deliverer for Activations {
    fn topics(&self) -> &'static [&'static str] {
        &[ACTIVATION_TOPIC]
    }

    fn deliver<'a>(
        &'a self,
        message: &'a PendingMessage,
    ) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>> {
        Box::pin(self.deliver_activation(message))
    }
}
