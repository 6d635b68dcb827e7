//! Arbitrary well-formed requests, built from the descriptor set for every RPC of every
//! service and sent by a user of one tenant holding every role: the answer is a success or a
//! well-formed refusal (never INTERNAL, UNKNOWN, a transport error or a panic), and a
//! refusal leaves every table of the service's database as it was.
//!
//! `PROPTEST_CASES` sets the cases per RPC (default 64); run with `--no-capture` to see the
//! figures per service.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};
use suite_auth::Role;
use suite_testkit::Actor;
use suite_testkit::raw::wire::{self, WireType};
use suite_testkit::raw::{Catalog, Field, FieldKind, RawClient, Rpc};
use tonic::Code;
use uuid::Uuid;

const DEFAULT_CASES_PER_RPC: u32 = 64;
/// How deep messages nest inside a generated request.
const MAX_DEPTH: usize = 3;
/// Most elements generated for a repeated field.
const MAX_REPEATS: usize = 3;
/// How much of a failing request the report shows.
const SHOWN_BYTES: usize = 160;
/// Codes that mean the service, not the request, failed.
const SERVER_FAULTS: [Code; 5] = [
    Code::Internal,
    Code::Unknown,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unimplemented,
];

/// Panics anywhere in this process, the services included: they run in-process.
static PANICS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Default)]
struct Tally {
    rpcs: usize,
    cases: usize,
    accepted: usize,
    refused: BTreeMap<String, usize>,
    internal: usize,
    panics: usize,
}

#[test]
fn arbitrary_requests_get_well_formed_answers_and_refusals_write_nothing() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let suite = runtime.block_on(suite_testkit::Suite::start());
    let catalog = Catalog::suite();
    // A partner with ACTIVE direct bill, so that writes get past the capability checks and
    // reach validation and the stores.
    let tenant = runtime.block_on(suite_testkit::direct_bill_partner(&suite.enrollment));
    let token = Actor::user(
        tenant,
        &[Role::GlobalAdmin, Role::AdminAgent, Role::SalesAgent],
    )
    .token();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES_PER_RPC);

    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    for rpc in catalog.rpcs() {
        let service = suite.serving(rpc);
        let client = RawClient::new(service.channel());
        let tally = RefCell::new(std::mem::take(
            tallies.entry(rpc.package.clone()).or_default(),
        ));
        tally.borrow_mut().rpcs += 1;
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = message(&catalog, &rpc.input_type, tenant, MAX_DEPTH);
        let outcome = runner.run(&strategy, |request| {
            runtime.block_on(async {
                let panics_before = PANICS.load(Ordering::SeqCst);
                let rows_before = service.database.row_counts().await;
                let answer = client.clone().call(&rpc.path(), &token, request).await;
                let rows_after = service.database.row_counts().await;
                let panics = PANICS.load(Ordering::SeqCst) - panics_before;
                let mut tally = tally.borrow_mut();
                tally.cases += 1;
                tally.panics += panics;
                prop_assert_eq!(panics, 0, "the service panicked");
                let status = match answer {
                    Ok(_) => {
                        tally.accepted += 1;
                        return Ok(());
                    }
                    Err(status) => status,
                };
                *tally
                    .refused
                    .entry(format!("{:?}", status.code()))
                    .or_default() += 1;
                if status.code() == Code::Internal {
                    tally.internal += 1;
                }
                prop_assert!(
                    !SERVER_FAULTS.contains(&status.code()),
                    "server fault {:?}: {}",
                    status.code(),
                    status.message()
                );
                prop_assert_eq!(rows_before, rows_after, "a refusal wrote: {:?}", status);
                Ok(())
            })
        });
        if let Err(error) = outcome {
            failures.push(describe(rpc, error));
        }
        *tallies.get_mut(&rpc.package).unwrap() = tally.into_inner();
    }

    for (package, tally) in &tallies {
        println!(
            "{package}: {} cases over {} RPCs, {} accepted, refused {:?}, panics {}, INTERNAL {}",
            tally.cases, tally.rpcs, tally.accepted, tally.refused, tally.panics, tally.internal
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn describe(rpc: &Rpc, error: TestError<Vec<u8>>) -> String {
    match error {
        TestError::Fail(reason, request) => {
            let shown = &request[..request.len().min(SHOWN_BYTES)];
            format!(
                "{}: {reason}; smallest request ({} bytes) starts {shown:02x?}",
                rpc.path(),
                request.len()
            )
        }
        TestError::Abort(reason) => format!("{}: aborted: {reason}", rpc.path()),
    }
}

/// Encoded messages of type `full_name`: each field absent or set (repeated fields zero to
/// a few times), nested messages down to `depth`.
fn message(
    catalog: &Catalog,
    full_name: &str,
    tenant: Uuid,
    depth: usize,
) -> BoxedStrategy<Vec<u8>> {
    let fields: Vec<BoxedStrategy<Vec<u8>>> = catalog
        .fields(full_name)
        .into_iter()
        .filter_map(|field| {
            let value = value(catalog, &field, tenant, depth)?;
            let field = if field.repeated {
                prop::collection::vec(value, 0..=MAX_REPEATS)
                    .prop_map(|values| values.concat())
                    .boxed()
            } else {
                prop::option::weighted(0.85, value)
                    .prop_map(Option::unwrap_or_default)
                    .boxed()
            };
            Some(field)
        })
        .collect();
    fields.prop_map(|fields| fields.concat()).boxed()
}

/// One occurrence of `field` with an arbitrary value, key included; `None` for a message
/// nested deeper than `depth` allows.
fn value(
    catalog: &Catalog,
    field: &Field,
    tenant: Uuid,
    depth: usize,
) -> Option<BoxedStrategy<Vec<u8>>> {
    let number = field.number;
    let varint = move |value: u64| {
        let mut out = Vec::new();
        wire::put_key(&mut out, number, WireType::Varint);
        wire::put_varint(&mut out, value);
        out
    };
    let length_delimited = move |bytes: Vec<u8>| {
        let mut out = Vec::new();
        wire::put_length_delimited(&mut out, number, &bytes);
        out
    };
    let strategy = match &field.kind {
        FieldKind::String => text(&field.name, tenant)
            .prop_map(move |s| length_delimited(s.into_bytes()))
            .boxed(),
        FieldKind::Bytes => prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(length_delimited)
            .boxed(),
        FieldKind::Varint => prop_oneof![
            0u64..4,
            any::<u64>(),
            any::<i32>().prop_map(|v| i64::from(v) as u64),
        ]
        .prop_map(varint)
        .boxed(),
        FieldKind::ZigZag => any::<i64>()
            .prop_map(|v| ((v << 1) ^ (v >> 63)) as u64)
            .prop_map(varint)
            .boxed(),
        FieldKind::Enum(known) => {
            let known = if known.is_empty() {
                vec![0]
            } else {
                known.clone()
            };
            prop_oneof![3 => prop::sample::select(known), 1 => any::<i32>()]
                .prop_map(move |v| varint(i64::from(v) as u64))
                .boxed()
        }
        FieldKind::Fixed32 => any::<u32>()
            .prop_map(move |v| {
                let mut out = Vec::new();
                wire::put_key(&mut out, number, WireType::Fixed32);
                out.extend_from_slice(&v.to_le_bytes());
                out
            })
            .boxed(),
        FieldKind::Fixed64 => any::<u64>()
            .prop_map(move |v| {
                let mut out = Vec::new();
                wire::put_key(&mut out, number, WireType::Fixed64);
                out.extend_from_slice(&v.to_le_bytes());
                out
            })
            .boxed(),
        FieldKind::Message(nested) => {
            let depth = depth.checked_sub(1)?;
            message(catalog, nested, tenant, depth)
                .prop_map(length_delimited)
                .boxed()
        }
    };
    Some(strategy)
}

/// Strings a hostile or careless caller sends: anything, control characters, blanks, huge,
/// unicode beyond ASCII; and, guided by the field's name, values shaped closely enough to get
/// past the first check, so that later checks and the store see arbitrary input too.
fn text(field_name: &str, tenant: Uuid) -> BoxedStrategy<String> {
    let hostile = prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\\x7f]{0,8}",
        "[ \\t\\r\\n\\u{a0}\\u{2003}\\u{feff}]{0,6}",
        (any::<char>(), 1_000..20_000usize).prop_map(|(c, n)| c.to_string().repeat(n)),
        "\\PC{0,16}",
        Just(String::new()),
    ];
    let plausible = if field_name == "request_id" || field_name.ends_with("tenant_id") {
        uuid().boxed()
    } else if [
        "name",
        "parent",
        "partner",
        "partners",
        "customer",
        "enrollment",
        "subscriptions",
    ]
    .contains(&field_name)
    {
        resource_name(tenant).boxed()
    } else if field_name.ends_with("page_token") || field_name == "etag" {
        Just(String::new()).boxed()
    } else if field_name.ends_with("email") {
        "[a-z]{1,8}@[a-z]{1,8}\\.(com|de)".boxed()
    } else if field_name.ends_with("_code") {
        "[A-Z]{2,3}".boxed()
    } else if field_name.ends_with("month") {
        "20[0-9]{2}-[01][0-9]".boxed()
    } else {
        "[A-Za-z][A-Za-z0-9 .-]{0,30}".boxed()
    };
    prop_oneof![1 => hostile, 4 => plausible].boxed()
}

fn uuid() -> impl Strategy<Value = String> {
    any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string())
}

/// Names like `partners/{tenant}/customers/{id}`: one to three collection and id pairs,
/// partners mostly the caller's tenant.
fn resource_name(tenant: Uuid) -> impl Strategy<Value = String> {
    let collection = prop::sample::select(vec![
        "partners",
        "customers",
        "enrollments",
        "subscriptions",
        "agreementAcceptances",
        "agreementVersions",
        "incentives",
        "indirectProviders",
    ]);
    let id = prop_oneof![
        uuid(),
        prop::sample::select(vec![
            "direct-bill",
            "indirect-reseller",
            "indirect-provider"
        ])
        .prop_map(str::to_owned),
    ];
    let pair = (collection, id).prop_map(move |(collection, id)| match collection {
        "partners" => format!("partners/{tenant}"),
        _ => format!("{collection}/{id}"),
    });
    let first = prop_oneof![
        3 => Just(format!("partners/{tenant}")),
        1 => uuid().prop_map(|id| format!("partners/{id}")),
        1 => uuid().prop_map(|id| format!("customers/{id}")),
        1 => uuid().prop_map(|id| format!("agreementVersions/{id}")),
    ];
    (first, prop::collection::vec(pair, 0..3)).prop_map(|(first, rest)| {
        std::iter::once(first)
            .chain(rest)
            .collect::<Vec<_>>()
            .join("/")
    })
}
