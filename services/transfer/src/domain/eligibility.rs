//! Which subscriptions may move by each kind of transfer, and why the others may not: the
//! self-service transfer to an indirect provider moves legacy licences and Azure
//! pay-as-you-go; the New Commerce partner-to-partner transfer moves New Commerce licences.

use std::collections::HashSet;

use suite_proto::transfer::v1 as pb;
use uuid::Uuid;

use super::subscription::{CustomerRef, Subscription, subscription_name};

use pb::IneligibilityReason as Reason;

/// Why a subscription of `kind` never moves by a transfer of `transfer`; `None` for the
/// kinds that do.
pub fn kind_reason(kind: pb::OfferKind, transfer: pb::TransferKind) -> Option<Reason> {
    if transfer == pb::TransferKind::NewCommercePartner {
        return (kind != pb::OfferKind::NewCommerceLicense).then_some(Reason::NotNewCommerce);
    }
    match kind {
        pb::OfferKind::LegacyLicense | pb::OfferKind::AzurePayAsYouGo => None,
        pb::OfferKind::AzurePlan => Some(Reason::AzurePlan),
        pb::OfferKind::AzureReservedInstance => Some(Reason::AzureReservedInstance),
        pb::OfferKind::Marketplace => Some(Reason::Marketplace),
        pb::OfferKind::Saas => Some(Reason::Saas),
        pb::OfferKind::TermBased => Some(Reason::TermBased),
        pb::OfferKind::NewCommerceLicense => Some(Reason::NewCommerceLicense),
        // Never stored: refused on create.
        pb::OfferKind::Unspecified => Some(Reason::NotActive),
    }
}

/// Why `subscription` cannot be named in a new transfer request of `transfer` now, if it
/// cannot; `open` holds the subscriptions already in an open request.
pub fn reason(
    subscription: &Subscription,
    open: &HashSet<Uuid>,
    transfer: pb::TransferKind,
) -> Option<Reason> {
    if subscription.status != pb::SubscriptionStatus::Active {
        return Some(Reason::NotActive);
    }
    if let Some(reason) = kind_reason(subscription.offer_kind, transfer) {
        return Some(reason);
    }
    if open.contains(&subscription.id) {
        return Some(Reason::InOpenTransferRequest);
    }
    None
}

/// What the partner does instead, for each reason.
pub fn advice(reason: Reason) -> &'static str {
    match reason {
        Reason::Unspecified => "",
        Reason::AzurePlan
        | Reason::AzureReservedInstance
        | Reason::Marketplace
        | Reason::Saas
        | Reason::TermBased => {
            "not transferable by self-service: cancel it and buy the offer anew through the indirect provider"
        }
        Reason::NewCommerceLicense => {
            "New Commerce licences do not move by self-service: turn auto-renew off here and buy from the provider"
        }
        Reason::InOpenTransferRequest => {
            "already in an open transfer request: cancel that request first"
        }
        Reason::NotActive => "only an ACTIVE subscription of this partner moves",
        Reason::AddOnWithoutBase => "name its base subscription: the add-ons follow their base",
        Reason::NotFound => "no such subscription of this customer is billed by this partner",
        Reason::NotNewCommerce => {
            "a partner-to-partner transfer moves only New Commerce licences: legacy licences and Azure pay-as-you-go move to an indirect provider by self-service transfer; the other kinds are cancelled and bought anew"
        }
    }
}

/// The eligibility answer for `subscription` in a transfer of `transfer`.
pub fn eligibility(
    customer: CustomerRef,
    subscription: &Subscription,
    open: &HashSet<Uuid>,
    transfer: pb::TransferKind,
) -> pb::TransferEligibility {
    let reason = reason(subscription, open, transfer);
    pb::TransferEligibility {
        subscription: subscription.name(),
        eligible: reason.is_none(),
        reason: reason.unwrap_or(Reason::Unspecified) as i32,
        advice: reason.map(advice).unwrap_or_default().to_owned(),
        base_subscription: subscription
            .base_subscription_id
            .map(|base| subscription_name(customer, base))
            .unwrap_or_default(),
    }
}
