//! The one way a service calls a peer: a lazily connected channel with connect and request
//! timeouts that carries the W3C trace context, and requests that carry this service's own
//! token plus, when it acts for someone, that caller's token (see `suite_auth`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use suite_auth::{Caller, ON_BEHALF_OF_HEADER, PrincipalKind, TokenIssuer};
use suite_errors::ApiError;
use tonic::body::Body;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tower::util::MapRequest;
use uuid::Uuid;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const SERVICE_TOKEN_LIFETIME: Duration = Duration::from_secs(600);
/// A cached service token is replaced this long before it expires.
const SERVICE_TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// A channel to a peer that adds the current trace context to every call. Hand it to a
/// generated client: `EnrollmentServiceClient::new(channel)`.
pub type PeerChannel = MapRequest<Channel, fn(http::Request<Body>) -> http::Request<Body>>;

/// Opens a channel to `url` (`http://host:port`). It connects on first use and reconnects
/// after failures, so a peer that starts later or restarts is picked up.
pub fn peer_channel(url: &str, request_timeout: Duration) -> Result<PeerChannel, ApiError> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| ApiError::internal(format!("peer url {url}: {e}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(request_timeout)
        .tcp_nodelay(true);
    Ok(MapRequest::new(
        endpoint.connect_lazy(),
        with_trace_context as fn(_) -> _,
    ))
}

fn with_trace_context(mut request: http::Request<Body>) -> http::Request<Body> {
    suite_telemetry::inject_current(request.headers_mut());
    request
}

/// This service's identity towards its peers: signs and caches its service token.
pub struct ServiceIdentity {
    service_name: &'static str,
    issuer: TokenIssuer,
    cached: Mutex<Option<(String, Instant)>>,
}

impl ServiceIdentity {
    /// The identity of `service_name`, signing with `issuer`.
    pub fn new(service_name: &'static str, issuer: TokenIssuer) -> Self {
        Self {
            service_name,
            issuer,
            cached: Mutex::new(None),
        }
    }

    fn service_token(&self) -> Result<String, ApiError> {
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| ApiError::internal("service token cache poisoned"))?;
        if let Some((token, expires)) = cached.as_ref()
            && Instant::now() + SERVICE_TOKEN_MARGIN < *expires
        {
            return Ok(token.clone());
        }
        let token = self
            .issuer
            .issue(
                self.service_name,
                Uuid::nil(),
                PrincipalKind::Service,
                &[],
                SERVICE_TOKEN_LIFETIME,
            )
            .map_err(|e| ApiError::internal(format!("signing service token: {e}")))?;
        *cached = Some((token.clone(), Instant::now() + SERVICE_TOKEN_LIFETIME));
        Ok(token)
    }

    /// A request to a peer, made as this service acting for itself (`on_behalf_of: None`) or
    /// for the caller of the request being handled.
    pub fn request<T>(
        &self,
        message: T,
        on_behalf_of: Option<&Caller>,
    ) -> Result<tonic::Request<T>, ApiError> {
        let mut request = tonic::Request::new(message);
        let bearer = MetadataValue::try_from(format!("Bearer {}", self.service_token()?))
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
}
