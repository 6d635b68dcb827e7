//! Customer invitations: an indirect reseller invites a customer to reseller relationships
//! with itself and one of its providers at once, or a direct-bill partner asks a customer
//! for a relationship with itself alone, naming the subscriptions it is to take over (the New Commerce
//! partner-to-partner transfer starts so); one acceptance by the customer's admin creates
//! every relationship the invitation names.

use suite_errors::{FieldViolations, fields};
use suite_proto::relationship::v1 as pb;
use uuid::Uuid;

use super::customer::{BillingProfile, Customer, partner_name};
use super::partnerships::{InvitationToken, PresentedToken};
use crate::error::{Error, InvitationKind};

/// A customer invitation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerInvitation {
    /// Invitation id.
    pub id: Uuid,
    /// The inviting partner.
    pub reseller_tenant_id: Uuid,
    /// The provider the customer also gets, when an indirect reseller invites.
    pub provider_tenant_id: Option<Uuid>,
    /// What the inviting partner becomes to the customer.
    pub inviter_role: pb::PartnerRole,
    /// The subscriptions the inviting partner is to take over, as agreed (words, for the
    /// customer); empty for a reseller's invitation.
    pub subscriptions: Vec<String>,
    /// The only tenant whose admin may accept, if the invitation names one.
    pub customer_tenant_id: Option<Uuid>,
    /// Where it stands.
    pub state: pb::CustomerInvitationState,
    /// SHA-256 of the link's token.
    pub token_hash: String,
    /// Until when the link is accepted, microseconds since the epoch.
    pub expire_time: i64,
    /// The customer that accepted.
    pub accepted_customer_tenant_id: Option<Uuid>,
    /// When it was accepted.
    pub accept_time: Option<i64>,
    /// Creation time.
    pub create_time: i64,
    /// Incremented on every change; the etag.
    pub version: i64,
}

/// `partners/{reseller}/customerInvitations/{id}`.
pub fn invitation_name(reseller_tenant_id: Uuid, id: Uuid) -> String {
    format!("partners/{reseller_tenant_id}/customerInvitations/{id}")
}

/// The reseller and invitation id in an invitation name.
pub fn parse_invitation_name(name: &str) -> Result<(Uuid, Uuid), String> {
    let ids = fields::resource_name(name, &["partners", "customerInvitations"])?;
    let reseller = fields::uuid(ids[0]).map_err(|reason| format!("partner id {reason}"))?;
    let id = fields::uuid(ids[1]).map_err(|reason| format!("invitation id {reason}"))?;
    Ok((reseller, id))
}

impl CustomerInvitation {
    /// A new invitation from `inviter` (with the provider it names, if any), valid for
    /// `lifetime_micros`, and the token its link carries.
    pub fn new(
        inviter: Inviter,
        customer_tenant_id: Option<Uuid>,
        now: i64,
        lifetime_micros: i64,
    ) -> (Self, InvitationToken) {
        let token = InvitationToken::generate();
        let invitation = Self {
            id: Uuid::now_v7(),
            reseller_tenant_id: inviter.tenant_id,
            provider_tenant_id: inviter.provider_tenant_id,
            inviter_role: inviter.role,
            subscriptions: inviter.subscriptions,
            customer_tenant_id,
            state: pb::CustomerInvitationState::Pending,
            token_hash: token.hash(),
            expire_time: now.saturating_add(lifetime_micros),
            accepted_customer_tenant_id: None,
            accept_time: None,
            create_time: now,
            version: 1,
        };
        (invitation, token)
    }

    /// Its resource name.
    pub fn name(&self) -> String {
        invitation_name(self.reseller_tenant_id, self.id)
    }

    /// The partners the customer gets by accepting, each in its role: the inviter, and the
    /// provider it names.
    pub fn partners(&self) -> Vec<(Uuid, pb::PartnerRole)> {
        let mut partners = vec![(self.reseller_tenant_id, self.inviter_role)];
        if let Some(provider) = self.provider_tenant_id {
            partners.push((provider, pb::PartnerRole::IndirectProvider));
        }
        partners
    }

    /// The link a customer's admin opens: `base` with the invitation and its token.
    pub fn link(&self, base: &str, token: &InvitationToken) -> String {
        self.link_with(base, token.expose())
    }

    fn link_with(&self, base: &str, token: &str) -> String {
        format!("{base}?name={}&token={token}", self.name())
    }

    /// The invitation as it stands at `now`: a PENDING one past its expiry is EXPIRED even
    /// before the sweep records it.
    pub fn as_of(&self, now: i64) -> Self {
        self.lapse(now).unwrap_or_else(|| self.clone())
    }

    /// The EXPIRED invitation the sweep records at `now`, if this one is due.
    pub fn lapse(&self, now: i64) -> Option<Self> {
        (self.state == pb::CustomerInvitationState::Pending && now >= self.expire_time).then(|| {
            Self {
                state: pb::CustomerInvitationState::Expired,
                version: self.version + 1,
                ..self.clone()
            }
        })
    }

    /// Whether its e-mail may be sent at `now`: only while it may still be accepted.
    pub fn check_sending(&self, now: i64) -> Result<(), Error> {
        let refuse = |reason: &'static str, message: &str| Error::Precondition {
            reason,
            subject: self.name(),
            message: message.to_owned(),
        };
        match self.as_of(now).state {
            pb::CustomerInvitationState::Accepted => Err(refuse(
                "INVITATION_ALREADY_USED",
                "this invitation was accepted already",
            )),
            pb::CustomerInvitationState::Pending => Ok(()),
            _ => Err(refuse(
                "INVITATION_EXPIRED",
                "this invitation expired and its link no longer works: create a new invitation and send that one",
            )),
        }
    }

    /// The invitation on the wire; the link and the draft e-mail only when just created.
    pub fn to_proto(&self, link: Option<&str>) -> pb::CustomerInvitation {
        let (email_subject, email_body) = match link {
            Some(link) => draft_email(self, link),
            None => (String::new(), String::new()),
        };
        pb::CustomerInvitation {
            name: self.name(),
            provider: self
                .provider_tenant_id
                .map(partner_name)
                .unwrap_or_default(),
            partner_role: self.inviter_role as i32,
            subscriptions: self.subscriptions.clone(),
            customer_tenant_id: self
                .customer_tenant_id
                .map(|t| t.to_string())
                .unwrap_or_default(),
            state: self.state as i32,
            link: link.unwrap_or_default().to_owned(),
            email_subject,
            email_body,
            expire_time: Some(suite_time::timestamp(self.expire_time)),
            create_time: Some(suite_time::timestamp(self.create_time)),
            customer: self
                .accepted_customer_tenant_id
                .map(|t| format!("customers/{t}"))
                .unwrap_or_default(),
            etag: self.version.to_string(),
        }
    }

    /// Whether `customer_tenant_id`'s admin, presenting the `presented` token at `now`, may
    /// accept: the reason it may not otherwise.
    pub fn check_acceptance(
        &self,
        customer_tenant_id: Uuid,
        presented: PresentedToken,
        now: i64,
    ) -> Result<(), Error> {
        let refuse = |reason: &'static str, message: &str| Error::Precondition {
            reason,
            subject: self.name(),
            message: message.to_owned(),
        };
        let not_found = || Error::InvitationNotFound(InvitationKind::Customer, self.name());
        if self
            .customer_tenant_id
            .is_some_and(|t| t != customer_tenant_id)
        {
            return Err(not_found());
        }
        match presented {
            PresentedToken::ThisInvitations => {}
            PresentedToken::AnotherInvitations => {
                return Err(refuse(
                    "INVITATION_TOKEN_MISMATCH",
                    "this token belongs to another invitation: open the link of this invitation's e-mail",
                ));
            }
            PresentedToken::Unknown => return Err(not_found()),
        }
        if self
            .partners()
            .iter()
            .any(|(partner, _)| *partner == customer_tenant_id)
        {
            return Err(refuse(
                "PARTNER_TENANT_CANNOT_ACCEPT",
                "the reseller's and the provider's own tenants are not their customer: the invitation is accepted by a GLOBAL_ADMIN of the customer's tenant",
            ));
        }
        self.check_acceptance_state(now)
    }

    /// Whether the invitation may still be accepted at `now`: neither used nor expired.
    pub fn check_acceptance_state(&self, now: i64) -> Result<(), Error> {
        let refuse = |reason: &'static str, message: &str| Error::Precondition {
            reason,
            subject: self.name(),
            message: message.to_owned(),
        };
        match self.as_of(now).state {
            pb::CustomerInvitationState::Accepted => Err(refuse(
                "INVITATION_ALREADY_USED",
                "this invitation was accepted already: its link works once",
            )),
            pb::CustomerInvitationState::Pending => Ok(()),
            _ => Err(refuse(
                "INVITATION_EXPIRED",
                "this invitation expired: ask the partner for a new one",
            )),
        }
    }
}

/// The drafted e-mail to the customer, with `link`.
fn draft_email(invitation: &CustomerInvitation, link: &str) -> (String, String) {
    let expiry = suite_time::timestamp(invitation.expire_time);
    let Some(provider) = invitation.provider_tenant_id else {
        let subscriptions: String = invitation
            .subscriptions
            .iter()
            .map(|s| format!("  - {s}\n"))
            .collect();
        return (
            "Request: a reseller relationship with a new partner for your subscriptions".into(),
            format!(
                "Hello,\n\nAs agreed, your new partner (tenant {}) asks to become your partner of record, \
                 with admin permissions, so that it can take over these subscriptions from your current \
                 partner:\n\n{subscriptions}\nA global admin of your tenant can accept by opening this link \
                 before {expiry} (UTC):\n\n{link}\n\nThe link works once.\n",
                invitation.reseller_tenant_id,
            ),
        );
    };
    (
        "Invitation: reseller relationships with your indirect reseller and its provider".into(),
        format!(
            "Hello,\n\nYour partner (tenant {}) invites your organisation to establish reseller relationships \
             with it and with its indirect provider (tenant {provider}). Both will be your partners of record with \
             admin permissions, and the provider will order on your behalf.\n\nA global admin of your \
             tenant can accept by opening this link before {expiry} (UTC):\n\n{link}\n\nThe link works once.\n",
            invitation.reseller_tenant_id,
        ),
    )
}

/// Who invites: the partner, what it becomes to the customer, and the provider it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inviter {
    /// The inviting partner.
    pub tenant_id: Uuid,
    /// Its role once the customer accepts.
    pub role: pb::PartnerRole,
    /// The provider the customer also gets, for an indirect reseller's invitation.
    pub provider_tenant_id: Option<Uuid>,
    /// The subscriptions it is to take over, in words.
    pub subscriptions: Vec<String>,
}

/// Most subscriptions a relationship request names, and the longest description of one.
const MAX_SUBSCRIPTIONS: usize = 50;
const MAX_SUBSCRIPTION_TEXT: usize = 200;

/// The subscriptions a relationship request names: each a line of words (offer, quantity).
pub fn parse_subscriptions(
    subscriptions: &[String],
    violations: &mut FieldViolations,
) -> Vec<String> {
    if subscriptions.len() > MAX_SUBSCRIPTIONS {
        violations.add(
            "subscriptions",
            format!("at most {MAX_SUBSCRIPTIONS} subscriptions"),
        );
        return Vec::new();
    }
    subscriptions
        .iter()
        .enumerate()
        .filter_map(|(index, text)| {
            violations.check(
                &format!("subscriptions[{index}]"),
                fields::text(text, MAX_SUBSCRIPTION_TEXT),
            )
        })
        .collect()
}

/// The e-mail a reseller sends: edited as it likes, but the link must stay in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationEmail {
    /// Recipient.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body, with the link.
    pub body: String,
}

impl InvitationEmail {
    /// Validates `request` against `invitation`: the link given must be the one the service
    /// built for it on `link_base` (this invitation's name and token, nothing else), and the
    /// body must carry exactly that link.
    pub fn parse(
        request: &pb::SendCustomerInvitationRequest,
        invitation: &CustomerInvitation,
        link_base: &str,
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        let to = violations.check("to", fields::email(&request.to));
        let subject = violations.check("subject", fields::text(&request.subject, 200));
        let token = request
            .link
            .rsplit_once("&token=")
            .map(|(_, token)| token)
            .unwrap_or_default();
        let link = super::partnerships::token_matches(
            &super::partnerships::token_hash(token),
            &invitation.token_hash,
        )
        .then(|| invitation.link_with(link_base, token))
        .filter(|expected| *expected == request.link);
        if link.is_none() {
            violations.add("link", "must be the link this invitation was created with");
        }
        let body = request.body.trim();
        if body.is_empty() {
            violations.add("body", "required");
        } else if body.chars().count() > 10_000 {
            violations.add("body", "must be at most 10000 characters");
        } else if link
            .as_ref()
            .is_some_and(|link| !body.contains(link.as_str()))
        {
            violations.add("body", "must contain the invitation's link unchanged");
        }
        Some(Self {
            to: to?,
            subject: subject?,
            body: body.to_owned(),
        })
    }
}

/// A customer's company details given at acceptance, validated: `Some(None)` when none are
/// given (a record of one of the two partners may serve), `None` when they are invalid.
pub fn customer_details(
    customer: Option<&pb::Customer>,
    customer_tenant_id: Uuid,
    violations: &mut FieldViolations,
) -> Option<Option<super::NewCustomer>> {
    let Some(given) = customer else {
        return Some(None);
    };
    let given = pb::Customer {
        customer_tenant_id: customer_tenant_id.to_string(),
        ..given.clone()
    };
    super::NewCustomer::parse(Some(&given), violations).map(Some)
}

/// The company details both views of an accepted invitation carry: those of a record one of
/// the two partners already has (with the billing profile given when it keeps none), or else
/// those the customer's admin gave, which are then required.
pub fn accepted_details(
    customer_tenant_id: Uuid,
    given: Option<&super::NewCustomer>,
    existing: Option<&Customer>,
) -> Result<super::NewCustomer, Error> {
    match (existing, given) {
        (Some(record), given) => Ok(super::NewCustomer {
            customer_tenant_id,
            display_name: record.display_name.clone(),
            domain: record.domain.clone(),
            country_code: record.country_code.clone(),
            billing: match given {
                Some(given) if record.billing == BillingProfile::default() => given.billing.clone(),
                _ => record.billing.clone(),
            },
        }),
        (None, Some(given)) => Ok(given.clone()),
        (None, None) => Err(Error::Invalid(FieldViolations::single(
            "customer",
            "required: neither the reseller nor the provider has this customer yet, so give its company details",
        ))),
    }
}

/// The view `partner_tenant_id` gets of the customer through an accepted invitation, in
/// `role`, with the customer's `details`.
pub fn invited_view(
    details: &super::NewCustomer,
    partner_tenant_id: Uuid,
    role: pb::PartnerRole,
    now: i64,
) -> Customer {
    Customer {
        id: Uuid::now_v7(),
        partner_tenant_id,
        customer_tenant_id: details.customer_tenant_id,
        display_name: details.display_name.clone(),
        domain: details.domain.clone(),
        country_code: details.country_code.clone(),
        billing: details.billing.clone(),
        partner_role: role,
        acquisition: pb::Acquisition::Invitation,
        admin_permissions: true,
        create_time: now,
        update_time: now,
        version: 1,
    }
}
