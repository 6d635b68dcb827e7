//! GDAP relationships (Graph's `delegatedAdminRelationship`): names, the request's checks,
//! the approval state machine and the expiry rule the sweep applies.

use suite_errors::{FieldViolations, fields};
use suite_identity::{Caller, Role};
use suite_proto::relationship::v1 as pb;
use uuid::Uuid;

use crate::error::Error;

pub use pb::{DelegatedAdminEndReason as EndReason, DelegatedAdminRole, DelegatedAdminStatus};

/// Longest display name Graph accepts.
pub const MAX_DISPLAY_NAME: usize = 50;
/// Shortest and longest duration, in days (`P1D`, `P2Y`).
const MIN_DAYS: i64 = 1;
const MAX_DAYS: i64 = 730;
/// The only auto-extension Graph offers.
pub const AUTO_EXTEND_DAYS: i64 = 180;
/// An ACTIVE relationship that will not extend is EXPIRING this long before its end.
pub const EXPIRING_NOTICE_DAYS: i64 = 7;
const DAY_MICROS: i64 = 86_400_000_000;

/// One GDAP relationship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegatedAdminRelationship {
    /// Identifier, the last segment of the name.
    pub id: Uuid,
    /// The partner holding the roles.
    pub partner_tenant_id: Uuid,
    /// The customer tenant the roles are in.
    pub customer_tenant_id: Uuid,
    /// Unique per customer.
    pub display_name: String,
    /// Sorted, without repeats.
    pub roles: Vec<DelegatedAdminRole>,
    /// As asked, e.g. `P90D`.
    pub duration: String,
    /// The duration in days.
    pub duration_days: i64,
    /// Extended by 180 days at its end instead of expiring.
    pub auto_extend: bool,
    /// Where it stands.
    pub status: DelegatedAdminStatus,
    /// Why it ended.
    pub end_reason: EndReason,
    /// `partners/{p}` or `customers/{c}` for a rejection or termination; empty otherwise.
    pub ended_by: String,
    /// Requested.
    pub create_time: i64,
    /// Approved.
    pub activate_time: Option<i64>,
    /// When the roles end (once approved).
    pub end_time: Option<i64>,
    /// Last change.
    pub update_time: i64,
    /// Incremented on every change; the etag.
    pub version: i64,
}

/// A relationship's name: `partners/{p}/customers/{c}/delegatedAdminRelationships/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelationshipName {
    /// The partner.
    pub partner_tenant_id: Uuid,
    /// The customer tenant.
    pub customer_tenant_id: Uuid,
    /// The relationship.
    pub id: Uuid,
}

impl RelationshipName {
    /// The name as written.
    pub fn name(&self) -> String {
        relationship_name(self.partner_tenant_id, self.customer_tenant_id, self.id)
    }
}

/// The name of relationship `id` of partner and customer.
pub fn relationship_name(partner: Uuid, customer: Uuid, id: Uuid) -> String {
    format!("partners/{partner}/customers/{customer}/delegatedAdminRelationships/{id}")
}

/// Parses a relationship name.
pub fn parse_relationship_name(name: &str) -> Result<RelationshipName, String> {
    let ids = fields::resource_name(
        name,
        &["partners", "customers", "delegatedAdminRelationships"],
    )?;
    Ok(RelationshipName {
        partner_tenant_id: fields::uuid(ids[0]).map_err(|r| format!("partner id {r}"))?,
        customer_tenant_id: fields::uuid(ids[1]).map_err(|r| format!("customer tenant id {r}"))?,
        id: fields::uuid(ids[2]).map_err(|r| format!("relationship id {r}"))?,
    })
}

/// What a partner asks for, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRelationship {
    /// Trimmed, at most 50 characters.
    pub display_name: String,
    /// Sorted, without repeats.
    pub roles: Vec<DelegatedAdminRole>,
    /// As asked.
    pub duration: String,
    /// In days.
    pub duration_days: i64,
    /// `P180D` asked.
    pub auto_extend: bool,
}

impl NewRelationship {
    /// The request's fields, each refusal added to `violations` under the field's path.
    pub fn parse(
        relationship: Option<&pb::DelegatedAdminRelationship>,
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        let Some(relationship) = relationship else {
            violations.add("delegated_admin_relationship", "required");
            return None;
        };
        let field = |name: &str| format!("delegated_admin_relationship.{name}");
        let display_name = violations.check(
            &field("display_name"),
            fields::text(&relationship.display_name, MAX_DISPLAY_NAME),
        );
        let roles = violations.check(&field("roles"), parse_roles(&relationship.roles));
        let duration_days =
            violations.check(&field("duration"), parse_duration(&relationship.duration));
        let auto_extend = violations.check(
            &field("auto_extend_duration"),
            parse_auto_extend(&relationship.auto_extend_duration),
        );
        Some(Self {
            display_name: display_name?,
            roles: roles?,
            duration: relationship.duration.trim().to_owned(),
            duration_days: duration_days?,
            auto_extend: auto_extend?,
        })
    }
}

/// At least one role from the catalogue, none twice; sorted.
pub fn parse_roles(values: &[i32]) -> Result<Vec<DelegatedAdminRole>, String> {
    if values.is_empty() {
        return Err("required: at least one role".into());
    }
    let mut roles = Vec::with_capacity(values.len());
    for value in values {
        match DelegatedAdminRole::try_from(*value) {
            Ok(DelegatedAdminRole::Unspecified) | Err(_) => {
                return Err(format!("{value} is not a role of the catalogue"));
            }
            Ok(role) if roles.contains(&role) => {
                return Err(format!("{} is asked twice", role.as_str_name()));
            }
            Ok(role) => roles.push(role),
        }
    }
    roles.sort();
    Ok(roles)
}

/// An ISO-8601 duration of whole days, months (30 days) or years (365 days) from `P1D` to
/// `P2Y`, in days.
pub fn parse_duration(value: &str) -> Result<i64, String> {
    const EXPECTED: &str = "must be an ISO-8601 duration from P1D to P2Y such as P90D, P6M or P1Y";
    let value = value.trim();
    let Some(body) = value.strip_prefix('P') else {
        return Err(EXPECTED.into());
    };
    let (count, unit_days) = match body.char_indices().last() {
        Some((at, 'D')) => (&body[..at], 1),
        Some((at, 'M')) => (&body[..at], 30),
        Some((at, 'Y')) => (&body[..at], 365),
        _ => return Err(EXPECTED.into()),
    };
    if count.is_empty() || count.len() > 4 || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EXPECTED.into());
    }
    let days = count.parse::<i64>().map_err(|_| EXPECTED.to_owned())? * unit_days;
    if !(MIN_DAYS..=MAX_DAYS).contains(&days) {
        return Err(format!("{value} is outside P1D to P2Y"));
    }
    Ok(days)
}

/// `P0D` or empty: none; `P180D`: extend by 180 days.
pub fn parse_auto_extend(value: &str) -> Result<bool, String> {
    match value.trim() {
        "" | "P0D" => Ok(false),
        "P180D" => Ok(true),
        _ => Err("must be P0D (no auto-extension) or P180D".into()),
    }
}

/// Whether `caller` is the customer's own admin (GLOBAL_ADMIN of the customer tenant).
fn is_customer_admin(caller: &Caller, customer_tenant_id: Uuid) -> bool {
    !caller.is_operator()
        && caller.can_access_tenant(customer_tenant_id)
        && caller.require_role(Role::GlobalAdmin).is_ok()
}

/// A relationship is seen by its partner, users of its customer tenant and the operator.
pub fn may_see(caller: &Caller, name: &RelationshipName) -> bool {
    caller.can_access_tenant(name.partner_tenant_id)
        || caller.can_access_tenant(name.customer_tenant_id)
}

/// What a relationship's access answer is told to: the customer's own admin, the partner
/// itself and the operator.
pub fn may_check_access(caller: &Caller, customer_tenant_id: Uuid, partner: Uuid) -> bool {
    caller.is_operator()
        || is_customer_admin(caller, customer_tenant_id)
        || caller.can_access_tenant(partner)
}

/// A new request (ADMIN_AGENT of the partner, or the operator).
pub fn require_partner_agent(caller: &Caller) -> Result<(), Error> {
    Ok(caller.require_role_or_operator(Role::AdminAgent)?)
}

/// A request action on a relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The partner: CREATED → APPROVAL_PENDING.
    LockForApproval,
    /// The customer: APPROVAL_PENDING → ACTIVE.
    Approve,
    /// The customer: APPROVAL_PENDING → TERMINATED.
    Reject,
    /// Either side: in force or pending → TERMINATED.
    Terminate,
}

impl Action {
    /// The RPC, as audited.
    pub fn rpc(self) -> &'static str {
        match self {
            Action::LockForApproval => "LockDelegatedAdminRelationshipForApproval",
            Action::Approve => "ApproveDelegatedAdminRelationship",
            Action::Reject => "RejectDelegatedAdminRelationship",
            Action::Terminate => "TerminateDelegatedAdminRelationship",
        }
    }

    /// The lifecycle event.
    pub fn topic(self) -> &'static str {
        match self {
            Action::LockForApproval => "relationship.v1.gdap.approval_requested",
            Action::Approve => "relationship.v1.gdap.approved",
            Action::Reject => "relationship.v1.gdap.rejected",
            Action::Terminate => "relationship.v1.gdap.terminated",
        }
    }

    /// PERMISSION_DENIED unless `caller` acts for the side this action belongs to, once it
    /// may see relationship `name` at all.
    pub fn authorize(self, caller: &Caller, name: &RelationshipName) -> Result<(), Error> {
        let partner_agent = caller.can_access_tenant(name.partner_tenant_id)
            && caller.require_role_or_operator(Role::AdminAgent).is_ok();
        let customer_admin = is_customer_admin(caller, name.customer_tenant_id);
        let allowed = match self {
            Action::LockForApproval => partner_agent,
            Action::Approve | Action::Reject => customer_admin,
            Action::Terminate => partner_agent || customer_admin || caller.is_operator(),
        };
        if allowed {
            return Ok(());
        }
        let message = match self {
            Action::LockForApproval => {
                "only the partner's ADMIN_AGENT locks its request for approval"
            }
            Action::Approve | Action::Reject => {
                "only the customer's own admin (GLOBAL_ADMIN of the customer tenant) approves or rejects"
            }
            Action::Terminate => {
                "only the partner's ADMIN_AGENT or the customer's GLOBAL_ADMIN terminates"
            }
        };
        Err(Error::Forbidden {
            reason: "DELEGATED_ADMIN_SIDE_REQUIRED",
            message: message.into(),
        })
    }
}

impl DelegatedAdminRelationship {
    /// A new request of `partner` for `customer`: CREATED.
    pub fn request(
        id: Uuid,
        partner_tenant_id: Uuid,
        customer_tenant_id: Uuid,
        new: NewRelationship,
        now: i64,
    ) -> Self {
        Self {
            id,
            partner_tenant_id,
            customer_tenant_id,
            display_name: new.display_name,
            roles: new.roles,
            duration: new.duration,
            duration_days: new.duration_days,
            auto_extend: new.auto_extend,
            status: DelegatedAdminStatus::Created,
            end_reason: EndReason::Unspecified,
            ended_by: String::new(),
            create_time: now,
            activate_time: None,
            end_time: None,
            update_time: now,
            version: 1,
        }
    }

    /// The name.
    pub fn name(&self) -> String {
        relationship_name(self.partner_tenant_id, self.customer_tenant_id, self.id)
    }

    /// In force: its roles may be used.
    pub fn in_force(&self) -> bool {
        matches!(
            self.status,
            DelegatedAdminStatus::Active | DelegatedAdminStatus::Expiring
        )
    }

    /// Whether it lets the partner manage users and their licences.
    pub fn manages_users_and_licenses(&self) -> bool {
        self.in_force() && self.roles.contains(&DelegatedAdminRole::UserAdministrator)
    }

    /// Whether it lets the partner manage users and their licences at `now`: in force by
    /// its status and by its end, whatever the sweep has written yet.
    pub fn grants_user_management_at(&self, now: i64) -> bool {
        let current = self.as_of(now);
        current.manages_users_and_licenses() && current.end_time.is_some_and(|end| end > now)
    }

    /// The relationship as it stands at `now`: the sweep's due change applied, so a stored
    /// status never outranks the clock between an end and the next sweep.
    pub fn as_of(&self, now: i64) -> Self {
        lapse(self, now).map_or_else(|| self.clone(), |(_, next)| next)
    }

    /// The protobuf view.
    pub fn to_proto(&self) -> pb::DelegatedAdminRelationship {
        pb::DelegatedAdminRelationship {
            name: self.name(),
            display_name: self.display_name.clone(),
            roles: self.roles.iter().map(|role| *role as i32).collect(),
            duration: self.duration.clone(),
            auto_extend_duration: if self.auto_extend { "P180D" } else { "P0D" }.into(),
            status: self.status as i32,
            end_reason: self.end_reason as i32,
            ended_by: self.ended_by.clone(),
            create_time: Some(suite_time::timestamp(self.create_time)),
            activate_time: self.activate_time.map(suite_time::timestamp),
            end_time: self.end_time.map(suite_time::timestamp),
            update_time: Some(suite_time::timestamp(self.update_time)),
            etag: self.version.to_string(),
        }
    }

    fn changed(&self, status: DelegatedAdminStatus, now: i64) -> Self {
        Self {
            status,
            update_time: now,
            version: self.version + 1,
            ..self.clone()
        }
    }

    fn status_name(&self) -> &'static str {
        self.status
            .as_str_name()
            .trim_start_matches("DELEGATED_ADMIN_STATUS_")
    }

    /// `action` by `caller` at `now`, or the rule that refuses it.
    pub fn apply(&self, action: Action, caller: &Caller, now: i64) -> Result<Self, Error> {
        use DelegatedAdminStatus as S;
        let allowed = match action {
            Action::LockForApproval => self.status == S::Created,
            Action::Approve | Action::Reject => self.status == S::ApprovalPending,
            Action::Terminate => matches!(
                self.status,
                S::Created | S::ApprovalPending | S::Active | S::Expiring
            ),
        };
        if !allowed {
            return Err(Error::Precondition {
                reason: "DELEGATED_ADMIN_STATUS",
                subject: self.name(),
                message: format!(
                    "a relationship that is {} cannot be {}",
                    self.status_name(),
                    match action {
                        Action::LockForApproval => "locked for approval (only CREATED)",
                        Action::Approve => "approved (only APPROVAL_PENDING)",
                        Action::Reject => "rejected (only APPROVAL_PENDING)",
                        Action::Terminate => "terminated (it has ended)",
                    }
                ),
            });
        }
        let ended_by = if caller.can_access_tenant(self.partner_tenant_id) && !caller.is_operator()
        {
            format!("partners/{}", self.partner_tenant_id)
        } else if caller.is_operator() {
            "operator".to_owned()
        } else {
            format!("customers/{}", self.customer_tenant_id)
        };
        Ok(match action {
            Action::LockForApproval => self.changed(S::ApprovalPending, now),
            Action::Approve => Self {
                activate_time: Some(now),
                end_time: Some(now.saturating_add(self.duration_days * DAY_MICROS)),
                ..self.changed(S::Active, now)
            },
            Action::Reject => Self {
                end_reason: EndReason::Rejected,
                ended_by,
                ..self.changed(S::Terminated, now)
            },
            Action::Terminate => Self {
                end_reason: EndReason::Terminated,
                ended_by,
                ..self.changed(S::Terminated, now)
            },
        })
    }
}

/// What the sweep does to a relationship in force at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lapse {
    /// Within the notice of its end, not extending: EXPIRING.
    Expiring,
    /// Ended and extending: ACTIVE for 180 more days.
    Extended,
    /// Ended: EXPIRED.
    Expired,
}

impl Lapse {
    /// The audited action.
    pub fn action(self) -> &'static str {
        match self {
            Lapse::Expiring => "MarkDelegatedAdminRelationshipExpiring",
            Lapse::Extended => "ExtendDelegatedAdminRelationship",
            Lapse::Expired => "ExpireDelegatedAdminRelationship",
        }
    }

    /// The lifecycle event.
    pub fn topic(self) -> &'static str {
        match self {
            Lapse::Expiring => "relationship.v1.gdap.expiring",
            Lapse::Extended => "relationship.v1.gdap.extended",
            Lapse::Expired => "relationship.v1.gdap.expired",
        }
    }
}

/// Relationships whose end is before this are due for the sweep at `now`.
pub fn sweep_horizon(now: i64) -> i64 {
    now.saturating_add(EXPIRING_NOTICE_DAYS * DAY_MICROS)
}

/// The sweep's change to `relationship` at `now`, if any is due.
pub fn lapse(
    relationship: &DelegatedAdminRelationship,
    now: i64,
) -> Option<(Lapse, DelegatedAdminRelationship)> {
    let end = relationship.end_time?;
    if !relationship.in_force() {
        return None;
    }
    if end <= now {
        if relationship.auto_extend {
            let next = DelegatedAdminRelationship {
                end_time: Some(end.saturating_add(AUTO_EXTEND_DAYS * DAY_MICROS)),
                ..relationship.changed(DelegatedAdminStatus::Active, now)
            };
            return Some((Lapse::Extended, next));
        }
        let next = DelegatedAdminRelationship {
            end_reason: EndReason::Expired,
            ..relationship.changed(DelegatedAdminStatus::Expired, now)
        };
        return Some((Lapse::Expired, next));
    }
    if !relationship.auto_extend
        && relationship.status == DelegatedAdminStatus::Active
        && end <= sweep_horizon(now)
    {
        let next = relationship.changed(DelegatedAdminStatus::Expiring, now);
        return Some((Lapse::Expiring, next));
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn durations_from_one_day_to_two_years() {
        assert_eq!(parse_duration("P1D"), Ok(1));
        assert_eq!(parse_duration("P90D"), Ok(90));
        assert_eq!(parse_duration("P6M"), Ok(180));
        assert_eq!(parse_duration("P1Y"), Ok(365));
        assert_eq!(parse_duration("P2Y"), Ok(730));
        for bad in [
            "", "P", "P0D", "P3Y", "P731D", "PT1H", "P1W", "1D", "P-1D", "P1.5Y", "P1Y2M", "p1d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn roles_come_from_the_catalogue_once_each() {
        let user = DelegatedAdminRole::UserAdministrator as i32;
        let reader = DelegatedAdminRole::DirectoryReaders as i32;
        assert_eq!(
            parse_roles(&[user, reader]).unwrap(),
            vec![
                DelegatedAdminRole::DirectoryReaders,
                DelegatedAdminRole::UserAdministrator
            ]
        );
        assert!(parse_roles(&[]).is_err());
        assert!(parse_roles(&[0]).is_err());
        assert!(parse_roles(&[99]).is_err());
        assert!(parse_roles(&[user, user]).is_err());
    }

    fn active(auto_extend: bool, end: i64) -> DelegatedAdminRelationship {
        DelegatedAdminRelationship {
            status: DelegatedAdminStatus::Active,
            activate_time: Some(0),
            end_time: Some(end),
            ..DelegatedAdminRelationship::request(
                Uuid::new_v4(),
                Uuid::new_v4(),
                Uuid::new_v4(),
                NewRelationship {
                    display_name: "Helpdesk".into(),
                    roles: vec![DelegatedAdminRole::UserAdministrator],
                    duration: "P30D".into(),
                    duration_days: 30,
                    auto_extend,
                },
                0,
            )
        }
    }

    #[test]
    fn the_sweep_marks_expiring_then_expires_or_extends() {
        let end = 30 * DAY_MICROS;
        let ending = active(false, end);
        assert_eq!(lapse(&ending, end - 8 * DAY_MICROS), None);
        let (what, expiring) = lapse(&ending, end - 7 * DAY_MICROS).unwrap();
        assert_eq!(what, Lapse::Expiring);
        assert_eq!(expiring.version, ending.version + 1);
        assert!(expiring.manages_users_and_licenses());
        assert_eq!(lapse(&expiring, end - DAY_MICROS), None);
        let (what, expired) = lapse(&expiring, end).unwrap();
        assert_eq!(what, Lapse::Expired);
        assert_eq!(expired.status, DelegatedAdminStatus::Expired);
        assert!(!expired.manages_users_and_licenses());
        assert_eq!(lapse(&expired, end * 2), None);

        let extending = active(true, end);
        assert_eq!(lapse(&extending, end - DAY_MICROS), None);
        let (what, extended) = lapse(&extending, end + DAY_MICROS).unwrap();
        assert_eq!(what, Lapse::Extended);
        assert_eq!(extended.status, DelegatedAdminStatus::Active);
        assert_eq!(extended.end_time, Some(end + AUTO_EXTEND_DAYS * DAY_MICROS));
    }

    #[test]
    fn a_relationship_read_after_its_end_has_ended_before_the_sweep_writes_it() {
        let end = 30 * DAY_MICROS;
        let ending = active(false, end);
        assert!(ending.grants_user_management_at(end - 1));
        assert_eq!(ending.as_of(end - 1).status, DelegatedAdminStatus::Expiring);
        assert_eq!(ending.as_of(end).status, DelegatedAdminStatus::Expired);
        assert!(!ending.grants_user_management_at(end));

        let extending = active(true, end);
        assert!(extending.grants_user_management_at(end + DAY_MICROS));
        assert_eq!(
            extending.as_of(end + DAY_MICROS).end_time,
            Some(end + AUTO_EXTEND_DAYS * DAY_MICROS)
        );
    }

    #[test]
    fn auto_extension_is_off_or_180_days() {
        assert_eq!(parse_auto_extend(""), Ok(false));
        assert_eq!(parse_auto_extend("P0D"), Ok(false));
        assert_eq!(parse_auto_extend("P180D"), Ok(true));
        assert!(parse_auto_extend("P90D").is_err());
    }
}
