//! Program enrollments: who may enroll in what, the lifecycle, the direct-bill override of
//! indirect reseller access, and the capabilities enrollments grant.

use suite_errors::{PreconditionViolation, fields};
use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

use super::calendar::{DAY_MICROS, add_business_days};
use super::partner::{Partner, partner_name, profile_issues};
use super::revenue::Eligibility;
use crate::error::Error;

/// Approval is due this many business days after submission.
pub const APPROVAL_BUSINESS_DAYS: u32 = 5;

pub use pb::{Capability, EnrollmentState as State, Program};

/// The URL segment of a program in resource names.
pub fn program_slug(program: Program) -> &'static str {
    match program {
        Program::DirectBill => "direct-bill",
        Program::IndirectReseller => "indirect-reseller",
        Program::IndirectProvider => "indirect-provider",
        Program::Unspecified => "unspecified",
    }
}

/// A known program; unspecified is refused.
pub fn parse_program(value: i32) -> Result<Program, String> {
    match Program::try_from(value) {
        Ok(Program::Unspecified) => Err("required".into()),
        Ok(program) => Ok(program),
        Err(_) => Err(format!("unknown program {value}")),
    }
}

fn program_of_slug(slug: &str) -> Result<Program, String> {
    [
        Program::DirectBill,
        Program::IndirectReseller,
        Program::IndirectProvider,
    ]
    .into_iter()
    .find(|program| program_slug(*program) == slug)
    .ok_or_else(|| "program must be direct-bill, indirect-reseller or indirect-provider".into())
}

/// The tenant and program in `partners/{tenant}/enrollments/{program}`.
pub fn parse_enrollment_name(name: &str) -> Result<(Uuid, Program), String> {
    let ids = fields::resource_name(name, &["partners", "enrollments"])?;
    let tenant = fields::uuid(ids[0]).map_err(|reason| format!("partner id {reason}"))?;
    Ok((tenant, program_of_slug(ids[1])?))
}

/// `partners/{tenant}/enrollments/{program}`.
pub fn enrollment_name(tenant_id: Uuid, program: Program) -> String {
    format!("partners/{tenant_id}/enrollments/{}", program_slug(program))
}

/// One program enrollment of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The program.
    pub program: Program,
    /// Stored state; see [`Enrollment::effective_state`].
    pub state: State,
    /// Submission time.
    pub create_time: i64,
    /// Latest approval date.
    pub approval_due_time: i64,
    /// Approval time.
    pub approve_time: Option<i64>,
    /// Activation time.
    pub activate_time: Option<i64>,
    /// Accepted agreement version.
    pub agreement_version: Option<String>,
    /// Rejection reason.
    pub reject_reason: Option<String>,
    /// Indirect reseller on a tenant whose direct bill is restricted.
    pub transitioning: bool,
    /// When indirect reseller access ends because direct bill overrides it.
    pub access_end_time: Option<i64>,
    /// Last change.
    pub update_time: i64,
    /// Incremented on every change; the etag.
    pub version: i64,
}

impl Enrollment {
    /// The resource name.
    pub fn name(&self) -> String {
        enrollment_name(self.tenant_id, self.program)
    }

    /// The state at `now`: an indirect reseller enrollment whose access has ended reads as
    /// OVERRIDDEN even before the background sweep records it.
    pub fn effective_state(&self, now: i64) -> State {
        match self.access_end_time {
            Some(end) if end <= now && self.is_live() => State::Overridden,
            _ => self.state,
        }
    }

    fn is_live(&self) -> bool {
        matches!(
            self.state,
            State::PendingApproval | State::Approved | State::Active
        )
    }

    /// The protobuf view at `now`.
    pub fn to_proto(&self, now: i64) -> pb::Enrollment {
        let time = |micros: Option<i64>| micros.map(suite_time::timestamp);
        pb::Enrollment {
            name: self.name(),
            program: self.program as i32,
            state: self.effective_state(now) as i32,
            create_time: time(Some(self.create_time)),
            approval_due_time: time(Some(self.approval_due_time)),
            approve_time: time(self.approve_time),
            activate_time: time(self.activate_time),
            agreement_version: self.agreement_version.clone().unwrap_or_default(),
            reject_reason: self.reject_reason.clone().unwrap_or_default(),
            transitioning: self.transitioning,
            access_end_time: time(self.access_end_time),
            update_time: time(Some(self.update_time)),
            etag: self.version.to_string(),
        }
    }

    fn changed(&self, now: i64) -> Self {
        Self {
            update_time: now,
            version: self.version + 1,
            ..self.clone()
        }
    }
}

/// Everything a new enrollment is decided on.
pub struct EnrollmentContext<'a> {
    /// The partner.
    pub partner: &'a Partner,
    /// Its existing enrollments.
    pub enrollments: &'a [Enrollment],
    /// Its direct-bill revenue eligibility.
    pub eligibility: &'a Eligibility,
    /// Programs approved on submission.
    pub auto_approved: &'a [Program],
    /// Now.
    pub now: i64,
}

fn find(enrollments: &[Enrollment], program: Program) -> Option<&Enrollment> {
    enrollments.iter().find(|e| e.program == program)
}

/// The enrollment a submission for `program` creates, or why it is refused.
pub fn decide_enrollment(
    program: Program,
    context: &EnrollmentContext<'_>,
) -> Result<Enrollment, Error> {
    let partner = context.partner;
    let subject = partner_name(partner.tenant_id);
    let issues = profile_issues(partner, context.now);
    if !issues.is_empty() {
        let violations = issues
            .iter()
            .map(|issue| PreconditionViolation {
                kind: format!("PROFILE_{}", issue.kind),
                subject: format!("{subject}#{}", issue.field),
                description: issue.description.clone(),
            })
            .collect();
        return Err(Error::Precondition {
            reason: "PROFILE_NOT_CURRENT",
            message: "the partner profile and PartnerID must be current before enrolling: see CheckPartnerProfile".into(),
            violations,
        });
    }

    let direct_bill =
        find(context.enrollments, Program::DirectBill).filter(|e| e.state != State::Rejected);
    if let Some(existing) =
        find(context.enrollments, program).filter(|e| e.state != State::Rejected)
    {
        let message = match (program, existing.state) {
            (Program::DirectBill, _) => {
                "this tenant is already enrolled in direct bill; to re-apply after becoming an indirect reseller, use a new tenant"
            }
            _ => "this tenant is already enrolled in the program",
        };
        return Err(Error::AlreadyEnrolled {
            name: existing.name(),
            message: message.into(),
        });
    }

    let transitioning = match program {
        Program::DirectBill if !context.eligibility.eligible => {
            return Err(Error::Precondition {
                reason: "REVENUE_BELOW_THRESHOLD",
                message: format!(
                    "direct bill needs USD {} of CSP revenue over the trailing 12 months; {} to {} shows USD {}",
                    dollars(context.eligibility.threshold_minor),
                    context.eligibility.window_start,
                    context.eligibility.window_end,
                    dollars(context.eligibility.trailing_minor),
                ),
                violations: vec![PreconditionViolation {
                    kind: "REVENUE_BELOW_THRESHOLD".into(),
                    subject: subject.clone(),
                    description: "record the missing revenue, or apply once the trailing 12 months reach the threshold".into(),
                }],
            });
        }
        Program::IndirectReseller => match direct_bill.map(|e| e.state) {
            None => false,
            Some(State::Restricted) => true,
            Some(_) => {
                return Err(Error::Precondition {
                    reason: "NEW_TENANT_REQUIRED",
                    message: "this tenant holds a direct-bill enrollment that is not restricted: enroll as indirect reseller with a new tenant, or once direct bill is RESTRICTED".into(),
                    violations: vec![PreconditionViolation {
                        kind: "DIRECT_BILL_NOT_RESTRICTED".into(),
                        subject: enrollment_name(partner.tenant_id, Program::DirectBill),
                        description: "use a new tenant for indirect reseller".into(),
                    }],
                });
            }
        },
        _ => false,
    };

    let now = context.now;
    let auto_approve = context.auto_approved.contains(&program);
    Ok(Enrollment {
        tenant_id: partner.tenant_id,
        program,
        state: if auto_approve {
            State::Approved
        } else {
            State::PendingApproval
        },
        create_time: now,
        approval_due_time: add_business_days(now, APPROVAL_BUSINESS_DAYS),
        approve_time: auto_approve.then_some(now),
        activate_time: None,
        agreement_version: None,
        reject_reason: None,
        transitioning,
        access_end_time: None,
        update_time: now,
        version: find(context.enrollments, program).map_or(1, |rejected| rejected.version + 1),
    })
}

fn dollars(minor: i64) -> String {
    let whole = minor / 100;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

fn not_in_state(enrollment: &Enrollment, expected: &str, now: i64) -> Error {
    Error::Precondition {
        reason: "ENROLLMENT_STATE_CONFLICT",
        message: format!(
            "{} is {}; this needs it {expected}",
            enrollment.name(),
            enrollment
                .effective_state(now)
                .as_str_name()
                .trim_start_matches("ENROLLMENT_STATE_")
        ),
        violations: vec![PreconditionViolation {
            kind: "ENROLLMENT_STATE".into(),
            subject: enrollment.name(),
            description: format!("must be {expected}"),
        }],
    }
}

/// PENDING_APPROVAL → APPROVED.
pub fn approve(enrollment: &Enrollment, now: i64) -> Result<Enrollment, Error> {
    if enrollment.effective_state(now) != State::PendingApproval {
        return Err(not_in_state(enrollment, "PENDING_APPROVAL", now));
    }
    Ok(Enrollment {
        state: State::Approved,
        approve_time: Some(now),
        ..enrollment.changed(now)
    })
}

/// PENDING_APPROVAL → REJECTED, with the reason shown to the partner.
pub fn reject(enrollment: &Enrollment, reason: String, now: i64) -> Result<Enrollment, Error> {
    if enrollment.effective_state(now) != State::PendingApproval {
        return Err(not_in_state(enrollment, "PENDING_APPROVAL", now));
    }
    Ok(Enrollment {
        state: State::Rejected,
        reject_reason: Some(reason),
        ..enrollment.changed(now)
    })
}

/// ACTIVE direct bill → RESTRICTED. Returns the restricted enrollment and, when it was
/// overriding an indirect reseller enrollment, that enrollment with the override lifted.
pub fn restrict(
    enrollment: &Enrollment,
    enrollments: &[Enrollment],
    now: i64,
) -> Result<(Enrollment, Option<Enrollment>), Error> {
    if enrollment.program != Program::DirectBill || enrollment.effective_state(now) != State::Active
    {
        return Err(not_in_state(
            enrollment,
            "an ACTIVE direct-bill enrollment",
            now,
        ));
    }
    let restricted = Enrollment {
        state: State::Restricted,
        ..enrollment.changed(now)
    };
    let relieved = find(enrollments, Program::IndirectReseller)
        .filter(|reseller| {
            reseller.access_end_time.is_some() && reseller.effective_state(now) != State::Overridden
        })
        .map(|reseller| Enrollment {
            access_end_time: None,
            ..reseller.changed(now)
        });
    Ok((restricted, relieved))
}

/// APPROVED → ACTIVE on acceptance of the program's agreement. When direct bill becomes
/// active on a tenant that is also an indirect reseller, that enrollment gets an access end
/// after `grace` (returned second).
pub fn activate(
    enrollment: &Enrollment,
    enrollments: &[Enrollment],
    agreement_version: String,
    accept_time: i64,
    grace_micros: i64,
    now: i64,
) -> Result<(Enrollment, Option<Enrollment>), Error> {
    if enrollment.effective_state(now) != State::Approved {
        return Err(not_in_state(enrollment, "APPROVED", now));
    }
    let active = Enrollment {
        state: State::Active,
        activate_time: Some(accept_time),
        agreement_version: Some(agreement_version),
        ..enrollment.changed(now)
    };
    let overridden = match enrollment.program {
        Program::DirectBill => find(enrollments, Program::IndirectReseller)
            .filter(|reseller| reseller.is_live() && reseller.access_end_time.is_none())
            .map(|reseller| Enrollment {
                access_end_time: Some(now.saturating_add(grace_micros)),
                ..reseller.changed(now)
            }),
        _ => None,
    };
    Ok((active, overridden))
}

/// The indirect reseller enrollment recorded as OVERRIDDEN once its access end has passed.
pub fn record_override(enrollment: &Enrollment, now: i64) -> Option<Enrollment> {
    (enrollment.effective_state(now) == State::Overridden && enrollment.state != State::Overridden)
        .then(|| Enrollment {
            state: State::Overridden,
            ..enrollment.changed(now)
        })
}

/// Whether the tenant is a transitioning partner: its indirect reseller enrollment, made on
/// its restricted direct-bill tenant, is complete (ACTIVE).
pub fn is_transitioning(enrollments: &[Enrollment], now: i64) -> bool {
    find(enrollments, Program::IndirectReseller).is_some_and(|reseller| {
        reseller.transitioning && reseller.effective_state(now) == State::Active
    })
}

/// Warnings for the program information page.
pub fn warnings(enrollments: &[Enrollment], now: i64) -> Vec<String> {
    let Some(reseller) = find(enrollments, Program::IndirectReseller) else {
        return Vec::new();
    };
    match reseller.access_end_time {
        Some(end) if reseller.effective_state(now) != State::Overridden => {
            let days_left = (end - now).div_euclid(DAY_MICROS).max(0);
            vec![format!(
                "direct bill is active on this tenant and overrides indirect reseller: indirect reseller access ends in {days_left} days; move customers and subscriptions before then (we recommend separate tenants for the two programs)"
            )]
        }
        _ => Vec::new(),
    }
}

/// What the tenant's enrollments allow at `now`, in enum order.
pub fn capabilities(enrollments: &[Enrollment], now: i64) -> Vec<Capability> {
    use Capability as C;
    let state_of = |program| find(enrollments, program).map(|e| e.effective_state(now));
    let transitioned = is_transitioning(enrollments, now);
    let mut granted = Vec::new();
    match state_of(Program::DirectBill) {
        Some(State::Active) => granted.extend([
            C::PurchaseOrders,
            C::ViewCustomerSubscriptions,
            C::ManageOrderHistory,
            C::BillCustomersDirectly,
            C::ViewPriceList,
            C::SandboxAccess,
            C::ApiSdkAccess,
            C::AddCustomers,
        ]),
        Some(State::Restricted) => granted.extend([
            C::ViewCustomerSubscriptions,
            C::ManageOrderHistory,
            C::BillCustomersDirectly,
            C::ViewPriceList,
            C::SandboxAccess,
            C::ApiSdkAccess,
            C::ManageExistingDirectCustomers,
        ]),
        _ => {}
    }
    if transitioned {
        // Sandbox and API/SDK access belong to direct bill: a transitioned tenant loses them.
        granted.retain(|capability| !matches!(capability, C::SandboxAccess | C::ApiSdkAccess));
    }
    if state_of(Program::IndirectReseller) == Some(State::Active) {
        granted.extend([
            C::RequestProviderOrders,
            C::ManageCustomerLicensesAndUsers,
            C::CreateServiceRequests,
            C::ViewCustomerAnalytics,
        ]);
        if transitioned {
            granted.extend([C::ResellerRelationshipExtension, C::SelfServiceTransfer]);
        }
    }
    granted.sort_by_key(|capability| *capability as i32);
    granted.dedup();
    granted
}
