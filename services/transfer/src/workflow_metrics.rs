//! The transfer workflow's counters: each step run by how it ended, and each transfer by how
//! it ended (failures by reason). How long accepted transfers wait is the outbox gauge of
//! the `transfer.v1.transfer_request.execute` topic: one message waits for each transfer still running.

use suite_proto::transfer::v1 as pb;
use suite_telemetry::{Counter, KeyValue};

/// How a step ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum StepOutcome {
    /// Done; the workflow moves on.
    Passed,
    /// Not finished (a peer or the database did not answer); run again after a back-off.
    Retry,
    /// The transfer failed at this step.
    Failed,
}

/// The workflow's instruments.
pub(crate) struct WorkflowMetrics {
    steps: Counter<u64>,
    ended: Counter<u64>,
}

impl WorkflowMetrics {
    pub(crate) fn new() -> Self {
        let meter = suite_telemetry::meter();
        Self {
            steps: meter
                .u64_counter("transfer.workflow.steps")
                .with_description("Transfer workflow steps run, by step and outcome")
                .build(),
            ended: meter
                .u64_counter("transfer.workflow.ended")
                .with_description("Transfers the workflow ended, by outcome and failure reason")
                .build(),
        }
    }

    pub(crate) fn step(&self, step: pb::TransferStep, outcome: StepOutcome) {
        let outcome = match outcome {
            StepOutcome::Passed => "passed",
            StepOutcome::Retry => "retry",
            StepOutcome::Failed => "failed",
        };
        self.steps.add(
            1,
            &[
                KeyValue::new("step", step.as_str_name()),
                KeyValue::new("outcome", outcome),
            ],
        );
    }

    pub(crate) fn completed(&self) {
        self.ended.add(1, &[KeyValue::new("outcome", "completed")]);
    }

    /// `reason` is one of the workflow's refusal codes, a short closed set.
    pub(crate) fn failed(&self, reason: &str) {
        self.ended.add(
            1,
            &[
                KeyValue::new("outcome", "failed"),
                KeyValue::new("reason", reason.to_owned()),
            ],
        );
    }
}
