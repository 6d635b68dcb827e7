//! Tokens already verified, kept until they lapse. A caller presents the same token on every
//! call until it expires, and checking its signature and claims again each time cost more
//! than a read's own work. An entry holds for the keys it was checked against only: once the
//! key files are read again (at most a reload interval after they change), every token is
//! checked anew, so a retired key's tokens are refused from then on, as without the cache.

use std::sync::Arc;

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::claims::Claims;

/// Bytes of tokens and claims kept at most; beyond it the cache evicts entries by its own
/// policy (each token then is checked again when next seen).
const CAPACITY_BYTES: u64 = 4 << 20;
/// What an entry costs besides its token's text and its decoded claims (at most as long as
/// the text): the cache's own bookkeeping.
const ENTRY_OVERHEAD_BYTES: u64 = 512;

/// Verified tokens by their text.
pub(crate) struct VerifiedTokens {
    cache: Cache<String, Arc<Verified>, BySize>,
}

struct Verified {
    claims: Arc<Claims>,
    /// The key ring's generation the token was checked against.
    keys: u64,
    /// The last second the token is good, its expiry's leeway included.
    good_until: u64,
}

impl VerifiedTokens {
    pub(crate) fn new() -> Self {
        let estimated_items = (CAPACITY_BYTES / (ENTRY_OVERHEAD_BYTES * 2)) as usize;
        Self {
            cache: Cache::with_weighter(estimated_items, CAPACITY_BYTES, BySize),
        }
    }

    /// The claims of `token`, if it was verified against key generation `keys` and is still
    /// good at `now` (seconds since the epoch).
    pub(crate) fn get(&self, token: &str, keys: u64, now: u64) -> Option<Arc<Claims>> {
        let verified = self.cache.get(token)?;
        if verified.keys == keys && now <= verified.good_until {
            return Some(verified.claims.clone());
        }
        // Only the entry seen lapsed: one another call put there meanwhile stays.
        self.cache
            .remove_if(token, |seen| seen.keys != keys || now > seen.good_until);
        None
    }

    /// Keeps `token`'s claims, verified against key generation `keys`, until `good_until`.
    pub(crate) fn insert(&self, token: &str, claims: Arc<Claims>, keys: u64, good_until: u64) {
        let verified = Verified {
            claims,
            keys,
            good_until,
        };
        self.cache.insert(token.to_owned(), Arc::new(verified));
    }

    /// Forgets every token: the keys changed, and the old entries would never match again.
    pub(crate) fn clear(&self) {
        self.cache.clear();
    }
}

#[derive(Clone)]
struct BySize;

impl Weighter<String, Arc<Verified>> for BySize {
    fn weight(&self, token: &String, _: &Arc<Verified>) -> u64 {
        2 * token.len() as u64 + ENTRY_OVERHEAD_BYTES
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use suite_identity::PrincipalKind;

    use super::*;

    fn claims() -> Arc<Claims> {
        Arc::new(Claims {
            iss: "csp-suite".into(),
            aud: "csp-suite".into(),
            sub: "alice".into(),
            tid: uuid::Uuid::new_v4().to_string(),
            roles: vec![],
            kind: PrincipalKind::User,
            iat: 1_000,
            nbf: None,
            exp: 2_000,
        })
    }

    #[test]
    fn a_token_holds_until_its_last_good_second_and_is_then_forgotten() {
        let tokens = VerifiedTokens::new();
        tokens.insert("t", claims(), 1, 2_060);
        assert_eq!(tokens.get("t", 1, 2_060).unwrap().sub, "alice");
        assert!(tokens.get("t", 1, 2_061).is_none());
        // Lapsed entries are dropped, not kept to be skipped on every call.
        assert!(tokens.get("t", 1, 1_500).is_none());
    }

    #[test]
    fn a_token_checked_against_other_keys_is_checked_again() {
        let tokens = VerifiedTokens::new();
        tokens.insert("t", claims(), 1, 2_060);
        assert!(tokens.get("t", 2, 1_500).is_none());
        assert!(tokens.get("t", 1, 1_500).is_none());
        assert!(tokens.get("other", 1, 1_500).is_none());
    }

    #[test]
    fn the_cache_keeps_to_its_size() {
        let tokens = VerifiedTokens::new();
        let long = "x".repeat(16 * 1024);
        for n in 0..1_000 {
            tokens.insert(&format!("{n}{long}"), claims(), 1, 2_060);
        }
        let kept: u64 = (0..1_000)
            .filter(|n| tokens.get(&format!("{n}{long}"), 1, 1_500).is_some())
            .map(|_| 2 * long.len() as u64 + ENTRY_OVERHEAD_BYTES)
            .sum();
        assert!(kept > 0 && kept <= CAPACITY_BYTES, "kept {kept} bytes");
    }
}
