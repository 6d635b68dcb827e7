//! Directory pages come in the same byte order on both backends; CI runs this on SQLite and
//! on a PostgreSQL database whose default collation is a language one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use suite_db::IdempotencyKey;
use suite_proto::enrollment::v1 as pb;
use suite_testkit::{Actor, migrated_database, page_codec, request_id};
use uuid::Uuid;

use crate::domain::directory::{IndirectProvider, name_key};
use crate::store::{EnrollmentStore, ProviderSearch};

/// Names whose keys a language collation orders differently from bytes: it mostly ignores
/// punctuation and spaces and puts accented letters beside their base letter.
const NAMES: [&str; 10] = [
    "Zeta", "a~b", "ab", "a-b", "a b", "A.B", "a_b", "AB!", "éclair", "ecole",
];

fn provider(display_name: &str) -> IndirectProvider {
    IndirectProvider {
        id: Uuid::now_v7(),
        display_name: display_name.into(),
        provider_tenant_id: Uuid::new_v4(),
        country_codes: vec!["FR".into()],
        offers_technical_support: false,
        offers_sales_help: false,
        offers_credit_terms: false,
        description: String::new(),
        website_uri: String::new(),
        update_time: 0,
        version: 1,
    }
}

#[tokio::test]
async fn search_pages_through_names_in_byte_order() {
    let database = migrated_database(crate::MIGRATIONS).await;
    let store = EnrollmentStore::new(database.database(), page_codec());
    let operator = Actor::operator();
    for name in NAMES {
        let request_id = request_id();
        let request = pb::CreateIndirectProviderRequest {
            request_id: request_id.clone(),
            indirect_provider: Some(pb::IndirectProvider {
                display_name: name.into(),
                ..Default::default()
            }),
        };
        let key = IdempotencyKey::new(
            &operator.caller(),
            "CreateIndirectProvider",
            &request_id,
            &request,
        )
        .unwrap();
        store
            .create_provider(&operator.caller(), &key, provider(name))
            .await
            .unwrap();
    }

    let search = ProviderSearch::default();
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let request = store
            .pages()
            .request(3, &token, &search.fingerprint())
            .unwrap();
        let page = store.search_providers(&search, &request).await.unwrap();
        listed.extend(page.items.into_iter().map(|p| p.display_name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }

    let mut expected: Vec<String> = NAMES.iter().map(|name| name.to_string()).collect();
    expected.sort_by_key(|name| name_key(name));
    assert_eq!(listed, expected);
}
