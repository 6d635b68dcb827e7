//! The one way a service calls a peer: a [`Peer`] holds a lazily connected channel with
//! connect and request timeouts that carries the W3C trace context, and builds requests
//! that carry a service token minted for that peer alone plus, when this service acts for
//! someone, that caller's token (see `suite_auth`). A peer's answer becomes an `ApiError`
//! by the one rule of `suite_status::from_peer`.

mod capabilities;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use suite_auth::{Caller, ON_BEHALF_OF_HEADER, PrincipalKind, TokenIssuer};
use suite_errors::ApiError;
use tonic::body::Body;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tower::util::MapRequest;
use uuid::Uuid;

pub use capabilities::{CapabilityCheck, TenantCapabilities, api_access_not_allowed};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const SERVICE_TOKEN_LIFETIME: Duration = Duration::from_secs(600);
/// A cached service token is replaced this long before it expires.
const SERVICE_TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// A channel to a peer that adds the current trace context to every call. Hand it to a
/// generated client: `EnrollmentServiceClient::new(peer.channel())`.
pub type PeerChannel = MapRequest<Channel, fn(http::Request<Body>) -> http::Request<Body>>;

/// A peer service as this service reaches it.
#[derive(Clone)]
pub struct Peer {
    name: &'static str,
    channel: PeerChannel,
    identity: Arc<ServiceIdentity>,
}

impl Peer {
    /// Peer `name` (e.g. `enrollment`, also the audience of the tokens sent to it) at `url`
    /// (`http://host:port`). It connects on first use and reconnects after failures, so a
    /// peer that starts later or restarts is picked up.
    pub fn connect(
        name: &'static str,
        url: &str,
        request_timeout: Duration,
        identity: Arc<ServiceIdentity>,
    ) -> Result<Self, String> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| format!("{name} url `{url}`: {e}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(request_timeout)
            .tcp_nodelay(true);
        Ok(Self {
            name,
            channel: MapRequest::new(endpoint.connect_lazy(), with_trace_context as fn(_) -> _),
            identity,
        })
    }

    /// The peer's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The channel, for the peer's generated client.
    pub fn channel(&self) -> PeerChannel {
        self.channel.clone()
    }

    /// A request to the peer, made as this service acting for itself (`on_behalf_of: None`)
    /// or for the caller of the request being handled.
    pub fn request<T>(
        &self,
        message: T,
        on_behalf_of: Option<&Caller>,
    ) -> Result<tonic::Request<T>, ApiError> {
        let mut request = tonic::Request::new(message);
        let token = self.identity.token_for(self.name)?;
        let bearer = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|e| ApiError::internal(format!("service token is not a header value: {e}")))?;
        request.metadata_mut().insert("authorization", bearer);
        if let Some(caller) = on_behalf_of {
            let forwarded = MetadataValue::try_from(caller.actor_token()).map_err(|e| {
                ApiError::internal(format!("caller token is not a header value: {e}"))
            })?;
            request
                .metadata_mut()
                .insert(ON_BEHALF_OF_HEADER, forwarded);
        }
        Ok(request)
    }

    /// What this service's caller sees for the peer's answer `status`.
    pub fn refusal(&self, status: &tonic::Status) -> ApiError {
        suite_status::from_peer(self.name, status)
    }
}

fn with_trace_context(mut request: http::Request<Body>) -> http::Request<Body> {
    suite_telemetry::inject_current(request.headers_mut());
    request
}

/// This service's identity towards its peers: signs its service tokens, one audience per
/// peer, and keeps each until shortly before it expires.
pub struct ServiceIdentity {
    service_name: &'static str,
    issuer: TokenIssuer,
    lifetime: Duration,
    cached: Mutex<HashMap<&'static str, (String, Instant)>>,
}

impl ServiceIdentity {
    /// The identity of `service_name`, signing with `issuer` (that service's own key) tokens
    /// that live no longer than `max_lifetime`, the most its peers accept.
    pub fn new(service_name: &'static str, issuer: TokenIssuer, max_lifetime: Duration) -> Self {
        Self {
            service_name,
            issuer,
            lifetime: SERVICE_TOKEN_LIFETIME.min(max_lifetime),
            cached: Mutex::new(HashMap::new()),
        }
    }

    fn token_for(&self, audience: &'static str) -> Result<String, ApiError> {
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| ApiError::internal("service token cache poisoned"))?;
        // Renewed well before expiry: a margin of a tenth of the lifetime, at most a minute.
        let margin = SERVICE_TOKEN_MARGIN.min(self.lifetime / 10);
        if let Some((token, expires)) = cached.get(audience)
            && Instant::now() + margin < *expires
        {
            return Ok(token.clone());
        }
        let claims = self.issuer.claims(
            self.service_name,
            Uuid::nil(),
            PrincipalKind::Service,
            &[],
            audience,
            self.lifetime,
        );
        let token = self
            .issuer
            .sign(&claims)
            .map_err(|e| ApiError::internal(format!("signing service token: {e}")))?;
        cached.insert(
            audience,
            (token.clone(), Instant::now() + SERVICE_TOKEN_LIFETIME),
        );
        Ok(token)
    }
}
