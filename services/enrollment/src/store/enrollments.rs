use std::collections::HashMap;
use std::collections::hash_map::Entry;

use futures_util::future::BoxFuture;
use prost::Message;
use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, Executor, Row};
use suite_auth::Caller;
use suite_db::{
    AuditEvent, Change, Database, IdempotencyKey, LoadBatch, OutboxMessage, Replay, StoreError, Tx,
    columns,
};
use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

use super::EnrollmentStore;
use super::partners::lock_partner;
use super::policy::fetch_policy;
use super::revenue::fetch_counted_revenue;
use crate::domain::notification;
use crate::domain::partner::{Partner, partner_name};
use crate::domain::program::{
    self, Enrollment, EnrollmentContext, Program, State, enrollment_name, program_slug,
};
use crate::domain::revenue::{eligibility, trailing_window};
use crate::error::Error;

const ENROLLMENT_COLUMNS: &str = "tenant_id, program, state, create_time, approval_due_time, approve_time, \
     activate_time, agreement_version, reject_reason, transitioning, access_end_time, update_time, version";

/// A partner's enrollments with the two partner facts its capabilities answer besides them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Every enrollment, in program order.
    pub enrollments: Vec<Enrollment>,
    /// The partner is an integration sandbox.
    pub integration_sandbox: bool,
    /// The partner is listed in the directory of official indirect providers.
    pub official_indirect_provider: bool,
}

/// The partners' rows joined to their enrollments (if any), with each one's directory
/// listing as a flag; the enrollment columns keep their names, the partner's are prefixed.
/// Built once: `WHERE p.tenant_id IN (…)` follows, see [`standing_sql`].
static STANDING_SELECT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let enrollment_columns = ENROLLMENT_COLUMNS
        .split(',')
        .map(|column| format!("e.{}", column.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT p.tenant_id AS partner_tenant_id, p.integration_sandbox AS partner_integration_sandbox, \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM indirect_providers d WHERE d.provider_tenant_id = p.tenant_id) \
         THEN 1 ELSE 0 END AS BIGINT) AS partner_listed, {enrollment_columns} \
         FROM partners p LEFT JOIN enrollments e ON e.tenant_id = p.tenant_id"
    )
});

/// [`STANDING_SELECT`] of the partners whose tenant ids are bound to `$1`…`$count`.
fn standing_sql(count: usize) -> String {
    format!(
        "{} WHERE p.tenant_id IN ({})",
        STANDING_SELECT.as_str(),
        suite_db::placeholders(1..=count)
    )
}

/// Most partners one standing statement reads.
pub(super) const STANDINGS_PER_STATEMENT: usize = 100;

/// [`EnrollmentStore::standings`] in one statement however many: every statement costs a
/// hand-off to the database.
pub(super) async fn load_standings<'e>(
    executor: impl Executor<'e, Database = Any>,
    tenant_ids: &[Uuid],
) -> suite_db::Loaded<Uuid, Standing> {
    let Some(last) = tenant_ids.last() else {
        return Ok(HashMap::new()); // `IN ()` is no statement PostgreSQL accepts
    };
    // Batches come in every size up to a hundred: the statement is made for the next power
    // of two with the last id repeated, so eight sizes stay prepared on a connection instead
    // of a hundred crowding its cache (and a size parsed anew costs more than the padding).
    let size = tenant_ids
        .len()
        .next_power_of_two()
        .min(STANDINGS_PER_STATEMENT)
        .max(tenant_ids.len());
    let mut query = sqlx::query(sqlx::AssertSqlSafe(standing_sql(size)));
    let padding = std::iter::repeat(last);
    for tenant_id in tenant_ids.iter().chain(padding).take(size) {
        query = query.bind(tenant_id.to_string());
    }
    let rows = query.fetch_all(executor).await?;
    // A row that does not decode fails its partner's answer only: the others read together
    // with it (other callers' reads, when batched) are answered.
    let mut standings: HashMap<Uuid, Result<Standing, StoreError>> = HashMap::new();
    for row in &rows {
        let tenant_id = columns::uuid(row, "partner_tenant_id")?;
        let read = match standings.entry(tenant_id) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(first) => first.insert(standing_of(row)),
        };
        if let Ok(standing) = read
            && let Err(error) = add_enrollment(standing, row)
        {
            *read = Err(error);
        }
    }
    for standing in standings.values_mut().flatten() {
        standing.enrollments.sort_by_key(|e| e.program as i32);
    }
    Ok(standings)
}

/// Reads standings for [`EnrollmentStore::standing`]'s batches, on a pooled connection a
/// batch slot holds.
pub(super) struct StandingReads {
    pub(super) db: Database,
}

impl LoadBatch<Uuid, Standing> for StandingReads {
    const NAME: &'static str = "enrollment.standings";

    type Connection = PoolConnection<Any>;

    fn connect(&self) -> BoxFuture<'_, Result<Self::Connection, StoreError>> {
        Box::pin(async move { Ok(self.db.pool().acquire().await?) })
    }

    fn load<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        tenant_ids: Vec<Uuid>,
    ) -> BoxFuture<'a, suite_db::Loaded<Uuid, Standing>> {
        Box::pin(async move { load_standings(&mut **connection, &tenant_ids).await })
    }
}

/// The partner's facts of a standing row, without its enrollments.
fn standing_of(row: &AnyRow) -> Result<Standing, StoreError> {
    Ok(Standing {
        integration_sandbox: columns::flag(row, "partner_integration_sandbox")?,
        official_indirect_provider: columns::flag(row, "partner_listed")?,
        enrollments: Vec::new(),
    })
}

/// Adds the enrollment of a standing row, if it has one: the partner's columns repeat on each
/// row, and a partner without enrollments has one row whose enrollment columns are NULL.
fn add_enrollment(standing: &mut Standing, row: &AnyRow) -> Result<(), StoreError> {
    if row.try_get::<Option<String>, _>("program")?.is_some() {
        standing.enrollments.push(enrollment_from_row(row)?);
    }
    Ok(())
}

/// A change to an existing enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollmentAction {
    /// Operator approval.
    Approve,
    /// Operator rejection, with the reason shown to the partner.
    Reject(String),
    /// Operator restriction of direct bill.
    Restrict,
    /// The agreement service reports the program's agreement accepted.
    Activate {
        /// `agreementVersions/{id}`.
        agreement_version: String,
        /// When it was accepted.
        accept_time: i64,
        /// How long indirect reseller access lasts once direct bill overrides it.
        grace_micros: i64,
    },
}

impl EnrollmentAction {
    fn rpc(&self) -> &'static str {
        match self {
            EnrollmentAction::Approve => "ApproveEnrollment",
            EnrollmentAction::Reject(_) => "RejectEnrollment",
            EnrollmentAction::Restrict => "RestrictEnrollment",
            EnrollmentAction::Activate { .. } => "ActivateEnrollment",
        }
    }

    fn topic(&self) -> &'static str {
        match self {
            EnrollmentAction::Approve => "enrollment.v1.enrollment.approved",
            EnrollmentAction::Reject(_) => "enrollment.v1.enrollment.rejected",
            EnrollmentAction::Restrict => "enrollment.v1.enrollment.restricted",
            EnrollmentAction::Activate { .. } => "enrollment.v1.enrollment.activated",
        }
    }
}

impl EnrollmentStore {
    /// Submits an enrollment of `tenant_id` in `program`, deciding it on the partner's profile,
    /// enrollments, revenue and the approval policy as they stand in this transaction.
    pub async fn create_enrollment(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        tenant_id: Uuid,
        program: Program,
        now: i64,
    ) -> Result<pb::Enrollment, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Enrollment>(&mut tx).await? {
            return Ok(response);
        }
        let partner = lock_partner(&mut tx, tenant_id)
            .await?
            .ok_or_else(|| Error::PartnerNotFound(partner_name(tenant_id)))?;
        let enrollments = fetch_enrollments(&mut *tx, tenant_id).await?;
        let (first, last) = trailing_window(now);
        let months = fetch_counted_revenue(&mut *tx, &partner, first, last).await?;
        let policy = fetch_policy(&mut *tx).await?;
        let context = EnrollmentContext {
            partner: &partner,
            enrollments: &enrollments,
            eligibility: &eligibility(&months, now),
            auto_approved: &policy.auto_approved,
            now,
        };
        let enrollment = program::decide_enrollment(program, &context)?;
        let rejected_before = enrollments.iter().find(|e| e.program == program);
        match rejected_before {
            Some(previous) => save_enrollment(&mut tx, &enrollment, previous.version).await?,
            None => insert_enrollment(&mut tx, &enrollment).await?,
        }

        let response = enrollment.to_proto(now);
        let change = Change {
            tenant_id,
            resource_name: &response.name,
            action: "CreateEnrollment",
            topic: "enrollment.v1.enrollment.created",
            before: rejected_before.map(|previous| previous.to_proto(now).encode_to_vec()),
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        if enrollment.state == State::Approved {
            on_approval(&mut tx, caller, &partner, &enrollment, now).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Applies `action` to enrollment `program` of `tenant_id`.
    pub async fn change_enrollment(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        tenant_id: Uuid,
        program: Program,
        action: EnrollmentAction,
        now: i64,
    ) -> Result<pb::Enrollment, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Enrollment>(&mut tx).await? {
            return Ok(response);
        }
        let name = enrollment_name(tenant_id, program);
        let partner = lock_partner(&mut tx, tenant_id)
            .await?
            .ok_or_else(|| Error::EnrollmentNotFound(name.clone()))?;
        let enrollments = fetch_enrollments(&mut *tx, tenant_id).await?;
        let current = enrollments
            .iter()
            .find(|e| e.program == program)
            .ok_or_else(|| Error::EnrollmentNotFound(name.clone()))?;

        let (next, other) = match &action {
            EnrollmentAction::Approve => (program::approve(current, now)?, None),
            EnrollmentAction::Reject(reason) => {
                (program::reject(current, reason.clone(), now)?, None)
            }
            EnrollmentAction::Restrict => program::restrict(current, &enrollments, now)?,
            EnrollmentAction::Activate {
                agreement_version,
                accept_time,
                grace_micros,
            } => program::activate(
                current,
                &enrollments,
                agreement_version.clone(),
                *accept_time,
                *grace_micros,
                now,
            )?,
        };
        save_enrollment(&mut tx, &next, current.version).await?;
        let response = next.to_proto(now);
        let change = Change {
            tenant_id,
            resource_name: &name,
            action: action.rpc(),
            topic: action.topic(),
            before: Some(current.to_proto(now).encode_to_vec()),
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;

        if let Some(other) = other {
            let before = enrollments.iter().find(|e| e.program == other.program);
            save_enrollment(
                &mut tx,
                &other,
                before.map(|e| e.version).unwrap_or_default(),
            )
            .await?;
            record_side_effect(&mut tx, caller, before, &other, action.rpc(), now).await?;
            if let (EnrollmentAction::Activate { .. }, Some(end)) = (&action, other.access_end_time)
            {
                suite_mail::enqueue(
                    &mut tx,
                    &other.name(),
                    &notification::override_warning(&partner, end, now),
                )
                .await?;
            }
        }
        if next.state == State::Approved && current.state != State::Approved {
            on_approval(&mut tx, caller, &partner, &next, now).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Enrollment `program` of `tenant_id`, if any.
    pub async fn get_enrollment(
        &self,
        tenant_id: Uuid,
        program: Program,
    ) -> Result<Option<Enrollment>, StoreError> {
        let enrollments = fetch_enrollments(self.db.pool(), tenant_id).await?;
        Ok(enrollments.into_iter().find(|e| e.program == program))
    }

    /// Every enrollment of `tenant_id`, in program order.
    pub async fn enrollments_of(&self, tenant_id: Uuid) -> Result<Vec<Enrollment>, StoreError> {
        fetch_enrollments(self.db.pool(), tenant_id).await
    }

    /// What `tenant_id`'s capabilities follow from, or `None` when it is no partner. Asked
    /// on the other services' hot paths, so reads that arrive together share a statement.
    pub async fn standing(&self, tenant_id: Uuid) -> Result<Option<Standing>, StoreError> {
        self.standing_reads.get(tenant_id).await
    }

    /// What each of `tenant_ids`' capabilities follow from, for those that are partners.
    pub async fn standings(
        &self,
        tenant_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Standing>, StoreError> {
        load_standings(self.db.pool(), tenant_ids)
            .await?
            .into_iter()
            .map(|(tenant_id, standing)| Ok((tenant_id, standing?)))
            .collect()
    }

    /// Records as OVERRIDDEN every indirect reseller enrollment whose access ended by `now`;
    /// returns how many. Safe with several replicas: each row changes under a version check,
    /// so one replica records it and the others skip it.
    pub async fn record_overrides(&self, now: i64) -> Result<usize, StoreError> {
        let sql = format!(
            "SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE access_end_time IS NOT NULL AND access_end_time <= $1 \
             AND state IN ('PENDING_APPROVAL', 'APPROVED', 'ACTIVE')"
        );
        let due = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .fetch_all(self.db.pool())
            .await?;
        let mut recorded = 0;
        for row in &due {
            let current = enrollment_from_row(row)?;
            let Some(next) = program::record_override(&current, now) else {
                continue;
            };
            let mut tx = self.db.begin().await?;
            match save_enrollment(&mut tx, &next, current.version).await {
                Ok(()) => {}
                Err(Error::ConcurrentChange(_)) => continue,
                Err(Error::Store(error)) => return Err(error),
                Err(other) => return Err(StoreError::Other(other.to_string())),
            }
            record_side_effect(
                &mut tx,
                &Caller::service(crate::SERVICE),
                Some(&current),
                &next,
                "OverrideIndirectReseller",
                now,
            )
            .await?;
            tx.commit().await?;
            tracing::info!(enrollment = %next.name(), "indirect reseller access ended: direct bill overrides it");
            recorded += 1;
        }
        Ok(recorded)
    }
}

/// What follows an approval: the e-mail to the primary contact and, for a transitioning
/// indirect reseller, the incentive invitation.
async fn on_approval(
    tx: &mut Tx,
    caller: &Caller,
    partner: &Partner,
    enrollment: &Enrollment,
    now: i64,
) -> Result<(), Error> {
    suite_mail::enqueue(
        tx,
        &enrollment.name(),
        &notification::enrollment_approved(partner, enrollment),
    )
    .await?;
    if enrollment.program == Program::IndirectReseller && enrollment.transitioning {
        super::incentives::invite_to_reseller_incentive(tx, caller, partner, now).await?;
    }
    Ok(())
}

/// Audit and lifecycle event for an enrollment changed as a consequence of another request.
async fn record_side_effect(
    tx: &mut Tx,
    caller: &Caller,
    before: Option<&Enrollment>,
    enrollment: &Enrollment,
    action: &str,
    now: i64,
) -> Result<(), StoreError> {
    let name = enrollment.name();
    let before = before.map(|e| e.to_proto(now).encode_to_vec());
    let after = enrollment.to_proto(now).encode_to_vec();
    suite_db::record_audit(
        tx,
        caller,
        AuditEvent {
            tenant_id: enrollment.tenant_id,
            resource_name: &name,
            action,
            request_id: None,
            before,
            after: Some(after.clone()),
        },
    )
    .await?;
    suite_db::enqueue(
        tx,
        OutboxMessage {
            topic: "enrollment.v1.enrollment.updated",
            key: &name,
            payload: after,
        },
    )
    .await
}

/// Every enrollment of `tenant_id`, through `executor`.
pub(super) async fn fetch_enrollments<'e>(
    executor: impl Executor<'e, Database = Any>,
    tenant_id: Uuid,
) -> Result<Vec<Enrollment>, StoreError> {
    let sql = format!("SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE tenant_id = $1");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id.to_string())
        .fetch_all(executor)
        .await?;
    let mut enrollments = rows
        .iter()
        .map(enrollment_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    enrollments.sort_by_key(|e| e.program as i32);
    Ok(enrollments)
}

async fn insert_enrollment(tx: &mut Tx, enrollment: &Enrollment) -> Result<(), Error> {
    let inserted = sqlx::query(
        "INSERT INTO enrollments (tenant_id, program, state, create_time, approval_due_time, approve_time, activate_time, \
         agreement_version, reject_reason, transitioning, access_end_time, update_time, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(enrollment.tenant_id.to_string())
    .bind(program_slug(enrollment.program))
    .bind(state_text(enrollment.state))
    .bind(enrollment.create_time)
    .bind(enrollment.approval_due_time)
    .bind(enrollment.approve_time)
    .bind(enrollment.activate_time)
    .bind(enrollment.agreement_version.clone())
    .bind(enrollment.reject_reason.clone())
    .bind(i64::from(enrollment.transitioning))
    .bind(enrollment.access_end_time)
    .bind(enrollment.update_time)
    .bind(enrollment.version)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from);
    match inserted {
        Err(StoreError::UniqueViolation(_)) => Err(Error::ConcurrentChange(enrollment.name())),
        other => other.map(|_| ()).map_err(Error::from),
    }
}

async fn save_enrollment(
    tx: &mut Tx,
    enrollment: &Enrollment,
    expected_version: i64,
) -> Result<(), Error> {
    let updated = sqlx::query(
        "UPDATE enrollments SET state = $1, create_time = $2, approval_due_time = $3, approve_time = $4, activate_time = $5, \
         agreement_version = $6, reject_reason = $7, transitioning = $8, access_end_time = $9, update_time = $10, version = $11 \
         WHERE tenant_id = $12 AND program = $13 AND version = $14",
    )
    .bind(state_text(enrollment.state))
    .bind(enrollment.create_time)
    .bind(enrollment.approval_due_time)
    .bind(enrollment.approve_time)
    .bind(enrollment.activate_time)
    .bind(enrollment.agreement_version.clone())
    .bind(enrollment.reject_reason.clone())
    .bind(i64::from(enrollment.transitioning))
    .bind(enrollment.access_end_time)
    .bind(enrollment.update_time)
    .bind(enrollment.version)
    .bind(enrollment.tenant_id.to_string())
    .bind(program_slug(enrollment.program))
    .bind(expected_version)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from)?;
    if updated.rows_affected() == 0 {
        return Err(Error::ConcurrentChange(enrollment.name()));
    }
    Ok(())
}

fn state_text(state: State) -> &'static str {
    state.as_str_name().trim_start_matches("ENROLLMENT_STATE_")
}

fn enrollment_from_row(row: &AnyRow) -> Result<Enrollment, StoreError> {
    let program: String = row.try_get("program")?;
    let program = [
        Program::DirectBill,
        Program::IndirectReseller,
        Program::IndirectProvider,
    ]
    .into_iter()
    .find(|p| program_slug(*p) == program)
    .ok_or_else(|| StoreError::Corrupt(format!("program {program}")))?;
    let state: String = row.try_get("state")?;
    let state = State::from_str_name(&format!("ENROLLMENT_STATE_{state}"))
        .ok_or_else(|| StoreError::Corrupt(format!("enrollment state {state}")))?;
    Ok(Enrollment {
        tenant_id: columns::uuid(row, "tenant_id")?,
        program,
        state,
        create_time: row.try_get("create_time")?,
        approval_due_time: row.try_get("approval_due_time")?,
        approve_time: row.try_get("approve_time")?,
        activate_time: row.try_get("activate_time")?,
        agreement_version: columns::optional_text(row, "agreement_version")?,
        reject_reason: columns::optional_text(row, "reject_reason")?,
        transitioning: columns::flag(row, "transitioning")?,
        access_end_time: row.try_get("access_end_time")?,
        update_time: row.try_get("update_time")?,
        version: row.try_get("version")?,
    })
}
