use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Partner Center roles that the suite checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Enrolls in programs, accepts agreements and partnership invitations.
    GlobalAdmin,
    /// Creates relationship requests, invitations and transfers.
    AdminAgent,
    /// Reviews transfers as an indirect provider.
    SalesAgent,
}

impl Role {
    /// The role as written in tokens and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::GlobalAdmin => "GLOBAL_ADMIN",
            Role::AdminAgent => "ADMIN_AGENT",
            Role::SalesAgent => "SALES_AGENT",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "GLOBAL_ADMIN" => Ok(Role::GlobalAdmin),
            "ADMIN_AGENT" => Ok(Role::AdminAgent),
            "SALES_AGENT" => Ok(Role::SalesAgent),
            other => Err(format!("unknown role `{other}`")),
        }
    }
}

/// What kind of principal a token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// A person in a partner tenant.
    User,
    /// An API/SDK integration acting for a partner tenant without a user.
    App,
    /// The platform operator: approves enrollments, keeps catalogues.
    Operator,
    /// One of the suite's services; `sub` is the service name.
    Service,
}

impl PrincipalKind {
    /// The kind as written in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::App => "app",
            PrincipalKind::Operator => "operator",
            PrincipalKind::Service => "service",
        }
    }
}

impl FromStr for PrincipalKind {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "user" => Ok(PrincipalKind::User),
            "app" => Ok(PrincipalKind::App),
            "operator" => Ok(PrincipalKind::Operator),
            "service" => Ok(PrincipalKind::Service),
            other => Err(format!("unknown principal kind `{other}`")),
        }
    }
}
