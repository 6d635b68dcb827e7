use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use suite_config::Secret;
use suite_errors::FieldViolations;

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 500;
const TAG_BYTES: usize = 16;

/// Signs and checks `page_token`s: opaque to clients, and a forged or altered token, or one
/// reused with other filters, is refused. Tokens hold a keyset cursor (the last key served),
/// so a deep page costs what the first one does.
#[derive(Clone)]
pub struct PageTokenCodec {
    key: Secret,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    /// Sort key of the last item served.
    after: String,
    /// Which query the token belongs to.
    query: String,
}

/// A validated page request: how many items, and after which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Items to return.
    pub size: u32,
    /// Serve items whose sort key is greater than this.
    pub after: Option<String>,
    query: String,
}

/// One page of results and the token for the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Empty on the last page.
    pub next_page_token: String,
}

impl PageTokenCodec {
    /// A codec keyed with `key`; every replica must share it.
    pub fn new(key: Secret) -> Self {
        Self { key }
    }

    fn tag(&self, payload: &[u8]) -> Result<Hmac<Sha256>, FieldViolations> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.expose().as_bytes())
            .map_err(|_| FieldViolations::single("page_token", "cannot be checked"))?;
        mac.update(payload);
        Ok(mac)
    }

    fn encode(&self, cursor: &Cursor) -> String {
        let Ok(payload) = serde_json::to_vec(cursor) else {
            return String::new();
        };
        let Ok(mac) = self.tag(&payload) else {
            return String::new();
        };
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
        )
    }

    fn decode(&self, token: &str) -> Result<Cursor, FieldViolations> {
        let invalid =
            || FieldViolations::single("page_token", "is not a token this service issued");
        let (payload, tag) = token.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        // A shorter tag would be easier to forge: accept exactly the length this codec writes.
        if tag.len() != TAG_BYTES {
            return Err(invalid());
        }
        self.tag(&payload)?
            .verify_truncated_left(&tag)
            .map_err(|_| invalid())?;
        serde_json::from_slice(&payload).map_err(|_| invalid())
    }

    /// Validates `page_size` (0 means the default; larger than the maximum is lowered to it)
    /// and `page_token` for the query described by `query` (its filters, in any stable form).
    pub fn request(
        &self,
        page_size: i32,
        page_token: &str,
        query: &str,
    ) -> Result<PageRequest, FieldViolations> {
        let size = match page_size {
            size if size < 0 => {
                return Err(FieldViolations::single("page_size", "must not be negative"));
            }
            0 => DEFAULT_PAGE_SIZE,
            size => (size as u32).min(MAX_PAGE_SIZE),
        };
        let after = if page_token.is_empty() {
            None
        } else {
            let cursor = self.decode(page_token)?;
            if cursor.query != query {
                return Err(FieldViolations::single(
                    "page_token",
                    "belongs to a query with other filters",
                ));
            }
            Some(cursor.after)
        };
        Ok(PageRequest {
            size,
            after,
            query: query.to_owned(),
        })
    }

    /// Turns `rows` — fetched with `LIMIT size + 1` in key order — into a page and the token
    /// for the next one.
    pub fn page<T>(
        &self,
        request: &PageRequest,
        mut rows: Vec<T>,
        key_of: impl Fn(&T) -> String,
    ) -> Page<T> {
        let has_more = rows.len() > request.size as usize;
        rows.truncate(request.size as usize);
        let next_page_token = match rows.last() {
            Some(last) if has_more => self.encode(&Cursor {
                after: key_of(last),
                query: request.query.clone(),
            }),
            _ => String::new(),
        };
        Page {
            items: rows,
            next_page_token,
        }
    }
}

impl PageRequest {
    /// The `LIMIT` to query with: one more than the page, to learn whether another follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.size) + 1
    }

    /// The key to start after; the empty string sorts before every key.
    pub fn after_key(&self) -> &str {
        self.after.as_deref().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> PageTokenCodec {
        PageTokenCodec::new(Secret::new("test-key-test-key-test-key-test-key"))
    }

    #[test]
    fn token_round_trips_to_the_next_page() {
        let codec = codec();
        let first = codec.request(2, "", "parent=a").unwrap();
        let page = codec.page(&first, vec!["k1", "k2", "k3"], |k| k.to_string());
        assert_eq!(page.items, ["k1", "k2"]);
        let second = codec.request(2, &page.next_page_token, "parent=a").unwrap();
        assert_eq!(second.after.as_deref(), Some("k2"));
    }

    #[test]
    fn altered_or_foreign_tokens_are_refused() {
        let codec = codec();
        let first = codec.request(1, "", "parent=a").unwrap();
        let token = codec
            .page(&first, vec!["k1", "k2"], |k| k.to_string())
            .next_page_token;
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"after":"k9","query":"parent=a"}"#),
            token.split_once('.').unwrap().1
        );
        assert!(codec.request(1, &forged, "parent=a").is_err());
        assert!(codec.request(1, &token, "parent=b").is_err());
        assert!(codec.request(1, "garbage", "parent=a").is_err());
        // A truncated tag would be guessable: only the full tag is accepted.
        let (payload, tag) = token.split_once('.').unwrap();
        let short = format!(
            "{payload}.{}",
            URL_SAFE_NO_PAD.encode(&URL_SAFE_NO_PAD.decode(tag).unwrap()[..1])
        );
        assert!(codec.request(1, &short, "parent=a").is_err());
    }

    #[test]
    fn page_size_defaults_and_caps() {
        let codec = codec();
        assert_eq!(codec.request(0, "", "").unwrap().size, DEFAULT_PAGE_SIZE);
        assert_eq!(codec.request(10_000, "", "").unwrap().size, MAX_PAGE_SIZE);
        assert!(codec.request(-1, "", "").is_err());
    }

    #[test]
    fn last_page_has_no_token() {
        let codec = codec();
        let request = codec.request(5, "", "").unwrap();
        assert!(
            codec
                .page(&request, vec!["a"], |k| k.to_string())
                .next_page_token
                .is_empty()
        );
    }
}
