//! Incentive programs: the direct bill incentive and the invitation-only indirect reseller
//! incentive, managed separately on one tenant.

use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

pub use pb::{IncentiveProgram, IncentiveState};

/// The URL segment of an incentive program.
pub fn incentive_slug(program: IncentiveProgram) -> &'static str {
    match program {
        IncentiveProgram::DirectBill => "direct-bill",
        IncentiveProgram::IndirectReseller => "indirect-reseller",
        IncentiveProgram::Unspecified => "unspecified",
    }
}

/// A known incentive program; unspecified is refused.
pub fn parse_incentive_program(value: i32) -> Result<IncentiveProgram, String> {
    match IncentiveProgram::try_from(value) {
        Ok(IncentiveProgram::Unspecified) => Err("required".into()),
        Ok(program) => Ok(program),
        Err(_) => Err(format!("unknown incentive program {value}")),
    }
}

/// A partner's standing in one incentive program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncentiveEnrollment {
    /// The partner.
    pub tenant_id: Uuid,
    /// The program.
    pub program: IncentiveProgram,
    /// Invited or enrolled.
    pub state: IncentiveState,
    /// When the invitation went out.
    pub invite_time: Option<i64>,
    /// Where it went.
    pub invite_email: Option<String>,
    /// When the partner enrolled.
    pub enroll_time: Option<i64>,
}

impl IncentiveEnrollment {
    /// `partners/{tenant}/incentives/{program}`.
    pub fn name(&self) -> String {
        format!(
            "partners/{}/incentives/{}",
            self.tenant_id,
            incentive_slug(self.program)
        )
    }
}

impl From<&IncentiveEnrollment> for pb::IncentiveEnrollment {
    fn from(incentive: &IncentiveEnrollment) -> Self {
        pb::IncentiveEnrollment {
            name: incentive.name(),
            program: incentive.program as i32,
            state: incentive.state as i32,
            invite_time: incentive.invite_time.map(suite_time::timestamp),
            invite_email: incentive.invite_email.clone().unwrap_or_default(),
            enroll_time: incentive.enroll_time.map(suite_time::timestamp),
        }
    }
}
