//! Subscription rules, free of transport and storage.

use suite_errors::{FieldViolations, fields};
use suite_identity::Caller;
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
    /// Customer record id (in the relationship service).
    pub customer_tenant_id: Uuid,
    /// Offer, e.g. `MS-AZR-0145P`.
    pub offer_id: String,
    /// Kind of offer.
    pub offer_kind: pb::OfferKind,
    /// Licences.
    pub quantity: i32,
    /// Creation time, microseconds since the epoch.
    pub create_time: i64,
    /// Incremented on every change; the etag.
    pub version: i64,
}

/// A `partners/{partner}/customers/{customer_tenant}` parent: a partner's view of a
/// customer, named by the customer's Entra tenant as in every service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerRef {
    /// Billing partner.
    pub partner_tenant_id: Uuid,
    /// Customer record id.
    pub customer_tenant_id: Uuid,
}

impl CustomerRef {
    /// Parses a customer resource name.
    pub fn parse(name: &str) -> Result<Self, String> {
        let ids = fields::resource_name(name, &["partners", "customers"])?;
        Ok(Self {
            partner_tenant_id: fields::uuid(ids[0])
                .map_err(|reason| format!("partner id {reason}"))?,
            customer_tenant_id: fields::uuid(ids[1])
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
}

/// `partners/{partner}/customers/{customer}/subscriptions/{subscription}`.
pub fn subscription_name(customer: CustomerRef, id: Uuid) -> String {
    format!("{}/subscriptions/{id}", customer.name())
}

/// The customer and subscription id in a subscription name.
pub fn parse_subscription_name(name: &str) -> Result<(CustomerRef, Uuid), String> {
    let ids = fields::resource_name(name, &["partners", "customers", "subscriptions"])?;
    let customer = CustomerRef::parse(&format!("partners/{}/customers/{}", ids[0], ids[1]))?;
    let id = fields::uuid(ids[2]).map_err(|reason| format!("subscription id {reason}"))?;
    Ok((customer, id))
}

impl From<&Subscription> for pb::Subscription {
    fn from(subscription: &Subscription) -> Self {
        let customer = CustomerRef {
            partner_tenant_id: subscription.partner_tenant_id,
            customer_tenant_id: subscription.customer_tenant_id,
        };
        pb::Subscription {
            name: subscription_name(customer, subscription.id),
            offer_id: subscription.offer_id.clone(),
            offer_kind: subscription.offer_kind as i32,
            quantity: subscription.quantity,
            create_time: Some(suite_time::timestamp(subscription.create_time)),
            etag: subscription.version.to_string(),
        }
    }
}

const MAX_OFFER_ID: usize = 100;
const MAX_QUANTITY: i32 = 1_000_000;

/// A subscription as submitted, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    /// Offer.
    pub offer_id: String,
    /// Kind of offer.
    pub offer_kind: pb::OfferKind,
    /// Licences.
    pub quantity: i32,
}

impl NewSubscription {
    /// Validates `subscription`, recording every problem in `violations`.
    pub fn parse(
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
        Some(Self {
            offer_id: offer_id?,
            offer_kind: offer_kind?,
            quantity: quantity?,
        })
    }
}

/// A known offer kind; unspecified is refused.
pub fn parse_offer_kind(value: i32) -> Result<pb::OfferKind, String> {
    match pb::OfferKind::try_from(value) {
        Ok(pb::OfferKind::Unspecified) => Err("required".into()),
        Ok(kind) => Ok(kind),
        Err(_) => Err(format!("unknown offer kind {value}")),
    }
}

fn parse_quantity(value: i32) -> Result<i32, String> {
    if (1..=MAX_QUANTITY).contains(&value) {
        Ok(value)
    } else {
        Err(format!("must be between 1 and {MAX_QUANTITY}"))
    }
}

/// Whether `caller` may see the subscriptions billed by `partner_tenant_id`; others' are
/// reported as not found.
pub fn may_read(caller: &Caller, partner_tenant_id: Uuid) -> bool {
    caller.can_access_tenant(partner_tenant_id)
}

/// A subscription is recorded only in the caller's own tenant (any for the operator).
pub fn authorize_create(caller: &Caller, customer: CustomerRef) -> Result<(), Error> {
    if !caller.can_access_tenant(customer.partner_tenant_id) {
        return Err(Error::CustomerNotFound(customer.name()));
    }
    Ok(())
}
