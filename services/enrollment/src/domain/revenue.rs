//! CSP revenue per month and the direct-bill eligibility it decides.

use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

use super::calendar::Month;

/// USD 300,000 in cents: the direct-bill requirement over the trailing 12 months.
pub const DIRECT_BILL_THRESHOLD_MINOR: i64 = 30_000_000;
/// Revenue is kept in the currency the requirement is stated in.
pub const REVENUE_CURRENCY: &str = "USD";
const WINDOW_MONTHS: u32 = 12;

/// One month of a partner's CSP revenue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthlyRevenue {
    /// The partner.
    pub tenant_id: Uuid,
    /// The month.
    pub month: Month,
    /// USD cents.
    pub amount_minor: i64,
    /// Last change.
    pub update_time: i64,
}

impl From<&MonthlyRevenue> for pb::MonthlyRevenue {
    fn from(revenue: &MonthlyRevenue) -> Self {
        pb::MonthlyRevenue {
            name: format!("partners/{}/revenue/{}", revenue.tenant_id, revenue.month),
            month: revenue.month.to_string(),
            amount: Some(usd(revenue.amount_minor)),
            update_time: Some(suite_time::timestamp(revenue.update_time)),
        }
    }
}

fn usd(amount_minor: i64) -> pb::Money {
    pb::Money {
        currency_code: REVENUE_CURRENCY.into(),
        amount_minor,
    }
}

/// A month of revenue as submitted, validated against `now` (no future months).
pub fn parse_revenue(
    revenue: Option<&pb::MonthlyRevenue>,
    now: i64,
) -> Result<(Month, i64), Vec<(&'static str, String)>> {
    let Some(revenue) = revenue else {
        return Err(vec![("revenue", "required".into())]);
    };
    let mut problems = Vec::new();
    let month = match Month::parse(&revenue.month) {
        Ok(month) if month > Month::of(now) => {
            problems.push(("revenue.month", "must not be in the future".to_owned()));
            None
        }
        Ok(month) => Some(month),
        Err(reason) => {
            problems.push(("revenue.month", reason));
            None
        }
    };
    let amount = match &revenue.amount {
        None => {
            problems.push(("revenue.amount", "required".to_owned()));
            None
        }
        Some(money) if money.currency_code != REVENUE_CURRENCY => {
            problems.push((
                "revenue.amount.currency_code",
                "must be USD: the requirement is stated in USD".to_owned(),
            ));
            None
        }
        Some(money) if money.amount_minor < 0 => {
            problems.push((
                "revenue.amount.amount_minor",
                "must not be negative".to_owned(),
            ));
            None
        }
        Some(money) => Some(money.amount_minor),
    };
    match (month, amount) {
        (Some(month), Some(amount)) if problems.is_empty() => Ok((month, amount)),
        _ => Err(problems),
    }
}

/// The trailing window at `now`: the 12 complete months before the current one.
pub fn trailing_window(now: i64) -> (Month, Month) {
    let end = Month::of(now).minus(1);
    (end.minus(WINDOW_MONTHS - 1), end)
}

/// The direct-bill revenue requirement, evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eligibility {
    /// Whether the requirement is met.
    pub eligible: bool,
    /// Revenue over the window, USD cents.
    pub trailing_minor: i64,
    /// The requirement, USD cents.
    pub threshold_minor: i64,
    /// First month of the window.
    pub window_start: Month,
    /// Last month of the window.
    pub window_end: Month,
    /// Months of the window with a recorded figure.
    pub months_recorded: usize,
}

/// Evaluates the requirement over `months` (recorded figures in month order, possibly of
/// several tenants of one organisation) at `now`.
pub fn eligibility(months: &[MonthlyRevenue], now: i64) -> Eligibility {
    let (window_start, window_end) = trailing_window(now);
    let in_window: Vec<&MonthlyRevenue> = months
        .iter()
        .filter(|m| m.month >= window_start && m.month <= window_end)
        .collect();
    let trailing_minor = in_window
        .iter()
        .map(|m| m.amount_minor)
        .fold(0_i64, i64::saturating_add);
    let mut months_recorded: Vec<Month> = in_window.iter().map(|m| m.month).collect();
    months_recorded.dedup();
    Eligibility {
        eligible: trailing_minor >= DIRECT_BILL_THRESHOLD_MINOR,
        trailing_minor,
        threshold_minor: DIRECT_BILL_THRESHOLD_MINOR,
        window_start,
        window_end,
        months_recorded: months_recorded.len(),
    }
}

impl Eligibility {
    /// The protobuf view for `partner`.
    pub fn to_proto(&self, partner: String) -> pb::DirectBillEligibility {
        pb::DirectBillEligibility {
            partner,
            eligible: self.eligible,
            trailing_revenue: Some(usd(self.trailing_minor)),
            threshold: Some(usd(self.threshold_minor)),
            window_start_month: self.window_start.to_string(),
            window_end_month: self.window_end.to_string(),
            months_recorded: self.months_recorded as i32,
        }
    }
}
