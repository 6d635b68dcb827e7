//! The scenarios of issue 14, one function each, run on one backend after another.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use suite_proto::enrollment::v1 as en;
use suite_proto::enrollment::v1::enrollment_service_client::EnrollmentServiceClient;
use suite_proto::transfer::v1 as tr;
use suite_proto::transfer::v1::transfer_service_client::TransferServiceClient;
use suite_testkit::Actor;
use tokio::time::Instant;
use tonic::Code;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use uuid::Uuid;

use crate::baseline::{SpanCounter, pgbench_select_tps};
use crate::load::{self, Bound, Call, CallFuture, Outcome};
use crate::report::{Table, mib, ms, per_second, thousands, times};
use crate::services::{NAMES, Services};
use crate::{BenchError, Scenario, Settings};

/// What every scenario of one backend shares.
pub struct Context {
    /// Load settings.
    pub settings: Settings,
    /// The PostgreSQL server, or `None` for SQLite.
    pub admin_url: Option<String>,
    /// Where the services' logs go.
    pub log_dir: PathBuf,
    /// The bare tonic server.
    pub bare_addr: SocketAddr,
    /// The OTLP receiver.
    pub receiver: SocketAddr,
    /// What it counted.
    pub spans: SpanCounter,
}

impl Context {
    fn backend(&self) -> &'static str {
        if self.admin_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }
}

/// Figures measured on one backend that later scenarios compare to.
#[derive(Default)]
struct Measured {
    bare_rps: f64,
    pgbench_tps: Option<f64>,
    read_max_rps: f64,
    after_load: Vec<Option<crate::process::Memory>>,
}

/// Starts the services on the context's backend, runs `chosen`, prints a table each.
pub async fn run_backend(context: &Context, chosen: &[Scenario]) -> Result<(), BenchError> {
    println!();
    println!("# {}", context.backend());
    let log_dir = context.log_dir.join(context.backend().to_lowercase());
    std::fs::create_dir_all(&log_dir)?;
    let mut services = Services::start(context.admin_url.as_deref(), &log_dir).await?;
    let mut measured = Measured::default();
    if let Some(admin_url) = &context.admin_url {
        match pgbench_select_tps(admin_url, context.settings.duration.as_secs()).await {
            Ok(tps) => measured.pgbench_tps = Some(tps),
            Err(error) => println!("pgbench skipped: {error}"),
        }
    }
    let bare = closed_run(context, context.bare_addr, &health_call()).await?;
    measured.bare_rps = bare.rps();
    let mut table = Table::new(format!("yardsticks ({})", context.backend()));
    outcome_rows(&mut table, "bare tonic Health/Check", &bare, None);
    if let Some(tps) = measured.pgbench_tps {
        table.info("pgbench -S -M prepared -c 8 -j 2 TPS", per_second(tps));
    }
    table.print();

    let partner = suite_testkit::direct_bill_partner(services.enrollment()).await;
    for scenario in chosen {
        let outcome = match scenario {
            Scenario::A => stack_alone(context, &services, &measured).await,
            Scenario::B => read_through_layers(context, &services, partner, &mut measured).await,
            Scenario::G => tracing_overhead(context, &services, partner, &measured).await,
            Scenario::E => {
                measured.after_load = services.processes.iter().map(|p| p.memory()).collect();
                Ok(())
            }
            Scenario::F => overload(context, &services, partner, &measured).await,
            Scenario::C => transfers(context, &services).await,
            Scenario::D => deep_pages(context, &services).await,
        };
        if let Err(error) = outcome {
            println!("scenario {scenario:?} failed: {error}");
        }
        for crash in services.crashed() {
            println!("CRASH after scenario {scenario:?}: {crash}");
        }
    }
    if chosen.contains(&Scenario::E) {
        memory(context, &services, &measured);
    }
    services.stop(context.admin_url.as_deref()).await;
    Ok(())
}

/// Closed loop on `addr` with the context's connections and streams, after a warm-up.
async fn closed_run(
    context: &Context,
    addr: SocketAddr,
    call: &Call,
) -> Result<Outcome, BenchError> {
    let settings = &context.settings;
    let channels = load::connect(addr, settings.connections).await?;
    if !settings.warmup.is_zero() {
        load::closed(
            &channels,
            settings.streams,
            Bound::Time(settings.warmup),
            call,
        )
        .await;
    }
    Ok(load::closed(
        &channels,
        settings.streams,
        Bound::Time(settings.duration),
        call,
    )
    .await)
}

/// Open loop on `addr` at `rate`, bounded in flight to four times the closed loop's calls.
async fn open_run(
    context: &Context,
    addr: SocketAddr,
    rate: f64,
    call: &Call,
) -> Result<Outcome, BenchError> {
    let settings = &context.settings;
    let channels = load::connect(addr, settings.connections).await?;
    let max_in_flight = settings.connections * settings.streams * 4;
    Ok(load::open(
        &channels,
        rate,
        Bound::Time(settings.duration),
        max_in_flight,
        call,
    )
    .await)
}

fn outcome_rows(table: &mut Table, label: &str, outcome: &Outcome, base: Option<f64>) {
    match base {
        Some(base) => table.ratio(
            format!("{label}: calls/s"),
            per_second(outcome.rps()),
            times(outcome.rps(), base),
        ),
        None => table.info(format!("{label}: calls/s"), per_second(outcome.rps())),
    }
    table.info(
        format!("{label}: p50 / p99 / p99.9"),
        format!(
            "{} / {} / {}",
            ms(outcome.ok_ms(0.5)),
            ms(outcome.ok_ms(0.99)),
            ms(outcome.ok_ms(0.999))
        ),
    );
    table.info(format!("{label}: errors by code"), outcome.errors());
}

fn health_call() -> Call {
    Arc::new(|channel: Channel| -> CallFuture {
        Box::pin(async move {
            let request = HealthCheckRequest {
                service: String::new(),
            };
            code_of(HealthClient::new(channel).check(request).await)
        })
    })
}

fn code_of<T>(answer: Result<T, tonic::Status>) -> Code {
    match answer {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

fn bearer(actor: &Actor) -> Result<MetadataValue<Ascii>, BenchError> {
    Ok(format!("Bearer {}", actor.token()).parse()?)
}

fn authed<T>(message: T, token: &MetadataValue<Ascii>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", token.clone());
    request
}

fn capabilities_call(partner: Uuid) -> Result<Call, BenchError> {
    let token = bearer(&Actor::global_admin(partner))?;
    let name = format!("partners/{partner}");
    Ok(Arc::new(move |channel: Channel| -> CallFuture {
        let request = authed(
            en::GetCapabilitiesRequest {
                partner: name.clone(),
            },
            &token,
        );
        Box::pin(async move {
            code_of(
                EnrollmentServiceClient::new(channel)
                    .get_capabilities(request)
                    .await,
            )
        })
    }))
}

/// (a) The server stack alone.
async fn stack_alone(
    context: &Context,
    services: &Services,
    measured: &Measured,
) -> Result<(), BenchError> {
    let outcome = closed_run(context, services.enrollment().addr, &health_call()).await?;
    let mut table = Table::new(format!(
        "(a) server stack alone: enrollment Health/Check ({})",
        context.backend()
    ));
    let ratio = outcome.rps() / measured.bare_rps.max(f64::MIN_POSITIVE);
    table.goal(
        "calls/s vs bare tonic",
        per_second(outcome.rps()),
        times(outcome.rps(), measured.bare_rps),
        "≥ 0.85× bare",
        ratio >= 0.85 && outcome.answered() == outcome.ok(),
    );
    outcome_rows(&mut table, "stack", &outcome, None);
    table.print();
    Ok(())
}

/// (b) A read through every layer, at its maximum and at half of it.
async fn read_through_layers(
    context: &Context,
    services: &Services,
    partner: Uuid,
    measured: &mut Measured,
) -> Result<(), BenchError> {
    let call = capabilities_call(partner)?;
    let addr = services.enrollment().addr;
    let max = closed_run(context, addr, &call).await?;
    measured.read_max_rps = max.goodput();
    let half = open_run(context, addr, max.goodput() / 2.0, &call).await?;
    // The same open loop on the bare server: what the generator and the machine alone add
    // to the tail at this rate.
    let bare_half = open_run(
        context,
        context.bare_addr,
        max.goodput() / 2.0,
        &health_call(),
    )
    .await?;
    let mut table = Table::new(format!(
        "(b) read through auth, tracing and the database: enrollment GetCapabilities ({})",
        context.backend()
    ));
    let rps = max.goodput();
    match (context.admin_url.is_some(), measured.pgbench_tps) {
        (true, Some(tps)) => {
            table.goal(
                "OK calls/s vs pgbench -S TPS",
                per_second(rps),
                times(rps, tps),
                "≥ 0.5× pgbench",
                rps >= 0.5 * tps,
            );
            table.ratio(
                "OK calls/s vs bare tonic",
                per_second(rps),
                times(rps, measured.bare_rps),
            );
        }
        (true, None) => {
            table.ratio(
                "OK calls/s vs bare tonic",
                per_second(rps),
                times(rps, measured.bare_rps),
            );
            table.note("no pgbench figure: the PostgreSQL goal (≥ 0.5× pgbench -S) is not judged");
        }
        (false, _) => table.goal(
            "OK calls/s vs bare tonic",
            per_second(rps),
            times(rps, measured.bare_rps),
            "≥ 0.5× bare",
            rps >= 0.5 * measured.bare_rps,
        ),
    }
    outcome_rows(&mut table, "max", &max, None);
    table.goal(
        format!(
            "p99 at half load ({} offered)",
            per_second(half.offered as f64 / half.window.as_secs_f64().max(1e-9))
        ),
        ms(half.ok_ms(0.99)),
        "",
        "< 2 ms",
        half.ok_ms(0.99) < 2.0 && half.ok() == half.answered() && half.shed == 0,
    );
    outcome_rows(&mut table, "half load", &half, None);
    outcome_rows(
        &mut table,
        "bare tonic at the same offered load",
        &bare_half,
        None,
    );
    table.print();
    Ok(())
}

/// (g) Scenario b's closed loop on an enrollment instance that exports its spans over OTLP,
/// against the instance that exports none.
async fn tracing_overhead(
    context: &Context,
    services: &Services,
    partner: Uuid,
    measured: &Measured,
) -> Result<(), BenchError> {
    let call = capabilities_call(partner)?;
    let off = closed_run(context, services.enrollment().addr, &call).await?;
    let traced = services
        .another(
            0,
            "enrollment-otlp",
            &[(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{}", context.receiver),
            )],
            &context.log_dir.join(context.backend().to_lowercase()),
        )
        .await?;
    let spans_before = context.spans.spans();
    let on = closed_run(context, traced.addr, &call).await?;
    let memory = traced.memory();
    traced.stop().await;
    let spans = context.spans.spans() - spans_before;
    let mut table = Table::new(format!(
        "(g) tracing off vs on: GetCapabilities ({})",
        context.backend()
    ));
    table.ratio(
        "off: OK calls/s",
        per_second(off.goodput()),
        times(off.goodput(), measured.bare_rps),
    );
    table.ratio(
        "on (OTLP export): OK calls/s",
        per_second(on.goodput()),
        times(on.goodput(), off.goodput()),
    );
    let per_call = |rate: f64| if rate > 0.0 { 1e6 / rate } else { 0.0 };
    table.info(
        "machine time per call, on − off",
        format!("{:.1} µs", per_call(on.goodput()) - per_call(off.goodput())),
    );
    table.info(
        "p50 off / on",
        format!("{} / {}", ms(off.ok_ms(0.5)), ms(on.ok_ms(0.5))),
    );
    table.info(
        "p99 off / on",
        format!("{} / {}", ms(off.ok_ms(0.99)), ms(on.ok_ms(0.99))),
    );
    table.info(
        "errors off / on",
        format!("{} / {}", off.errors(), on.errors()),
    );
    table.info(
        "spans received while on (batches still in flight not counted)",
        thousands(spans),
    );
    if let Some(memory) = memory {
        table.info(
            "RSS of the traced instance after its run",
            mib(memory.rss_kib),
        );
    }
    table.note("the warm-up run's spans are counted too; ratio of 'on' is to 'off'");
    table.print();
    Ok(())
}

/// (e) Resident memory of each service: idle after start, after the read loads, and peak.
fn memory(context: &Context, services: &Services, measured: &Measured) {
    let mut table = Table::new(format!(
        "(e) resident memory per service ({})",
        context.backend()
    ));
    for (index, name) in NAMES.iter().enumerate() {
        let idle = services.idle.get(index).copied().flatten();
        let after = measured.after_load.get(index).copied().flatten();
        let now = services.processes.get(index).and_then(|p| p.memory());
        match idle {
            Some(idle) => table.goal(
                format!("{name}: idle after start"),
                mib(idle.rss_kib),
                "",
                "< 30 MiB",
                idle.rss_kib < 30 * 1024,
            ),
            None => table.info(format!("{name}: idle after start"), "unreadable"),
        }
        if let Some(after) = after {
            table.info(
                format!("{name}: after scenarios a, b, g"),
                mib(after.rss_kib),
            );
        }
        if let Some(now) = now {
            table.info(
                format!("{name}: at the end / peak (VmHWM)"),
                format!("{} / {}", mib(now.rss_kib), mib(now.peak_kib)),
            );
        }
    }
    table.note("the peak covers every scenario run, scenario d's million rows included");
    table.print();
}

/// (f) Twice the maximum of scenario b, offered open loop: first with the generator and the
/// service sharing every core, as (b) ran; then, on a machine of two cores or more, with the
/// generator on the first core and the enrollment service on the others, its maximum
/// measured again that way, so the generator's own work at twice the rate takes no CPU time
/// from the service.
async fn overload(
    context: &Context,
    services: &Services,
    partner: Uuid,
    measured: &Measured,
) -> Result<(), BenchError> {
    let call = capabilities_call(partner)?;
    let addr = services.enrollment().addr;
    let max = if measured.read_max_rps > 0.0 {
        measured.read_max_rps
    } else {
        closed_run(context, addr, &call).await?.goodput()
    };
    let outcome = overload_run(context, addr, max, &call).await?;
    let title = format!(
        "(f) overload: GetCapabilities offered at 2× max ({})",
        context.backend()
    );
    overload_table(title, max, &outcome, services).print();

    match pinned_overload(context, services, &call).await {
        Ok(table) => table.print(),
        Err(error) => println!("(f) with the generator on a core of its own: not run: {error}\n"),
    }
    Ok(())
}

/// (f) again with the benchmark on its first core and enrollment on its others.
async fn pinned_overload(
    context: &Context,
    services: &Services,
    call: &Call,
) -> Result<Table, BenchError> {
    let enrollment = services
        .process("enrollment")
        .and_then(|process| process.pid())
        .ok_or("the enrollment process is not running")?;
    let cores = crate::affinity::cores(std::process::id())?;
    let [generator, others @ ..] = cores.as_slice() else {
        return Err("taskset listed no core".into());
    };
    if others.is_empty() {
        return Err("the benchmark may run on one core only".into());
    }
    let others = others
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let pinning = crate::affinity::Pinning::apply(&[
        (std::process::id(), generator.to_string()),
        (enrollment, others.clone()),
    ])?;
    let addr = services.enrollment().addr;
    let max = closed_run(context, addr, call).await?.goodput();
    let outcome = overload_run(context, addr, max, call).await?;
    drop(pinning);
    let title = format!(
        "(f) overload, the generator on core {generator} and enrollment on {others} ({})",
        context.backend()
    );
    let mut table = overload_table(title, max, &outcome, services);
    table.info("max of (b) measured so pinned", per_second(max));
    table.note("relationship, agreement and transfer (idle here) are not pinned");
    if context.admin_url.is_some() {
        table.note("PostgreSQL's own processes are not pinned: they run on every core");
    }
    Ok(table)
}

/// Most calls the generator keeps in flight in (f). A service lets each connection carry
/// twice its concurrency limit (512 by default), so with 4 connections up to 2,048 are on
/// the wire and the rest wait in the client's HTTP/2 layer, that wait counted in their
/// latency.
const OVERLOAD_IN_FLIGHT: usize = 4096;

async fn overload_run(
    context: &Context,
    addr: SocketAddr,
    max: f64,
    call: &Call,
) -> Result<Outcome, BenchError> {
    let channels = load::connect(addr, context.settings.connections).await?;
    Ok(load::open(
        &channels,
        2.0 * max,
        Bound::Time(context.settings.duration),
        OVERLOAD_IN_FLIGHT,
        call,
    )
    .await)
}

fn overload_table(title: String, max: f64, outcome: &Outcome, services: &Services) -> Table {
    let mut table = Table::new(title);
    table.info(
        "offered",
        per_second(outcome.offered as f64 / outcome.window.as_secs_f64().max(1e-9)),
    );
    table.goal(
        "goodput (OK/s) vs max of (b)",
        per_second(outcome.goodput()),
        times(outcome.goodput(), max),
        "≥ 0.9× max",
        outcome.goodput() >= 0.9 * max,
    );
    table.info(
        "OK latency p50 / p99",
        format!("{} / {}", ms(outcome.ok_ms(0.5)), ms(outcome.ok_ms(0.99))),
    );
    let refused = outcome.answered() - outcome.ok();
    table.info("refused by the service, by code", outcome.errors());
    table.goal(
        "refusal latency p99",
        if refused > 0 {
            ms(outcome.refused_ms(0.99))
        } else {
            "no refusal".to_owned()
        },
        "",
        "≤ 100 ms",
        refused > 0 && outcome.refused_ms(0.99) <= 100.0,
    );
    table.info(
        format!("not started by the client ({OVERLOAD_IN_FLIGHT} in flight)"),
        thousands(outcome.shed),
    );
    if let Some(memory) = services.process("enrollment").and_then(|p| p.memory()) {
        table.info("enrollment RSS after the overload", mib(memory.rss_kib));
    }
    table.note("latency counts from when a call was due, so queueing in the client shows");
    table
}

/// A transitioning partner, its provider and customers whose subscriptions may move.
struct TransferSetup {
    partner: Uuid,
    provider: Uuid,
    /// Per customer, its subscriptions (names) not yet in a request.
    customers: Vec<(Uuid, VecDeque<String>)>,
}

async fn transfer_setup(
    services: &Services,
    customers: usize,
    per_customer: usize,
) -> Result<TransferSetup, BenchError> {
    let enrollment = services.enrollment();
    let relationship = services.relationship();
    let partner = suite_testkit::direct_bill_partner(enrollment).await;
    let mut ordered = Vec::new();
    for _ in 0..customers {
        let customer = Uuid::new_v4();
        suite_testkit::record_customer(relationship, partner, customer).await;
        ordered.push((customer, VecDeque::new()));
    }
    let token = bearer(&Actor::admin_agent(partner))?;
    let channels = load::connect(services.transfer().addr, 4).await?;
    let mut orders = tokio::task::JoinSet::new();
    for (index, (customer, _)) in ordered.iter().enumerate() {
        let channel = channels[index % channels.len()].clone();
        let token = token.clone();
        let parent = format!("partners/{partner}/customers/{customer}");
        orders.spawn(async move {
            let mut names = VecDeque::new();
            for _ in 0..per_customer {
                let request = authed(
                    tr::CreateSubscriptionRequest {
                        request_id: Uuid::new_v4().to_string(),
                        parent: parent.clone(),
                        subscription: Some(suite_testkit::azure_pay_as_you_go()),
                    },
                    &token,
                );
                match TransferServiceClient::new(channel.clone())
                    .create_subscription(request)
                    .await
                {
                    Ok(answer) => names.push_back(answer.into_inner().name),
                    Err(status) => return Err(format!("ordering a subscription: {status}")),
                }
            }
            Ok((index, names))
        });
    }
    while let Some(done) = orders.join_next().await {
        let (index, names) = done??;
        ordered[index].1 = names;
    }
    suite_testkit::restrict_direct_bill(enrollment, partner).await;
    suite_testkit::enroll_indirect_reseller(enrollment, partner).await;
    let provider = suite_testkit::official_indirect_provider(enrollment).await;
    suite_testkit::partnership_between(relationship, provider, partner).await;
    for (customer, _) in &ordered {
        suite_testkit::customer_joins_reseller_and_provider(
            relationship,
            partner,
            provider,
            *customer,
        )
        .await;
        suite_testkit::attest_customer_agreement(services.agreement(), provider, *customer).await;
    }
    Ok(TransferSetup {
        partner,
        provider,
        customers: ordered,
    })
}

/// How a lifecycle ended.
enum Lifecycle {
    Completed { created: Duration, total: Duration },
    Refused(&'static str, Code),
    Stuck,
}

async fn lifecycle(
    channel: Channel,
    partner_token: &MetadataValue<Ascii>,
    provider_token: &MetadataValue<Ascii>,
    parent: &str,
    provider: &str,
    subscription: String,
) -> Lifecycle {
    let mut client = TransferServiceClient::new(channel);
    let begin = Instant::now();
    let created = client
        .create_transfer_request(authed(
            tr::CreateTransferRequestRequest {
                request_id: Uuid::new_v4().to_string(),
                parent: parent.to_owned(),
                provider: provider.to_owned(),
                subscriptions: vec![subscription],
            },
            partner_token,
        ))
        .await;
    let created_in = begin.elapsed();
    let name = match created {
        Ok(answer) => answer.into_inner().name,
        Err(status) => return Lifecycle::Refused("create", status.code()),
    };
    let accepted = client
        .accept_transfer_request(authed(
            tr::AcceptTransferRequestRequest {
                request_id: Uuid::new_v4().to_string(),
                name: name.clone(),
                etag: String::new(),
            },
            provider_token,
        ))
        .await;
    if let Err(status) = accepted {
        return Lifecycle::Refused("accept", status.code());
    }
    let deadline = begin + Duration::from_secs(120);
    loop {
        let read = client
            .get_transfer_request(authed(
                tr::GetTransferRequestRequest { name: name.clone() },
                partner_token,
            ))
            .await;
        match read {
            Ok(answer) => match answer.into_inner().state() {
                tr::TransferRequestState::Completed => {
                    return Lifecycle::Completed {
                        created: created_in,
                        total: begin.elapsed(),
                    };
                }
                tr::TransferRequestState::Accepted | tr::TransferRequestState::Active => {}
                _ => return Lifecycle::Refused("execution ended otherwise", Code::Ok),
            },
            Err(status) => return Lifecycle::Refused("get", status.code()),
        }
        if Instant::now() >= deadline {
            return Lifecycle::Stuck;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (c) Transfer lifecycles, one at a time per customer, all customers at once; then
/// creations alone at their maximum and at half of it.
async fn transfers(context: &Context, services: &Services) -> Result<(), BenchError> {
    let settings = &context.settings;
    let customers = settings.customers;
    let lifecycles_each = (settings.transfers as usize).div_ceil(customers);
    let creations_each = lifecycles_each.max(5);
    let setup_started = Instant::now();
    let mut setup =
        transfer_setup(services, customers, lifecycles_each + 2 * creations_each).await?;
    let setup_took = setup_started.elapsed();
    let partner_token = bearer(&Actor::admin_agent(setup.partner))?;
    let provider_token = bearer(&Actor::admin_agent(setup.provider))?;
    let provider = format!("partners/{}", setup.provider);
    let channels = load::connect(services.transfer().addr, settings.connections).await?;

    // Lifecycles.
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for (index, (customer, subscriptions)) in setup.customers.iter_mut().enumerate() {
        let mine: Vec<String> = subscriptions
            .drain(..lifecycles_each.min(subscriptions.len()))
            .collect();
        let channel = channels[index % channels.len()].clone();
        let parent = format!("partners/{}/customers/{customer}", setup.partner);
        let (partner_token, provider_token, provider) = (
            partner_token.clone(),
            provider_token.clone(),
            provider.clone(),
        );
        workers.spawn(async move {
            let mut ends = Vec::new();
            for subscription in mine {
                ends.push(
                    lifecycle(
                        channel.clone(),
                        &partner_token,
                        &provider_token,
                        &parent,
                        &provider,
                        subscription,
                    )
                    .await,
                );
            }
            ends
        });
    }
    let mut completed = 0_u64;
    let mut created = load::histogram();
    let mut total = load::histogram();
    let mut failures: std::collections::BTreeMap<String, u64> = Default::default();
    while let Some(ends) = workers.join_next().await {
        for end in ends? {
            match end {
                Lifecycle::Completed {
                    created: c,
                    total: t,
                } => {
                    completed += 1;
                    created.saturating_record(micros(c));
                    total.saturating_record(micros(t));
                }
                Lifecycle::Refused(step, code) => {
                    *failures.entry(format!("{step}: {code:?}")).or_default() += 1
                }
                Lifecycle::Stuck => {
                    *failures
                        .entry("not COMPLETED within 120 s".into())
                        .or_default() += 1
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let completed_rate = completed as f64 / elapsed.as_secs_f64().max(1e-9);

    // Creations alone: at their maximum (one at a time per customer), then open loop at half.
    let queue = |setup: &mut TransferSetup, each: usize| -> VecDeque<(String, String)> {
        let mut queue = VecDeque::new();
        let mut taken: Vec<Vec<String>> = setup
            .customers
            .iter_mut()
            .map(|(_, subscriptions)| {
                subscriptions
                    .drain(..each.min(subscriptions.len()))
                    .collect()
            })
            .collect();
        for round in 0..each {
            for (index, (customer, _)) in setup.customers.iter().enumerate() {
                if let Some(subscription) = taken[index].get_mut(round).map(std::mem::take) {
                    queue.push_back((
                        format!("partners/{}/customers/{customer}", setup.partner),
                        subscription,
                    ));
                }
            }
        }
        queue
    };
    let creation_call = |queue: VecDeque<(String, String)>| -> Call {
        let queue = Arc::new(Mutex::new(queue));
        let (token, provider) = (partner_token.clone(), provider.clone());
        Arc::new(move |channel: Channel| -> CallFuture {
            let next = queue.lock().ok().and_then(|mut queue| queue.pop_front());
            let (token, provider) = (token.clone(), provider.clone());
            Box::pin(async move {
                let Some((parent, subscription)) = next else {
                    return Code::ResourceExhausted;
                };
                let request = authed(
                    tr::CreateTransferRequestRequest {
                        request_id: Uuid::new_v4().to_string(),
                        parent,
                        provider,
                        subscriptions: vec![subscription],
                    },
                    &token,
                );
                code_of(
                    TransferServiceClient::new(channel)
                        .create_transfer_request(request)
                        .await,
                )
            })
        })
    };
    let max_queue = queue(&mut setup, creations_each);
    let max_count = max_queue.len() as u64;
    // One creation in flight per customer: concurrent ones of one customer lock each other.
    let creation_max = load::closed(
        &channels,
        customers.div_ceil(channels.len()),
        Bound::Count(max_count),
        &creation_call(max_queue),
    )
    .await;
    let half_queue = queue(&mut setup, creations_each);
    let half_count = half_queue.len() as u64;
    let half_rate = creation_max.goodput() / 2.0;
    let creation_half = load::open(
        &channels,
        half_rate,
        Bound::Count(half_count),
        settings.connections * settings.streams * 4,
        &creation_call(half_queue),
    )
    .await;

    let mut table = Table::new(format!(
        "(c) transfer lifecycle: create, accept, executed to COMPLETED ({})",
        context.backend()
    ));
    table.info(
        "set-up (partner, provider, customers, subscriptions)",
        format!(
            "{customers} customers, {} subscriptions, {:.1} s",
            thousands((customers * (lifecycles_each + 2 * creations_each)) as u64),
            setup_took.as_secs_f64()
        ),
    );
    let goal_met = completed_rate >= 200.0;
    if context.admin_url.is_some() {
        table.goal(
            "completed transfers/s",
            per_second(completed_rate),
            "",
            "≥ 200/s on PostgreSQL",
            goal_met,
        );
    } else {
        table.info("completed transfers/s", per_second(completed_rate));
    }
    table.info(
        "lifecycles completed / run",
        format!(
            "{} / {} in {:.1} s",
            thousands(completed),
            thousands((lifecycles_each * customers) as u64),
            elapsed.as_secs_f64()
        ),
    );
    table.info(
        "failed lifecycles",
        if failures.is_empty() {
            "none".to_owned()
        } else {
            failures
                .iter()
                .map(|(what, count)| format!("{what}: {count}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    table.info("create → COMPLETED p50 / p99", p50_p99(&total));
    table.info("creation within lifecycles p50 / p99", p50_p99(&created));
    table.info(
        "creations alone, max (one per customer at a time)",
        per_second(creation_max.goodput()),
    );
    table.info(
        "creations alone, max: p50 / p99 / errors",
        format!(
            "{} / {} / {}",
            ms(creation_max.ok_ms(0.5)),
            ms(creation_max.ok_ms(0.99)),
            creation_max.errors()
        ),
    );
    table.goal(
        format!(
            "creation p99 at half load ({} offered)",
            per_second(half_rate)
        ),
        ms(creation_half.ok_ms(0.99)),
        "",
        "≤ 10 ms",
        creation_half.ok_ms(0.99) <= 10.0 && creation_half.ok() == creation_half.answered(),
    );
    table.info(
        "creation at half load: p50 / errors",
        format!(
            "{} / {}",
            ms(creation_half.ok_ms(0.5)),
            creation_half.errors()
        ),
    );
    table.note("each lifecycle polls GetTransferRequest every 50 ms until COMPLETED; the transfer binary runs its production relay settings");
    table.print();
    Ok(())
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The columns of the transfer service's `subscriptions` table (its store's
/// `SUBSCRIPTION_COLUMNS` after every migration), id first.
const SUBSCRIPTION_COLUMNS: [&str; 20] = [
    "id",
    "partner_tenant_id",
    "customer_tenant_id",
    "offer_id",
    "offer_kind",
    "quantity",
    "base_subscription_id",
    "status",
    "auto_renew",
    "billing_period",
    "currency_code",
    "unit_price_minor",
    "azure_subscription_id",
    "transferred_from",
    "transferred_to",
    "create_time",
    "update_time",
    "cancel_time",
    "cancellation_credit_minor",
    "version",
];

/// Copies subscription `template_id` `count` times with ids that sort after every id the
/// service makes (UUIDv7 of today start with 0…), so the copies are the customer's last pages.
async fn seed_subscriptions(
    services: &Services,
    postgres: bool,
    template_id: &str,
    count: u64,
) -> Result<(), BenchError> {
    let copied = SUBSCRIPTION_COLUMNS[1..].join(", ");
    let all = SUBSCRIPTION_COLUMNS.join(", ");
    let sql = if postgres {
        format!(
            "INSERT INTO subscriptions ({all}) SELECT 'ffffffff-0000-7000-8000-' || lpad(to_hex(n), 12, '0'), {copied} \
             FROM generate_series(1, {count}) AS n, subscriptions WHERE id = $1"
        )
    } else {
        format!(
            "WITH RECURSIVE series(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM series WHERE n < {count}) \
             INSERT INTO subscriptions ({all}) SELECT printf('ffffffff-0000-7000-8000-%012x', n), {copied} \
             FROM series, subscriptions WHERE id = $1"
        )
    };
    let database = services.transfer().database.database();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(template_id)
        .execute(database.pool())
        .await?;
    if postgres {
        sqlx::query("ANALYZE subscriptions")
            .execute(database.pool())
            .await?;
    }
    Ok(())
}

/// (d) ListSubscriptions over one customer's many subscriptions: the first page against the
/// last, 500 a page.
async fn deep_pages(context: &Context, services: &Services) -> Result<(), BenchError> {
    let count = context.settings.subscriptions;
    let partner = suite_testkit::direct_bill_partner(services.enrollment()).await;
    let customer = Uuid::new_v4();
    suite_testkit::record_customer(services.relationship(), partner, customer).await;
    let template = suite_testkit::order_subscription(
        services.transfer(),
        partner,
        customer,
        suite_testkit::licence_based(tr::OfferKind::LegacyLicense, "O365-E3", 10, ""),
    )
    .await;
    let template_id = template
        .name
        .rsplit('/')
        .next()
        .ok_or("a subscription name")?
        .to_owned();
    let seeding = Instant::now();
    seed_subscriptions(
        services,
        context.admin_url.is_some(),
        &template_id,
        count.saturating_sub(1),
    )
    .await?;
    let seeded_in = seeding.elapsed();

    let token = bearer(&Actor::admin_agent(partner))?;
    let parent = format!("partners/{partner}/customers/{customer}");
    let channel = load::connect(services.transfer().addr, 1).await?.remove(0);
    let mut client = TransferServiceClient::new(channel);
    let page = |page_token: String| {
        authed(
            tr::ListSubscriptionsRequest {
                parent: parent.clone(),
                page_size: 500,
                page_token,
            },
            &token,
        )
    };
    const REPEATS: usize = 200;
    let walk_started = Instant::now();
    let mut walk: Vec<Duration> = Vec::new();
    let mut rows = 0_u64;
    let token_of_last;
    let mut next = String::new();
    loop {
        let begin = Instant::now();
        let answer = client
            .list_subscriptions(page(next.clone()))
            .await?
            .into_inner();
        walk.push(begin.elapsed());
        rows += answer.subscriptions.len() as u64;
        if answer.next_page_token.is_empty() {
            token_of_last = next;
            break;
        }
        next = answer.next_page_token;
    }
    let walked_in = walk_started.elapsed();
    // The first and the last page by turns, so that whatever else the machine does at the
    // time (the seeded rows' checkpoint, another process) weighs on both alike.
    let (mut first, mut last) = (load::histogram(), load::histogram());
    for _ in 0..REPEATS {
        for (token, histogram) in [
            (String::new(), &mut first),
            (token_of_last.clone(), &mut last),
        ] {
            let begin = Instant::now();
            client.list_subscriptions(page(token)).await?;
            histogram.saturating_record(micros(begin.elapsed()));
        }
    }
    let tenth = (walk.len() / 10).max(1);
    let walk_histogram = |pages: &[Duration]| -> Histogram<u64> {
        let mut histogram = load::histogram();
        for latency in pages {
            histogram.saturating_record(micros(*latency));
        }
        histogram
    };
    let early = walk_histogram(&walk[..tenth.min(walk.len())]);
    let late = walk_histogram(&walk[walk.len().saturating_sub(tenth)..]);

    let mut table = Table::new(format!(
        "(d) ListSubscriptions paged to the end, 500 a page ({})",
        context.backend()
    ));
    table.info(
        "subscriptions of the customer (seeded by SQL)",
        format!("{} in {:.1} s", thousands(count), seeded_in.as_secs_f64()),
    );
    table.info(
        "pages walked / rows read",
        format!(
            "{} / {} in {:.1} s",
            thousands(walk.len() as u64),
            thousands(rows),
            walked_in.as_secs_f64()
        ),
    );
    let first_mean = first.mean() / 1000.0;
    let last_mean = last.mean() / 1000.0;
    table.info(
        format!("first page ×{REPEATS}: mean / p99"),
        format!("{} / {}", ms(first_mean), ms(load::millis(&first, 0.99))),
    );
    table.goal(
        format!("last page ×{REPEATS}: mean vs first"),
        ms(last_mean),
        times(last_mean, first_mean),
        "≤ 1.2× first",
        last_mean <= 1.2 * first_mean,
    );
    table.ratio(
        format!("last page ×{REPEATS}: p99 vs first"),
        ms(load::millis(&last, 0.99)),
        times(load::millis(&last, 0.99), load::millis(&first, 0.99)),
    );
    table.ratio(
        "walk: last tenth of pages vs first tenth, mean",
        ms(late.mean() / 1000.0),
        times(late.mean(), early.mean()),
    );
    table.print();
    Ok(())
}

/// `p50 / p99` of `histogram`, in milliseconds.
fn p50_p99(histogram: &hdrhistogram::Histogram<u64>) -> String {
    format!(
        "{} / {}",
        ms(load::millis(histogram, 0.5)),
        ms(load::millis(histogram, 0.99))
    )
}
