use prost::Message;
use sqlx::Row;
use sqlx::any::AnyRow;
use suite_auth::Caller;
use suite_db::{
    AuditEvent, Change, IdempotencyKey, OutboxMessage, Page, PageRequest, Replay, StoreError,
    columns,
};
use suite_proto::agreement::v1 as pb;
use uuid::Uuid;

use super::AgreementStore;
use crate::domain::partner::{
    ACTIVATION_TOPIC, ActivationRequest, ActivationState, PartnerAcceptance,
};
use crate::error::Error;

const ACCEPTANCE_COLUMNS: &str = "id, partner_tenant_id, agreement_version, enrollment, accepted_by, accept_time, \
     activation_state, activation_error, update_time";

impl AgreementStore {
    /// Records `acceptance`; when it waits for activation, the activation request goes into the
    /// outbox in the same transaction, so it is sent even if the service stops right after.
    pub async fn accept_partner_agreement(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        acceptance: PartnerAcceptance,
    ) -> Result<pb::PartnerAgreementAcceptance, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) =
            key.claim::<pb::PartnerAgreementAcceptance>(&mut tx).await?
        {
            return Ok(response);
        }
        sqlx::query(
            "INSERT INTO partner_acceptances (id, partner_tenant_id, agreement_version, enrollment, accepted_by, accept_time, \
             activation_state, activation_error, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(acceptance.id.to_string())
        .bind(acceptance.partner_tenant_id.to_string())
        .bind(&acceptance.agreement_version)
        .bind(&acceptance.enrollment)
        .bind(&acceptance.accepted_by)
        .bind(acceptance.accept_time)
        .bind(acceptance.activation_state.as_str_name())
        .bind(acceptance.activation_error.clone())
        .bind(acceptance.update_time)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;

        let name = acceptance.name();
        let response = pb::PartnerAgreementAcceptance::from(&acceptance);
        let change = Change {
            tenant_id: acceptance.partner_tenant_id,
            resource_name: &name,
            action: "AcceptPartnerAgreement",
            topic: "agreement.v1.partner_agreement.accepted",
            before: None,
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        if acceptance.activation_state == ActivationState::Pending {
            let request = ActivationRequest {
                acceptance_id: acceptance.id,
                acceptance: name.clone(),
                enrollment: acceptance.enrollment.clone(),
                agreement_version: acceptance.agreement_version.clone(),
                accept_time: acceptance.accept_time,
            };
            let payload =
                serde_json::to_vec(&request).map_err(|e| StoreError::Other(e.to_string()))?;
            suite_db::enqueue(
                &mut tx,
                OutboxMessage {
                    topic: ACTIVATION_TOPIC,
                    key: &name,
                    payload,
                },
            )
            .await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Records how the activation of acceptance `id` ended; `caller` is the service itself.
    pub async fn finish_activation(
        &self,
        caller: &Caller,
        id: Uuid,
        state: ActivationState,
        error: Option<String>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        let Some(current) = fetch_acceptance(&mut tx, id).await? else {
            return Err(StoreError::Corrupt(format!(
                "activation for unknown acceptance {id}"
            )));
        };
        if current.activation_state != ActivationState::Pending {
            return Ok(()); // a repeated delivery: already recorded
        }
        let next = PartnerAcceptance {
            activation_state: state,
            activation_error: error,
            update_time: now,
            ..current.clone()
        };
        // Compare-and-set: of two deliveries racing here, one records the outcome.
        let updated = sqlx::query(
            "UPDATE partner_acceptances SET activation_state = $1, activation_error = $2, update_time = $3 \
             WHERE id = $4 AND activation_state = $5",
        )
        .bind(next.activation_state.as_str_name())
        .bind(next.activation_error.clone())
        .bind(now)
        .bind(id.to_string())
        .bind(ActivationState::Pending.as_str_name())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(());
        }
        let name = next.name();
        let after = pb::PartnerAgreementAcceptance::from(&next).encode_to_vec();
        suite_db::record_audit(
            &mut tx,
            caller,
            AuditEvent {
                tenant_id: next.partner_tenant_id,
                resource_name: &name,
                action: "FinishEnrollmentActivation",
                request_id: None,
                before: Some(pb::PartnerAgreementAcceptance::from(&current).encode_to_vec()),
                after: Some(after.clone()),
            },
        )
        .await?;
        suite_db::enqueue(
            &mut tx,
            OutboxMessage {
                topic: "agreement.v1.partner_agreement.activation_finished",
                key: &name,
                payload: after,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Acceptance `id` of any partner, for the activation relay.
    pub async fn partner_acceptance(
        &self,
        id: Uuid,
    ) -> Result<Option<PartnerAcceptance>, StoreError> {
        let mut connection = self.db.pool().acquire().await?;
        fetch_acceptance(&mut connection, id).await
    }

    /// Acceptance `id` of `partner_tenant_id`, if any.
    pub async fn get_partner_acceptance(
        &self,
        partner_tenant_id: Uuid,
        id: Uuid,
    ) -> Result<Option<PartnerAcceptance>, StoreError> {
        let mut connection = self.db.pool().acquire().await?;
        let acceptance = fetch_acceptance(&mut connection, id).await?;
        Ok(acceptance.filter(|a| a.partner_tenant_id == partner_tenant_id))
    }

    /// One page of `partner_tenant_id`'s acceptances, newest first.
    pub async fn list_partner_acceptances(
        &self,
        partner_tenant_id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<PartnerAcceptance>, StoreError> {
        let sql = format!(
            "SELECT {ACCEPTANCE_COLUMNS} FROM partner_acceptances WHERE partner_tenant_id = $1 AND ($2 = '' OR id < $2) \
             ORDER BY id DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(partner_tenant_id.to_string())
            .bind(page.after_key())
            .bind(page.fetch_limit())
            .fetch_all(self.db.pool())
            .await?;
        let acceptances = rows
            .iter()
            .map(acceptance_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.pages.page(page, acceptances, |a| a.id.to_string()))
    }
}

async fn fetch_acceptance(
    connection: &mut sqlx::AnyConnection,
    id: Uuid,
) -> Result<Option<PartnerAcceptance>, StoreError> {
    let sql = format!("SELECT {ACCEPTANCE_COLUMNS} FROM partner_acceptances WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(connection)
        .await?;
    row.as_ref().map(acceptance_from_row).transpose()
}

fn acceptance_from_row(row: &AnyRow) -> Result<PartnerAcceptance, StoreError> {
    let state: String = row.try_get("activation_state")?;
    Ok(PartnerAcceptance {
        id: columns::uuid(row, "id")?,
        partner_tenant_id: columns::uuid(row, "partner_tenant_id")?,
        agreement_version: row.try_get("agreement_version")?,
        enrollment: row.try_get("enrollment")?,
        accepted_by: row.try_get("accepted_by")?,
        accept_time: row.try_get("accept_time")?,
        activation_state: ActivationState::from_str_name(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("activation state {state}")))?,
        activation_error: row.try_get("activation_error")?,
        update_time: row.try_get("update_time")?,
    })
}
