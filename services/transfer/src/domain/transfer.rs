//! Transfer requests: which subscriptions a request carries, the preconditions of a
//! transfer, who may do what, and the request's states. Free of transport and storage.
//!
//! Two kinds share the request and its workflow. The self-service transfer: the source (a
//! transitioning partner) names the subscriptions and its indirect provider accepts. The
//! New Commerce partner-to-partner transfer: the target asks (in the provider's place), the
//! source chooses the subscriptions and submits.

use std::collections::{HashMap, HashSet};

use suite_errors::{ApiError, FieldViolations, PreconditionViolation, fields};
use suite_identity::{Caller, PrincipalKind, Role};
use suite_proto::transfer::v1 as pb;
use uuid::Uuid;

use super::eligibility;
use super::subscription::{
    CustomerRef, Subscription, parse_partner_name, parse_subscription_name, partner_name,
    subscription_name,
};
use crate::error::Error;

use pb::TransferRequestState as State;

/// Most subscriptions one request may name (add-ons come on top).
pub const MAX_NAMED_SUBSCRIPTIONS: usize = 100;
/// Longest rejection note.
const MAX_NOTE: usize = 500;

/// One subscription of a transfer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    /// Order within the request.
    pub position: i32,
    /// The source's subscription.
    pub subscription_id: Uuid,
    /// Its offer.
    pub offer_id: String,
    /// Its kind.
    pub offer_kind: pb::OfferKind,
    /// Licences when the request was created.
    pub quantity: i32,
    /// For an add-on, its base.
    pub base_subscription_id: Option<Uuid>,
    /// An add-on included because its base was named.
    pub included_with_base: bool,
    /// The provider's subscription that replaced it.
    pub transferred_subscription_id: Option<Uuid>,
}

/// Progress of a transfer's execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// Step running or next.
    pub step: pb::TransferStep,
    /// Attempts at this step.
    pub attempts: i32,
    /// Why the last attempt did not finish, or why the transfer failed.
    pub last_error: String,
    /// When the last attempt ended.
    pub last_attempt_time: Option<i64>,
    /// Past this, outages are no longer retried.
    pub deadline: Option<i64>,
    /// Reason code of a failure.
    pub failure_reason: String,
}

impl Execution {
    /// Not started.
    pub fn not_started() -> Self {
        Self {
            step: pb::TransferStep::Unspecified,
            attempts: 0,
            last_error: String::new(),
            last_attempt_time: None,
            deadline: None,
            failure_reason: String::new(),
        }
    }
}

/// A transfer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    /// Request id.
    pub id: Uuid,
    /// The transitioning partner.
    pub source_tenant_id: Uuid,
    /// The customer.
    pub customer_tenant_id: Uuid,
    /// The partner taking over: the indirect provider, or the target partner.
    pub provider_tenant_id: Uuid,
    /// Which transfer.
    pub kind: pb::TransferKind,
    /// Partner-to-partner: where the customer was told of the request.
    pub customer_email: String,
    /// Whether the source sees the request: false for a partner-to-partner request naming
    /// a tenant that is no partner of record of the customer (it stays the target's alone).
    pub source_visible: bool,
    /// Where it stands.
    pub state: State,
    /// Its subscriptions.
    pub line_items: Vec<LineItem>,
    /// Creation.
    pub create_time: i64,
    /// An ACTIVE request expires then.
    pub expire_time: i64,
    /// Last change.
    pub update_time: i64,
    /// When it reached a final state.
    pub end_time: Option<i64>,
    /// The provider's reason for declining.
    pub rejection_note: String,
    /// Progress once accepted.
    pub execution: Execution,
    /// Incremented on every change; the etag.
    pub version: i64,
}

/// `partners/{source}/customers/{customer}/transferRequests/{id}`.
pub fn transfer_request_name(customer: CustomerRef, id: Uuid) -> String {
    format!("{}/transferRequests/{id}", customer.name())
}

/// The source's customer view and the id in a transfer request name.
pub fn parse_transfer_request_name(name: &str) -> Result<(CustomerRef, Uuid), String> {
    let ids = fields::resource_name(name, &["partners", "customers", "transferRequests"])?;
    let customer = CustomerRef::parse(&format!("partners/{}/customers/{}", ids[0], ids[1]))?;
    let id = fields::uuid(ids[2]).map_err(|reason| format!("transfer request id {reason}"))?;
    Ok((customer, id))
}

impl TransferRequest {
    /// The source's view of the customer.
    pub fn source_customer(&self) -> CustomerRef {
        CustomerRef {
            partner_tenant_id: self.source_tenant_id,
            customer_tenant_id: self.customer_tenant_id,
        }
    }

    /// The provider's view of the customer.
    pub fn provider_customer(&self) -> CustomerRef {
        CustomerRef {
            partner_tenant_id: self.provider_tenant_id,
            customer_tenant_id: self.customer_tenant_id,
        }
    }

    /// Its resource name.
    pub fn name(&self) -> String {
        transfer_request_name(self.source_customer(), self.id)
    }

    /// True while its subscriptions may be in no other request.
    pub fn is_open(&self) -> bool {
        is_open(self.state)
    }

    /// The wire form; `current_quantities` holds the source subscriptions' quantities now,
    /// to show drift.
    pub fn to_proto(&self, current_quantities: &HashMap<Uuid, i32>) -> pb::TransferRequest {
        let source = self.source_customer();
        let provider = self.provider_customer();
        pb::TransferRequest {
            name: self.name(),
            provider: partner_name(self.provider_tenant_id),
            state: self.state as i32,
            line_items: self
                .line_items
                .iter()
                .map(|item| {
                    // Drift matters while the request is open; afterwards the source's counts are its
                    // own business again.
                    let current = current_quantities
                        .get(&item.subscription_id)
                        .copied()
                        .filter(|_| self.is_open())
                        .unwrap_or(item.quantity);
                    pb::TransferLineItem {
                        subscription: subscription_name(source, item.subscription_id),
                        offer_id: item.offer_id.clone(),
                        offer_kind: item.offer_kind as i32,
                        quantity: item.quantity,
                        current_quantity: current,
                        quantity_drift: current != item.quantity,
                        base_subscription: item
                            .base_subscription_id
                            .map(|base| subscription_name(source, base))
                            .unwrap_or_default(),
                        included_with_base: item.included_with_base,
                        transferred_subscription: item
                            .transferred_subscription_id
                            .map(|id| subscription_name(provider, id))
                            .unwrap_or_default(),
                    }
                })
                .collect(),
            create_time: Some(suite_time::timestamp(self.create_time)),
            expire_time: Some(suite_time::timestamp(self.expire_time)),
            update_time: Some(suite_time::timestamp(self.update_time)),
            end_time: self.end_time.map(suite_time::timestamp),
            execution: (self.execution.step != pb::TransferStep::Unspecified).then(|| {
                pb::TransferExecution {
                    step: self.execution.step as i32,
                    attempts: self.execution.attempts,
                    last_error: self.execution.last_error.clone(),
                    last_attempt_time: self.execution.last_attempt_time.map(suite_time::timestamp),
                    deadline: self.execution.deadline.map(suite_time::timestamp),
                    failure_reason: self.execution.failure_reason.clone(),
                }
            }),
            rejection_note: self.rejection_note.clone(),
            etag: self.version.to_string(),
            kind: self.kind as i32,
            customer_email: self.customer_email.clone(),
        }
    }

    /// True for a New Commerce partner-to-partner transfer.
    pub fn is_partner_transfer(&self) -> bool {
        self.kind == pb::TransferKind::NewCommercePartner
    }

    fn require_active(&self, now: i64, verb: &str) -> Result<(), Error> {
        if self.state == State::Active && now >= self.expire_time {
            return Err(Error::Precondition {
                reason: "TRANSFER_REQUEST_EXPIRED",
                message: format!(
                    "{} expired before it was accepted: create a new request",
                    self.name()
                ),
            });
        }
        if self.state != State::Active {
            return Err(Error::Precondition {
                reason: "TRANSFER_REQUEST_NOT_ACTIVE",
                message: format!(
                    "{} is {}: only an ACTIVE request can be {verb}",
                    self.name(),
                    self.state.as_str_name()
                ),
            });
        }
        Ok(())
    }

    fn changed(&self, state: State, now: i64) -> Self {
        let mut next = self.clone();
        next.state = state;
        next.update_time = now;
        if !is_open(state) {
            next.end_time = Some(now);
        }
        next.version = self.version + 1;
        next
    }

    /// The provider accepts at `now`: the transfer starts, to be carried out before
    /// `deadline` or failed.
    pub fn accepted(&self, now: i64, deadline: i64) -> Result<Self, Error> {
        self.require_active(now, "accepted")?;
        let mut next = self.changed(State::Accepted, now);
        next.execution = Execution {
            step: pb::TransferStep::CheckPreconditions,
            deadline: Some(deadline),
            ..Execution::not_started()
        };
        Ok(next)
    }

    /// The source submits a partner-to-partner request at `now` with the subscriptions it
    /// chose: the transfer starts, to be carried out before `deadline` or failed.
    pub fn submitted(
        &self,
        line_items: Vec<LineItem>,
        now: i64,
        deadline: i64,
    ) -> Result<Self, Error> {
        let mut next = self.accepted(now, deadline)?;
        next.line_items = line_items;
        Ok(next)
    }

    /// The provider declines at `now`.
    pub fn rejected(&self, now: i64, note: String) -> Result<Self, Error> {
        self.require_active(now, "rejected")?;
        let mut next = self.changed(State::Rejected, now);
        next.rejection_note = note;
        Ok(next)
    }

    /// The source withdraws it at `now`.
    pub fn cancelled(&self, now: i64) -> Result<Self, Error> {
        self.require_active(now, "cancelled")?;
        Ok(self.changed(State::Cancelled, now))
    }

    /// Expired at `now`, if it is ACTIVE and due.
    pub fn expired(&self, now: i64) -> Option<Self> {
        (self.state == State::Active && now >= self.expire_time)
            .then(|| self.changed(State::Expired, now))
    }

    /// The execution moves on to `step` at `now`.
    pub fn advanced(&self, step: pb::TransferStep, now: i64) -> Self {
        let mut next = self.changed(self.state, now);
        next.execution.step = step;
        next.execution.attempts = 0;
        next.execution.last_error.clear();
        next.execution.last_attempt_time = Some(now);
        next
    }

    /// An attempt at the current step ended at `now` without finishing it, for `error`;
    /// it will be tried again.
    pub fn retried(&self, error: &str, now: i64) -> Self {
        let mut next = self.changed(self.state, now);
        next.execution.attempts = self.execution.attempts.saturating_add(1);
        next.execution.last_error = error.to_owned();
        next.execution.last_attempt_time = Some(now);
        next
    }

    /// The transfer failed at `now` for `reason`: nothing moved, the subscriptions are free.
    pub fn failed(&self, reason: &str, error: &str, now: i64) -> Self {
        let mut next = self.changed(State::Failed, now);
        next.execution.attempts = self.execution.attempts.saturating_add(1);
        next.execution.failure_reason = reason.to_owned();
        next.execution.last_error = error.to_owned();
        next.execution.last_attempt_time = Some(now);
        next
    }

    /// The subscriptions moved at `now`; `moved` maps each source subscription to the
    /// provider's new one.
    pub fn completed(&self, moved: &HashMap<Uuid, Uuid>, now: i64) -> Self {
        let mut next = self.changed(State::Completed, now);
        for item in &mut next.line_items {
            item.transferred_subscription_id = moved.get(&item.subscription_id).copied();
        }
        next.execution.step = pb::TransferStep::Done;
        next.execution.attempts = 0;
        next.execution.last_error.clear();
        next.execution.last_attempt_time = Some(now);
        next
    }
}

/// True for the states in which a request holds its subscriptions.
pub fn is_open(state: State) -> bool {
    matches!(state, State::Active | State::Accepted)
}

/// The kind a request asks about: the self-service transfer when unspecified.
pub fn parse_kind(kind: i32) -> Result<pb::TransferKind, String> {
    match pb::TransferKind::try_from(kind) {
        Ok(pb::TransferKind::Unspecified) => Ok(pb::TransferKind::IndirectProvider),
        Ok(kind) => Ok(kind),
        Err(_) => Err(format!("unknown kind {kind}")),
    }
}

/// A validated `CreatePartnerTransferRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartnerTransfer {
    /// The source's view of the customer.
    pub customer: CustomerRef,
    /// The target partner, the caller's tenant.
    pub target_tenant_id: Uuid,
    /// Where the customer is told.
    pub customer_email: String,
    /// Whether the named source is a partner of record of the customer, found out silently
    /// by the service: only then does the source see and hear of the request.
    pub source_visible: bool,
}

impl NewPartnerTransfer {
    /// Validates the request, recording every problem.
    pub fn parse(
        request: &pb::CreatePartnerTransferRequestRequest,
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        let target = violations.check("parent", parse_partner_name(&request.parent));
        let source = violations.check("source", parse_partner_name(&request.source));
        let customer = violations.check(
            "customer_tenant_id",
            fields::uuid(request.customer_tenant_id.trim()),
        );
        let email = violations.check("customer_email", fields::email(&request.customer_email));
        if let (Some(target), Some(source)) = (target, source)
            && target == source
        {
            violations.add("source", "must be another partner than the target");
        }
        if let (Some(target), Some(source), Some(customer)) = (target, source, customer)
            && (customer == target || customer == source)
        {
            violations.add(
                "customer_tenant_id",
                "must be the customer's tenant, not a partner's",
            );
        }
        Some(Self {
            customer: CustomerRef {
                partner_tenant_id: source?,
                customer_tenant_id: customer?,
            },
            target_tenant_id: target?,
            customer_email: email?,
            source_visible: false,
        })
    }
}

impl NewPartnerTransfer {
    /// The request it creates at `now`, ACTIVE until `expire_time`, without line items: the
    /// source chooses them when it submits.
    pub fn request(&self, now: i64, expire_time: i64) -> TransferRequest {
        TransferRequest {
            id: Uuid::now_v7(),
            source_tenant_id: self.customer.partner_tenant_id,
            customer_tenant_id: self.customer.customer_tenant_id,
            provider_tenant_id: self.target_tenant_id,
            kind: pb::TransferKind::NewCommercePartner,
            customer_email: self.customer_email.clone(),
            source_visible: self.source_visible,
            state: State::Active,
            line_items: Vec::new(),
            create_time: now,
            expire_time,
            update_time: now,
            end_time: None,
            rejection_note: String::new(),
            execution: Execution::not_started(),
            version: 1,
        }
    }
}

/// A validated `CreateTransferRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransferRequest {
    /// The source's view of the customer.
    pub customer: CustomerRef,
    /// The indirect provider.
    pub provider_tenant_id: Uuid,
    /// The subscriptions named, in order, without repeats.
    pub subscription_ids: Vec<Uuid>,
}

impl NewTransferRequest {
    /// Validates the request, recording every problem.
    pub fn parse(
        request: &pb::CreateTransferRequestRequest,
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        let customer = violations.check("parent", CustomerRef::parse(&request.parent));
        let provider = violations.check("provider", parse_partner_name(&request.provider));
        if let (Some(customer), Some(provider)) = (customer, provider)
            && customer.partner_tenant_id == provider
        {
            violations.add("provider", "must be another partner than the source");
        }
        let ids =
            parse_named_subscriptions(&request.subscriptions, customer, "`parent`", violations)?;
        Some(Self {
            customer: customer?,
            provider_tenant_id: provider?,
            subscription_ids: ids,
        })
    }
}

/// The ids of the subscriptions `names`, all of `customer` (described as `whose` in the
/// refusal), in order and without repeats: at least one, at most
/// [`MAX_NAMED_SUBSCRIPTIONS`].
pub fn parse_named_subscriptions(
    names: &[String],
    customer: Option<CustomerRef>,
    whose: &str,
    violations: &mut FieldViolations,
) -> Option<Vec<Uuid>> {
    violations.check_each("subscriptions", names, MAX_NAMED_SUBSCRIPTIONS, |name| {
        match parse_subscription_name(name)? {
            (owner, _) if customer.is_some_and(|customer| customer != owner) => {
                Err(format!("must be a subscription of {whose}"))
            }
            (_, id) => Ok(id),
        }
    })
}

/// The e-mails a partner-to-partner request sends when it is created: to the customer at
/// `request.customer_email`, and to the source at `source_email` when it has one.
pub fn partner_transfer_emails(
    request: &TransferRequest,
    source_email: Option<&str>,
) -> Vec<suite_mail::Email> {
    let target = partner_name(request.provider_tenant_id);
    let source = partner_name(request.source_tenant_id);
    let expiry = suite_time::timestamp(request.expire_time);
    let mut emails = vec![suite_mail::Email {
        to: request.customer_email.clone(),
        subject: "Your New Commerce subscriptions: transfer to your new partner requested".into(),
        body: format!(
            "Hello,\n\nAs you agreed, your new partner ({target}) has asked your current partner \
             ({source}) to transfer your New Commerce subscriptions to it. Your current partner chooses \
             the subscriptions and submits the transfer; the new partner then bills them, and your \
             current partner's are cancelled. Nothing is needed from you.\n\nRequest: {}\n",
            request.name()
        ),
    }];
    if let Some(to) = source_email {
        emails.push(suite_mail::Email {
            to: to.to_owned(),
            subject: "Transfer request: New Commerce subscriptions of a customer".into(),
            body: format!(
                "Hello,\n\n{target} asks you to transfer New Commerce subscriptions of customer {} to it.\n\n\
                 Open the request {}, choose the subscriptions and submit it (SubmitTransferRequest), or \
                 decline it (RejectTransferRequest), before {expiry} (UTC).\n",
                request.customer_tenant_id,
                request.name()
            ),
        });
    }
    emails
}

/// The line items of a request of `kind` naming `named` among the customer's
/// `subscriptions` (all of them, of the source), add-ons following their base; every
/// subscription that cannot move is reported with its reason. `open` holds those already in
/// an open request.
pub fn select_line_items(
    customer: CustomerRef,
    named: &[Uuid],
    subscriptions: &[Subscription],
    open: &HashSet<Uuid>,
    kind: pb::TransferKind,
) -> Result<Vec<LineItem>, Error> {
    let by_id: HashMap<Uuid, &Subscription> = subscriptions.iter().map(|s| (s.id, s)).collect();
    let mut blockers = Vec::new();
    let mut items: Vec<LineItem> = Vec::new();
    let mut block = |subject: String, reason: pb::IneligibilityReason| {
        blockers.push(PreconditionViolation {
            kind: reason.as_str_name().to_owned(),
            subject,
            description: eligibility::advice(reason).to_owned(),
        });
    };
    for id in named {
        let Some(subscription) = by_id.get(id) else {
            block(
                subscription_name(customer, *id),
                pb::IneligibilityReason::NotFound,
            );
            continue;
        };
        if let Some(base) = subscription.base_subscription_id
            && !named.contains(&base)
        {
            block(
                subscription.name(),
                pb::IneligibilityReason::AddOnWithoutBase,
            );
            continue;
        }
        if let Some(reason) = eligibility::reason(subscription, open, kind) {
            block(subscription.name(), reason);
            continue;
        }
        if subscription.is_add_on() {
            continue; // added right after its base
        }
        items.push(line_item(subscription, false));
        let add_ons = subscriptions.iter().filter(|s| {
            s.base_subscription_id == Some(subscription.id)
                && s.status == pb::SubscriptionStatus::Active
        });
        for add_on in add_ons {
            match eligibility::reason(add_on, open, kind) {
                Some(reason) => block(add_on.name(), reason),
                None => items.push(line_item(add_on, !named.contains(&add_on.id))),
            }
        }
    }
    if !blockers.is_empty() {
        return Err(Error::NotTransferable(blockers));
    }
    for (position, item) in items.iter_mut().enumerate() {
        item.position = i32::try_from(position).unwrap_or(i32::MAX);
    }
    Ok(items)
}

fn line_item(subscription: &Subscription, included_with_base: bool) -> LineItem {
    LineItem {
        position: 0,
        subscription_id: subscription.id,
        offer_id: subscription.offer_id.clone(),
        offer_kind: subscription.offer_kind,
        quantity: subscription.quantity,
        base_subscription_id: subscription.base_subscription_id,
        included_with_base,
        transferred_subscription_id: None,
    }
}

/// What the other services say about the parties of a transfer, asked before it is
/// created and again before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parties {
    /// The source holds the self-service transfer capability: a transitioning partner whose
    /// indirect reseller enrollment is complete.
    pub source_transitioning: bool,
    /// The source is an integration sandbox tenant.
    pub source_sandbox: bool,
    /// The provider is an integration sandbox tenant.
    pub provider_sandbox: bool,
    /// The provider is the customer's indirect provider (a reseller relationship exists).
    pub provider_related: bool,
    /// The source is listed as the customer's indirect reseller.
    pub source_listed_as_reseller: bool,
    /// The provider and the source are in an ACTIVE partnership (neither invited only,
    /// suspended nor revoked).
    pub partnership_active: bool,
    /// The customer's MCA is valid with the provider.
    pub agreement_valid: bool,
    /// What the customer must do about its MCA, when it is not valid.
    pub agreement_action: String,
}

/// Why transfers are refused for an integration sandbox.
const SANDBOX_ADVICE: &str =
    "transfers cannot run in the integration sandbox: use the production tenants";

fn violation(kind: &str, subject: &str, description: String) -> PreconditionViolation {
    PreconditionViolation {
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        description,
    }
}

/// Every precondition of the spec the parties fail, in the order a partner fixes them.
pub fn unmet_preconditions(
    customer: CustomerRef,
    provider_tenant_id: Uuid,
    parties: &Parties,
) -> Vec<PreconditionViolation> {
    let source = partner_name(customer.partner_tenant_id);
    let provider = partner_name(provider_tenant_id);
    let mut unmet = Vec::new();
    let mut add = |kind: &str, subject: &str, description: String| {
        unmet.push(violation(kind, subject, description));
    };
    for (sandbox, partner) in [
        (parties.source_sandbox, &source),
        (parties.provider_sandbox, &provider),
    ] {
        if sandbox {
            add("SANDBOX_TENANT", partner, SANDBOX_ADVICE.into());
        }
    }
    if !parties.source_transitioning {
        add(
            "TRANSITIONING_PARTNER_REQUIRED",
            &source,
            "only a transitioning partner whose indirect reseller enrollment is complete transfers subscriptions".into(),
        );
    }
    if !parties.provider_related {
        add(
            "RESELLER_RELATIONSHIP_REQUIRED",
            &customer.customer_name(),
            format!(
                "the customer has no reseller relationship with {provider}: move the customer to the provider first (invitation or relationship extension)"
            ),
        );
    }
    if !parties.partnership_active {
        add(
            "PARTNERSHIP_NOT_ACTIVE",
            &source,
            format!(
                "{source} and {provider} are not in an ACTIVE partnership: accept the provider's invitation, or have the side that suspended the partnership resume it"
            ),
        );
    }
    if !parties.source_listed_as_reseller {
        add(
            "INDIRECT_RESELLER_REQUIRED",
            &customer.customer_name(),
            format!("{source} is not listed as the customer's indirect reseller"),
        );
    }
    if !parties.agreement_valid {
        add(
            "CUSTOMER_AGREEMENT_REQUIRED",
            &customer.customer_name(),
            format!(
                "the customer's Microsoft Customer Agreement is not valid with {provider} ({}): the customer accepts it through the provider",
                parties.agreement_action
            ),
        );
    }
    unmet
}

/// What the other services say about the parties of a partner-to-partner transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerParties {
    /// The target is an integration sandbox tenant.
    pub target_sandbox: bool,
    /// The customer accepted the target as its partner (a relationship request, or a
    /// reseller's invitation naming it): not a relationship the customer never accepted,
    /// such as an extension.
    pub target_accepted: bool,
    /// The target bills the customer itself (a direct-bill partner or an indirect
    /// provider, not an indirect reseller).
    pub target_bills: bool,
    /// The source's standing; `None` where it must not count (at creation, where a refusal
    /// would tell the target who serves the customer).
    pub source: Option<SourceStanding>,
}

/// The source of a partner-to-partner transfer, as the other services see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceStanding {
    /// The source is an integration sandbox tenant.
    pub sandbox: bool,
    /// The source is a partner of record of the customer.
    pub related: bool,
}

impl SourceStanding {
    /// Whether the source may be shown a request about the customer: a partner of record
    /// of it, not a sandbox.
    pub fn may_be_told(&self) -> bool {
        self.related && !self.sandbox
    }
}

/// Every precondition of a partner-to-partner transfer the parties fail, the target's first.
pub fn unmet_partner_preconditions(
    customer: CustomerRef,
    target_tenant_id: Uuid,
    parties: &PartnerParties,
) -> Vec<PreconditionViolation> {
    let source = partner_name(customer.partner_tenant_id);
    let target = partner_name(target_tenant_id);
    let mut unmet = Vec::new();
    let mut add = |kind: &str, subject: &str, description: String| {
        unmet.push(violation(kind, subject, description));
    };
    if parties.target_sandbox {
        add("SANDBOX_TENANT", &target, SANDBOX_ADVICE.into());
    }
    if !parties.target_accepted {
        add(
            "RESELLER_RELATIONSHIP_REQUIRED",
            &customer.customer_name(),
            format!(
                "the customer has not accepted a reseller relationship request from {target}: send one naming the subscriptions (CreateCustomerInvitation without a provider) and have the customer's admin accept it"
            ),
        );
    } else if !parties.target_bills {
        add(
            "BILLING_PARTNER_REQUIRED",
            &target,
            format!(
                "{target} is the customer's indirect reseller and bills no one: its indirect provider takes the subscriptions over"
            ),
        );
    }
    if let Some(standing) = parties.source {
        if standing.sandbox {
            add("SANDBOX_TENANT", &source, SANDBOX_ADVICE.into());
        }
        if !standing.related {
            add(
                "SOURCE_NOT_PARTNER_OF_RECORD",
                &source,
                format!("{source} is not a partner of record of the customer"),
            );
        }
    }
    unmet
}

/// The refusal for unmet preconditions: FAILED_PRECONDITION with the first one's reason and
/// every one in the details.
pub fn refusal(unmet: Vec<PreconditionViolation>) -> ApiError {
    let first = unmet
        .first()
        .map(|v| v.description.clone())
        .unwrap_or_default();
    let reason = unmet
        .first()
        .map(|v| reason_code(&v.kind))
        .unwrap_or("PRECONDITION_FAILED");
    let message = match unmet.len() {
        0 | 1 => first,
        n => format!("{first} (and {} more, see the details)", n - 1),
    };
    ApiError::failed_precondition_with(reason, message, unmet)
}

/// The `&'static` reason code for a precondition kind written by this module.
fn reason_code(kind: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "SANDBOX_TENANT",
        "TRANSITIONING_PARTNER_REQUIRED",
        "RESELLER_RELATIONSHIP_REQUIRED",
        "PARTNERSHIP_NOT_ACTIVE",
        "INDIRECT_RESELLER_REQUIRED",
        "CUSTOMER_AGREEMENT_REQUIRED",
        "BILLING_PARTNER_REQUIRED",
        "SOURCE_NOT_PARTNER_OF_RECORD",
    ];
    KNOWN
        .iter()
        .find(|known| **known == kind)
        .copied()
        .unwrap_or("SUBSCRIPTION_NOT_TRANSFERABLE")
}

/// Whether `caller` sees `request`: either side (a source only when the request is shown to
/// it), or the operator. Others get NOT_FOUND.
pub fn may_read(caller: &Caller, request: &TransferRequest) -> bool {
    (request.source_visible && caller.can_access_tenant(request.source_tenant_id))
        || caller.can_access_tenant(request.provider_tenant_id)
}

/// The deciding side's ADMIN_AGENT or SALES_AGENT decides on a request (not the operator:
/// the decision is the partners'): the provider accepts or rejects a self-service request;
/// the source submits or declines a partner-to-partner one. The other side, which sees it,
/// is told why it may not.
pub fn authorize_decision(caller: &Caller, request: &TransferRequest) -> Result<(), Error> {
    if !may_read(caller, request) {
        return Err(Error::TransferRequestNotFound(request.name()));
    }
    if request.is_partner_transfer() {
        if !caller.can_access_tenant(request.source_tenant_id) {
            return Err(Error::Api(ApiError::permission_denied(
                "SOURCE_REQUIRED",
                "only the source partner submits or declines a partner-to-partner transfer request",
            )));
        }
    } else if !caller.can_access_tenant(request.provider_tenant_id) {
        return Err(Error::Api(ApiError::permission_denied(
            "PROVIDER_REQUIRED",
            "only the indirect provider accepts or rejects a transfer request",
        )));
    }
    let roles = &caller.actor().roles;
    let agent = matches!(
        caller.actor().kind,
        PrincipalKind::User | PrincipalKind::App
    ) && (roles.contains(&Role::AdminAgent) || roles.contains(&Role::SalesAgent));
    if !agent {
        return Err(Error::Api(ApiError::permission_denied(
            "ROLE_REQUIRED",
            "this call requires the ADMIN_AGENT or SALES_AGENT role",
        )));
    }
    Ok(())
}

/// The source's ADMIN_AGENT withdraws a request; the provider, which sees it, is told why it
/// may not.
pub fn authorize_cancel(caller: &Caller, request: &TransferRequest) -> Result<(), Error> {
    if !may_read(caller, request) {
        return Err(Error::TransferRequestNotFound(request.name()));
    }
    let (requester, reason, message) = if request.is_partner_transfer() {
        (
            request.provider_tenant_id,
            "TARGET_REQUIRED",
            "only the target partner that created a partner-to-partner request cancels it; the source declines it",
        )
    } else {
        (
            request.source_tenant_id,
            "SOURCE_REQUIRED",
            "only the partner that created a transfer request cancels it; the provider rejects it",
        )
    };
    if !caller.can_access_tenant(requester) {
        return Err(Error::Api(ApiError::permission_denied(reason, message)));
    }
    caller.require_role(Role::AdminAgent)?;
    Ok(())
}

/// A rejection note, at most 500 characters.
pub fn parse_note(note: &str) -> Result<String, String> {
    let trimmed = note.trim();
    if trimmed.chars().count() > MAX_NOTE {
        return Err(format!("at most {MAX_NOTE} characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SELF_SERVICE: pb::TransferKind = pb::TransferKind::IndirectProvider;

    fn subscription(kind: pb::OfferKind, base: Option<Uuid>) -> Subscription {
        Subscription {
            id: Uuid::now_v7(),
            partner_tenant_id: Uuid::nil(),
            customer_tenant_id: Uuid::nil(),
            offer_id: "offer".into(),
            offer_kind: kind,
            quantity: 5,
            base_subscription_id: base,
            status: pb::SubscriptionStatus::Active,
            auto_renew: true,
            billing_period: pb::BillingPeriod::Monthly,
            unit_price: super::super::subscription::Price {
                currency_code: "USD".into(),
                amount_minor: 100,
            },
            azure_subscription_id: None,
            transferred_from: String::new(),
            transferred_to: String::new(),
            create_time: 0,
            update_time: 0,
            cancel_time: None,
            cancellation_credit: None,
            version: 1,
        }
    }

    fn customer() -> CustomerRef {
        CustomerRef {
            partner_tenant_id: Uuid::nil(),
            customer_tenant_id: Uuid::nil(),
        }
    }

    #[test]
    fn named_subscriptions_are_one_customers_each_once_and_refused_by_place() {
        let ours = CustomerRef {
            partner_tenant_id: Uuid::new_v4(),
            customer_tenant_id: Uuid::new_v4(),
        };
        let theirs = CustomerRef {
            partner_tenant_id: Uuid::new_v4(),
            ..ours
        };
        let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
        let name = subscription_name;
        let parse = |names: &[String]| {
            let mut violations = FieldViolations::new();
            let ids = parse_named_subscriptions(names, Some(ours), "ours", &mut violations);
            let fields: Vec<String> = violations.iter().map(|v| v.field.clone()).collect();
            (ids, fields)
        };

        let named = [name(ours, second), name(ours, first)];
        assert_eq!(parse(&named), (Some(vec![second, first]), vec![]));
        let bad = [
            name(ours, first),
            name(theirs, second),
            name(ours, first),
            "subscriptions/x".to_owned(),
        ];
        let (ids, fields) = parse(&bad);
        assert_eq!(ids, None);
        assert_eq!(
            fields,
            ["subscriptions[1]", "subscriptions[2]", "subscriptions[3]"]
        );
        let too_many: Vec<String> = (0..=MAX_NAMED_SUBSCRIPTIONS)
            .map(|_| name(ours, Uuid::new_v4()))
            .collect();
        for names in [&[][..], &too_many[..]] {
            assert_eq!(parse(names), (None, vec!["subscriptions".to_owned()]));
        }
    }

    #[test]
    fn add_ons_follow_their_base_and_are_marked_included() {
        let base = subscription(pb::OfferKind::LegacyLicense, None);
        let add_on = subscription(pb::OfferKind::LegacyLicense, Some(base.id));
        let all = vec![base.clone(), add_on.clone()];
        let items =
            select_line_items(customer(), &[base.id], &all, &HashSet::new(), SELF_SERVICE).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].subscription_id, add_on.id);
        assert!(items[1].included_with_base);
        assert_eq!(items[1].position, 1);
    }

    #[test]
    fn an_add_on_without_its_base_and_new_commerce_are_each_refused_with_their_reason() {
        let base = subscription(pb::OfferKind::LegacyLicense, None);
        let add_on = subscription(pb::OfferKind::LegacyLicense, Some(base.id));
        let nce = subscription(pb::OfferKind::NewCommerceLicense, None);
        let all = vec![base, add_on.clone(), nce.clone()];
        let Err(Error::NotTransferable(blockers)) = select_line_items(
            customer(),
            &[add_on.id, nce.id],
            &all,
            &HashSet::new(),
            SELF_SERVICE,
        ) else {
            panic!("expected a refusal");
        };
        let kinds: Vec<_> = blockers.iter().map(|b| b.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "INELIGIBILITY_REASON_ADD_ON_WITHOUT_BASE",
                "INELIGIBILITY_REASON_NEW_COMMERCE_LICENSE"
            ]
        );
    }

    #[test]
    fn a_partner_transfer_takes_new_commerce_licences_with_their_add_ons_and_nothing_else() {
        let nce = subscription(pb::OfferKind::NewCommerceLicense, None);
        let nce_add_on = subscription(pb::OfferKind::NewCommerceLicense, Some(nce.id));
        let legacy = subscription(pb::OfferKind::LegacyLicense, None);
        let all = [nce.clone(), nce_add_on.clone(), legacy.clone()];
        let partner = pb::TransferKind::NewCommercePartner;
        let items =
            select_line_items(customer(), &[nce.id], &all, &HashSet::new(), partner).unwrap();
        let moved: Vec<_> = items
            .iter()
            .map(|i| (i.subscription_id, i.included_with_base))
            .collect();
        assert_eq!(moved, [(nce.id, false), (nce_add_on.id, true)]);
        let refused = select_line_items(customer(), &[legacy.id], &all, &HashSet::new(), partner);
        assert!(
            matches!(refused, Err(Error::NotTransferable(b)) if b[0].kind == "INELIGIBILITY_REASON_NOT_NEW_COMMERCE")
        );
    }

    #[test]
    fn a_partner_transfer_checks_the_target_first_and_the_source_only_once_known() {
        let stranger = PartnerParties {
            target_sandbox: false,
            target_accepted: false,
            target_bills: false,
            source: None,
        };
        let kinds = |parties: &PartnerParties| -> Vec<String> {
            unmet_partner_preconditions(customer(), Uuid::now_v7(), parties)
                .into_iter()
                .map(|v| v.kind)
                .collect()
        };
        assert_eq!(kinds(&stranger), ["RESELLER_RELATIONSHIP_REQUIRED"]);
        let reseller = PartnerParties {
            target_accepted: true,
            ..stranger
        };
        assert_eq!(kinds(&reseller), ["BILLING_PARTNER_REQUIRED"]);
        let at_execution = PartnerParties {
            target_bills: true,
            source: Some(SourceStanding {
                sandbox: true,
                related: false,
            }),
            ..reseller
        };
        assert_eq!(
            kinds(&at_execution),
            ["SANDBOX_TENANT", "SOURCE_NOT_PARTNER_OF_RECORD"]
        );
    }

    #[test]
    fn a_subscription_in_an_open_request_is_refused() {
        let azure = subscription(pb::OfferKind::AzurePayAsYouGo, None);
        let open = HashSet::from([azure.id]);
        let refused = select_line_items(customer(), &[azure.id], &[azure], &open, SELF_SERVICE);
        assert!(
            matches!(refused, Err(Error::NotTransferable(b)) if b[0].kind == "INELIGIBILITY_REASON_IN_OPEN_TRANSFER_REQUEST")
        );
    }

    #[test]
    fn preconditions_are_all_reported_first_reason_leading() {
        let parties = Parties {
            source_transitioning: false,
            source_sandbox: false,
            provider_sandbox: false,
            provider_related: true,
            source_listed_as_reseller: true,
            partnership_active: true,
            agreement_valid: false,
            agreement_action: "ACCEPT".into(),
        };
        let unmet = unmet_preconditions(customer(), Uuid::now_v7(), &parties);
        assert_eq!(unmet.len(), 2);
        let refusal = refusal(unmet);
        assert_eq!(refusal.reason(), "TRANSITIONING_PARTNER_REQUIRED");
        assert_eq!(refusal.preconditions().len(), 2);
    }
}
