//! Transfer requests: creation with their line items, decisions, expiry, reads.

use std::collections::HashMap;

use prost::Message;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;
use suite_auth::Caller;
use suite_db::{
    AuditEvent, IdempotencyKey, OutboxMessage, Page, PageRequest, Replay, StoreError, Tx, columns,
};
use suite_errors::{ApiError, Code};
use suite_proto::transfer::v1 as pb;
use uuid::Uuid;

use super::TransferStore;
use super::subscriptions::{named_subscriptions, open_among, optional_id};
use crate::domain::subscription::parse_offer_kind;
use crate::domain::transfer::{Execution, select_line_items};
use crate::domain::{LineItem, NewTransferRequest, TransferRequest};
use crate::error::Error;
use suite_mail::Email;

/// Most partner-to-partner requests one target creates for one customer in a day.
const PARTNER_REQUESTS_PER_DAY: i64 = 5;
const DAY_MICROS: i64 = 86_400_000_000;

/// Outbox topic of the message that runs an accepted transfer.
pub const EXECUTE_TOPIC: &str = "transfer.v1.transfer_request.execute";

/// Most ACTIVE requests one expiry sweep ends; a backlog is worked off over the next ones.
const EXPIRY_BATCH: i64 = 500;

const REQUEST_COLUMNS: &str = "id, source_tenant_id, customer_tenant_id, provider_tenant_id, state, create_time, \
     expire_time, update_time, end_time, rejection_note, step, step_attempts, last_error, last_attempt_time, deadline, \
     failure_reason, version, kind, customer_email, source_visible";

/// A transfer request with its source subscriptions' current quantities (to show drift).
pub type RequestView = (TransferRequest, HashMap<Uuid, i32>);

impl TransferStore {
    /// Creates the request `new`, choosing its line items inside the transaction from the
    /// customer's subscriptions as they are now; a subscription that another open request
    /// holds is refused, also when that request commits concurrently.
    pub async fn create_transfer_request(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        new: &NewTransferRequest,
        now: i64,
        expire_time: i64,
    ) -> Result<pb::TransferRequest, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::TransferRequest>(&mut tx).await? {
            return Ok(response);
        }
        let subscriptions =
            named_subscriptions(&mut tx, new.customer, &new.subscription_ids).await?;
        let open = open_among(&mut tx, subscriptions.iter().map(|s| s.id).collect()).await?;
        let line_items = select_line_items(
            new.customer,
            &new.subscription_ids,
            &subscriptions,
            &open,
            pb::TransferKind::IndirectProvider,
        )?;
        let request = TransferRequest {
            id: Uuid::now_v7(),
            source_tenant_id: new.customer.partner_tenant_id,
            customer_tenant_id: new.customer.customer_tenant_id,
            provider_tenant_id: new.provider_tenant_id,
            kind: pb::TransferKind::IndirectProvider,
            customer_email: String::new(),
            source_visible: true,
            state: pb::TransferRequestState::Active,
            line_items,
            create_time: now,
            expire_time,
            update_time: now,
            end_time: None,
            rejection_note: String::new(),
            execution: Execution::not_started(),
            version: 1,
        };
        insert_request(&mut tx, &request).await?;
        insert_line_items(&mut tx, &request).await?;
        let quantities = quantities_of(&request);
        let response = request.to_proto(&quantities);
        record_transition(
            &mut tx,
            caller,
            Some(key.request_id()),
            None,
            &response,
            &request,
            "CreateTransferRequest",
            "transfer.v1.transfer_request.created",
        )
        .await?;
        key.complete(&mut tx, &response).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Moves request `id` to the state `decide` computes from its current one, inside one
    /// transaction with its line items, trail and events. Accepting it also enqueues its
    /// execution, so an accepted transfer always runs.
    pub async fn decide_transfer_request(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        id: Uuid,
        action: &str,
        decide: impl FnOnce(&TransferRequest) -> Result<TransferRequest, Error>,
    ) -> Result<pb::TransferRequest, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::TransferRequest>(&mut tx).await? {
            return Ok(response);
        }
        let lock = suite_db::for_update(&tx);
        let Some((current, quantities)) = fetch_request(&mut tx, id, lock).await? else {
            return Err(Error::TransferRequestNotFound(id.to_string()));
        };
        let next = decide(&current)?;
        save_request(&mut tx, &current, &next).await?;
        let topic = match next.state {
            pb::TransferRequestState::Accepted => {
                enqueue_execution(&mut tx, &next).await?;
                "transfer.v1.transfer_request.accepted"
            }
            pb::TransferRequestState::Rejected => "transfer.v1.transfer_request.rejected",
            _ => "transfer.v1.transfer_request.cancelled",
        };
        // A decision changes no subscription: the quantities read with the request stand.
        let response = next.to_proto(&quantities);
        let before = current.to_proto(&quantities);
        record_transition(
            &mut tx,
            caller,
            Some(key.request_id()),
            Some(&before),
            &response,
            &next,
            action,
            topic,
        )
        .await?;
        key.complete(&mut tx, &response).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Records the partner-to-partner `request` (ACTIVE, without line items: the source
    /// chooses them) and puts `emails` (to the customer, and to the source) in the outbox,
    /// in one transaction; the request is in both partners' audit trails.
    pub async fn create_partner_transfer_request(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        request: &TransferRequest,
        emails: &[Email],
    ) -> Result<pb::TransferRequest, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::TransferRequest>(&mut tx).await? {
            return Ok(response);
        }
        // A target asks a customer's partner at most a few times a day: each request
        // e-mails the source and the customer.
        let recent: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM transfer_requests WHERE provider_tenant_id = $1 AND customer_tenant_id = $2 \
             AND kind = $3 AND create_time > $4",
        )
        .bind(request.provider_tenant_id.to_string())
        .bind(request.customer_tenant_id.to_string())
        .bind(pb::TransferKind::NewCommercePartner.as_str_name())
        .bind(request.create_time.saturating_sub(DAY_MICROS))
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        if recent >= PARTNER_REQUESTS_PER_DAY {
            return Err(Error::Api(ApiError::new(
                Code::ResourceExhausted,
                "PARTNER_REQUESTS_LIMITED",
                format!(
                    "at most {PARTNER_REQUESTS_PER_DAY} partner-to-partner requests per customer in a day: wait for the answers to the last ones"
                ),
            )));
        }
        match insert_request(&mut tx, request).await {
            Err(StoreError::UniqueViolation(_)) => {
                return Err(Error::Precondition {
                    reason: "OPEN_REQUEST_EXISTS",
                    message: "an ACTIVE request to this source for this customer is waiting: wait for the source's answer, or cancel that request first".into(),
                });
            }
            other => other?,
        }
        let response = request.to_proto(&HashMap::new());
        record_transition(
            &mut tx,
            caller,
            Some(key.request_id()),
            None,
            &response,
            request,
            "CreatePartnerTransferRequest",
            "transfer.v1.transfer_request.created",
        )
        .await?;
        for email in emails {
            suite_mail::enqueue(&mut tx, &response.name, email).await?;
        }
        key.complete(&mut tx, &response).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// The source submits partner-to-partner request `id` at `now` with the subscriptions
    /// `named`: `check` sees the request first (kind, etag); its line items are chosen inside
    /// the transaction from the customer's subscriptions as they are now (New Commerce only,
    /// add-ons with their base, none in another open request), and its execution, to end by
    /// `deadline`, is enqueued.
    #[allow(clippy::too_many_arguments)] // one submission, each part from the request
    pub async fn submit_transfer_request(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        id: Uuid,
        named: &[Uuid],
        now: i64,
        deadline: i64,
        check: impl FnOnce(&TransferRequest) -> Result<(), Error>,
    ) -> Result<pb::TransferRequest, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::TransferRequest>(&mut tx).await? {
            return Ok(response);
        }
        let lock = suite_db::for_update(&tx);
        let Some((current, _)) = fetch_request(&mut tx, id, lock).await? else {
            return Err(Error::TransferRequestNotFound(id.to_string()));
        };
        check(&current)?;
        let customer = current.source_customer();
        let subscriptions = named_subscriptions(&mut tx, customer, named).await?;
        let open = open_among(&mut tx, subscriptions.iter().map(|s| s.id).collect()).await?;
        let line_items = select_line_items(
            customer,
            named,
            &subscriptions,
            &open,
            pb::TransferKind::NewCommercePartner,
        )?;
        let next = current.submitted(line_items, now, deadline)?;
        save_request(&mut tx, &current, &next).await?;
        insert_line_items(&mut tx, &next).await?;
        enqueue_execution(&mut tx, &next).await?;
        let quantities = quantities_of(&next);
        let response = next.to_proto(&quantities);
        record_transition(
            &mut tx,
            caller,
            Some(key.request_id()),
            Some(&current.to_proto(&HashMap::new())),
            &response,
            &next,
            "SubmitTransferRequest",
            "transfer.v1.transfer_request.submitted",
        )
        .await?;
        key.complete(&mut tx, &response).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Request `id` with its current quantities, if it exists.
    pub async fn get_transfer_request(&self, id: Uuid) -> Result<Option<RequestView>, StoreError> {
        // A read: no transaction, which on SQLite would take the only write lock.
        let mut conn = self.db.pool().acquire().await?;
        fetch_request(&mut conn, id, "").await
    }

    /// One page, newest first, of the requests `partner` is a side of in `role`, in `state`
    /// when one is given.
    pub async fn list_transfer_requests(
        &self,
        partner: Uuid,
        role: pb::TransferRole,
        state: Option<pb::TransferRequestState>,
        page: &PageRequest,
    ) -> Result<Page<RequestView>, StoreError> {
        // A source is shown only the requests shown to it (see `may_read`).
        let sides = match role {
            pb::TransferRole::Source => "source_tenant_id = $1 AND source_visible = 1",
            pb::TransferRole::Provider => "provider_tenant_id = $1",
            pb::TransferRole::Unspecified => {
                "((source_tenant_id = $1 AND source_visible = 1) OR provider_tenant_id = $1)"
            }
        };
        let sql = with_line_items(
            &format!(
                "SELECT * FROM transfer_requests WHERE {sides} AND ($2 = '' OR state = $2) \
                 AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4"
            ),
            "r.id DESC",
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(partner.to_string())
            .bind(state.map(|s| s.as_str_name()).unwrap_or_default())
            .bind(page.after_key())
            .bind(page.fetch_limit())
            .fetch_all(self.db.pool())
            .await?;
        let views = views_from_rows(&rows)?;
        Ok(self
            .pages
            .page(page, views, |(request, _)| request.id.to_string()))
    }

    /// Expires up to a batch of ACTIVE requests due at `now`; returns how many it ended.
    /// Replicas sweeping together end each request once: each is re-read under lock and
    /// saved only from the version read.
    pub async fn expire_transfer_requests(&self, now: i64) -> Result<usize, StoreError> {
        let due = sqlx::query(
            "SELECT id FROM transfer_requests WHERE state = 'TRANSFER_REQUEST_STATE_ACTIVE' AND expire_time <= $1 \
             ORDER BY expire_time LIMIT $2",
        )
        .bind(now)
        .bind(EXPIRY_BATCH)
        .fetch_all(self.db.pool())
        .await?;
        let sweeper = Caller::service(crate::SERVICE);
        let mut ended = 0;
        for row in due {
            let id = columns::uuid(&row, "id")?;
            let mut tx = self.db.begin().await?;
            let lock = suite_db::for_update(&tx);
            let Some((current, quantities)) = fetch_request(&mut tx, id, lock).await? else {
                continue;
            };
            let Some(next) = current.expired(now) else {
                continue; // accepted, cancelled or expired meanwhile
            };
            match save_request(&mut tx, &current, &next).await {
                Err(Error::ConcurrentChange(_)) => continue,
                Err(Error::Store(error)) => return Err(error),
                Err(other) => return Err(StoreError::Corrupt(other.to_string())),
                Ok(()) => {}
            }
            record_transition(
                &mut tx,
                &sweeper,
                None,
                Some(&current.to_proto(&quantities)),
                &next.to_proto(&quantities),
                &next,
                "ExpireTransferRequest",
                "transfer.v1.transfer_request.expired",
            )
            .await?;
            tx.commit().await?;
            ended += 1;
        }
        Ok(ended)
    }
}

/// The snapshot quantities, for a request just created.
fn quantities_of(request: &TransferRequest) -> HashMap<Uuid, i32> {
    request
        .line_items
        .iter()
        .map(|item| (item.subscription_id, item.quantity))
        .collect()
}

/// The current quantities of `request`'s source subscriptions.
pub(super) async fn current_quantities(
    conn: &mut AnyConnection,
    request: &TransferRequest,
) -> Result<HashMap<Uuid, i32>, StoreError> {
    let rows = sqlx::query(
        "SELECT s.id, s.quantity FROM transfer_line_items li JOIN subscriptions s ON s.id = li.subscription_id \
         WHERE li.request_id = $1",
    )
    .bind(request.id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let quantity: i64 = row.try_get("quantity")?;
            Ok((
                columns::uuid(row, "id")?,
                i32::try_from(quantity)
                    .map_err(|e| StoreError::Corrupt(format!("quantity: {e}")))?,
            ))
        })
        .collect()
}

async fn insert_request(tx: &mut Tx, request: &TransferRequest) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO transfer_requests ({REQUEST_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(request.id.to_string())
        .bind(request.source_tenant_id.to_string())
        .bind(request.customer_tenant_id.to_string())
        .bind(request.provider_tenant_id.to_string())
        .bind(request.state.as_str_name())
        .bind(request.create_time)
        .bind(request.expire_time)
        .bind(request.update_time)
        .bind(request.end_time)
        .bind(&request.rejection_note)
        .bind(request.execution.step.as_str_name())
        .bind(i64::from(request.execution.attempts))
        .bind(&request.execution.last_error)
        .bind(request.execution.last_attempt_time)
        .bind(request.execution.deadline)
        .bind(&request.execution.failure_reason)
        .bind(request.version)
        .bind(request.kind.as_str_name())
        .bind(&request.customer_email)
        .bind(i64::from(request.source_visible))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The line items of `request`; a subscription another open request holds is refused, also
/// when that request commits concurrently (the database holds the rule).
async fn insert_line_items(tx: &mut Tx, request: &TransferRequest) -> Result<(), Error> {
    for item in &request.line_items {
        match insert_line_item(tx, request.id, item).await {
            Err(StoreError::UniqueViolation(_)) => return Err(Error::AlreadyInOpenRequest),
            other => other?,
        }
    }
    Ok(())
}

/// Enqueues the execution of `request`, accepted (or submitted) in `tx`: an accepted
/// transfer always runs.
async fn enqueue_execution(tx: &mut Tx, request: &TransferRequest) -> Result<(), StoreError> {
    suite_db::enqueue(
        tx,
        OutboxMessage {
            topic: EXECUTE_TOPIC,
            key: &request.name(),
            payload: request.id.to_string().into_bytes(),
        },
    )
    .await
}

async fn insert_line_item(
    tx: &mut Tx,
    request_id: Uuid,
    item: &LineItem,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO transfer_line_items (request_id, position, subscription_id, offer_id, offer_kind, quantity, \
         base_subscription_id, included_with_base, transferred_subscription_id, open) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1)",
    )
    .bind(request_id.to_string())
    .bind(i64::from(item.position))
    .bind(item.subscription_id.to_string())
    .bind(&item.offer_id)
    .bind(item.offer_kind.as_str_name())
    .bind(i64::from(item.quantity))
    .bind(optional_id(item.base_subscription_id))
    .bind(i64::from(item.included_with_base))
    .bind(optional_id(item.transferred_subscription_id))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Saves `next` over `current` if nobody changed it since it was read; a request that
/// ended frees its subscriptions, and one that completed records where each went.
pub(super) async fn save_request(
    tx: &mut Tx,
    current: &TransferRequest,
    next: &TransferRequest,
) -> Result<(), Error> {
    let saved = sqlx::query(
        "UPDATE transfer_requests SET state = $1, update_time = $2, end_time = $3, rejection_note = $4, step = $5, \
         step_attempts = $6, last_error = $7, last_attempt_time = $8, deadline = $9, failure_reason = $10, version = $11 \
         WHERE id = $12 AND version = $13",
    )
    .bind(next.state.as_str_name())
    .bind(next.update_time)
    .bind(next.end_time)
    .bind(&next.rejection_note)
    .bind(next.execution.step.as_str_name())
    .bind(i64::from(next.execution.attempts))
    .bind(&next.execution.last_error)
    .bind(next.execution.last_attempt_time)
    .bind(next.execution.deadline)
    .bind(&next.execution.failure_reason)
    .bind(next.version)
    .bind(next.id.to_string())
    .bind(current.version)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from)?;
    if saved.rows_affected() == 0 {
        return Err(Error::ConcurrentChange(current.name()));
    }
    if !next.is_open() {
        sqlx::query("UPDATE transfer_line_items SET open = 0 WHERE request_id = $1")
            .bind(next.id.to_string())
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from)?;
    }
    for item in &next.line_items {
        if let Some(moved) = item.transferred_subscription_id {
            sqlx::query(
                "UPDATE transfer_line_items SET transferred_subscription_id = $1 WHERE request_id = $2 AND position = $3",
            )
            .bind(moved.to_string())
            .bind(next.id.to_string())
            .bind(i64::from(item.position))
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from)?;
        }
    }
    Ok(())
}

/// Writes the trail of a request's change for both sides and its event, inside `tx`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn record_transition(
    tx: &mut Tx,
    caller: &Caller,
    request_id: Option<&str>,
    before: Option<&pb::TransferRequest>,
    after: &pb::TransferRequest,
    request: &TransferRequest,
    action: &str,
    topic: &str,
) -> Result<(), StoreError> {
    // The customer's e-mail address stays in the request's row: trails and events, kept and
    // published widely, go without it.
    let without_address = |request: &pb::TransferRequest| {
        let mut recorded = request.clone();
        recorded.customer_email.clear();
        recorded.encode_to_vec()
    };
    let encoded = without_address(after);
    let before = before.map(without_address);
    // Both partners keep the request in their trail: each sees what happened to it (a
    // source only a request shown to it).
    let sides = [
        (request.source_visible).then_some(request.source_tenant_id),
        Some(request.provider_tenant_id),
    ];
    let events: Vec<AuditEvent> = sides
        .into_iter()
        .flatten()
        .map(|tenant_id| AuditEvent {
            tenant_id,
            resource_name: &after.name,
            action,
            request_id,
            before: before.clone(),
            after: Some(encoded.clone()),
        })
        .collect();
    suite_db::record_audits(tx, caller, &events).await?;
    suite_db::enqueue(
        tx,
        OutboxMessage {
            topic,
            key: &after.name,
            payload: encoded,
        },
    )
    .await
}

/// Request `id` with its line items and its source subscriptions' current quantities, read
/// in one statement. With `lock` (see [`suite_db::for_update`]) a statement before it locks
/// the request's row, so that the read sees what was committed before the lock was granted
/// (under READ COMMITTED a statement that waits for a lock re-reads only the locked row).
pub(super) async fn fetch_request(
    conn: &mut AnyConnection,
    id: Uuid,
    lock: &str,
) -> Result<Option<RequestView>, StoreError> {
    if !lock.is_empty() {
        let sql = format!("SELECT id FROM transfer_requests WHERE id = $1{lock}");
        let locked = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        if locked.is_none() {
            return Ok(None);
        }
    }
    // The most frequent read (every poll of a request): its text is built once.
    static BY_ID: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        with_line_items("SELECT * FROM transfer_requests WHERE id = $1", "r.id")
    });
    let rows = sqlx::query(sqlx::AssertSqlSafe(BY_ID.as_str()))
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    Ok(views_from_rows(&rows)?.pop())
}

/// A query of the requests `requests` selects (aliased `r`, in `order`), each joined to its
/// line items in position order and their subscriptions' current quantities.
fn with_line_items(requests: &str, order: &str) -> String {
    static REQUEST: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        REQUEST_COLUMNS
            .split(',')
            .map(|column| format!("r.{}", column.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    });
    format!(
        "SELECT {request}, li.position, li.subscription_id, li.offer_id, li.offer_kind, li.quantity, \
         li.base_subscription_id, li.included_with_base, li.transferred_subscription_id, \
         s.quantity AS current_quantity \
         FROM ({requests}) r \
         LEFT JOIN transfer_line_items li ON li.request_id = r.id \
         LEFT JOIN subscriptions s ON s.id = li.subscription_id \
         ORDER BY {order}, li.position",
        request = REQUEST.as_str(),
    )
}

/// The requests of rows from [`with_line_items`], in the rows' order.
fn views_from_rows(rows: &[AnyRow]) -> Result<Vec<RequestView>, StoreError> {
    let mut views: Vec<RequestView> = Vec::new();
    for row in rows {
        let id = columns::uuid(row, "id")?;
        if views.last().is_none_or(|(request, _)| request.id != id) {
            views.push((request_from_row(row)?, HashMap::new()));
        }
        let Some((request, quantities)) = views.last_mut() else {
            continue; // pushed above
        };
        // A request without line items (a partner transfer not yet submitted) has one row
        // with no line item.
        if row.try_get::<Option<i64>, _>("position")?.is_none() {
            continue;
        }
        let item = line_item_from_row(row)?;
        if let Some(current) = row.try_get::<Option<i64>, _>("current_quantity")? {
            let current = i32::try_from(current).map_err(corrupt("current_quantity"))?;
            quantities.insert(item.subscription_id, current);
        }
        request.line_items.push(item);
    }
    Ok(views)
}

fn line_item_from_row(row: &AnyRow) -> Result<LineItem, StoreError> {
    let position: i64 = row.try_get("position")?;
    let quantity: i64 = row.try_get("quantity")?;
    let offer_kind: String = row.try_get("offer_kind")?;
    let offer_kind = pb::OfferKind::from_str_name(&offer_kind)
        .ok_or_else(|| StoreError::Corrupt(format!("offer_kind {offer_kind}")))?;
    Ok(LineItem {
        position: i32::try_from(position).map_err(corrupt("position"))?,
        subscription_id: columns::uuid(row, "subscription_id")?,
        offer_id: row.try_get("offer_id")?,
        offer_kind: parse_offer_kind(offer_kind as i32).map_err(StoreError::Corrupt)?,
        quantity: i32::try_from(quantity).map_err(corrupt("quantity"))?,
        base_subscription_id: columns::optional_uuid(row, "base_subscription_id")?,
        included_with_base: columns::flag(row, "included_with_base")?,
        transferred_subscription_id: columns::optional_uuid(row, "transferred_subscription_id")?,
    })
}

fn corrupt(column: &'static str) -> impl Fn(std::num::TryFromIntError) -> StoreError {
    move |e| StoreError::Corrupt(format!("{column}: {e}"))
}

fn request_from_row(row: &AnyRow) -> Result<TransferRequest, StoreError> {
    let state: String = row.try_get("state")?;
    let state = pb::TransferRequestState::from_str_name(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("state {state}")))?;
    let step: String = row.try_get("step")?;
    let step = pb::TransferStep::from_str_name(&step)
        .ok_or_else(|| StoreError::Corrupt(format!("step {step}")))?;
    let attempts: i64 = row.try_get("step_attempts")?;
    let kind: String = row.try_get("kind")?;
    let kind = pb::TransferKind::from_str_name(&kind)
        .ok_or_else(|| StoreError::Corrupt(format!("kind {kind}")))?;
    Ok(TransferRequest {
        id: columns::uuid(row, "id")?,
        source_tenant_id: columns::uuid(row, "source_tenant_id")?,
        customer_tenant_id: columns::uuid(row, "customer_tenant_id")?,
        provider_tenant_id: columns::uuid(row, "provider_tenant_id")?,
        kind,
        customer_email: row.try_get("customer_email")?,
        source_visible: row.try_get::<i64, _>("source_visible")? != 0,
        state,
        line_items: Vec::new(),
        create_time: row.try_get("create_time")?,
        expire_time: row.try_get("expire_time")?,
        update_time: row.try_get("update_time")?,
        end_time: row.try_get("end_time")?,
        rejection_note: row.try_get("rejection_note")?,
        execution: Execution {
            step,
            attempts: i32::try_from(attempts).unwrap_or(i32::MAX),
            last_error: row.try_get("last_error")?,
            last_attempt_time: row.try_get("last_attempt_time")?,
            deadline: row.try_get("deadline")?,
            failure_reason: row.try_get("failure_reason")?,
        },
        version: row.try_get("version")?,
    })
}
