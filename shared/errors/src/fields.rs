//! Checks for request fields, each returning the lowercase reason a value is refused, to be
//! collected with [`crate::FieldViolations::check`].

use uuid::Uuid;

/// A non-blank text of at most `max_chars` characters, trimmed.
pub fn text(value: &str, max_chars: usize) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("required".into());
    }
    if value.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(value.to_owned())
}

/// `value` in backquotes for a refusal, cut short: a refusal that echoes an unbounded value
/// can outgrow the response headers the status travels in, and the caller then sees a
/// protocol error instead of the refusal.
pub fn quoted(value: &str) -> String {
    if value.chars().count() <= MAX_QUOTED_CHARS {
        return format!("`{value}`");
    }
    let start: String = value.chars().take(MAX_QUOTED_CHARS).collect();
    format!("`{start}…`")
}

/// Longest value [`quoted`] echoes whole.
const MAX_QUOTED_CHARS: usize = 64;

/// An optional `etag` sent back on a change: `None` when empty (change whatever is there
/// now), else the version read from the resource, which `etag`s here always are.
pub fn etag(value: &str) -> Result<Option<i64>, String> {
    match value.trim() {
        "" => Ok(None),
        etag => etag
            .parse()
            .map(Some)
            .map_err(|_| "must be an etag read from this resource".to_owned()),
    }
}

/// A UUID such as a Microsoft Entra tenant id.
pub fn uuid(value: &str) -> Result<Uuid, String> {
    if value.trim().is_empty() {
        return Err("required".into());
    }
    let parsed = Uuid::parse_str(value.trim()).map_err(|_| "must be a UUID".to_owned())?;
    // The nil UUID names no tenant or record; the services use it for themselves.
    if parsed.is_nil() {
        return Err("must not be the nil UUID".into());
    }
    Ok(parsed)
}

/// An ISO 3166-1 alpha-2 country/region code (two upper-case letters), e.g. `US`.
pub fn country_code(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("required".into());
    }
    if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err("must be an ISO 3166-1 alpha-2 code such as US".into());
    }
    Ok(value.to_owned())
}

/// An e-mail address of the form `local@domain.tld`, lower-cased domain.
pub fn email(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("required".into());
    }
    let refused = || "must be an e-mail address such as name@example.com".to_owned();
    if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refused());
    }
    let (local, domain) = value.rsplit_once('@').ok_or_else(refused)?;
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local.is_empty() || local.contains('@') || !domain_ok {
        return Err(refused());
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// A resource name made of `collections` and ids in turn, e.g. `partners/{p}/customers/{c}`
/// for `["partners", "customers"]`; returns the ids.
pub fn resource_name<'a>(value: &'a str, collections: &[&str]) -> Result<Vec<&'a str>, String> {
    let pattern: Vec<String> = collections.iter().map(|c| format!("{c}/{{id}}")).collect();
    let refused = || format!("must be a resource name like {}", pattern.join("/"));
    if value.is_empty() {
        return Err("required".into());
    }
    let parts: Vec<&str> = value.split('/').collect();
    if parts.len() != collections.len() * 2 {
        return Err(refused());
    }
    let mut ids = Vec::with_capacity(collections.len());
    for (pair, collection) in parts.chunks(2).zip(collections) {
        if pair[0] != *collection || pair[1].is_empty() {
            return Err(refused());
        }
        ids.push(pair[1]);
    }
    Ok(ids)
}

/// A required timestamp, as microseconds since the epoch.
pub fn timestamp_micros(value: Option<&prost_types::Timestamp>) -> Result<i64, String> {
    let value = value.ok_or("required")?;
    if !(0..1_000_000_000).contains(&value.nanos) {
        return Err("nanos must be within 0..1e9".into());
    }
    value
        .seconds
        .checked_mul(1_000_000)
        .and_then(|micros| micros.checked_add(i64::from(value.nanos / 1_000)))
        .ok_or_else(|| "out of range".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email(" Ops@Contoso.COM ").unwrap(), "Ops@contoso.com");
        for bad in [
            "",
            "no-at",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "@c.com",
            "a@.com",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn country_codes() {
        assert!(country_code("JP").is_ok());
        for bad in ["", "jp", "JPN", "J1"] {
            assert!(country_code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resource_names() {
        assert_eq!(
            resource_name("partners/a/customers/b", &["partners", "customers"]).unwrap(),
            ["a", "b"]
        );
        for bad in [
            "partners/a",
            "partners//customers/b",
            "tenants/a/customers/b",
            "partners/a/customers/b/x",
        ] {
            assert!(
                resource_name(bad, &["partners", "customers"]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn quotes_are_cut_short() {
        assert_eq!(quoted("legal_name"), "`legal_name`");
        let long = quoted(&"é".repeat(10_000));
        assert_eq!(long.chars().count(), MAX_QUOTED_CHARS + 3);
    }

    #[test]
    fn text_limits() {
        assert_eq!(text("  Contoso  ", 10).unwrap(), "Contoso");
        assert!(text("   ", 10).is_err());
        assert!(text("abcdefghijk", 10).is_err());
        assert!(text("a\u{0}b", 10).is_err());
    }
}
