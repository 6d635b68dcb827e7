//! Who is calling: bearer JWTs verified on every request, the caller's tenant, roles and
//! principal kind, and the identity a service forwards when it calls a peer for a user.
//!
//! Every request carries `authorization: Bearer <jwt>`. When a service calls a peer on behalf
//! of a user it sends its own service token there and the user's token in
//! [`ON_BEHALF_OF_HEADER`]; the callee verifies both and sees both (see [`Caller`]).

mod caller;
mod claims;
mod handler;
mod interceptor;
mod keys;

pub use caller::{Caller, Principal};
pub use claims::{Claims, PrincipalKind, Role};
pub use handler::with_caller;
pub use interceptor::Authenticator;
pub use keys::{KeyError, TokenIssuer, TokenVerifier, VerifyError};

/// Metadata key carrying the end user's token on service-to-service calls.
pub const ON_BEHALF_OF_HEADER: &str = "x-on-behalf-of";
