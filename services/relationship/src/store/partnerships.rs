//! Partnerships between providers and resellers. Each change reads the pair's row (locked on
//! PostgreSQL), applies the rule from `domain`, and writes the row under a version check
//! with its audit event, outbox event and idempotent answer.

use prost::Message;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use suite_auth::Caller;
use suite_db::{Change, IdempotencyKey, Page, PageRequest, Replay, StoreError, Tx, columns};
use suite_proto::relationship::v1 as pb;
use uuid::Uuid;

use super::RelationshipStore;
use super::sweep::{Lapsing, SWEEP_BATCH};
use crate::domain::partnerships::{
    self, Invitation, InvitationToken, Partnership, PartnershipName, PartnershipState,
    PresentedToken, Side, Transition, invitation_link,
};
use crate::error::Error;

const PARTNERSHIP_COLUMNS: &str = "provider_tenant_id, reseller_tenant_id, state, invite_email, invitation_token_hash, \
     invite_time, invitation_expire_time, invitation_lapsed_hash, accept_time, suspended_by, create_time, update_time, version";

/// What an invitation is sent with.
pub struct InvitationSettings<'a> {
    /// Where the link points.
    pub link_base: &'a str,
    /// How long the link is accepted, in microseconds.
    pub lifetime_micros: i64,
    /// Now.
    pub now: i64,
}

impl RelationshipStore {
    /// Records `invitation` (a new partnership, or a new link for one whose link expired)
    /// and e-mails the link with a fresh token; only the token's hash is kept.
    pub async fn invite_reseller(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        invitation: &Invitation,
        settings: InvitationSettings<'_>,
    ) -> Result<pb::Partnership, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Partnership>(&mut tx).await? {
            return Ok(response);
        }
        let existing = lock_partnership(
            &mut tx,
            invitation.provider_tenant_id,
            invitation.reseller_tenant_id,
        )
        .await?;
        let token = InvitationToken::generate();
        let invited = partnerships::invite(
            existing.as_ref(),
            invitation,
            &token,
            settings.lifetime_micros,
            settings.now,
        )?;
        let canonical = invited.canonical_name();
        match &existing {
            None => {
                let inserted = insert_partnership(&mut tx, &invited).await;
                if let Err(StoreError::UniqueViolation(_)) = inserted {
                    // A concurrent invitation of the same reseller came first.
                    return Err(Error::PartnershipExists(canonical));
                }
                inserted?;
            }
            Some(current) => save_partnership(&mut tx, &invited, current.version).await?,
        }
        let response = invited.to_proto(Side::Provider);
        let change = Change {
            tenant_id: invited.provider_tenant_id,
            resource_name: &canonical,
            action: "InviteIndirectReseller",
            topic: "relationship.v1.partnership.invitation_sent",
            before: existing.map(|p| p.to_proto(Side::Provider).encode_to_vec()),
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        let link = invitation_link(settings.link_base, &invited, &token);
        suite_mail::enqueue(
            &mut tx,
            &canonical,
            &partnerships::invitation_email(&invited, &link),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// The reseller accepts partnership `name` with a token whose hash is `presented_hash`.
    pub async fn accept_invitation(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        name: PartnershipName,
        presented_hash: &str,
        now: i64,
    ) -> Result<pb::Partnership, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Partnership>(&mut tx).await? {
            return Ok(response);
        }
        let current = lock_partnership(&mut tx, name.provider_tenant_id, name.reseller_tenant_id)
            .await?
            .ok_or_else(|| Error::PartnershipNotFound(name.name()))?;
        let in_use = token_in_use(&mut *tx, presented_hash).await?;
        let presented =
            PresentedToken::classify(presented_hash, &current.invitation_token_hash, in_use);
        let accepted = partnerships::accept(&current, presented, now)?;
        save_partnership(&mut tx, &accepted, current.version).await?;
        let response = accepted.to_proto(name.side);
        let change = Change {
            tenant_id: name.owner(),
            resource_name: &name.canonical(),
            action: "AcceptPartnershipInvitation",
            topic: "relationship.v1.partnership.accepted",
            before: Some(current.to_proto(name.side).encode_to_vec()),
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Suspends, resumes or revokes partnership `name` for its owner, if its version is
    /// still `expected_version` (when given).
    pub async fn change_partnership(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        name: PartnershipName,
        transition: Transition,
        expected_version: Option<i64>,
        now: i64,
    ) -> Result<pb::Partnership, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Partnership>(&mut tx).await? {
            return Ok(response);
        }
        let current = lock_partnership(&mut tx, name.provider_tenant_id, name.reseller_tenant_id)
            .await?
            .ok_or_else(|| Error::PartnershipNotFound(name.name()))?;
        if expected_version.is_some_and(|version| version != current.version) {
            return Err(Error::StaleEtag(name.name()));
        }
        let next = partnerships::transition(&current, transition, name.owner(), now)?;
        save_partnership(&mut tx, &next, current.version).await?;
        let response = next.to_proto(name.side);
        let change = Change {
            tenant_id: name.owner(),
            resource_name: &name.canonical(),
            action: transition.action(),
            topic: transition.topic(),
            before: Some(current.to_proto(name.side).encode_to_vec()),
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// The partnership of the pair, if any.
    pub async fn get_partnership(
        &self,
        provider_tenant_id: Uuid,
        reseller_tenant_id: Uuid,
    ) -> Result<Option<Partnership>, StoreError> {
        fetch_partnership(self.db.pool(), provider_tenant_id, reseller_tenant_id, "").await
    }

    /// Whether provider `provider_tenant_id` is in an ACTIVE partnership with reseller
    /// `reseller_tenant_id`: the condition for customer invitations naming both, customers
    /// the provider creates for the reseller and extensions to the provider.
    pub async fn active_partnership(
        &self,
        provider_tenant_id: Uuid,
        reseller_tenant_id: Uuid,
    ) -> Result<bool, StoreError> {
        Ok(self
            .get_partnership(provider_tenant_id, reseller_tenant_id)
            .await?
            .is_some_and(|p| partnerships::allows_new_business(p.state)))
    }

    /// One page of `tenant_id`'s partnerships as `side` (its resellers for a provider, its
    /// providers for a reseller), by the other side's tenant id.
    pub async fn list_partnerships(
        &self,
        side: Side,
        tenant_id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<Partnership>, StoreError> {
        let (own, other) = match side {
            Side::Provider => ("provider_tenant_id", "reseller_tenant_id"),
            Side::Reseller => ("reseller_tenant_id", "provider_tenant_id"),
        };
        let sql = format!(
            "SELECT {PARTNERSHIP_COLUMNS} FROM partnerships WHERE {own} = $1 AND {other} > $2 ORDER BY {other} LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id.to_string())
            .bind(page.after_key())
            .bind(page.fetch_limit())
            .fetch_all(self.db.pool())
            .await?;
        let partnerships = rows
            .iter()
            .map(partnership_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.pages.page(page, partnerships, |p| match side {
            Side::Provider => p.reseller_tenant_id.to_string(),
            Side::Reseller => p.provider_tenant_id.to_string(),
        }))
    }
}

async fn lock_partnership(
    tx: &mut Tx,
    provider_tenant_id: Uuid,
    reseller_tenant_id: Uuid,
) -> Result<Option<Partnership>, StoreError> {
    let lock = suite_db::for_update(tx);
    fetch_partnership(&mut **tx, provider_tenant_id, reseller_tenant_id, lock).await
}

pub(super) async fn fetch_partnership<'e>(
    executor: impl Executor<'e, Database = Any>,
    provider_tenant_id: Uuid,
    reseller_tenant_id: Uuid,
    lock: &str,
) -> Result<Option<Partnership>, StoreError> {
    let sql = format!(
        "SELECT {PARTNERSHIP_COLUMNS} FROM partnerships WHERE provider_tenant_id = $1 AND reseller_tenant_id = $2{lock}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(provider_tenant_id.to_string())
        .bind(reseller_tenant_id.to_string())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(partnership_from_row).transpose()
}

/// Whether some partnership's latest invitation has the token hashed as `hash`.
async fn token_in_use<'e>(
    executor: impl Executor<'e, Database = Any>,
    hash: &str,
) -> Result<bool, StoreError> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT provider_tenant_id FROM partnerships WHERE invitation_token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(executor)
    .await?;
    Ok(found.is_some())
}

impl RelationshipStore {
    /// Records once each INVITED partnership whose latest link expired unaccepted by `now`;
    /// returns how many this call recorded.
    pub async fn sweep_partnership_invitations(&self, now: i64) -> Result<usize, StoreError> {
        let sql = format!(
            "SELECT {PARTNERSHIP_COLUMNS} FROM partnerships \
             WHERE state = $1 AND invitation_expire_time <= $2 \
             AND invitation_lapsed_hash <> invitation_token_hash \
             ORDER BY invitation_expire_time LIMIT $3"
        );
        let due = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(PartnershipState::Invited.as_str_name())
            .bind(now)
            .bind(SWEEP_BATCH)
            .fetch_all(self.db.pool())
            .await?;
        Ok(self.sweep_rows::<Partnership>(&due, now).await)
    }
}

impl Lapsing for Partnership {
    const KIND: &'static str = "partnership invitation";

    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        partnership_from_row(row)
    }

    fn describe(row: &AnyRow) -> String {
        let provider: String = row.try_get("provider_tenant_id").unwrap_or_default();
        let reseller: String = row.try_get("reseller_tenant_id").unwrap_or_default();
        format!("partners/{provider}/indirectResellers/{reseller}")
    }

    fn name(&self) -> String {
        self.canonical_name()
    }

    /// Marks the link's expiry recorded, only while the row still has that link unrecorded
    /// and INVITED (so racing replicas, an acceptance or a new invitation leave it to the
    /// other), without changing the etag: nothing a side reads changes.
    async fn record_lapse(&self, tx: &mut Tx, now: i64) -> Result<Option<&'static str>, Error> {
        const ACTION: &str = "ExpirePartnershipInvitation";
        if !partnerships::invitation_lapse_due(self, now) {
            return Ok(None);
        }
        let marked = sqlx::query(
            "UPDATE partnerships SET invitation_lapsed_hash = invitation_token_hash \
             WHERE provider_tenant_id = $1 AND reseller_tenant_id = $2 AND state = $3 \
             AND invitation_token_hash = $4 AND invitation_lapsed_hash <> $4",
        )
        .bind(self.provider_tenant_id.to_string())
        .bind(self.reseller_tenant_id.to_string())
        .bind(PartnershipState::Invited.as_str_name())
        .bind(&self.invitation_token_hash)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::from)?;
        if marked.rows_affected() == 0 {
            return Ok(None);
        }
        let name = self.canonical_name();
        let view = self.to_proto(Side::Provider);
        let change = Change {
            tenant_id: self.provider_tenant_id,
            resource_name: &name,
            action: ACTION,
            topic: "relationship.v1.partnership.invitation_expired",
            before: Some(view.encode_to_vec()),
            after: &view,
        };
        suite_db::record_unrequested_change(tx, &Caller::service(crate::SERVICE), change).await?;
        Ok(Some(ACTION))
    }
}

async fn insert_partnership(tx: &mut Tx, partnership: &Partnership) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO partnerships (provider_tenant_id, reseller_tenant_id, state, invite_email, invitation_token_hash, \
         invite_time, invitation_expire_time, accept_time, suspended_by, create_time, update_time, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(partnership.provider_tenant_id.to_string())
    .bind(partnership.reseller_tenant_id.to_string())
    .bind(partnership.state.as_str_name())
    .bind(&partnership.invite_email)
    .bind(&partnership.invitation_token_hash)
    .bind(partnership.invite_time)
    .bind(partnership.invitation_expire_time)
    .bind(partnership.accept_time)
    .bind(partnership.suspended_by.map(|tenant| tenant.to_string()))
    .bind(partnership.create_time)
    .bind(partnership.update_time)
    .bind(partnership.version)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes `partnership` over the row still at `previous_version`.
async fn save_partnership(
    tx: &mut Tx,
    partnership: &Partnership,
    previous_version: i64,
) -> Result<(), Error> {
    let updated = sqlx::query(
        "UPDATE partnerships SET state = $1, invite_email = $2, invitation_token_hash = $3, invite_time = $4, \
         invitation_expire_time = $5, accept_time = $6, suspended_by = $7, update_time = $8, version = $9 \
         WHERE provider_tenant_id = $10 AND reseller_tenant_id = $11 AND version = $12",
    )
    .bind(partnership.state.as_str_name())
    .bind(&partnership.invite_email)
    .bind(&partnership.invitation_token_hash)
    .bind(partnership.invite_time)
    .bind(partnership.invitation_expire_time)
    .bind(partnership.accept_time)
    .bind(partnership.suspended_by.map(|tenant| tenant.to_string()))
    .bind(partnership.update_time)
    .bind(partnership.version)
    .bind(partnership.provider_tenant_id.to_string())
    .bind(partnership.reseller_tenant_id.to_string())
    .bind(previous_version)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from)?;
    if updated.rows_affected() == 0 {
        return Err(Error::ConcurrentChange(partnership.canonical_name()));
    }
    Ok(())
}

fn partnership_from_row(row: &AnyRow) -> Result<Partnership, StoreError> {
    let state: String = row.try_get("state")?;
    let state = PartnershipState::from_str_name(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("partnership state {state}")))?;
    Ok(Partnership {
        provider_tenant_id: columns::uuid(row, "provider_tenant_id")?,
        reseller_tenant_id: columns::uuid(row, "reseller_tenant_id")?,
        state,
        invite_email: row.try_get("invite_email")?,
        invitation_token_hash: row.try_get("invitation_token_hash")?,
        invite_time: row.try_get("invite_time")?,
        invitation_expire_time: row.try_get("invitation_expire_time")?,
        invitation_lapsed: {
            let token_hash: String = row.try_get("invitation_token_hash")?;
            let lapsed_hash: String = row.try_get("invitation_lapsed_hash")?;
            !lapsed_hash.is_empty() && lapsed_hash == token_hash
        },
        accept_time: row.try_get("accept_time")?,
        suspended_by: columns::optional_uuid(row, "suspended_by")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
        version: row.try_get("version")?,
    })
}
