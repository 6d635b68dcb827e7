//! Partnerships between official indirect providers and indirect resellers: names, the
//! invitation token, and the state machine (Cloud Channel's `ChannelPartnerLink`).

use std::fmt;

use sha2::{Digest, Sha256};
use suite_errors::{FieldViolations, fields};
use suite_identity::{Caller, Role};
use suite_proto::relationship::v1 as pb;
use uuid::Uuid;

use crate::error::{Error, InvitationKind};

pub use pb::PartnershipState;

/// Longest invitation token accepted; generated ones are 64 characters.
const MAX_TOKEN: usize = 256;

/// One partnership between a provider and a reseller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partnership {
    /// The official indirect provider.
    pub provider_tenant_id: Uuid,
    /// The indirect reseller.
    pub reseller_tenant_id: Uuid,
    /// Where it stands.
    pub state: PartnershipState,
    /// Where the invitation went.
    pub invite_email: String,
    /// SHA-256 (hex) of the latest invitation token; the token itself is never stored.
    pub invitation_token_hash: String,
    /// When the latest invitation went out.
    pub invite_time: i64,
    /// When the latest invitation stops being accepted.
    pub invitation_expire_time: i64,
    /// Whether the sweep has recorded that the latest invitation expired unaccepted (once
    /// per link: a new invitation is a new link).
    pub invitation_lapsed: bool,
    /// When the reseller accepted.
    pub accept_time: Option<i64>,
    /// The side that suspended it, while suspended.
    pub suspended_by: Option<Uuid>,
    /// First invitation.
    pub create_time: i64,
    /// Last change.
    pub update_time: i64,
    /// Incremented on every change; the etag.
    pub version: i64,
}

/// Which side of a partnership a name is written from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `partners/{provider}/indirectResellers/{reseller}`.
    Provider,
    /// `partners/{reseller}/indirectProviders/{provider}`.
    Reseller,
}

/// A partnership name, from either side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartnershipName {
    /// The side whose tenant comes first in the name.
    pub side: Side,
    /// The provider.
    pub provider_tenant_id: Uuid,
    /// The reseller.
    pub reseller_tenant_id: Uuid,
}

impl PartnershipName {
    /// The tenant the name belongs to (its first segment).
    pub fn owner(&self) -> Uuid {
        match self.side {
            Side::Provider => self.provider_tenant_id,
            Side::Reseller => self.reseller_tenant_id,
        }
    }

    /// The name as written.
    pub fn name(&self) -> String {
        partnership_name(self.side, self.provider_tenant_id, self.reseller_tenant_id)
    }

    /// The provider's name of the partnership, under which it is audited and published, so
    /// that both sides' changes share one key.
    pub fn canonical(&self) -> String {
        partnership_name(
            Side::Provider,
            self.provider_tenant_id,
            self.reseller_tenant_id,
        )
    }
}

/// The name of a partnership as `side` sees it.
pub fn partnership_name(side: Side, provider_tenant_id: Uuid, reseller_tenant_id: Uuid) -> String {
    match side {
        Side::Provider => {
            format!("partners/{provider_tenant_id}/indirectResellers/{reseller_tenant_id}")
        }
        Side::Reseller => {
            format!("partners/{reseller_tenant_id}/indirectProviders/{provider_tenant_id}")
        }
    }
}

/// Parses either name of a partnership.
pub fn parse_partnership_name(name: &str) -> Result<PartnershipName, String> {
    let side = match name.split('/').nth(2) {
        Some("indirectResellers") => Side::Provider,
        Some("indirectProviders") => Side::Reseller,
        _ => {
            return Err(
                "must be partners/{provider}/indirectResellers/{reseller} or partners/{reseller}/indirectProviders/{provider}"
                    .into(),
            );
        }
    };
    let collection = match side {
        Side::Provider => "indirectResellers",
        Side::Reseller => "indirectProviders",
    };
    let ids = fields::resource_name(name, &["partners", collection])?;
    let owner = fields::uuid(ids[0]).map_err(|reason| format!("partner id {reason}"))?;
    let other = fields::uuid(ids[1]).map_err(|reason| format!("partner id {reason}"))?;
    let (provider_tenant_id, reseller_tenant_id) = match side {
        Side::Provider => (owner, other),
        Side::Reseller => (other, owner),
    };
    Ok(PartnershipName {
        side,
        provider_tenant_id,
        reseller_tenant_id,
    })
}

impl Partnership {
    /// The protobuf view from `side`.
    pub fn to_proto(&self, side: Side) -> pb::Partnership {
        pb::Partnership {
            name: partnership_name(side, self.provider_tenant_id, self.reseller_tenant_id),
            provider_tenant_id: self.provider_tenant_id.to_string(),
            reseller_tenant_id: self.reseller_tenant_id.to_string(),
            state: self.state as i32,
            invite_email: self.invite_email.clone(),
            invite_time: Some(suite_time::timestamp(self.invite_time)),
            invitation_expire_time: Some(suite_time::timestamp(self.invitation_expire_time)),
            accept_time: self.accept_time.map(suite_time::timestamp),
            suspended_by: self
                .suspended_by
                .map(|tenant| format!("partners/{tenant}"))
                .unwrap_or_default(),
            create_time: Some(suite_time::timestamp(self.create_time)),
            update_time: Some(suite_time::timestamp(self.update_time)),
            etag: self.version.to_string(),
        }
    }

    /// The canonical name.
    pub fn canonical_name(&self) -> String {
        partnership_name(
            Side::Provider,
            self.provider_tenant_id,
            self.reseller_tenant_id,
        )
    }

    fn changed(&self, now: i64) -> Self {
        Self {
            update_time: now,
            version: self.version + 1,
            ..self.clone()
        }
    }

    fn state_name(&self) -> &'static str {
        self.state
            .as_str_name()
            .trim_start_matches("PARTNERSHIP_STATE_")
    }
}

/// A fresh invitation token: two random (v4) UUIDs, 244 bits from the operating system's
/// CSPRNG, as 64 hex digits. It never prints.
pub struct InvitationToken(String);

impl InvitationToken {
    /// A new random token.
    pub fn generate() -> Self {
        let mut token = String::with_capacity(64);
        for _ in 0..2 {
            token.push_str(&Uuid::new_v4().simple().to_string());
        }
        Self(token)
    }

    /// The token, to put in the link only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored instead of the token.
    pub fn hash(&self) -> String {
        token_hash(&self.0)
    }
}

impl fmt::Debug for InvitationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationToken(..)")
    }
}

/// SHA-256 of a presented token, hex.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether a presented token's hash is the stored one: the one comparison of token hashes,
/// in constant time, so that the time taken tells nothing about how much of it matched.
pub fn token_matches(presented_hash: &str, stored_hash: &str) -> bool {
    presented_hash.len() == stored_hash.len()
        && presented_hash
            .bytes()
            .zip(stored_hash.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What a token presented for an invitation turns out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentedToken {
    /// This invitation's own token.
    ThisInvitations,
    /// The token of another invitation of the same kind: the wrong link was opened.
    AnotherInvitations,
    /// No invitation's token.
    Unknown,
}

impl PresentedToken {
    /// `ThisInvitations` when `presented_hash` is `stored_hash`, else what `in_use` says of it.
    pub fn classify(presented_hash: &str, stored_hash: &str, in_use: bool) -> Self {
        if token_matches(presented_hash, stored_hash) {
            PresentedToken::ThisInvitations
        } else if in_use {
            PresentedToken::AnotherInvitations
        } else {
            PresentedToken::Unknown
        }
    }
}

/// A presented token: present and of a sane length; whether it is right is the store's call.
pub fn parse_token(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("required: the token of the invitation link".into());
    }
    if value.len() > MAX_TOKEN {
        return Err(format!("must be at most {MAX_TOKEN} characters"));
    }
    Ok(value.to_owned())
}

/// The link e-mailed to the reseller: `base?name=…&token=…`.
pub fn invitation_link(base: &str, partnership: &Partnership, token: &InvitationToken) -> String {
    format!(
        "{base}?name={}&token={}",
        partnership_name(
            Side::Reseller,
            partnership.provider_tenant_id,
            partnership.reseller_tenant_id
        ),
        token.expose()
    )
}

pub use suite_mail::Email;

/// To the reseller's administrator: the invitation and its link.
pub fn invitation_email(partnership: &Partnership, link: &str) -> Email {
    Email {
        to: partnership.invite_email.clone(),
        subject: "Invitation: become an indirect reseller of an indirect provider".into(),
        body: format!(
            "Hello,\n\nThe indirect provider with tenant {} invites your tenant {} to become its indirect reseller. \
             A global admin of your tenant can accept by opening this link before {} (UTC):\n\n{link}\n\n\
             The link works once. If you did not expect this invitation, ignore this e-mail.\n",
            partnership.provider_tenant_id,
            partnership.reseller_tenant_id,
            suite_time::timestamp(partnership.invitation_expire_time),
        ),
    }
}

/// A validated invitation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The inviting provider.
    pub provider_tenant_id: Uuid,
    /// The invited reseller.
    pub reseller_tenant_id: Uuid,
    /// The reseller's administrator.
    pub invite_email: String,
}

impl Invitation {
    /// Validates `request`, recording every problem in `violations`.
    pub fn parse(
        request: &pb::InviteIndirectResellerRequest,
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        let provider = violations.check("parent", crate::domain::parse_parent(&request.parent));
        let reseller = violations.check(
            "reseller_tenant_id",
            fields::uuid(&request.reseller_tenant_id),
        );
        let email = violations.check("invite_email", fields::email(&request.invite_email));
        if provider.is_some() && provider == reseller {
            violations.add(
                "reseller_tenant_id",
                "must be another tenant than the provider",
            );
            return None;
        }
        Some(Self {
            provider_tenant_id: provider?,
            reseller_tenant_id: reseller?,
            invite_email: email?,
        })
    }
}

/// The partnership an invitation creates or renews, given the one already recorded for the
/// pair: none, or INVITED with an expired link, is (re)invited; the others refuse.
pub fn invite(
    existing: Option<&Partnership>,
    invitation: &Invitation,
    token: &InvitationToken,
    lifetime_micros: i64,
    now: i64,
) -> Result<Partnership, Error> {
    let fresh = Partnership {
        provider_tenant_id: invitation.provider_tenant_id,
        reseller_tenant_id: invitation.reseller_tenant_id,
        state: PartnershipState::Invited,
        invite_email: invitation.invite_email.clone(),
        invitation_token_hash: token.hash(),
        invite_time: now,
        invitation_expire_time: now.saturating_add(lifetime_micros),
        invitation_lapsed: false,
        accept_time: None,
        suspended_by: None,
        create_time: now,
        update_time: now,
        version: 1,
    };
    let Some(current) = existing else {
        return Ok(fresh);
    };
    match current.state {
        PartnershipState::Invited
            if current.invitation_lapsed || current.invitation_expire_time <= now =>
        {
            Ok(Partnership {
                create_time: current.create_time,
                version: current.version + 1,
                ..fresh
            })
        }
        PartnershipState::Revoked => Err(Error::Precondition {
            reason: "PARTNERSHIP_REVOKED",
            subject: current.canonical_name(),
            message:
                "this partnership was revoked, which is final: the reseller cannot be invited again"
                    .into(),
        }),
        _ => Err(Error::PartnershipExists(current.canonical_name())),
    }
}

/// INVITED → ACTIVE when the `presented` token is the live invitation's.
pub fn accept(
    current: &Partnership,
    presented: PresentedToken,
    now: i64,
) -> Result<Partnership, Error> {
    let subject = partnership_name(
        Side::Reseller,
        current.provider_tenant_id,
        current.reseller_tenant_id,
    );
    let refuse = |reason: &'static str, message: &str| Error::Precondition {
        reason,
        subject: subject.clone(),
        message: message.to_owned(),
    };
    match presented {
        PresentedToken::ThisInvitations => {}
        PresentedToken::AnotherInvitations => {
            return Err(refuse(
                "INVITATION_TOKEN_MISMATCH",
                "this token belongs to another invitation: open the link of this partnership's invitation",
            ));
        }
        PresentedToken::Unknown => {
            return Err(Error::InvitationNotFound(
                InvitationKind::Partnership,
                subject,
            ));
        }
    }
    match current.state {
        // Once the sweep recorded the expiry, the link stays expired whatever clock asks.
        PartnershipState::Invited
            if current.invitation_lapsed || current.invitation_expire_time <= now =>
        {
            Err(refuse(
                "INVITATION_EXPIRED",
                "the invitation link has expired: ask the provider to invite again",
            ))
        }
        PartnershipState::Invited => Ok(Partnership {
            state: PartnershipState::Active,
            accept_time: Some(now),
            ..current.changed(now)
        }),
        PartnershipState::Revoked => Err(refuse(
            "PARTNERSHIP_REVOKED",
            "the partnership was revoked: the invitation can no longer be accepted",
        )),
        _ => Err(refuse(
            "INVITATION_ALREADY_USED",
            "the invitation was already accepted; the link works once",
        )),
    }
}

/// Whether the sweep is to record at `now` that the latest invitation expired unaccepted.
/// The partnership stays INVITED, its etag unchanged (nothing a side reads changes), and the
/// provider may invite again.
pub fn invitation_lapse_due(current: &Partnership, now: i64) -> bool {
    current.state == PartnershipState::Invited
        && !current.invitation_lapsed
        && current.invitation_expire_time <= now
}

/// What a side may do to a partnership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// ACTIVE → SUSPENDED, either side.
    Suspend,
    /// SUSPENDED → ACTIVE, the side that suspended.
    Resume,
    /// INVITED, ACTIVE or SUSPENDED → REVOKED, either side; final.
    Revoke,
}

impl Transition {
    /// The RPC, for the audit trail and idempotency keys.
    pub fn action(self) -> &'static str {
        match self {
            Transition::Suspend => "SuspendPartnership",
            Transition::Resume => "ResumePartnership",
            Transition::Revoke => "RevokePartnership",
        }
    }

    /// The outbox topic.
    pub fn topic(self) -> &'static str {
        match self {
            Transition::Suspend => "relationship.v1.partnership.suspended",
            Transition::Resume => "relationship.v1.partnership.resumed",
            Transition::Revoke => "relationship.v1.partnership.revoked",
        }
    }
}

/// `current` after `transition` made by `by_tenant`, or why not.
pub fn transition(
    current: &Partnership,
    transition: Transition,
    by_tenant: Uuid,
    now: i64,
) -> Result<Partnership, Error> {
    let conflict = |expected: &str| Error::Precondition {
        reason: "PARTNERSHIP_STATE_CONFLICT",
        subject: current.canonical_name(),
        message: format!(
            "the partnership is {}; this needs it {expected}",
            current.state_name()
        ),
    };
    match (transition, current.state) {
        (Transition::Suspend, PartnershipState::Active) => Ok(Partnership {
            state: PartnershipState::Suspended,
            suspended_by: Some(by_tenant),
            ..current.changed(now)
        }),
        (Transition::Suspend, _) => Err(conflict("ACTIVE")),
        (Transition::Resume, PartnershipState::Suspended) => {
            if current.suspended_by != Some(by_tenant) {
                return Err(Error::Precondition {
                    reason: "SUSPENDED_BY_OTHER_SIDE",
                    subject: current.canonical_name(),
                    message: "only the side that suspended the partnership resumes it".into(),
                });
            }
            Ok(Partnership {
                state: PartnershipState::Active,
                suspended_by: None,
                ..current.changed(now)
            })
        }
        (Transition::Resume, _) => Err(conflict("SUSPENDED")),
        (Transition::Revoke, PartnershipState::Revoked) => Err(conflict("not REVOKED")),
        (Transition::Revoke, _) => Ok(Partnership {
            state: PartnershipState::Revoked,
            suspended_by: None,
            ..current.changed(now)
        }),
    }
}

/// Whether anything new (customer invitations and their acceptance, customers created for
/// the reseller, extensions, transfer requests) may go through a partnership in `state`:
/// only while ACTIVE. What customers already have is theirs and stays.
pub fn allows_new_business(state: PartnershipState) -> bool {
    state == PartnershipState::Active
}

/// GLOBAL_ADMIN or ADMIN_AGENT: who suspends, resumes and revokes for either side.
pub fn require_partnership_admin(caller: &Caller) -> Result<(), Error> {
    if caller.require_role(Role::GlobalAdmin).is_ok()
        || caller.require_role(Role::AdminAgent).is_ok()
    {
        return Ok(());
    }
    Err(Error::Forbidden {
        reason: "ROLE_REQUIRED",
        message: "this call requires the GLOBAL_ADMIN or ADMIN_AGENT role".into(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn both_names_parse_to_the_same_pair() {
        let (provider, reseller) = (Uuid::new_v4(), Uuid::new_v4());
        for side in [Side::Provider, Side::Reseller] {
            let name = partnership_name(side, provider, reseller);
            let parsed = parse_partnership_name(&name).unwrap();
            assert_eq!(parsed.provider_tenant_id, provider);
            assert_eq!(parsed.reseller_tenant_id, reseller);
            assert_eq!(parsed.name(), name);
        }
        assert!(
            parse_partnership_name(&format!("partners/{provider}/customers/{reseller}")).is_err()
        );
    }

    #[test]
    fn tokens_are_long_random_and_never_print() {
        let (a, b) = (InvitationToken::generate(), InvitationToken::generate());
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hash(), token_hash(a.expose()));
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn only_active_partnerships_carry_new_business() {
        use PartnershipState as S;
        let allowed: Vec<_> = [S::Invited, S::Active, S::Suspended, S::Revoked]
            .into_iter()
            .filter(|state| allows_new_business(*state))
            .collect();
        assert_eq!(allowed, vec![S::Active]);
    }
}
