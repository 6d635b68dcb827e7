use serde::{Deserialize, Serialize};
use suite_identity::{PrincipalKind, Role};

/// The claims of a suite token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Subject: a user or app id, or a service name.
    pub sub: String,
    /// Tenant the principal belongs to (UUID).
    pub tid: String,
    /// Partner Center roles.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Principal kind.
    pub kind: PrincipalKind,
    /// Issued at, seconds since the epoch; required, to bound the token's lifetime.
    pub iat: u64,
    /// Not before, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
}
