use prost::Message;
use sha2::{Digest, Sha256};
use suite_errors::{ApiError, FieldViolations};
use suite_identity::{Caller, PrincipalKind};
use uuid::Uuid;

use crate::{StoreError, Tx, now_micros};

/// The `request_id` of a mutation, scoped to who asked (the caller's tenant; the operator;
/// or one service acting for itself) and bound to the exact request it first came with
/// (AIP-155). The id is kept in its canonical UUID form, so `{A1…}`, `urn:uuid:a1…` and
/// `a1…` are one key.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    scope: String,
    request_id: String,
    method: &'static str,
    fingerprint: Vec<u8>,
}

/// What [`IdempotencyKey::claim`] found.
#[derive(Debug)]
pub enum Replay<M> {
    /// First time: carry out the change, then [`IdempotencyKey::complete`] it.
    Fresh,
    /// Seen before: answer with the first response and change nothing.
    Previous(M),
}

impl IdempotencyKey {
    /// Checks `request_id` (required, a UUID) and binds it to `request` for `method`; the
    /// error is the reason the `request_id` field is refused.
    pub fn new(
        caller: &Caller,
        method: &'static str,
        request_id: &str,
        request: &impl Message,
    ) -> Result<Self, String> {
        let request_id = request_id.trim();
        if request_id.is_empty() {
            return Err("required: a UUID that is the same on every retry".into());
        }
        let Ok(parsed) = Uuid::parse_str(request_id) else {
            return Err("must be a UUID".into());
        };
        let mut hasher = Sha256::new();
        hasher.update(method.as_bytes());
        hasher.update(request.encode_to_vec());
        Ok(Self {
            scope: scope_of(caller),
            request_id: parsed.hyphenated().to_string(),
            method,
            fingerprint: hasher.finalize().to_vec(),
        })
    }

    /// Who the key belongs to, e.g. `tenant:{uuid}`.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The request id, for the audit trail.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Reserves the key inside `tx`, or returns the response of the request that holds it.
    /// On PostgreSQL a concurrent first attempt makes this wait until that attempt commits
    /// (then its response is replayed) or rolls back (then this one goes ahead).
    pub async fn claim<M: Message + Default>(&self, tx: &mut Tx) -> Result<Replay<M>, ApiError> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (scope, request_id, method, fingerprint, response, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scope, request_id) DO NOTHING",
        )
        .bind(&self.scope)
        .bind(&self.request_id)
        .bind(self.method)
        .bind(&self.fingerprint)
        .bind(Vec::<u8>::new())
        .bind(now_micros())
        .execute(&mut **tx)
        .await
        .map_err(StoreError::from)?;
        if inserted.rows_affected() == 1 {
            return Ok(Replay::Fresh);
        }

        let (method, fingerprint, response): (String, Vec<u8>, Vec<u8>) = sqlx::query_as(
            "SELECT method, fingerprint, response FROM idempotency_keys WHERE scope = $1 AND request_id = $2",
        )
        .bind(&self.scope)
        .bind(&self.request_id)
        .fetch_one(&mut **tx)
        .await
        .map_err(StoreError::from)?;
        if method != self.method || fingerprint != self.fingerprint {
            return Err(ApiError::invalid_argument(FieldViolations::single(
                "request_id",
                "was already used for a different request; use a new request_id",
            )));
        }
        let previous = M::decode(response.as_slice())
            .map_err(|e| ApiError::internal(StoreError::Corrupt(e.to_string())))?;
        Ok(Replay::Previous(previous))
    }

    /// The response to an earlier request with this key, read outside any transaction; lets a
    /// handler answer a retry before it calls peers again. [`Self::claim`] stays the authority.
    pub async fn replayed<M: Message + Default>(
        &self,
        db: &crate::Database,
    ) -> Result<Option<M>, ApiError> {
        let row: Option<(String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT method, fingerprint, response FROM idempotency_keys WHERE scope = $1 AND request_id = $2",
        )
        .bind(&self.scope)
        .bind(&self.request_id)
        .fetch_optional(db.pool())
        .await
        .map_err(StoreError::from)?;
        let Some((method, fingerprint, response)) = row else {
            return Ok(None);
        };
        if method != self.method || fingerprint != self.fingerprint {
            return Err(ApiError::invalid_argument(FieldViolations::single(
                "request_id",
                "was already used for a different request; use a new request_id",
            )));
        }
        M::decode(response.as_slice())
            .map(Some)
            .map_err(|e| ApiError::internal(StoreError::Corrupt(e.to_string())))
    }

    /// Stores the response of the fresh request, in the same transaction as its change.
    pub async fn complete<M: Message>(&self, tx: &mut Tx, response: &M) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE idempotency_keys SET response = $1 WHERE scope = $2 AND request_id = $3",
        )
        .bind(response.encode_to_vec())
        .bind(&self.scope)
        .bind(&self.request_id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// The namespace of a caller's request ids. Users and apps of one tenant share their
/// tenant's; the operator and each service have their own, since none of them has a tenant.
fn scope_of(caller: &Caller) -> String {
    let actor = caller.actor();
    match actor.kind {
        PrincipalKind::User | PrincipalKind::App => format!("tenant:{}", actor.tenant_id),
        PrincipalKind::Operator => "operator".to_owned(),
        PrincipalKind::Service => format!("service:{}", actor.subject),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use suite_identity::Principal;
    use uuid::Uuid;

    use super::*;

    fn caller(kind: PrincipalKind, subject: &str, tenant_id: Uuid) -> Caller {
        let principal = Principal {
            subject: subject.into(),
            tenant_id,
            roles: vec![],
            kind,
        };
        Caller::new(principal, None, String::new())
    }

    fn key(caller: &Caller, request_id: &str) -> IdempotencyKey {
        IdempotencyKey::new(caller, "CreatePartner", request_id, &()).unwrap()
    }

    #[test]
    fn operators_services_and_tenants_have_separate_namespaces() {
        let id = "0b7a4c52-9d2e-4f0e-8a55-3c1d2e4f5a6b";
        let scopes: Vec<String> = [
            caller(PrincipalKind::Operator, "ops", Uuid::nil()),
            caller(PrincipalKind::Service, "agreement", Uuid::nil()),
            caller(PrincipalKind::Service, "transfer", Uuid::nil()),
            caller(PrincipalKind::User, "alice", Uuid::nil()),
        ]
        .iter()
        .map(|caller| key(caller, id).scope().to_owned())
        .collect();
        let mut distinct = scopes.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 4, "{scopes:?}");
    }

    #[test]
    fn request_ids_compare_as_uuids() {
        let alice = caller(PrincipalKind::User, "alice", Uuid::new_v4());
        let forms = [
            "0b7a4c52-9d2e-4f0e-8a55-3c1d2e4f5a6b",
            "0B7A4C52-9D2E-4F0E-8A55-3C1D2E4F5A6B",
            "{0b7a4c52-9d2e-4f0e-8a55-3c1d2e4f5a6b}",
            "urn:uuid:0b7a4c52-9d2e-4f0e-8a55-3c1d2e4f5a6b",
            "0b7a4c529d2e4f0e8a553c1d2e4f5a6b",
        ];
        for form in forms {
            assert_eq!(key(&alice, form).request_id(), forms[0], "{form}");
        }
        assert!(IdempotencyKey::new(&alice, "CreatePartner", "not-a-uuid", &()).is_err());
    }
}
