//! What cancelling a subscription credits on the next monthly invoice (SPEC §5).
//!
//! The rule, in integer minor units:
//! - A prepaid subscription (billed monthly or annually) is credited the fee of its current
//!   billing period minus the days used: `fee × (days in period − days used) ÷ days in
//!   period`, rounded down to the minor unit, so a credit never exceeds what was paid. Billing
//!   periods start on the purchase's day of the month (clamped to shorter months: bought on
//!   the 31st, a period runs to the 28th or 30th, then back to the 31st) at the purchase's
//!   time of day, so every period is a whole number of days. A day is used as soon as it
//!   starts: cancelling at the very start of a period uses none, one microsecond later uses
//!   one.
//! - A New Commerce licence is credited its whole period fee within 72 hours of purchase;
//!   afterwards it cannot be cancelled (turn auto-renew off instead).
//! - A usage-based offer (Azure) is billed in arrears: nothing prepaid, nothing credited.

use suite_errors::ApiError;
use suite_proto::transfer::v1 as pb;
use time::{Month, OffsetDateTime};

use super::subscription::Subscription;
use crate::error::Error;

const DAY_MICROS: i64 = 86_400_000_000;
/// How long after purchase a New Commerce licence may still be cancelled.
pub const NEW_COMMERCE_CANCELLATION_WINDOW_MICROS: i64 = 72 * 3_600_000_000;

/// The credit, in minor units of the subscription's currency, for cancelling `subscription`
/// at `now`; refused when it may no longer be cancelled.
pub fn cancellation_credit(subscription: &Subscription, now: i64) -> Result<i64, Error> {
    let fee = i128::from(subscription.unit_price.amount_minor) * i128::from(subscription.quantity);
    match (subscription.offer_kind, subscription.billing_period) {
        (_, pb::BillingPeriod::Usage | pb::BillingPeriod::Unspecified) => Ok(0),
        // A licence that came by transfer keeps the source's purchase time, and its fee was
        // the source's: the target gets no window of its own.
        (pb::OfferKind::NewCommerceLicense, _) if !subscription.transferred_from.is_empty() => {
            Err(Error::Precondition {
                reason: "CANCELLATION_WINDOW_CLOSED",
                message: format!(
                    "{} is a New Commerce licence that came by transfer: it cannot be cancelled; turn auto-renew off so that it ends with its term",
                    subscription.name()
                ),
            })
        }
        (pb::OfferKind::NewCommerceLicense, _) => {
            if now - subscription.create_time <= NEW_COMMERCE_CANCELLATION_WINDOW_MICROS {
                Ok(to_minor(fee))
            } else {
                Err(Error::Precondition {
                    reason: "CANCELLATION_WINDOW_CLOSED",
                    message: format!(
                        "{} is a New Commerce licence bought more than 72 hours ago: it cannot be cancelled; turn auto-renew off so that it ends with its term",
                        subscription.name()
                    ),
                })
            }
        }
        (_, period) => {
            let months = if period == pb::BillingPeriod::Annual {
                12
            } else {
                1
            };
            let (start, end) = current_period(subscription.create_time, months, now)?;
            let period_days = i128::from((end - start) / DAY_MICROS);
            let elapsed = (now - start).max(0);
            let used_days = i128::from((elapsed + DAY_MICROS - 1) / DAY_MICROS);
            let remaining = (period_days - used_days).max(0);
            Ok(if period_days == 0 {
                0
            } else {
                to_minor(fee * remaining / period_days)
            })
        }
    }
}

fn to_minor(amount: i128) -> i64 {
    i64::try_from(amount).unwrap_or(i64::MAX)
}

/// The billing period (start, end) that contains `now`, for periods of `months` months
/// anchored at `anchor` (the purchase time).
fn current_period(anchor: i64, months: u32, now: i64) -> Result<(i64, i64), Error> {
    let mut start = anchor;
    let mut index: u32 = 0;
    loop {
        let end = months_after(anchor, (index + 1) * months)?;
        if now < end {
            return Ok((start, end));
        }
        start = end;
        index += 1;
    }
}

/// `anchor` moved `months` calendar months on, its day clamped to the target month's length
/// and its time of day kept.
fn months_after(anchor: i64, months: u32) -> Result<i64, Error> {
    let corrupt = || Error::Api(ApiError::internal("a purchase time out of range"));
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(anchor) * 1_000)
        .map_err(|_| corrupt())?;
    let total = i64::from(at.year()) * 12 + i64::from(u8::from(at.month()) - 1) + i64::from(months);
    let year = i32::try_from(total.div_euclid(12)).map_err(|_| corrupt())?;
    let month = Month::try_from(u8::try_from(total.rem_euclid(12) + 1).map_err(|_| corrupt())?)
        .map_err(|_| corrupt())?;
    let day = at.day().min(month.length(year));
    let date = time::Date::from_calendar_date(year, month, day).map_err(|_| corrupt())?;
    let moved = at.replace_date(date);
    i64::try_from(moved.unix_timestamp_nanos() / 1_000).map_err(|_| corrupt())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use uuid::Uuid;

    use super::*;
    use crate::domain::subscription::Price;

    fn micros(at: OffsetDateTime) -> i64 {
        i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap()
    }

    fn bought(
        at: OffsetDateTime,
        kind: pb::OfferKind,
        period: pb::BillingPeriod,
        price: i64,
        quantity: i32,
    ) -> Subscription {
        Subscription {
            id: Uuid::nil(),
            partner_tenant_id: Uuid::nil(),
            customer_tenant_id: Uuid::nil(),
            offer_id: "O365-E3".into(),
            offer_kind: kind,
            quantity,
            base_subscription_id: None,
            status: pb::SubscriptionStatus::Active,
            auto_renew: true,
            billing_period: period,
            unit_price: Price {
                currency_code: "USD".into(),
                amount_minor: price,
            },
            azure_subscription_id: None,
            transferred_from: String::new(),
            transferred_to: String::new(),
            create_time: micros(at),
            update_time: micros(at),
            cancel_time: None,
            cancellation_credit: None,
            version: 1,
        }
    }

    fn monthly(at: OffsetDateTime) -> Subscription {
        // 10 licences at 31.00: a 310.00 fee for a 31-day January.
        bought(
            at,
            pb::OfferKind::LegacyLicense,
            pb::BillingPeriod::Monthly,
            3_100,
            10,
        )
    }

    #[test]
    fn a_started_day_counts_as_used() {
        let subscription = monthly(datetime!(2026-01-01 09:00 UTC));
        let credit = |at: OffsetDateTime| cancellation_credit(&subscription, micros(at)).unwrap();
        // At the very start of the period no day is used: the whole fee.
        assert_eq!(credit(datetime!(2026-01-01 09:00 UTC)), 31_000);
        // One microsecond in, the first day is used: 30 of 31 days.
        assert_eq!(credit(datetime!(2026-01-01 09:00:00.000001 UTC)), 30_000);
        // Exactly one day in: still one day.
        assert_eq!(credit(datetime!(2026-01-02 09:00 UTC)), 30_000);
        assert_eq!(credit(datetime!(2026-01-02 09:00:00.000001 UTC)), 29_000);
        // The last microsecond of the period: every day used.
        assert_eq!(credit(datetime!(2026-02-01 08:59:59.999999 UTC)), 0);
        // The next period starts whole again.
        assert_eq!(credit(datetime!(2026-02-01 09:00 UTC)), 31_000);
    }

    #[test]
    fn proration_rounds_down_to_the_minor_unit() {
        // February 2026 has 28 days: 1 licence at 10.00, 27 days left → 9.642857… → 9.64.
        let subscription = bought(
            datetime!(2026-02-01 00:00 UTC),
            pb::OfferKind::LegacyLicense,
            pb::BillingPeriod::Monthly,
            1_000,
            1,
        );
        let credit = cancellation_credit(&subscription, micros(datetime!(2026-02-01 12:00 UTC)));
        assert_eq!(credit.unwrap(), 964);
    }

    #[test]
    fn periods_keep_the_purchase_day_clamped_to_short_months() {
        let subscription = monthly(datetime!(2026-01-31 00:00 UTC));
        // The period after Jan 31 ends on Feb 28 (28 days); the next runs Feb 28 → Mar 31.
        let (start, end) = current_period(
            subscription.create_time,
            1,
            micros(datetime!(2026-03-01 00:00 UTC)),
        )
        .unwrap();
        assert_eq!(start, micros(datetime!(2026-02-28 00:00 UTC)));
        assert_eq!(end, micros(datetime!(2026-03-31 00:00 UTC)));
    }

    #[test]
    fn annual_periods_run_a_year() {
        let subscription = bought(
            datetime!(2026-03-01 00:00 UTC),
            pb::OfferKind::LegacyLicense,
            pb::BillingPeriod::Annual,
            36_500,
            1,
        );
        // 365 days, 1 used: 364 days of 100.00 a day.
        let credit = cancellation_credit(&subscription, micros(datetime!(2026-03-01 01:00 UTC)));
        assert_eq!(credit.unwrap(), 36_400);
    }

    #[test]
    fn new_commerce_is_credited_within_72_hours_and_refused_after() {
        let subscription = bought(
            datetime!(2026-01-01 00:00 UTC),
            pb::OfferKind::NewCommerceLicense,
            pb::BillingPeriod::Monthly,
            2_000,
            5,
        );
        let within = cancellation_credit(&subscription, micros(datetime!(2026-01-04 00:00 UTC)));
        assert_eq!(within.unwrap(), 10_000);
        let after = cancellation_credit(
            &subscription,
            micros(datetime!(2026-01-04 00:00:00.000001 UTC)),
        );
        assert!(matches!(
            after,
            Err(Error::Precondition {
                reason: "CANCELLATION_WINDOW_CLOSED",
                ..
            })
        ));
    }

    #[test]
    fn a_new_commerce_licence_that_came_by_transfer_has_no_window_of_its_own() {
        let mut subscription = bought(
            datetime!(2026-01-01 00:00 UTC),
            pb::OfferKind::NewCommerceLicense,
            pb::BillingPeriod::Monthly,
            1_000,
            10,
        );
        subscription.transferred_from = "partners/a/customers/b/subscriptions/c".into();
        let within = cancellation_credit(&subscription, micros(datetime!(2026-01-01 01:00 UTC)));
        assert!(matches!(
            within,
            Err(Error::Precondition {
                reason: "CANCELLATION_WINDOW_CLOSED",
                ..
            })
        ));
    }

    #[test]
    fn usage_based_offers_credit_nothing() {
        let mut subscription = monthly(datetime!(2026-01-01 00:00 UTC));
        subscription.offer_kind = pb::OfferKind::AzurePayAsYouGo;
        subscription.billing_period = pb::BillingPeriod::Usage;
        assert_eq!(
            cancellation_credit(&subscription, subscription.create_time + 1).unwrap(),
            0
        );
    }
}
