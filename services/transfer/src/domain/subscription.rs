//! Subscriptions and their orders, free of transport and storage.

use suite_errors::{FieldViolations, fields};
use suite_identity::Caller;
use suite_proto::enrollment::v1::Money;
use suite_proto::transfer::v1 as pb;
use uuid::Uuid;

use crate::error::Error;

/// A customer's subscription, billed by one partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Subscription id.
    pub id: Uuid,
    /// Billing partner.
    pub partner_tenant_id: Uuid,
    /// Customer tenant.
    pub customer_tenant_id: Uuid,
    /// Offer, e.g. `MS-AZR-0145P`.
    pub offer_id: String,
    /// Kind of offer.
    pub offer_kind: pb::OfferKind,
    /// Licences.
    pub quantity: i32,
    /// For an add-on, its base (same partner and customer).
    pub base_subscription_id: Option<Uuid>,
    /// Where it stands.
    pub status: pb::SubscriptionStatus,
    /// Renews at the end of its term.
    pub auto_renew: bool,
    /// How it is billed.
    pub billing_period: pb::BillingPeriod,
    /// Price of one licence per period.
    pub unit_price: Price,
    /// Azure subscription id of an Azure offer; kept across transfers.
    pub azure_subscription_id: Option<Uuid>,
    /// The subscription this one replaced in a transfer (a resource name).
    pub transferred_from: String,
    /// The subscription that replaced this one in a transfer (a resource name).
    pub transferred_to: String,
    /// Purchase time, microseconds since the epoch.
    pub create_time: i64,
    /// Last change.
    pub update_time: i64,
    /// When it was cancelled.
    pub cancel_time: Option<i64>,
    /// What its cancellation credited, in minor units of its currency.
    pub cancellation_credit: Option<i64>,
    /// Incremented on every change; the etag.
    pub version: i64,
}

/// An amount in integer minor units of a currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// ISO 4217 code.
    pub currency_code: String,
    /// Minor units (cents).
    pub amount_minor: i64,
}

impl Subscription {
    /// The customer view it belongs to.
    pub fn customer(&self) -> CustomerRef {
        CustomerRef {
            partner_tenant_id: self.partner_tenant_id,
            customer_tenant_id: self.customer_tenant_id,
        }
    }

    /// Its resource name.
    pub fn name(&self) -> String {
        subscription_name(self.customer(), self.id)
    }

    /// True for an add-on.
    pub fn is_add_on(&self) -> bool {
        self.base_subscription_id.is_some()
    }
}

/// A `partners/{partner}/customers/{customer_tenant}` parent: a partner's view of a
/// customer, named by the customer's Entra tenant as in every service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CustomerRef {
    /// Billing partner.
    pub partner_tenant_id: Uuid,
    /// Customer tenant.
    pub customer_tenant_id: Uuid,
}

impl CustomerRef {
    /// Parses a customer resource name.
    pub fn parse(name: &str) -> Result<Self, String> {
        let ids = fields::resource_name(name, &["partners", "customers"])?;
        Self::from_ids(ids[0], ids[1])
    }

    fn from_ids(partner: &str, customer: &str) -> Result<Self, String> {
        Ok(Self {
            partner_tenant_id: fields::uuid(partner)
                .map_err(|reason| format!("partner id {reason}"))?,
            customer_tenant_id: fields::uuid(customer)
                .map_err(|reason| format!("customer tenant id {reason}"))?,
        })
    }

    /// `partners/{partner}/customers/{customer}`.
    pub fn name(&self) -> String {
        format!(
            "partners/{}/customers/{}",
            self.partner_tenant_id, self.customer_tenant_id
        )
    }

    /// `customers/{customer}`, the customer itself as the other services name it.
    pub fn customer_name(&self) -> String {
        format!("customers/{}", self.customer_tenant_id)
    }
}

/// `partners/{partner}` as every service names it.
pub fn partner_name(tenant_id: Uuid) -> String {
    format!("partners/{tenant_id}")
}

/// The tenant in a `partners/{partner}` name.
pub fn parse_partner_name(name: &str) -> Result<Uuid, String> {
    let ids = fields::resource_name(name, &["partners"])?;
    fields::uuid(ids[0]).map_err(|reason| format!("partner id {reason}"))
}

/// `partners/{partner}/customers/{customer}/subscriptions/{subscription}`.
pub fn subscription_name(customer: CustomerRef, id: Uuid) -> String {
    format!("{}/subscriptions/{id}", customer.name())
}

/// The customer and subscription id in a subscription name.
pub fn parse_subscription_name(name: &str) -> Result<(CustomerRef, Uuid), String> {
    let ids = fields::resource_name(name, &["partners", "customers", "subscriptions"])?;
    let customer = CustomerRef::from_ids(ids[0], ids[1])?;
    let id = fields::uuid(ids[2]).map_err(|reason| format!("subscription id {reason}"))?;
    Ok((customer, id))
}

impl From<&Subscription> for pb::Subscription {
    fn from(subscription: &Subscription) -> Self {
        let customer = subscription.customer();
        pb::Subscription {
            name: subscription.name(),
            offer_id: subscription.offer_id.clone(),
            offer_kind: subscription.offer_kind as i32,
            quantity: subscription.quantity,
            create_time: Some(suite_time::timestamp(subscription.create_time)),
            etag: subscription.version.to_string(),
            base_subscription: subscription
                .base_subscription_id
                .map(|base| subscription_name(customer, base))
                .unwrap_or_default(),
            status: subscription.status as i32,
            auto_renew: subscription.auto_renew,
            billing_period: subscription.billing_period as i32,
            unit_price: Some(Money {
                currency_code: subscription.unit_price.currency_code.clone(),
                amount_minor: subscription.unit_price.amount_minor,
            }),
            azure_subscription_id: subscription
                .azure_subscription_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            transferred_from: subscription.transferred_from.clone(),
            transferred_to: subscription.transferred_to.clone(),
            update_time: Some(suite_time::timestamp(subscription.update_time)),
            cancel_time: subscription.cancel_time.map(suite_time::timestamp),
            cancellation_credit: subscription.cancellation_credit.map(|amount| Money {
                currency_code: subscription.unit_price.currency_code.clone(),
                amount_minor: amount,
            }),
        }
    }
}

const MAX_OFFER_ID: usize = 100;
/// The Azure pay-as-you-go offer, the only Azure offer that moves by self-service.
pub const AZURE_PAY_AS_YOU_GO_OFFER: &str = "MS-AZR-0145P";
const MAX_QUANTITY: i32 = 1_000_000;
/// Highest unit price accepted: ten million in major units of a two-decimal currency.
const MAX_UNIT_PRICE_MINOR: i64 = 1_000_000_000;

/// A subscription as ordered, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    /// Offer.
    pub offer_id: String,
    /// Kind of offer.
    pub offer_kind: pb::OfferKind,
    /// Licences.
    pub quantity: i32,
    /// For an add-on, its base.
    pub base_subscription_id: Option<Uuid>,
    /// Renews at the end of its term.
    pub auto_renew: bool,
    /// How it is billed.
    pub billing_period: pb::BillingPeriod,
    /// Price of one licence per period.
    pub unit_price: Price,
    /// Azure subscription id of an Azure offer.
    pub azure_subscription_id: Option<Uuid>,
}

impl NewSubscription {
    /// Validates `subscription`, ordered for `customer`, recording every problem.
    pub fn parse(
        customer: Option<CustomerRef>,
        subscription: Option<&pb::Subscription>,
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        let Some(subscription) = subscription else {
            violations.add("subscription", "required");
            return None;
        };
        let offer_id = violations.check(
            "subscription.offer_id",
            fields::text(&subscription.offer_id, MAX_OFFER_ID),
        );
        let offer_kind = violations.check(
            "subscription.offer_kind",
            parse_offer_kind(subscription.offer_kind),
        );
        let quantity = violations.check(
            "subscription.quantity",
            parse_quantity(subscription.quantity),
        );
        let billing_period = violations.check(
            "subscription.billing_period",
            parse_billing_period(subscription.billing_period),
        );
        let unit_price = violations.check(
            "subscription.unit_price",
            parse_price(subscription.unit_price.as_ref()),
        );
        let base_subscription_id = match subscription.base_subscription.trim() {
            "" => Some(None),
            base => violations
                .check(
                    "subscription.base_subscription",
                    parse_subscription_name(base).and_then(|(base_customer, id)| match customer {
                        Some(customer) if customer != base_customer => {
                            Err("must be a subscription of the same partner and customer".into())
                        }
                        _ => Ok(id),
                    }),
                )
                .map(Some),
        };
        let azure_subscription_id = match subscription.azure_subscription_id.trim() {
            "" => Some(None),
            id => violations
                .check("subscription.azure_subscription_id", fields::uuid(id))
                .map(Some),
        };
        let new = Self {
            offer_id: offer_id?,
            offer_kind: offer_kind?,
            quantity: quantity?,
            base_subscription_id: base_subscription_id?,
            auto_renew: subscription.auto_renew,
            billing_period: billing_period?,
            unit_price: unit_price?,
            azure_subscription_id: azure_subscription_id?,
        };
        new.check_offer_rules(violations);
        Some(new)
    }

    /// Rules between fields that depend on the kind of offer.
    fn check_offer_rules(&self, violations: &mut FieldViolations) {
        let usage_based = is_usage_based(self.offer_kind);
        if usage_based != (self.billing_period == pb::BillingPeriod::Usage) {
            violations.add(
                "subscription.billing_period",
                if usage_based {
                    "must be BILLING_PERIOD_USAGE for an Azure pay-as-you-go or Azure plan offer"
                } else {
                    "BILLING_PERIOD_USAGE is only for Azure pay-as-you-go and Azure plan offers"
                },
            );
        }
        if usage_based && self.quantity != 1 {
            violations.add(
                "subscription.quantity",
                "must be 1 for a usage-based Azure offer",
            );
        }
        // Only Azure pay-as-you-go moves by self-service: the kind must not be claimed for
        // another offer.
        if self.offer_kind == pb::OfferKind::AzurePayAsYouGo
            && self.offer_id != AZURE_PAY_AS_YOU_GO_OFFER
        {
            violations.add(
                "subscription.offer_id",
                format!("must be {AZURE_PAY_AS_YOU_GO_OFFER} for OFFER_KIND_AZURE_PAY_AS_YOU_GO"),
            );
        }
        if usage_based && self.azure_subscription_id.is_none() {
            violations.add(
                "subscription.azure_subscription_id",
                "required for an Azure pay-as-you-go or Azure plan offer",
            );
        }
        if !is_azure(self.offer_kind) && self.azure_subscription_id.is_some() {
            violations.add(
                "subscription.azure_subscription_id",
                "only an Azure offer has an Azure subscription id",
            );
        }
        if self.base_subscription_id.is_some() && !is_license_based(self.offer_kind) {
            violations.add(
                "subscription.base_subscription",
                "only a licence-based offer can be an add-on",
            );
        }
    }

    /// Checks that `base`, the subscription named as base, can carry this add-on;
    /// `base_in_transfer` when it is in an open transfer request, whose line items are fixed.
    pub fn check_base(
        &self,
        base: Option<&Subscription>,
        name: &str,
        base_in_transfer: bool,
    ) -> Result<(), Error> {
        let Some(base) = base else {
            return Err(Error::SubscriptionNotFound(name.to_owned()));
        };
        if base.is_add_on() || base.status != pb::SubscriptionStatus::Active {
            return Err(Error::Invalid(FieldViolations::single(
                "subscription.base_subscription",
                "must be an ACTIVE subscription that is not itself an add-on",
            )));
        }
        if base_in_transfer {
            return Err(Error::Precondition {
                reason: "SUBSCRIPTION_IN_OPEN_TRANSFER_REQUEST",
                message: format!(
                    "{name} is in an open transfer request: add the add-on once the request has ended"
                ),
            });
        }
        if base.offer_kind != self.offer_kind {
            return Err(Error::Invalid(FieldViolations::single(
                "subscription.base_subscription",
                "must be of the same kind of offer as the add-on",
            )));
        }
        Ok(())
    }
}

/// True for offers billed by usage with no licence count.
fn is_usage_based(kind: pb::OfferKind) -> bool {
    matches!(
        kind,
        pb::OfferKind::AzurePayAsYouGo | pb::OfferKind::AzurePlan
    )
}

fn is_azure(kind: pb::OfferKind) -> bool {
    matches!(
        kind,
        pb::OfferKind::AzurePayAsYouGo
            | pb::OfferKind::AzurePlan
            | pb::OfferKind::AzureReservedInstance
    )
}

fn is_license_based(kind: pb::OfferKind) -> bool {
    matches!(
        kind,
        pb::OfferKind::LegacyLicense | pb::OfferKind::NewCommerceLicense
    )
}

/// A known offer kind; unspecified is refused.
pub fn parse_offer_kind(value: i32) -> Result<pb::OfferKind, String> {
    match pb::OfferKind::try_from(value) {
        Ok(pb::OfferKind::Unspecified) => Err("required".into()),
        Ok(kind) => Ok(kind),
        Err(_) => Err(format!("unknown offer kind {value}")),
    }
}

fn parse_billing_period(value: i32) -> Result<pb::BillingPeriod, String> {
    match pb::BillingPeriod::try_from(value) {
        Ok(pb::BillingPeriod::Unspecified) => Err("required".into()),
        Ok(period) => Ok(period),
        Err(_) => Err(format!("unknown billing period {value}")),
    }
}

fn parse_quantity(value: i32) -> Result<i32, String> {
    if (1..=MAX_QUANTITY).contains(&value) {
        Ok(value)
    } else {
        Err(format!("must be between 1 and {MAX_QUANTITY}"))
    }
}

fn parse_price(price: Option<&Money>) -> Result<Price, String> {
    let Some(price) = price else {
        return Err("required".into());
    };
    let code = price.currency_code.trim();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err("currency_code must be an ISO 4217 code such as USD".into());
    }
    if !(0..=MAX_UNIT_PRICE_MINOR).contains(&price.amount_minor) {
        return Err(format!(
            "amount_minor must be between 0 and {MAX_UNIT_PRICE_MINOR}"
        ));
    }
    Ok(Price {
        currency_code: code.to_owned(),
        amount_minor: price.amount_minor,
    })
}

/// A change to a subscription, validated against its `update_mask`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionUpdate {
    quantity: Option<i32>,
    auto_renew: Option<bool>,
    /// The etag the caller read, if it sent one.
    pub etag: Option<i64>,
}

impl SubscriptionUpdate {
    /// Validates the fields `mask` names in `subscription`, recording every problem.
    pub fn parse(
        subscription: &pb::Subscription,
        mask: &[String],
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        if mask.is_empty() {
            violations.add("update_mask", "required: name the fields to change");
            return None;
        }
        let mut update = Self {
            etag: violations
                .check("subscription.etag", fields::etag(&subscription.etag))
                .flatten(),
            ..Self::default()
        };
        for path in mask {
            match path.as_str() {
                "quantity" => {
                    update.quantity = violations.check(
                        "subscription.quantity",
                        parse_quantity(subscription.quantity),
                    );
                }
                "auto_renew" => update.auto_renew = Some(subscription.auto_renew),
                other => violations.add(
                    "update_mask",
                    format!("{} cannot be updated", fields::quoted(other)),
                ),
            }
        }
        Some(update)
    }

    /// `current` with this change applied at `now`; only an ACTIVE subscription changes,
    /// and a usage-based one has no licence count.
    pub fn apply(&self, current: &Subscription, now: i64) -> Result<Subscription, Error> {
        if current.status != pb::SubscriptionStatus::Active {
            return Err(Error::Precondition {
                reason: "SUBSCRIPTION_NOT_ACTIVE",
                message: format!(
                    "{} is {} with this partner: only an ACTIVE subscription changes",
                    current.name(),
                    current.status.as_str_name()
                ),
            });
        }
        if let Some(etag) = self.etag
            && etag != current.version
        {
            return Err(Error::StaleEtag(current.name()));
        }
        let mut next = current.clone();
        if let Some(quantity) = self.quantity {
            if is_usage_based(current.offer_kind) && quantity != 1 {
                return Err(Error::Invalid(FieldViolations::single(
                    "subscription.quantity",
                    "must be 1 for a usage-based Azure offer",
                )));
            }
            next.quantity = quantity;
        }
        if let Some(auto_renew) = self.auto_renew {
            next.auto_renew = auto_renew;
        }
        next.update_time = now;
        next.version = current.version + 1;
        Ok(next)
    }
}

/// Whether `caller` may see the subscriptions billed by `partner_tenant_id`; others' are
/// reported as not found.
pub fn may_read(caller: &Caller, partner_tenant_id: Uuid) -> bool {
    caller.can_access_tenant(partner_tenant_id)
}

/// A subscription is ordered and changed only in the caller's own tenant (any for the
/// operator); another tenant's customer is not found.
pub fn authorize_change(caller: &Caller, customer: CustomerRef) -> Result<(), Error> {
    if !caller.can_access_tenant(customer.partner_tenant_id) {
        return Err(Error::CustomerNotFound(customer.name()));
    }
    Ok(())
}

/// The subscription cancelled at `now` with `credit`; only an ACTIVE subscription that is in
/// no open transfer request and carries no ACTIVE add-on is cancelled.
pub fn cancelled(
    current: &Subscription,
    in_transfer: bool,
    active_add_ons: usize,
    now: i64,
) -> Result<Subscription, Error> {
    if current.status != pb::SubscriptionStatus::Active {
        return Err(Error::Precondition {
            reason: "SUBSCRIPTION_NOT_ACTIVE",
            message: format!(
                "{} is {}: only an ACTIVE subscription is cancelled",
                current.name(),
                current.status.as_str_name()
            ),
        });
    }
    if in_transfer {
        return Err(Error::Precondition {
            reason: "SUBSCRIPTION_IN_OPEN_TRANSFER_REQUEST",
            message: format!(
                "{} is in an open transfer request: cancel that request first",
                current.name()
            ),
        });
    }
    if active_add_ons > 0 {
        return Err(Error::Precondition {
            reason: "ADD_ONS_ACTIVE",
            message: format!(
                "{} carries {active_add_ons} ACTIVE add-on(s): cancel them first",
                current.name()
            ),
        });
    }
    let credit = super::credit::cancellation_credit(current, now)?;
    let mut next = current.clone();
    next.status = pb::SubscriptionStatus::Cancelled;
    next.auto_renew = false;
    next.cancel_time = Some(now);
    next.cancellation_credit = Some(credit);
    next.update_time = now;
    next.version = current.version + 1;
    Ok(next)
}
