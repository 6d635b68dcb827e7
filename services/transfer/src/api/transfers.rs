//! Transfer requests: the four steps of a self-service transfer, and the New Commerce
//! partner-to-partner transfer, as the two partners drive them; the execution itself runs
//! in the background (see `crate::execution`).

use suite_auth::{Caller, Role};
use suite_db::IdempotencyKey;
use suite_errors::{FieldViolations, fields};
use suite_proto::transfer::v1 as pb;
use uuid::Uuid;

use super::TransferApi;
use crate::TransferOptions;
use crate::domain::subscription::parse_partner_name;
use crate::domain::transfer::{
    self, NewPartnerTransfer, PartnerParties, parse_named_subscriptions, parse_note,
    parse_transfer_request_name, partner_transfer_emails, refusal, unmet_partner_preconditions,
    unmet_preconditions,
};
use crate::domain::{NewTransferRequest, TransferRequest};
use crate::error::Error;

impl TransferApi {
    pub(super) async fn create_transfer_request(
        &self,
        caller: &Caller,
        request: pb::CreateTransferRequestRequest,
    ) -> Result<pb::TransferRequest, Error> {
        // The partners decide a transfer: the source asks, the provider accepts. The operator
        // does neither for them.
        caller.require_role(Role::AdminAgent)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "CreateTransferRequest",
                &request.request_id,
                &request,
            ),
        );
        let new = NewTransferRequest::parse(&request, &mut violations);
        let (Some(key), Some(new), true) = (key, new, violations.is_empty()) else {
            return Err(Error::Invalid(violations));
        };
        if !caller.can_access_tenant(new.customer.partner_tenant_id) {
            return Err(Error::CustomerNotFound(new.customer.name()));
        }
        if let Some(previous) = self.store.replayed(&key).await? {
            return Ok(previous);
        }
        // Only a customer the source has: the checks beside it run as this service and would
        // otherwise tell anyone about another partner's customers, so none of their answers
        // is used (nor their failure reported) unless the caller's view has the customer, and
        // they are dropped unfinished once it does not. Both are asked at once: the creation
        // waits for one round of peer calls, not two.
        let customer_name = new.customer.name();
        let seen = async {
            match self.peers.customer(caller, &customer_name).await? {
                Some(_) => Ok(()),
                None => Err(Error::CustomerNotFound(customer_name.clone())),
            }
        };
        let checks = async {
            Ok::<_, Error>(
                self.peers
                    .parties(new.customer, new.provider_tenant_id)
                    .await,
            )
        };
        let ((), parties) = tokio::try_join!(seen, checks)?;
        let parties = parties?;
        let unmet = unmet_preconditions(new.customer, new.provider_tenant_id, &parties);
        if !unmet.is_empty() {
            return Err(Error::Api(refusal(unmet)));
        }
        let now = self.now();
        let expire_time = self.request_expiry(now);
        self.store
            .create_transfer_request(caller, &key, &new, now, expire_time)
            .await
    }

    pub(super) async fn get_transfer_request(
        &self,
        caller: &Caller,
        request: pb::GetTransferRequestRequest,
    ) -> Result<pb::TransferRequest, Error> {
        let (request, quantities) = self.readable(caller, "name", &request.name).await?;
        Ok(request.to_proto(&quantities))
    }

    pub(super) async fn list_transfer_requests(
        &self,
        caller: &Caller,
        request: pb::ListTransferRequestsRequest,
    ) -> Result<pb::ListTransferRequestsResponse, Error> {
        let mut violations = FieldViolations::new();
        let partner = violations.check("parent", parse_partner_name(&request.parent));
        let role = violations.check(
            "role",
            pb::TransferRole::try_from(request.role)
                .map_err(|_| format!("unknown role {}", request.role)),
        );
        let state = violations.check(
            "state",
            match pb::TransferRequestState::try_from(request.state) {
                Ok(pb::TransferRequestState::Unspecified) => Ok(None),
                Ok(state) => Ok(Some(state)),
                Err(_) => Err(format!("unknown state {}", request.state)),
            },
        );
        let (Some(partner), Some(role), Some(state)) = (partner, role, state) else {
            return Err(Error::Invalid(violations));
        };
        if !caller.can_access_tenant(partner) {
            return Err(Error::PartnerNotFound(request.parent));
        }
        // A page token serves only the query it was issued for.
        let query = format!("{}|{}|{}", request.parent, request.role, request.state);
        let page_request =
            self.store
                .pages()
                .request(request.page_size, &request.page_token, &query)?;
        let page = self
            .store
            .list_transfer_requests(partner, role, state, &page_request)
            .await?;
        Ok(pb::ListTransferRequestsResponse {
            transfer_requests: page
                .items
                .iter()
                .map(|(request, quantities)| request.to_proto(quantities))
                .collect(),
            next_page_token: page.next_page_token,
        })
    }

    pub(super) async fn accept_transfer_request(
        &self,
        caller: &Caller,
        request: pb::AcceptTransferRequestRequest,
    ) -> Result<pb::TransferRequest, Error> {
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "AcceptTransferRequest",
                &request.request_id,
                &request,
            ),
        );
        let etag = violations.check("etag", fields::etag(&request.etag));
        let (Some(key), Some(etag)) = (key, etag) else {
            return Err(Error::Invalid(violations));
        };
        let (current, _) = self.readable(caller, "name", &request.name).await?;
        transfer::authorize_decision(caller, &current)?;
        if current.is_partner_transfer() {
            return Err(Error::Precondition {
                reason: "SUBMISSION_REQUIRED",
                message: format!(
                    "{} is a partner-to-partner request: the source chooses the subscriptions and submits it (SubmitTransferRequest)",
                    current.name()
                ),
            });
        }
        let now = self.now();
        let deadline = self.execution_deadline(now);
        let accepted = self
            .store
            .decide_transfer_request(
                caller,
                &key,
                current.id,
                "AcceptTransferRequest",
                |now_stored| {
                    check_etag(now_stored, etag)?;
                    now_stored.accepted(now, deadline)
                },
            )
            .await?;
        // Step 3 starts now rather than at the relay's next pass.
        self.waker.wake();
        Ok(accepted)
    }

    pub(super) async fn reject_transfer_request(
        &self,
        caller: &Caller,
        request: pb::RejectTransferRequestRequest,
    ) -> Result<pb::TransferRequest, Error> {
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "RejectTransferRequest",
                &request.request_id,
                &request,
            ),
        );
        let note = violations.check("note", parse_note(&request.note));
        let (Some(key), Some(note)) = (key, note) else {
            return Err(Error::Invalid(violations));
        };
        let (current, _) = self.readable(caller, "name", &request.name).await?;
        transfer::authorize_decision(caller, &current)?;
        let now = self.now();
        self.store
            .decide_transfer_request(
                caller,
                &key,
                current.id,
                "RejectTransferRequest",
                |stored| stored.rejected(now, note),
            )
            .await
    }

    pub(super) async fn cancel_transfer_request(
        &self,
        caller: &Caller,
        request: pb::CancelTransferRequestRequest,
    ) -> Result<pb::TransferRequest, Error> {
        let key = IdempotencyKey::new(
            caller,
            "CancelTransferRequest",
            &request.request_id,
            &request,
        )
        .map_err(|reason| FieldViolations::single("request_id", reason))?;
        let (current, _) = self.readable(caller, "name", &request.name).await?;
        transfer::authorize_cancel(caller, &current)?;
        let now = self.now();
        self.store
            .decide_transfer_request(
                caller,
                &key,
                current.id,
                "CancelTransferRequest",
                |stored| stored.cancelled(now),
            )
            .await
    }

    pub(super) async fn create_partner_transfer_request(
        &self,
        caller: &Caller,
        request: pb::CreatePartnerTransferRequestRequest,
    ) -> Result<pb::TransferRequest, Error> {
        // The target asks; the operator does not ask for it.
        caller.require_role(Role::AdminAgent)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "CreatePartnerTransferRequest",
                &request.request_id,
                &request,
            ),
        );
        let new = NewPartnerTransfer::parse(&request, &mut violations);
        let (Some(key), Some(mut new), true) = (key, new, violations.is_empty()) else {
            return Err(Error::Invalid(violations));
        };
        if !caller.can_access_tenant(new.target_tenant_id) {
            return Err(Error::PartnerNotFound(request.parent));
        }
        if let Some(previous) = self.store.replayed(&key).await? {
            return Ok(previous);
        }
        // Asked as this service. Only the target's standing can refuse: the source's decides
        // silently whether it is shown the request, so that neither side learns of the other
        // what the customer did not tell it (who serves the customer; that it is leaving).
        let parties = self
            .peers
            .partner_parties(new.customer, new.target_tenant_id)
            .await?;
        let target_only = PartnerParties {
            source: None,
            ..parties.clone()
        };
        let unmet = unmet_partner_preconditions(new.customer, new.target_tenant_id, &target_only);
        if !unmet.is_empty() {
            return Err(Error::Api(refusal(unmet)));
        }
        new.source_visible = parties.source.is_some_and(|s| s.may_be_told());
        let source_email = match new.source_visible {
            true => {
                self.peers
                    .contact_email(new.customer.partner_tenant_id)
                    .await?
            }
            false => None,
        };
        let now = self.now();
        let expire_time = self.request_expiry(now);
        let created = new.request(now, expire_time);
        let emails = partner_transfer_emails(&created, source_email.as_deref());
        self.store
            .create_partner_transfer_request(caller, &key, &created, &emails)
            .await
    }

    pub(super) async fn submit_transfer_request(
        &self,
        caller: &Caller,
        request: pb::SubmitTransferRequestRequest,
    ) -> Result<pb::TransferRequest, Error> {
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "SubmitTransferRequest",
                &request.request_id,
                &request,
            ),
        );
        let etag = violations.check("etag", fields::etag(&request.etag));
        let customer = parse_transfer_request_name(&request.name)
            .ok()
            .map(|(customer, _)| customer);
        let named = parse_named_subscriptions(
            &request.subscriptions,
            customer,
            "the request's customer",
            &mut violations,
        );
        let (Some(key), Some(etag), Some(named), true) = (key, etag, named, violations.is_empty())
        else {
            return Err(Error::Invalid(violations));
        };
        let (current, _) = self.readable(caller, "name", &request.name).await?;
        transfer::authorize_decision(caller, &current)?;
        caller.require_role(Role::AdminAgent)?;
        let now = self.now();
        let deadline = self.execution_deadline(now);
        let submitted = self
            .store
            .submit_transfer_request(caller, &key, current.id, &named, now, deadline, |stored| {
                if !stored.is_partner_transfer() {
                    return Err(Error::Precondition {
                        reason: "ACCEPTANCE_REQUIRED",
                        message: format!(
                            "{} is a self-service request: the provider accepts it (AcceptTransferRequest)",
                            stored.name()
                        ),
                    });
                }
                check_etag(stored, etag)
            })
            .await?;
        // The transfer starts now rather than at the relay's next pass.
        self.waker.wake();
        Ok(submitted)
    }

    /// When a request created at `now` expires unanswered.
    fn request_expiry(&self, now: i64) -> i64 {
        now.saturating_add(TransferOptions::micros(self.options.request_lifetime))
    }

    /// Until when a transfer accepted (or submitted) at `now` may run.
    fn execution_deadline(&self, now: i64) -> i64 {
        now.saturating_add(TransferOptions::micros(self.options.execution_deadline))
    }

    /// The request named `name` (sent in `field`) if the caller is a side of it; NOT_FOUND
    /// otherwise, whether or not it exists.
    async fn readable(
        &self,
        caller: &Caller,
        field: &str,
        name: &str,
    ) -> Result<(TransferRequest, std::collections::HashMap<Uuid, i32>), Error> {
        let (customer, id) = parse_transfer_request_name(name)
            .map_err(|reason| FieldViolations::single(field, reason))?;
        let not_found = || Error::TransferRequestNotFound(name.to_owned());
        let (request, quantities) = self
            .store
            .get_transfer_request(id)
            .await?
            .ok_or_else(not_found)?;
        if request.source_customer() != customer || !transfer::may_read(caller, &request) {
            return Err(not_found());
        }
        Ok((request, quantities))
    }
}

fn check_etag(request: &TransferRequest, etag: Option<i64>) -> Result<(), Error> {
    match etag {
        Some(etag) if etag != request.version => Err(Error::StaleEtag(request.name())),
        _ => Ok(()),
    }
}
