use std::fmt;

use suite_errors::ApiError;
use uuid::Uuid;

use crate::roles::{PrincipalKind, Role};

/// A verified principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User or app id, or a service name.
    pub subject: String,
    /// The principal's tenant.
    pub tenant_id: Uuid,
    /// Partner Center roles.
    pub roles: Vec<Role>,
    /// What kind of principal it is.
    pub kind: PrincipalKind,
}

/// Who is behind a request: the actor whose rights apply, and the service that relayed it,
/// if any. Handlers receive it from `suite_auth::with_caller`.
#[derive(Clone)]
pub struct Caller {
    actor: Principal,
    via_service: Option<String>,
    actor_token: String,
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("actor", &self.actor)
            .field("via_service", &self.via_service)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// A caller from already verified parts; `suite-auth` builds these from verified tokens.
    pub fn new(actor: Principal, via_service: Option<String>, actor_token: String) -> Self {
        Self {
            actor,
            via_service,
            actor_token,
        }
    }

    /// Service `name` acting for itself, as the actor of changes nobody requested (sweeps,
    /// outbox deliveries).
    pub fn service(name: &str) -> Self {
        let actor = Principal {
            subject: name.to_owned(),
            tenant_id: Uuid::nil(),
            roles: Vec::new(),
            kind: PrincipalKind::Service,
        };
        Self::new(actor, None, String::new())
    }

    /// The principal whose rights apply: the end user, app or operator, or a service acting
    /// for itself.
    pub fn actor(&self) -> &Principal {
        &self.actor
    }

    /// The service that relayed the call on the actor's behalf.
    pub fn via_service(&self) -> Option<&str> {
        self.via_service.as_deref()
    }

    /// The actor's tenant.
    pub fn tenant_id(&self) -> Uuid {
        self.actor.tenant_id
    }

    /// The actor's own token, to forward when this request leads to a call to a peer.
    pub fn actor_token(&self) -> &str {
        &self.actor_token
    }

    /// True for the platform operator.
    pub fn is_operator(&self) -> bool {
        self.actor.kind == PrincipalKind::Operator
    }

    /// True when service `name` calls for itself, not for a user.
    pub fn is_service(&self, name: &str) -> bool {
        self.actor.kind == PrincipalKind::Service && self.actor.subject == name
    }

    /// Whether the actor may see and change resources of `tenant_id`: its own tenant, or any
    /// as operator. A service relaying a user has exactly that user's reach, and a service
    /// acting for itself reaches no tenant (its tenant is nil): it calls only the RPCs
    /// reserved for it ([`Self::require_service`]) and the answers a peer grants it by name
    /// ([`Self::is_service`]).
    pub fn can_access_tenant(&self, tenant_id: Uuid) -> bool {
        match self.actor.kind {
            PrincipalKind::Operator => true,
            PrincipalKind::Service => false,
            PrincipalKind::User | PrincipalKind::App => self.actor.tenant_id == tenant_id,
        }
    }

    /// PERMISSION_DENIED naming the role unless the actor holds `role`.
    pub fn require_role(&self, role: Role) -> Result<(), ApiError> {
        let has_role = match self.actor.kind {
            PrincipalKind::User | PrincipalKind::App => self.actor.roles.contains(&role),
            PrincipalKind::Operator | PrincipalKind::Service => false,
        };
        if has_role {
            return Ok(());
        }
        Err(ApiError::permission_denied(
            "ROLE_REQUIRED",
            format!("this call requires the {role} role"),
        ))
    }

    /// PERMISSION_DENIED naming the role unless the actor holds `role` or is the operator.
    pub fn require_role_or_operator(&self, role: Role) -> Result<(), ApiError> {
        if self.is_operator() {
            return Ok(());
        }
        self.require_role(role)
    }

    /// PERMISSION_DENIED unless the actor is the platform operator.
    pub fn require_operator(&self) -> Result<(), ApiError> {
        if self.is_operator() {
            return Ok(());
        }
        Err(ApiError::permission_denied(
            "OPERATOR_REQUIRED",
            "this call is reserved for the platform operator",
        ))
    }

    /// PERMISSION_DENIED unless service `name` calls for itself (not relaying a user).
    pub fn require_service(&self, name: &str) -> Result<(), ApiError> {
        if self.is_service(name) {
            return Ok(());
        }
        Err(ApiError::permission_denied(
            "SERVICE_REQUIRED",
            format!("this call is reserved for the {name} service"),
        ))
    }
}
