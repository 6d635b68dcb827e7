//! Who is calling: a bearer JWT on every request (verified the first time it is seen, then
//! kept until it lapses or the keys change), each key trusted for one kind of principal
//! only, and the identity a service forwards when it calls a peer for a user.
//!
//! Every request carries `authorization: Bearer <jwt>`. User and app tokens come from the
//! identity provider's keys, operator tokens from the operator's key, and a service's token
//! from that service's own key, minted for one callee (its audience). When a service calls
//! a peer on behalf of a user it sends its own service token there and the user's token in
//! [`ON_BEHALF_OF_HEADER`]; the callee verifies both, and the user's rights apply.

mod claims;
mod handler;
mod interceptor;
mod issuer;
mod keys;
mod trust;
mod verified;
mod verifier;

pub use claims::Claims;
pub use handler::with_caller;
pub use interceptor::Authenticator;
pub use issuer::TokenIssuer;
pub use keys::KeyError;
pub use suite_identity::{Caller, Principal, PrincipalKind, Role};
pub use trust::Trust;
pub use verifier::{TokenVerifier, VerifyError};

/// Metadata key carrying the end user's token on service-to-service calls.
pub const ON_BEHALF_OF_HEADER: &str = "x-on-behalf-of";
