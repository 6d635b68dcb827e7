//! Who is calling, as the services' rules see it: the verified principal (tenant, roles,
//! kind) and the service that relayed the call, if any. Free of transport, so domain code
//! may take a [`Caller`]; `suite-auth` builds callers from verified tokens.

mod caller;
mod roles;

pub use caller::{Caller, Principal};
pub use roles::{PrincipalKind, Role};
