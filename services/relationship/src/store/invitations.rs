//! Customer invitations and the acceptance that creates both relationships in one
//! transaction.

use prost::Message;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use suite_auth::Caller;
use suite_db::{
    AuditEvent, Change, IdempotencyKey, OutboxMessage, Replay, StoreError, Tx, columns,
};
use suite_proto::relationship::v1 as pb;
use uuid::Uuid;

use super::RelationshipStore;
use super::customers::{
    claim_customer_tenant_if_new, fetch_customer, insert_customer, lock_customer_tenant, save_role,
};
use super::sweep::{Lapsing, SWEEP_BATCH};
use crate::domain::invitations::{
    CustomerInvitation, InvitationEmail, accepted_details, invited_view,
};
use crate::domain::partnerships::PresentedToken;
use crate::domain::{NewCustomer, customer_name, partnerships};
use crate::error::{Error, InvitationKind};

const INVITATION_COLUMNS: &str = "id, reseller_tenant_id, provider_tenant_id, customer_tenant_id, state, token_hash, \
     expire_time, accepted_customer_tenant_id, accept_time, create_time, version, inviter_role, subscriptions";

impl RelationshipStore {
    /// Records `invitation` (its answer, with the link and draft e-mail, is `response`), or
    /// replays an earlier identical request.
    pub async fn create_customer_invitation(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        invitation: &CustomerInvitation,
        response: pb::CustomerInvitation,
    ) -> Result<pb::CustomerInvitation, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(previous) = key.claim::<pb::CustomerInvitation>(&mut tx).await? {
            return Ok(previous);
        }
        sqlx::query(
            "INSERT INTO customer_invitations (id, reseller_tenant_id, provider_tenant_id, customer_tenant_id, state, \
             token_hash, expire_time, accepted_customer_tenant_id, accept_time, create_time, version, \
             inviter_role, subscriptions) VALUES ($1, $2, $3, $4, $5, $6, $7, '', NULL, $8, $9, $10, $11)",
        )
        .bind(invitation.id.to_string())
        .bind(invitation.reseller_tenant_id.to_string())
        .bind(
            invitation
                .provider_tenant_id
                .map(|t| t.to_string())
                .unwrap_or_default(),
        )
        .bind(invitation.customer_tenant_id.map(|t| t.to_string()).unwrap_or_default())
        .bind(invitation.state.as_str_name())
        .bind(&invitation.token_hash)
        .bind(invitation.expire_time)
        .bind(invitation.create_time)
        .bind(invitation.version)
        .bind(invitation.inviter_role.as_str_name())
        .bind(invitation.subscriptions.join("\n"))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        // The audit and the event keep the invitation without its link.
        let name = invitation.name();
        let recorded = invitation.to_proto(None);
        suite_db::record_audit(
            &mut tx,
            caller,
            AuditEvent {
                tenant_id: invitation.reseller_tenant_id,
                resource_name: &name,
                action: "CreateCustomerInvitation",
                request_id: Some(key.request_id()),
                before: None,
                after: Some(recorded.encode_to_vec()),
            },
        )
        .await?;
        suite_db::enqueue(
            &mut tx,
            OutboxMessage {
                topic: "relationship.v1.customer_invitation.created",
                key: &name,
                payload: recorded.encode_to_vec(),
            },
        )
        .await?;
        key.complete(&mut tx, &response).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Invitation `id` of `reseller_tenant_id`, if there is one.
    pub async fn customer_invitation(
        &self,
        reseller_tenant_id: Uuid,
        id: Uuid,
    ) -> Result<Option<CustomerInvitation>, StoreError> {
        fetch_invitation(self.db.pool(), reseller_tenant_id, id, "").await
    }

    /// Puts `email` in the outbox for `invitation` while it may still be accepted at `now`
    /// (checked under its row lock, so an acceptance or the sweep in between wins), or
    /// replays an earlier identical request.
    pub async fn send_customer_invitation(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        invitation: &CustomerInvitation,
        email: &InvitationEmail,
        now: i64,
    ) -> Result<pb::CustomerInvitation, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(previous) = key.claim::<pb::CustomerInvitation>(&mut tx).await? {
            return Ok(previous);
        }
        let lock = suite_db::for_update(&tx);
        let invitation =
            fetch_invitation(&mut *tx, invitation.reseller_tenant_id, invitation.id, lock)
                .await?
                .ok_or_else(|| {
                    Error::InvitationNotFound(InvitationKind::Customer, invitation.name())
                })?;
        invitation.check_sending(now)?;
        let name = invitation.name();
        suite_mail::enqueue(
            &mut tx,
            &name,
            &partnerships::Email {
                to: email.to.clone(),
                subject: email.subject.clone(),
                body: email.body.clone(),
            },
        )
        .await?;
        let response = invitation.to_proto(None);
        let change = Change {
            tenant_id: invitation.reseller_tenant_id,
            resource_name: &name,
            action: "SendCustomerInvitation",
            topic: "relationship.v1.customer_invitation.sent",
            before: Some(response.encode_to_vec()),
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// The admin of `customer` accepts invitation `id` of `reseller_tenant_id` with a token
    /// hashing to `token_hash` at `now`: under the invitation's, the partnership's and the
    /// customer tenant's row locks, every relationship it names is written (an existing
    /// record of a partner takes its role from the invitation, and its company details serve
    /// all; otherwise `details` are required) and the invitation is marked accepted, all in
    /// one transaction.
    #[allow(clippy::too_many_arguments)] // one acceptance, each part from the request
    pub async fn accept_customer_invitation(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        reseller_tenant_id: Uuid,
        id: Uuid,
        token_hash: &str,
        customer: Uuid,
        details: Option<&NewCustomer>,
        now: i64,
    ) -> Result<pb::CustomerInvitation, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(previous) = key.claim::<pb::CustomerInvitation>(&mut tx).await? {
            return Ok(previous);
        }
        let lock = suite_db::for_update(&tx);
        let invitation = fetch_invitation(&mut *tx, reseller_tenant_id, id, lock)
            .await?
            .ok_or_else(|| {
                Error::InvitationNotFound(
                    InvitationKind::Customer,
                    crate::domain::invitations::invitation_name(reseller_tenant_id, id),
                )
            })?;
        let in_use = token_in_use(&mut *tx, token_hash).await?;
        let presented = PresentedToken::classify(token_hash, &invitation.token_hash, in_use);
        invitation.check_acceptance(customer, presented, now)?;
        if let Some(provider) = invitation.provider_tenant_id {
            let partnership = super::partnerships::fetch_partnership(
                &mut *tx,
                provider,
                reseller_tenant_id,
                lock,
            )
            .await?;
            if !partnership.is_some_and(|p| partnerships::allows_new_business(p.state)) {
                return Err(Error::Precondition {
                    reason: "PARTNERSHIP_NOT_ACTIVE",
                    subject: invitation.name(),
                    message: "the reseller and the provider are no longer in an ACTIVE partnership: ask the reseller for a new invitation".into(),
                });
            }
        }

        claim_customer_tenant_if_new(&mut tx, customer, reseller_tenant_id, now).await?;
        lock_customer_tenant(&mut tx, customer).await?;
        let parties = invitation.partners();
        let mut existing = Vec::with_capacity(parties.len());
        for (partner, _) in &parties {
            existing.push(fetch_customer(&mut *tx, *partner, customer).await?);
        }
        // A request alone adds a partner; it never changes what an existing partner of
        // record already is to the customer.
        if invitation.provider_tenant_id.is_none() && existing.first().is_some_and(Option::is_some)
        {
            return Err(Error::Precondition {
                reason: "ALREADY_PARTNER_OF_RECORD",
                subject: invitation.name(),
                message: "the partner that sent this request is already your partner of record: nothing to accept".into(),
            });
        }
        let details = accepted_details(customer, details, existing.iter().flatten().next())?;
        for ((partner, role), current) in parties.into_iter().zip(&existing) {
            let view = invited_view(&details, partner, role, now);
            let name = customer_name(partner, customer);
            // A concurrent acceptance for the same customer that wrote first makes this one
            // retryable, whichever write notices it.
            let concurrent = |error: Error| match error {
                Error::Store(StoreError::UniqueViolation(_)) => {
                    Error::ConcurrentChange(name.clone())
                }
                other => other,
            };
            let before = match current {
                Some(current) => {
                    let changed = save_role(&mut tx, current, role, now, &name)
                        .await
                        .map_err(concurrent)?;
                    Some((current.to_proto(true).encode_to_vec(), changed))
                }
                None => {
                    insert_customer(&mut tx, &view)
                        .await
                        .map_err(|error| concurrent(error.into()))?;
                    None
                }
            };
            let (before, after) = match before {
                Some((before, changed)) => (Some(before), changed.to_proto(true)),
                None => (None, view.to_proto(true)),
            };
            let after = after.encode_to_vec();
            suite_db::record_audit(
                &mut tx,
                caller,
                AuditEvent {
                    tenant_id: partner,
                    resource_name: &name,
                    action: "AcceptCustomerInvitation",
                    request_id: Some(key.request_id()),
                    before,
                    after: Some(after.clone()),
                },
            )
            .await?;
            suite_db::enqueue(
                &mut tx,
                OutboxMessage {
                    topic: "relationship.v1.customer_relationship.created",
                    key: &name,
                    payload: after,
                },
            )
            .await?;
        }

        let accepted = CustomerInvitation {
            state: pb::CustomerInvitationState::Accepted,
            accepted_customer_tenant_id: Some(customer),
            accept_time: Some(now),
            version: invitation.version + 1,
            ..invitation.clone()
        };
        save_invitation(&mut tx, &accepted, invitation.version).await?;
        let response = accepted.to_proto(None);
        let name = accepted.name();
        let change = Change {
            tenant_id: reseller_tenant_id,
            resource_name: &name,
            action: "AcceptCustomerInvitation",
            topic: "relationship.v1.customer_invitation.accepted",
            before: Some(invitation.to_proto(None).encode_to_vec()),
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }
}

impl RelationshipStore {
    /// Marks EXPIRED the PENDING invitations whose link expired by `now`; returns how many
    /// this call changed.
    pub async fn sweep_customer_invitations(&self, now: i64) -> Result<usize, StoreError> {
        let sql = format!(
            "SELECT {INVITATION_COLUMNS} FROM customer_invitations \
             WHERE state = $1 AND expire_time <= $2 ORDER BY expire_time, id LIMIT $3"
        );
        let due = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(pb::CustomerInvitationState::Pending.as_str_name())
            .bind(now)
            .bind(SWEEP_BATCH)
            .fetch_all(self.db.pool())
            .await?;
        Ok(self.sweep_rows::<CustomerInvitation>(&due, now).await)
    }
}

impl Lapsing for CustomerInvitation {
    const KIND: &'static str = "customer invitation";

    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        invitation_from_row(row)
    }

    fn describe(row: &AnyRow) -> String {
        let id: String = row.try_get("id").unwrap_or_default();
        format!("customer invitation {id}")
    }

    fn name(&self) -> String {
        CustomerInvitation::name(self)
    }

    async fn record_lapse(&self, tx: &mut Tx, now: i64) -> Result<Option<&'static str>, Error> {
        let Some(expired) = self.lapse(now) else {
            return Ok(None);
        };
        save_invitation(tx, &expired, self.version).await?;
        let name = expired.name();
        let change = Change {
            tenant_id: expired.reseller_tenant_id,
            resource_name: &name,
            action: EXPIRE_ACTION,
            topic: "relationship.v1.customer_invitation.expired",
            before: Some(self.to_proto(None).encode_to_vec()),
            after: &expired.to_proto(None),
        };
        suite_db::record_unrequested_change(tx, &Caller::service(crate::SERVICE), change).await?;
        Ok(Some(EXPIRE_ACTION))
    }
}

/// The audited action of an expiry.
const EXPIRE_ACTION: &str = "ExpireCustomerInvitation";

/// Writes the state of `invitation` over the row still at `previous_version`.
async fn save_invitation(
    tx: &mut Tx,
    invitation: &CustomerInvitation,
    previous_version: i64,
) -> Result<(), Error> {
    let updated = sqlx::query(
        "UPDATE customer_invitations SET state = $1, accepted_customer_tenant_id = $2, accept_time = $3, \
         version = $4 WHERE id = $5 AND version = $6",
    )
    .bind(invitation.state.as_str_name())
    .bind(
        invitation
            .accepted_customer_tenant_id
            .map(|t| t.to_string())
            .unwrap_or_default(),
    )
    .bind(invitation.accept_time)
    .bind(invitation.version)
    .bind(invitation.id.to_string())
    .bind(previous_version)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from)?;
    if updated.rows_affected() == 0 {
        return Err(Error::ConcurrentChange(invitation.name()));
    }
    Ok(())
}

async fn fetch_invitation<'e>(
    executor: impl Executor<'e, Database = Any>,
    reseller_tenant_id: Uuid,
    id: Uuid,
    lock: &str,
) -> Result<Option<CustomerInvitation>, StoreError> {
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM customer_invitations WHERE reseller_tenant_id = $1 AND id = $2{lock}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(reseller_tenant_id.to_string())
        .bind(id.to_string())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(invitation_from_row).transpose()
}

/// Whether some customer invitation has the token hashed as `hash`.
async fn token_in_use<'e>(
    executor: impl Executor<'e, Database = Any>,
    hash: &str,
) -> Result<bool, StoreError> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM customer_invitations WHERE token_hash = $1")
            .bind(hash)
            .fetch_optional(executor)
            .await?;
    Ok(found.is_some())
}

fn invitation_from_row(row: &AnyRow) -> Result<CustomerInvitation, StoreError> {
    let state: String = row.try_get("state")?;
    let optional_tenant = |column: &str| -> Result<Option<Uuid>, StoreError> {
        let value: String = row.try_get(column)?;
        if value.is_empty() {
            return Ok(None);
        }
        Uuid::parse_str(&value)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("{column} {value}: {e}")))
    };
    let inviter_role: String = row.try_get("inviter_role")?;
    let subscriptions: String = row.try_get("subscriptions")?;
    Ok(CustomerInvitation {
        id: columns::uuid(row, "id")?,
        reseller_tenant_id: columns::uuid(row, "reseller_tenant_id")?,
        provider_tenant_id: optional_tenant("provider_tenant_id")?,
        inviter_role: pb::PartnerRole::from_str_name(&inviter_role)
            .ok_or_else(|| StoreError::Corrupt(format!("inviter role {inviter_role}")))?,
        subscriptions: subscriptions
            .split('\n')
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect(),
        customer_tenant_id: optional_tenant("customer_tenant_id")?,
        state: pb::CustomerInvitationState::from_str_name(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("customer invitation state {state}")))?,
        token_hash: row.try_get("token_hash")?,
        expire_time: row.try_get("expire_time")?,
        accepted_customer_tenant_id: optional_tenant("accepted_customer_tenant_id")?,
        accept_time: row.try_get("accept_time")?,
        create_time: row.try_get("create_time")?,
        version: row.try_get("version")?,
    })
}
