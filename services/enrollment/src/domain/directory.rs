//! The official directory of indirect providers.

use suite_errors::{FieldViolations, fields};
use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 2_000;
const MAX_COUNTRIES: usize = 250;

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndirectProvider {
    /// Entry id.
    pub id: Uuid,
    /// Company name.
    pub display_name: String,
    /// The provider's tenant.
    pub provider_tenant_id: Uuid,
    /// Countries/regions served, sorted.
    pub country_codes: Vec<String>,
    /// Offers technical training and support.
    pub offers_technical_support: bool,
    /// Offers sales help.
    pub offers_sales_help: bool,
    /// Offers finance and credit terms.
    pub offers_credit_terms: bool,
    /// Free text.
    pub description: String,
    /// Web site.
    pub website_uri: String,
    /// Last change.
    pub update_time: i64,
    /// Incremented on every change; the etag.
    pub version: i64,
}

/// `indirectProviders/{id}`.
pub fn provider_name(id: Uuid) -> String {
    format!("indirectProviders/{id}")
}

/// The id in an `indirectProviders/{id}` name.
pub fn parse_provider_name(name: &str) -> Result<Uuid, String> {
    let ids = fields::resource_name(name, &["indirectProviders"])?;
    fields::uuid(ids[0]).map_err(|reason| format!("provider id {reason}"))
}

impl From<&IndirectProvider> for pb::IndirectProvider {
    fn from(provider: &IndirectProvider) -> Self {
        pb::IndirectProvider {
            name: provider_name(provider.id),
            display_name: provider.display_name.clone(),
            provider_tenant_id: provider.provider_tenant_id.to_string(),
            country_codes: provider.country_codes.clone(),
            offers_technical_support: provider.offers_technical_support,
            offers_sales_help: provider.offers_sales_help,
            offers_credit_terms: provider.offers_credit_terms,
            description: provider.description.clone(),
            website_uri: provider.website_uri.clone(),
            update_time: Some(suite_time::timestamp(provider.update_time)),
            etag: provider.version.to_string(),
        }
    }
}

fn countries(values: &[String]) -> Result<Vec<String>, String> {
    if values.is_empty() {
        return Err("name at least one country/region served".into());
    }
    if values.len() > MAX_COUNTRIES {
        return Err(format!("at most {MAX_COUNTRIES} entries"));
    }
    let mut codes = values
        .iter()
        .map(|code| fields::country_code(code))
        .collect::<Result<Vec<_>, _>>()?;
    codes.sort();
    codes.dedup();
    Ok(codes)
}

fn website(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    if !value.starts_with("https://")
        || value.len() > 2_000
        || value.chars().any(char::is_whitespace)
    {
        return Err("must be an https:// address".into());
    }
    Ok(value.to_owned())
}

fn description(value: &str) -> Result<String, String> {
    if value.chars().count() > MAX_DESCRIPTION {
        return Err(format!("must be at most {MAX_DESCRIPTION} characters"));
    }
    Ok(value.trim().to_owned())
}

/// Validates a new entry, recording every problem in `violations`.
pub fn parse_new_provider(
    provider: Option<&pb::IndirectProvider>,
    now: i64,
    violations: &mut FieldViolations,
) -> Option<IndirectProvider> {
    let Some(provider) = provider else {
        violations.add("indirect_provider", "required");
        return None;
    };
    let display_name = violations.check(
        "indirect_provider.display_name",
        fields::text(&provider.display_name, MAX_NAME),
    );
    let tenant = violations.check(
        "indirect_provider.provider_tenant_id",
        fields::uuid(&provider.provider_tenant_id),
    );
    let country_codes = violations.check(
        "indirect_provider.country_codes",
        countries(&provider.country_codes),
    );
    let description = violations.check(
        "indirect_provider.description",
        description(&provider.description),
    );
    let website_uri = violations.check(
        "indirect_provider.website_uri",
        website(&provider.website_uri),
    );
    Some(IndirectProvider {
        id: Uuid::now_v7(),
        display_name: display_name?,
        provider_tenant_id: tenant?,
        country_codes: country_codes?,
        offers_technical_support: provider.offers_technical_support,
        offers_sales_help: provider.offers_sales_help,
        offers_credit_terms: provider.offers_credit_terms,
        description: description?,
        website_uri: website_uri?,
        update_time: now,
        version: 1,
    })
}

/// `current` with the masked fields of `provider` applied, or the violations.
pub fn apply_provider_update(
    current: &IndirectProvider,
    provider: &pb::IndirectProvider,
    mask: &[String],
    now: i64,
) -> Result<IndirectProvider, FieldViolations> {
    let mut violations = FieldViolations::new();
    if mask.is_empty() {
        violations.add("update_mask", "required: name the fields to change");
    }
    let mut next = current.clone();
    for path in mask {
        let field = format!("indirect_provider.{path}");
        match path.as_str() {
            "display_name" => {
                if let Some(value) =
                    violations.check(&field, fields::text(&provider.display_name, MAX_NAME))
                {
                    next.display_name = value;
                }
            }
            "country_codes" => {
                if let Some(value) = violations.check(&field, countries(&provider.country_codes)) {
                    next.country_codes = value;
                }
            }
            "description" => {
                if let Some(value) = violations.check(&field, description(&provider.description)) {
                    next.description = value;
                }
            }
            "website_uri" => {
                if let Some(value) = violations.check(&field, website(&provider.website_uri)) {
                    next.website_uri = value;
                }
            }
            "offers_technical_support" => {
                next.offers_technical_support = provider.offers_technical_support
            }
            "offers_sales_help" => next.offers_sales_help = provider.offers_sales_help,
            "offers_credit_terms" => next.offers_credit_terms = provider.offers_credit_terms,
            other => violations.add(
                "update_mask",
                format!("{} cannot be updated", fields::quoted(other)),
            ),
        }
    }
    next.update_time = now;
    next.version = current.version + 1;
    violations.into_result(|| next)
}

/// The search key of a name: lower-case, so search and order ignore case.
pub fn name_key(display_name: &str) -> String {
    display_name.to_lowercase()
}
