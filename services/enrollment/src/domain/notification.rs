//! The e-mails the enrollment service sends, through the outbox.

use super::calendar::DAY_MICROS;
use super::partner::Partner;
use super::program::{Enrollment, program_slug};

pub use suite_mail::Email;

/// To the primary contact when an enrollment is approved.
pub fn enrollment_approved(partner: &Partner, enrollment: &Enrollment) -> Email {
    let program = program_slug(enrollment.program);
    Email {
        to: partner.primary_contact_email.clone(),
        subject: format!("Your {program} enrollment is approved"),
        body: format!(
            "Hello,\n\nThe {program} enrollment of {} ({}) is approved. Accept the matching Microsoft Partner Agreement on the Agreements page to enable the program.\n",
            partner.legal_name, partner.tenant_id
        ),
    }
}

/// To the AI Cloud Partner Program account when a transitioning partner is approved as an
/// indirect reseller.
pub fn incentive_invitation(partner: &Partner, to: &str) -> Email {
    Email {
        to: to.to_owned(),
        subject: "Invitation: indirect reseller incentive program".into(),
        body: format!(
            "Hello,\n\n{} (tenant {}) is invited to the indirect reseller incentive program. The direct bill incentive program, if you are in it, is managed separately.\n",
            partner.legal_name, partner.tenant_id
        ),
    }
}

/// To the primary contact when direct bill starts overriding indirect reseller access.
pub fn override_warning(partner: &Partner, access_end_time: i64, now: i64) -> Email {
    let days = (access_end_time - now).div_euclid(DAY_MICROS);
    Email {
        to: partner.primary_contact_email.clone(),
        subject: "Indirect reseller access will end".into(),
        body: format!(
            "Hello,\n\nDirect bill is now active on tenant {} which is also enrolled as an indirect reseller. Direct bill overrides: indirect reseller access ends in {days} days. Move customers and subscriptions before then. We recommend a separate tenant for each program.\n",
            partner.tenant_id
        ),
    }
}
