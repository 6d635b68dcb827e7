use sqlx::{Any, Executor, Row};
use suite_auth::Caller;
use suite_db::{Change, IdempotencyKey, Replay, StoreError};
use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

use super::{EnrollmentStore, expected_version};
use crate::domain::program::{Program, program_slug};
use crate::error::Error;

const POLICY_NAME: &str = "approvalPolicy";

/// The auto-approval policy: programs approved on submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalPolicy {
    /// Programs approved on submission.
    pub auto_approved: Vec<Program>,
    /// Incremented on every change; the etag.
    pub version: i64,
}

impl From<&ApprovalPolicy> for pb::ApprovalPolicy {
    fn from(policy: &ApprovalPolicy) -> Self {
        pb::ApprovalPolicy {
            auto_approved_programs: policy.auto_approved.iter().map(|p| *p as i32).collect(),
            etag: policy.version.to_string(),
        }
    }
}

impl EnrollmentStore {
    /// The current policy.
    pub async fn approval_policy(&self) -> Result<ApprovalPolicy, StoreError> {
        fetch_policy(self.db.pool()).await
    }

    /// Replaces the policy if its version is still `etag` (when given).
    pub async fn update_approval_policy(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        auto_approved: Vec<Program>,
        etag: &str,
    ) -> Result<pb::ApprovalPolicy, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::ApprovalPolicy>(&mut tx).await? {
            return Ok(response);
        }
        let current = fetch_policy(&mut *tx).await?;
        if expected_version(etag).is_some_and(|version| version != current.version) {
            return Err(Error::StaleEtag(POLICY_NAME.into()));
        }
        let next = ApprovalPolicy {
            auto_approved,
            version: current.version + 1,
        };
        let programs: Vec<&str> = next
            .auto_approved
            .iter()
            .map(|p| program_slug(*p))
            .collect();
        let updated = sqlx::query("UPDATE approval_policy SET auto_approved_programs = $1, version = $2 WHERE id = 1 AND version = $3")
            .bind(programs.join(","))
            .bind(next.version)
            .bind(current.version)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        if updated.rows_affected() == 0 {
            return Err(Error::ConcurrentChange(POLICY_NAME.into()));
        }
        let response = pb::ApprovalPolicy::from(&next);
        let change = Change {
            tenant_id: Uuid::nil(),
            resource_name: POLICY_NAME,
            action: "UpdateApprovalPolicy",
            topic: "enrollment.v1.approval_policy.updated",
            before: Some(prost::Message::encode_to_vec(&pb::ApprovalPolicy::from(
                &current,
            ))),
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }
}

/// The policy, read through `executor`.
pub(super) async fn fetch_policy<'e>(
    executor: impl Executor<'e, Database = Any>,
) -> Result<ApprovalPolicy, StoreError> {
    let row =
        sqlx::query("SELECT auto_approved_programs, version FROM approval_policy WHERE id = 1")
            .fetch_one(executor)
            .await?;
    let programs: String = row.try_get("auto_approved_programs")?;
    let auto_approved = programs
        .split(',')
        .filter(|slug| !slug.is_empty())
        .map(|slug| {
            [
                Program::DirectBill,
                Program::IndirectReseller,
                Program::IndirectProvider,
            ]
            .into_iter()
            .find(|p| program_slug(*p) == slug)
            .ok_or_else(|| StoreError::Corrupt(format!("approval policy program {slug}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ApprovalPolicy {
        auto_approved,
        version: row.try_get("version")?,
    })
}
