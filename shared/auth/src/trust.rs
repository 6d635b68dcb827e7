use suite_identity::PrincipalKind;

/// What a signing key may vouch for. A token is accepted only when its key's trust covers
/// the principal the token claims to be, so a leaked service key cannot mint an operator
/// and the identity provider cannot mint a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The identity provider: users and apps of partner tenants.
    Identity,
    /// The platform operator.
    Operator,
    /// One service of the suite, by name.
    Service(String),
}

/// `kid` of the identity provider's key in the embedded run.
pub const IDENTITY_KEY_ID: &str = "identity";
/// `kid` of the operator's key in the embedded run.
pub const OPERATOR_KEY_ID: &str = "operator";

impl Trust {
    /// Whether a token signed with this trust may claim `kind` and `subject`.
    pub fn allows(&self, kind: PrincipalKind, subject: &str) -> bool {
        match self {
            Trust::Identity => matches!(kind, PrincipalKind::User | PrincipalKind::App),
            Trust::Operator => kind == PrincipalKind::Operator,
            Trust::Service(name) => kind == PrincipalKind::Service && subject == name,
        }
    }

    /// The service a key of the services' JWKS belongs to: its `kid` is the service name,
    /// optionally followed by `.` and a rotation suffix (`transfer.2026-11`).
    pub fn of_service_key_id(kid: &str) -> Option<Self> {
        let name = kid.split_once('.').map_or(kid, |(name, _)| name);
        is_service_name(name).then(|| Trust::Service(name.to_owned()))
    }

    /// The trust of a key in the embedded run, where the `kid` names it.
    pub(crate) fn of_embedded_key_id(kid: &str) -> Option<Self> {
        match kid {
            IDENTITY_KEY_ID => Some(Trust::Identity),
            OPERATOR_KEY_ID => Some(Trust::Operator),
            other if is_service_name(other) => Some(Trust::Service(other.to_owned())),
            _ => None,
        }
    }

    /// The `kid` of this trust's key in the embedded run.
    pub(crate) fn embedded_key_id(&self) -> &str {
        match self {
            Trust::Identity => IDENTITY_KEY_ID,
            Trust::Operator => OPERATOR_KEY_ID,
            Trust::Service(name) => name,
        }
    }
}

/// Service names are short lower-case words (`enrollment`, `transfer`).
fn is_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        && name != IDENTITY_KEY_ID
        && name != OPERATOR_KEY_ID
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_trust_vouches_for_its_own_principals_only() {
        assert!(Trust::Identity.allows(PrincipalKind::User, "alice"));
        assert!(Trust::Identity.allows(PrincipalKind::App, "app"));
        assert!(!Trust::Identity.allows(PrincipalKind::Operator, "alice"));
        assert!(!Trust::Identity.allows(PrincipalKind::Service, "transfer"));
        assert!(Trust::Operator.allows(PrincipalKind::Operator, "ops"));
        assert!(!Trust::Operator.allows(PrincipalKind::User, "ops"));
        let transfer = Trust::Service("transfer".into());
        assert!(transfer.allows(PrincipalKind::Service, "transfer"));
        assert!(!transfer.allows(PrincipalKind::Service, "agreement"));
        assert!(!transfer.allows(PrincipalKind::Operator, "transfer"));
    }

    #[test]
    fn service_key_ids_name_their_service() {
        assert_eq!(
            Trust::of_service_key_id("transfer.2026-11"),
            Some(Trust::Service("transfer".into()))
        );
        assert_eq!(
            Trust::of_service_key_id("agreement"),
            Some(Trust::Service("agreement".into()))
        );
        for bad in ["", "Transfer", "operator", "identity.1", "a b"] {
            assert_eq!(Trust::of_service_key_id(bad), None, "{bad}");
        }
    }
}
