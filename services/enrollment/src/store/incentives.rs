use prost::Message;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use suite_auth::Caller;
use suite_db::{Change, IdempotencyKey, Page, PageRequest, Replay, StoreError, Tx, columns};
use suite_errors::PreconditionViolation;
use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

use super::EnrollmentStore;
use super::enrollments::fetch_enrollments;
use super::partners::lock_partner;
use crate::domain::incentive::{
    IncentiveEnrollment, IncentiveProgram, IncentiveState, incentive_slug,
};
use crate::domain::notification;
use crate::domain::partner::{Partner, partner_name};
use crate::domain::program::{Program, State, enrollment_name};
use crate::error::Error;

const INCENTIVE_COLUMNS: &str = "tenant_id, program, state, invite_time, invite_email, enroll_time";

impl EnrollmentStore {
    /// One page of `tenant_id`'s incentive programs, in program order.
    pub async fn list_incentives(
        &self,
        tenant_id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<IncentiveEnrollment>, StoreError> {
        let sql = format!(
            "SELECT {INCENTIVE_COLUMNS} FROM incentive_enrollments WHERE tenant_id = $1 AND program > $2 ORDER BY program LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id.to_string())
            .bind(page.after_key())
            .bind(page.fetch_limit())
            .fetch_all(self.db.pool())
            .await?;
        let incentives = rows
            .iter()
            .map(incentive_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self
            .pages
            .page(page, incentives, |i| incentive_slug(i.program).to_owned()))
    }

    /// Joins `tenant_id` to incentive `program`: the direct bill incentive needs a direct-bill
    /// enrollment that is ACTIVE or RESTRICTED; the indirect reseller incentive an invitation.
    pub async fn create_incentive_enrollment(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        tenant_id: Uuid,
        program: IncentiveProgram,
        now: i64,
    ) -> Result<pb::IncentiveEnrollment, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::IncentiveEnrollment>(&mut tx).await? {
            return Ok(response);
        }
        if lock_partner(&mut tx, tenant_id).await?.is_none() {
            return Err(Error::PartnerNotFound(partner_name(tenant_id)));
        }
        let existing = fetch_incentive(&mut *tx, tenant_id, program).await?;
        let enrolled = IncentiveEnrollment {
            tenant_id,
            program,
            state: IncentiveState::Enrolled,
            invite_time: existing.as_ref().and_then(|i| i.invite_time),
            invite_email: existing.as_ref().and_then(|i| i.invite_email.clone()),
            enroll_time: Some(now),
        };
        match (&existing, program) {
            (Some(current), _) if current.state == IncentiveState::Enrolled => {
                return Err(Error::IncentiveExists(current.name()));
            }
            (None, IncentiveProgram::IndirectReseller) => {
                return Err(Error::Precondition {
                    reason: "INVITATION_REQUIRED",
                    message: "the indirect reseller incentive program is by invitation; invitations go to transitioning partners".into(),
                    violations: vec![PreconditionViolation {
                        kind: "INVITATION_REQUIRED".into(),
                        subject: enrolled.name(),
                        description: "wait for the invitation sent to the AI Cloud Partner Program account".into(),
                    }],
                });
            }
            (None, _) => {
                let enrollments = fetch_enrollments(&mut *tx, tenant_id).await?;
                let direct_bill_in_force = enrollments.iter().any(|e| {
                    e.program == Program::DirectBill
                        && matches!(e.effective_state(now), State::Active | State::Restricted)
                });
                if !direct_bill_in_force {
                    return Err(Error::Precondition {
                        reason: "DIRECT_BILL_REQUIRED",
                        message: "the direct bill incentive program needs an active (or restricted) direct-bill enrollment".into(),
                        violations: vec![PreconditionViolation {
                            kind: "DIRECT_BILL_REQUIRED".into(),
                            subject: enrollment_name(tenant_id, Program::DirectBill),
                            description: "must be ACTIVE or RESTRICTED".into(),
                        }],
                    });
                }
            }
            (Some(_), _) => {}
        }
        // Conditional writes: of two concurrent requests, one enrolls and the other is told so.
        let written = match &existing {
            None => insert_incentive(&mut tx, &enrolled).await?,
            Some(_) => enroll_invited(&mut tx, &enrolled).await?,
        };
        if !written {
            return Err(Error::IncentiveExists(enrolled.name()));
        }
        let response = pb::IncentiveEnrollment::from(&enrolled);
        let change = Change {
            tenant_id,
            resource_name: &response.name,
            action: "CreateIncentiveEnrollment",
            topic: "enrollment.v1.incentive_enrollment.enrolled",
            before: existing
                .as_ref()
                .map(|i| prost::Message::encode_to_vec(&pb::IncentiveEnrollment::from(i))),
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }
}

/// Invites `partner` to the indirect reseller incentive program, once: the invitation goes
/// to its AI Cloud Partner Program account e-mail (the primary contact when none is known).
pub(super) async fn invite_to_reseller_incentive(
    tx: &mut Tx,
    caller: &Caller,
    partner: &Partner,
    now: i64,
) -> Result<(), Error> {
    let program = IncentiveProgram::IndirectReseller;
    if fetch_incentive(&mut **tx, partner.tenant_id, program)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let to = partner
        .program_account_email
        .clone()
        .unwrap_or_else(|| partner.primary_contact_email.clone());
    let invitation = IncentiveEnrollment {
        tenant_id: partner.tenant_id,
        program,
        state: IncentiveState::Invited,
        invite_time: Some(now),
        invite_email: Some(to.clone()),
        enroll_time: None,
    };
    if !insert_incentive(tx, &invitation).await? {
        return Ok(());
    }
    let name = invitation.name();
    suite_db::record_audit(
        tx,
        caller,
        suite_db::AuditEvent {
            tenant_id: partner.tenant_id,
            resource_name: &name,
            action: "InviteToIncentiveProgram",
            request_id: None,
            before: None,
            after: Some(pb::IncentiveEnrollment::from(&invitation).encode_to_vec()),
        },
    )
    .await?;
    suite_mail::enqueue(
        tx,
        &invitation.name(),
        &notification::incentive_invitation(partner, &to),
    )
    .await?;
    Ok(())
}

async fn fetch_incentive<'e>(
    executor: impl Executor<'e, Database = Any>,
    tenant_id: Uuid,
    program: IncentiveProgram,
) -> Result<Option<IncentiveEnrollment>, StoreError> {
    let sql = format!(
        "SELECT {INCENTIVE_COLUMNS} FROM incentive_enrollments WHERE tenant_id = $1 AND program = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id.to_string())
        .bind(incentive_slug(program))
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(incentive_from_row).transpose()
}

/// Inserts `incentive` unless the partner already has that program; false when it had.
async fn insert_incentive(
    tx: &mut Tx,
    incentive: &IncentiveEnrollment,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO incentive_enrollments (tenant_id, program, state, invite_time, invite_email, enroll_time) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, program) DO NOTHING",
    )
    .bind(incentive.tenant_id.to_string())
    .bind(incentive_slug(incentive.program))
    .bind(incentive.state.as_str_name())
    .bind(incentive.invite_time)
    .bind(incentive.invite_email.clone())
    .bind(incentive.enroll_time)
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Turns an invitation into an enrollment; false when it was no longer an invitation.
async fn enroll_invited(tx: &mut Tx, incentive: &IncentiveEnrollment) -> Result<bool, StoreError> {
    let updated = sqlx::query(
        "UPDATE incentive_enrollments SET state = $1, enroll_time = $2 WHERE tenant_id = $3 AND program = $4 AND state = $5",
    )
    .bind(incentive.state.as_str_name())
    .bind(incentive.enroll_time)
    .bind(incentive.tenant_id.to_string())
    .bind(incentive_slug(incentive.program))
    .bind(IncentiveState::Invited.as_str_name())
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

fn incentive_from_row(row: &AnyRow) -> Result<IncentiveEnrollment, StoreError> {
    let program: String = row.try_get("program")?;
    let program = [
        IncentiveProgram::DirectBill,
        IncentiveProgram::IndirectReseller,
    ]
    .into_iter()
    .find(|p| incentive_slug(*p) == program)
    .ok_or_else(|| StoreError::Corrupt(format!("incentive program {program}")))?;
    let state: String = row.try_get("state")?;
    let state = IncentiveState::from_str_name(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("incentive state {state}")))?;
    Ok(IncentiveEnrollment {
        tenant_id: columns::uuid(row, "tenant_id")?,
        program,
        state,
        invite_time: row.try_get("invite_time")?,
        invite_email: columns::optional_text(row, "invite_email")?,
        enroll_time: row.try_get("enroll_time")?,
    })
}
