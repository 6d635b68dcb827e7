//! Runs accepted transfers: the outbox message their acceptance wrote is delivered here, at
//! least once, by the one relay (leased, so one replica at a time holds it; retried with
//! back-off while a peer is down). Each step's outcome is recorded with its effect, saved
//! only from the version of the request the executor read or last saved itself (see
//! `store::execution`): a crash at any point resumes at the step it left, and an executor
//! that lost its lease, still running, finds the request moved on and applies nothing
//! twice. A delivery ends as delivered only once the request is final.

use std::future::Future;
use std::pin::Pin;

use suite_db::{Deliverer, Delivery, PendingMessage};
use suite_proto::transfer::v1 as pb;
use suite_time::Clock;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::StepHook;
use crate::clients::Peers;
use crate::domain::TransferRequest;
use crate::domain::transfer::{unmet_partner_preconditions, unmet_preconditions};
use crate::error::Error;
use crate::store::{EXECUTE_TOPIC, MoveOutcome, TransferStore};
use crate::workflow_metrics::{StepOutcome, WorkflowMetrics};

/// Reason recorded when a downstream outage outlasts the execution deadline.
const DEADLINE_PASSED: &str = "EXECUTION_DEADLINE_PASSED";
/// Most steps one delivery runs; a transfer has two.
const MAX_STEPS_PER_DELIVERY: usize = 4;

/// The outbox deliverer that executes accepted transfers.
pub struct Executor {
    store: TransferStore,
    peers: Peers,
    clock: Clock,
    before_step: Option<StepHook>,
    metrics: WorkflowMetrics,
}

impl Executor {
    /// Executions recorded in `store`, checking with `peers`, timed by `clock`;
    /// `before_step` is awaited before each step.
    pub fn new(
        store: TransferStore,
        peers: Peers,
        clock: Clock,
        before_step: Option<StepHook>,
    ) -> Self {
        Self {
            store,
            peers,
            clock,
            before_step,
            metrics: WorkflowMetrics::new(),
        }
    }

    async fn execute(&self, message: &PendingMessage) -> Delivery {
        let id = match std::str::from_utf8(&message.payload)
            .ok()
            .and_then(|text| Uuid::parse_str(text).ok())
        {
            Some(id) => id,
            None => return Delivery::Failed("unreadable transfer request id".into()),
        };
        // The request as this executor last saved it; read again when another changed it.
        let mut saved: Option<TransferRequest> = None;
        for _ in 0..MAX_STEPS_PER_DELIVERY {
            let request = match saved.take() {
                Some(request) => request,
                None => match self.store.transfer_request(id).await {
                    Ok(Some(request)) => request,
                    Ok(None) => return Delivery::Failed(format!("no transfer request {id}")),
                    Err(error) => return Delivery::Retry(format!("reading the request: {error}")),
                },
            };
            if request.state != pb::TransferRequestState::Accepted {
                return Delivery::Delivered; // completed or failed, by us or another executor
            }
            let step = request.execution.step;
            if let Some(hook) = &self.before_step {
                hook(step).await;
            }
            let now = self.clock.now_micros();
            // Each step is a span of the delivery's trace, which links to the acceptance.
            let span = tracing::info_span!(
                "transfer.step",
                step = step.as_str_name(),
                transfer_request = %request.name(),
            );
            let outcome = match step {
                pb::TransferStep::CheckPreconditions => {
                    self.check_preconditions(&request, now)
                        .instrument(span)
                        .await
                }
                pb::TransferStep::MoveSubscriptions => {
                    self.move_subscriptions(&request, now)
                        .instrument(span)
                        .await
                }
                pb::TransferStep::Done | pb::TransferStep::Unspecified => {
                    return Delivery::Failed(format!("accepted request {id} has no step to run"));
                }
            };
            match outcome {
                Step::Saved(next) => {
                    tracing::info!(transfer_request = %request.name(), step = step.as_str_name(), "transfer step done");
                    saved = Some(*next);
                }
                Step::Superseded => {}
                Step::End(delivery) => return delivery,
            }
        }
        Delivery::Retry("more steps than a transfer has: looking again".into())
    }

    /// Step 1: the preconditions, asked again (they may have changed since the request).
    async fn check_preconditions(&self, request: &TransferRequest, now: i64) -> Step {
        let unmet = match self.unmet_preconditions(request).await {
            Ok(unmet) => unmet,
            // A refusal by a peer (a misconfigured key, a bug) will not pass by waiting: the
            // transfer fails at once with the peer's reason.
            Err(refusal) if !refusal.is_retryable() => {
                let error = format!("checking preconditions: {refusal}");
                return self.fail(request, refusal.reason(), &error, now).await;
            }
            Err(outage) => {
                return self
                    .retry_or_give_up(request, &format!("checking preconditions: {outage}"), now)
                    .await;
            }
        };
        if let Some(first) = unmet.first() {
            let error = format!("{}: {}", first.kind, first.description);
            return self.fail(request, &first.kind, &error, now).await;
        }
        let next = request.advanced(pb::TransferStep::MoveSubscriptions, now);
        match self.store.record_step(request, &next, "PASSED", "").await {
            Ok(true) => {
                self.metrics
                    .step(pb::TransferStep::CheckPreconditions, StepOutcome::Passed);
                Step::Saved(Box::new(next))
            }
            Ok(false) => Step::Superseded,
            Err(error) => Step::End(Delivery::Retry(format!("recording the check: {error}"))),
        }
    }

    /// The preconditions of `request`'s kind it fails now, asked of the other services.
    async fn unmet_preconditions(
        &self,
        request: &TransferRequest,
    ) -> Result<Vec<suite_errors::PreconditionViolation>, suite_errors::ApiError> {
        let customer = request.source_customer();
        let partner = request.provider_tenant_id;
        Ok(if request.is_partner_transfer() {
            let parties = self.peers.partner_parties(customer, partner).await?;
            unmet_partner_preconditions(customer, partner, &parties)
        } else {
            let parties = self.peers.parties(customer, partner).await?;
            unmet_preconditions(customer, partner, &parties)
        })
    }

    /// Step 2: the move, one transaction.
    async fn move_subscriptions(&self, request: &TransferRequest, now: i64) -> Step {
        match self.store.move_subscriptions(request, now).await {
            Ok(MoveOutcome::Completed) => {
                self.metrics
                    .step(pb::TransferStep::MoveSubscriptions, StepOutcome::Passed);
                self.metrics.completed();
                tracing::info!(transfer_request = %request.name(), "transfer completed");
                Step::End(Delivery::Delivered)
            }
            Ok(MoveOutcome::Superseded) => Step::Superseded,
            Err(Error::Precondition { reason, message }) => {
                self.fail(request, reason, &message, now).await
            }
            Err(error) => {
                self.retry_or_give_up(request, &format!("moving the subscriptions: {error}"), now)
                    .await
            }
        }
    }

    /// Records an attempt that did not finish its step, to be retried; past the deadline
    /// the transfer fails instead.
    async fn retry_or_give_up(&self, request: &TransferRequest, error: &str, now: i64) -> Step {
        if request
            .execution
            .deadline
            .is_some_and(|deadline| now >= deadline)
        {
            return self.fail(request, DEADLINE_PASSED, error, now).await;
        }
        let next = request.retried(error, now);
        Step::End(
            match self.store.record_step(request, &next, "RETRY", error).await {
                Ok(recorded) => {
                    if recorded {
                        self.metrics
                            .step(request.execution.step, StepOutcome::Retry);
                    }
                    Delivery::Retry(error.to_owned())
                }
                Err(store) => Delivery::Retry(format!("{error}; recording it: {store}")),
            },
        )
    }

    /// Ends the transfer as FAILED; superseded when another executor changed the request
    /// first, so the loop reads it again rather than report an outcome it does not know.
    async fn fail(&self, request: &TransferRequest, reason: &str, error: &str, now: i64) -> Step {
        match self.store.fail_transfer(request, reason, error, now).await {
            Ok(true) => {
                tracing::warn!(transfer_request = %request.name(), reason, "transfer failed");
                self.metrics
                    .step(request.execution.step, StepOutcome::Failed);
                self.metrics.failed(reason);
                Step::End(Delivery::Delivered)
            }
            Ok(false) => Step::Superseded,
            Err(store) => Step::End(Delivery::Retry(format!("recording the failure: {store}"))),
        }
    }
}

/// How an attempt at a step ended.
enum Step {
    /// The step's outcome is saved: the request is now this, and the next step may run.
    Saved(Box<TransferRequest>),
    /// Another executor changed the request first: read it again.
    Superseded,
    /// The delivery ends here.
    End(Delivery),
}

impl Deliverer for Executor {
    fn topics(&self) -> &'static [&'static str] {
        &[EXECUTE_TOPIC]
    }

    fn deliver<'a>(
        &'a self,
        message: &'a PendingMessage,
    ) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>> {
        Box::pin(self.execute(message))
    }
}
