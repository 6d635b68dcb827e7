//! What a tenant may do, as the enrollment service resolves it from its enrollments, asked
//! by the other services before they act and kept for a few seconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use suite_auth::{Caller, PrincipalKind};
use suite_errors::ApiError;
use suite_proto::enrollment::v1 as pb;
use suite_proto::enrollment::v1::enrollment_service_client::EnrollmentServiceClient;
use uuid::Uuid;

use crate::Peer;

/// Most tenants kept at once; beyond it the oldest answers are dropped first.
const CAPABILITY_CACHE_ENTRIES: usize = 10_000;

/// A tenant's capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantCapabilities {
    /// Everything the tenant's users may do.
    pub capabilities: Vec<pb::Capability>,
    /// Whether an app (API/SDK caller) may act for the tenant.
    pub app_access: bool,
    /// Whether the tenant is a transitioning partner.
    pub transitioning_partner: bool,
    /// Whether the tenant is listed in the directory of indirect providers.
    pub official_indirect_provider: bool,
    /// Whether the tenant is an integration sandbox (no real customers).
    pub integration_sandbox: bool,
}

impl TenantCapabilities {
    /// What a tenant without a partner account may do: nothing.
    fn none() -> Self {
        Self {
            capabilities: Vec::new(),
            app_access: false,
            transitioning_partner: false,
            official_indirect_provider: false,
            integration_sandbox: false,
        }
    }
}

/// Each tenant's last answer and when it was asked for.
type AnswersByTenant = HashMap<Uuid, (Instant, Arc<TenantCapabilities>)>;

/// Asks the enrollment service what tenants may do, for the caller being served.
#[derive(Clone)]
pub struct CapabilityCheck {
    enrollment: Peer,
    ttl: Duration,
    cache: Arc<Mutex<AnswersByTenant>>,
}

impl CapabilityCheck {
    /// Checks through `enrollment`, the enrollment service, keeping each answer for `ttl`:
    /// a capability lost (a restriction, a lost API access) takes effect here at most that
    /// much after it was asked; one gained takes effect at once, since an answer that would
    /// refuse is asked again.
    pub fn new(enrollment: Peer, ttl: Duration) -> Self {
        Self {
            enrollment,
            ttl,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// What `tenant_id` may do, asked as `caller`, who must be able to see that tenant.
    /// `allows` says whether an answer lets the caller's action go ahead: a cached answer is
    /// trusted only to allow, and one that would refuse is asked again (see [`Self::fetch`]).
    pub async fn of(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        allows: impl Fn(&TenantCapabilities) -> bool,
    ) -> Result<Arc<TenantCapabilities>, ApiError> {
        if !caller.can_access_tenant(tenant_id) {
            return Err(ApiError::not_found(
                "enrollment.v1.Partner",
                &format!("partners/{tenant_id}"),
            ));
        }
        self.fetch(tenant_id, Some(caller), allows).await
    }

    /// Whether `tenant_id` is an official indirect provider, asked by this service for
    /// itself: the directory is public, and a reseller's request names a provider whose
    /// tenant the reseller cannot see. The enrollment service answers this only to the
    /// services it trusts with it.
    pub async fn is_official_provider(&self, tenant_id: Uuid) -> Result<bool, ApiError> {
        let official = |answer: &TenantCapabilities| answer.official_indirect_provider;
        Ok(official(&*self.as_service(tenant_id, official).await?))
    }

    /// What `tenant_id` may do, asked by this service for itself, for a rule checked on
    /// behalf of someone who cannot see that tenant (a customer accepting a partner's
    /// request); `allows` as for [`Self::of`]. The enrollment service answers this only to
    /// the services it trusts with it.
    pub async fn as_service(
        &self,
        tenant_id: Uuid,
        allows: impl Fn(&TenantCapabilities) -> bool,
    ) -> Result<Arc<TenantCapabilities>, ApiError> {
        self.fetch(tenant_id, None, allows).await
    }

    /// The answer for `tenant_id`, asked on behalf of `caller` (or by this service itself);
    /// one tenant's capabilities are the same whoever asks. A cached answer serves only
    /// when it `allows` the action: one that would refuse is asked again, so a partner whose
    /// programs just changed (an enrollment approved a moment ago) is not refused on a stale
    /// answer, while a capability lost takes effect here at most the TTL later.
    async fn fetch(
        &self,
        tenant_id: Uuid,
        caller: Option<&Caller>,
        allows: impl Fn(&TenantCapabilities) -> bool,
    ) -> Result<Arc<TenantCapabilities>, ApiError> {
        let partner = format!("partners/{tenant_id}");
        if let Some(cached) = self.cached(tenant_id)?
            && allows(&cached)
        {
            return Ok(cached);
        }
        // Stamped before asking: an answer is as old as the question.
        let asked = Instant::now();
        let request = self
            .enrollment
            .request(pb::GetCapabilitiesRequest { partner }, caller)?;
        let answer = match EnrollmentServiceClient::new(self.enrollment.channel())
            .get_capabilities(request)
            .await
        {
            Ok(response) => {
                let response = response.into_inner();
                TenantCapabilities {
                    capabilities: response
                        .capabilities
                        .iter()
                        .filter_map(|c| pb::Capability::try_from(*c).ok())
                        .collect(),
                    app_access: response.app_access,
                    transitioning_partner: response.transitioning_partner,
                    official_indirect_provider: response.official_indirect_provider,
                    integration_sandbox: response.integration_sandbox,
                }
            }
            Err(status) if status.code() == tonic::Code::NotFound => TenantCapabilities::none(),
            Err(status) => return Err(self.enrollment.refusal(&status)),
        };
        let answer = Arc::new(answer);
        self.remember(tenant_id, asked, answer.clone())?;
        Ok(answer)
    }

    /// Refuses an app (an API caller without a user) whose tenant has no Partner Center API
    /// access, with the reason the enrollment service gives for the same refusal.
    pub async fn admit(&self, caller: &Caller) -> Result<(), ApiError> {
        if caller.actor().kind != PrincipalKind::App {
            return Ok(());
        }
        let api_access = |answer: &TenantCapabilities| answer.app_access;
        if api_access(&*self.of(caller, caller.tenant_id(), api_access).await?) {
            return Ok(());
        }
        Err(api_access_not_allowed())
    }

    /// FAILED_PRECONDITION unless `tenant_id` holds `capability`; `action` says what was
    /// refused, e.g. `add a customer record`. The operator acts for any tenant.
    pub async fn require(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        capability: pb::Capability,
        action: &str,
    ) -> Result<(), ApiError> {
        if caller.is_operator() {
            return Ok(());
        }
        let holds = |answer: &TenantCapabilities| answer.capabilities.contains(&capability);
        if holds(&*self.of(caller, tenant_id, holds).await?) {
            return Ok(());
        }
        Err(ApiError::failed_precondition(
            "CAPABILITY_REQUIRED",
            format!(
                "this partner's programs do not allow it to {action}: it needs {}",
                capability.as_str_name()
            ),
        )
        .with_precondition(
            capability.as_str_name(),
            format!("partners/{tenant_id}"),
            "held with an ACTIVE direct-bill enrollment; a RESTRICTED one keeps only existing direct customers manageable",
        ))
    }

    fn cached(&self, tenant_id: Uuid) -> Result<Option<Arc<TenantCapabilities>>, ApiError> {
        let cache = self
            .cache
            .lock()
            .map_err(|_| ApiError::internal("capability cache poisoned"))?;
        Ok(cache
            .get(&tenant_id)
            .filter(|(fetched, _)| fetched.elapsed() < self.ttl)
            .map(|(_, answer)| answer.clone()))
    }

    /// Keeps `answer`, asked at `asked`, unless an answer asked later is kept already (two
    /// fetches of one tenant may end in either order).
    fn remember(
        &self,
        tenant_id: Uuid,
        asked: Instant,
        answer: Arc<TenantCapabilities>,
    ) -> Result<(), ApiError> {
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| ApiError::internal("capability cache poisoned"))?;
        if cache.get(&tenant_id).is_some_and(|(kept, _)| *kept > asked) {
            return Ok(());
        }
        if cache.len() >= CAPABILITY_CACHE_ENTRIES {
            let ttl = self.ttl;
            cache.retain(|_, (fetched, _)| fetched.elapsed() < ttl);
        }
        if cache.len() >= CAPABILITY_CACHE_ENTRIES {
            // Every entry is fresh: a burst of distinct tenants. Start over rather than grow.
            cache.clear();
        }
        cache.insert(tenant_id, (asked, answer));
        Ok(())
    }
}

/// The refusal of an app caller whose tenant has no API access; the enrollment service
/// gives the same one.
pub fn api_access_not_allowed() -> ApiError {
    ApiError::permission_denied(
        "API_ACCESS_NOT_ALLOWED",
        "Partner Center API access belongs to direct bill; this tenant has none",
    )
}
