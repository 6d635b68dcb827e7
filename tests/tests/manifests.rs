//! The Kubernetes manifests against what the binaries really do. Every overlay is rendered
//! with `kubectl kustomize` (no kubectl, no rendering: the test fails), and for each service:
//! - every variable the pod sets is one the binary reads, and `ServiceConfig` accepts the set
//!   (secrets replaced by placeholders), so nothing required is missing;
//! - secrets come from Secrets, never from a ConfigMap or a literal;
//! - it listens on all interfaces, on the container port named `grpc` that the Service and
//!   the probes use, and the readiness probe asks for the generated server's name;
//! - the grace period covers the preStop pause and the longest call the server drains;
//! - every configured peer URL names a Service of the overlay, and the NetworkPolicies let
//!   the caller reach it and the callee accept it; DNS and the service's database are open;
//! - the replica count is what the overlay promises;
//! - the binary started with that configuration serves health under the probes' names.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use suite_config::{AuthKeys, Secret, ServiceConfig};
use suite_proto::agreement::v1::agreement_service_server::AgreementServiceServer;
use suite_proto::enrollment::v1::enrollment_service_server::EnrollmentServiceServer;
use suite_proto::relationship::v1::relationship_service_server::RelationshipServiceServer;
use suite_proto::transfer::v1::transfer_service_server::TransferServiceServer;
use suite_server::StartError;
use suite_testkit::{ServingStatus, TEST_SECRET, health_status};
use tokio::net::TcpListener;
use tonic::server::NamedService;

/// The overlays and the fewest replicas each promises per service.
const OVERLAYS: &[(&str, i64)] = &[("dev", 1), ("production", 2)];

/// Variables that must never be written in a ConfigMap or a manifest.
const SECRET_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "AUTH_HS256_SECRET",
    "PAGE_TOKEN_SECRET",
    "SMTP_URL",
];

/// Where the image puts the binaries (Dockerfile).
const BINARY_DIR: &str = "/usr/local/bin";

/// What the code says about one service binary.
struct Binary {
    /// Crate, binary and Kubernetes name (`SERVICE`).
    name: &'static str,
    /// The generated server's name, which health reports.
    grpc_service: &'static str,
    default_port: u16,
    /// Variables read outside `ServiceConfig`.
    other_variables: &'static [&'static str],
}

fn binaries() -> [Binary; 4] {
    // RUST_LOG is read by the log filter (shared/telemetry).
    [
        Binary {
            name: enrollment::SERVICE,
            grpc_service: EnrollmentServiceServer::<()>::NAME,
            default_port: enrollment::DEFAULT_PORT,
            other_variables: &["RUST_LOG", "ENROLLMENT_OVERRIDE_GRACE_DAYS"],
        },
        Binary {
            name: relationship::SERVICE,
            grpc_service: RelationshipServiceServer::<()>::NAME,
            default_port: relationship::DEFAULT_PORT,
            // Read by `relationship::RelationshipOptions::from_env`.
            other_variables: &[
                "RUST_LOG",
                "PARTNERSHIP_INVITATION_DAYS",
                "PARTNERSHIP_INVITATION_URL",
                "CUSTOMER_INVITATION_URL",
            ],
        },
        Binary {
            name: agreement::SERVICE,
            grpc_service: AgreementServiceServer::<()>::NAME,
            default_port: agreement::DEFAULT_PORT,
            other_variables: &["RUST_LOG"],
        },
        Binary {
            name: transfer::SERVICE,
            grpc_service: TransferServiceServer::<()>::NAME,
            default_port: transfer::DEFAULT_PORT,
            other_variables: &["RUST_LOG"],
        },
    ]
}

// --- rendering ------------------------------------------------------------------------------

fn render(overlay: &str) -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../k8s/overlays")
        .join(overlay);
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(&dir)
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run `kubectl kustomize` ({error}); `bash .ci/k8s install` installs it")
        });
    assert!(
        output.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("utf-8 manifests");
    let mut documents = Vec::new();
    let mut current = String::new();
    for line in text.lines().chain(std::iter::once("---")) {
        if line == "---" {
            if !current.trim().is_empty() {
                let document: Value = serde_yaml_ng::from_str(&current)
                    .unwrap_or_else(|error| panic!("{overlay}: unreadable YAML: {error}"));
                documents.push(document);
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    assert!(
        documents.len() > 10,
        "{overlay}: rendered only {} objects",
        documents.len()
    );
    documents
}

fn find<'a>(documents: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    documents
        .iter()
        .find(|document| document["kind"] == kind && document["metadata"]["name"] == name)
}

fn of_kind<'a>(documents: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    documents
        .iter()
        .filter(move |document| document["kind"] == kind)
}

fn items(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// `matchLabels` of `selector` all present in `labels` (`matchExpressions` are not used here
/// and count as not matching, so an unexpected selector fails rather than passes).
fn selects(selector: &Value, labels: &Value) -> bool {
    if selector.get("matchExpressions").is_some() {
        return false;
    }
    selector["matchLabels"]
        .as_object()
        .map(|wanted| {
            wanted
                .iter()
                .all(|(key, value)| labels.get(key) == Some(value))
        })
        .unwrap_or(true)
}

// --- the environment a container gets -------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Source {
    Literal,
    ConfigMap,
    Secret { name: String, key: String },
    DownwardApi,
}

struct Variable {
    value: String,
    source: Source,
}

/// The container's variables as Kubernetes assembles them: `envFrom` in order, then `env`.
fn environment(
    documents: &[Value],
    service: &str,
    container: &Value,
    problems: &mut Vec<String>,
) -> BTreeMap<String, Variable> {
    let mut variables = BTreeMap::new();
    for from in items(&container["envFrom"]) {
        if let Some(name) = from["configMapRef"]["name"].as_str() {
            let Some(config_map) = find(documents, "ConfigMap", name) else {
                problems.push(format!(
                    "{service}: envFrom ConfigMap {name} is not in the manifests"
                ));
                continue;
            };
            for (key, value) in config_map["data"].as_object().into_iter().flatten() {
                let value = value.as_str().unwrap_or_default().to_owned();
                variables.insert(
                    key.clone(),
                    Variable {
                        value,
                        source: Source::ConfigMap,
                    },
                );
            }
        } else {
            problems.push(format!(
                "{service}: envFrom {from}: only ConfigMaps (secrets are taken key by key)"
            ));
        }
    }
    for entry in items(&container["env"]) {
        let name = entry["name"].as_str().unwrap_or_default().to_owned();
        let variable = if let Some(value) = entry["value"].as_str() {
            Variable {
                value: value.to_owned(),
                source: Source::Literal,
            }
        } else if let Some(secret) = entry["valueFrom"].get("secretKeyRef") {
            Variable {
                value: placeholder(service, &name),
                source: Source::Secret {
                    name: secret["name"].as_str().unwrap_or_default().to_owned(),
                    key: secret["key"].as_str().unwrap_or_default().to_owned(),
                },
            }
        } else if let Some(reference) = entry["valueFrom"].get("configMapKeyRef") {
            let value = reference["name"]
                .as_str()
                .and_then(|map| find(documents, "ConfigMap", map))
                .and_then(|map| {
                    map["data"][reference["key"].as_str().unwrap_or_default()].as_str()
                });
            let Some(value) = value else {
                problems.push(format!(
                    "{service}: {name} names a ConfigMap key not rendered"
                ));
                continue;
            };
            Variable {
                value: value.to_owned(),
                source: Source::ConfigMap,
            }
        } else {
            Variable {
                value: "from-the-downward-api".to_owned(),
                source: Source::DownwardApi,
            }
        };
        variables.insert(name, variable);
    }
    variables
}

/// A stand-in for a Secret's value that the configuration would accept.
fn placeholder(service: &str, variable: &str) -> String {
    match variable {
        "DATABASE_URL" => format!("postgresql://{service}:password@{service}-db-rw:5432/{service}"),
        "AUTH_SIGNING_KEY_ID" => service.to_owned(),
        "SMTP_URL" => "smtps://suite:password@smtp.example.com".to_owned(),
        _ => "placeholder-secret-of-more-than-32-bytes".to_owned(),
    }
}

// --- network policies -----------------------------------------------------------------------

enum Direction {
    Egress,
    Ingress,
}

/// Whether the NetworkPolicies let pods labelled `from` open TCP `port` on pods labelled
/// `to`, in one namespace, in `direction` (the side whose policies are asked).
fn policies_allow(
    documents: &[Value],
    direction: Direction,
    from: &Value,
    to: &Value,
    port: i64,
) -> bool {
    let (own, other, kind, rules_key, peers_key) = match direction {
        Direction::Egress => (from, to, "Egress", "egress", "to"),
        Direction::Ingress => (to, from, "Ingress", "ingress", "from"),
    };
    let applying: Vec<&Value> = of_kind(documents, "NetworkPolicy")
        .filter(|policy| selects(&policy["spec"]["podSelector"], own))
        .filter(|policy| {
            items(&policy["spec"]["policyTypes"])
                .iter()
                .any(|t| t == kind)
        })
        .collect();
    applying.iter().any(|policy| {
        items(&policy["spec"][rules_key]).iter().any(|rule| {
            let peers = items(&rule[peers_key]);
            let peer_matches = peers.is_empty()
                || peers.iter().any(|peer| {
                    peer.get("namespaceSelector").is_none()
                        && peer.get("ipBlock").is_none()
                        && selects(&peer["podSelector"], other)
                });
            let ports = items(&rule["ports"]);
            let port_matches = ports.is_empty()
                || ports.iter().any(|p| {
                    p["port"].as_i64() == Some(port)
                        && p["protocol"].as_str().unwrap_or("TCP") == "TCP"
                });
            peer_matches && port_matches
        })
    })
}

fn isolated(documents: &[Value], labels: &Value, kind: &str) -> bool {
    of_kind(documents, "NetworkPolicy").any(|policy| {
        selects(&policy["spec"]["podSelector"], labels)
            && items(&policy["spec"]["policyTypes"])
                .iter()
                .any(|t| t == kind)
    })
}

fn dns_open(documents: &[Value], labels: &Value) -> bool {
    of_kind(documents, "NetworkPolicy")
        .filter(|policy| selects(&policy["spec"]["podSelector"], labels))
        .flat_map(|policy| items(&policy["spec"]["egress"]))
        .flat_map(|rule| items(&rule["ports"]))
        .any(|port| port["port"] == 53 && port["protocol"] == "UDP")
}

// --- one service in one overlay -------------------------------------------------------------

/// A service's configuration as the overlay gives it, with what the probes ask.
struct Configured {
    binary: Binary,
    config: ServiceConfig,
}

fn check_overlay(documents: &[Value], min_replicas: i64) -> (Vec<String>, Vec<Configured>) {
    let mut problems = Vec::new();
    let mut configured = Vec::new();
    for binary in binaries() {
        if let Some(config) = check_service(documents, &binary, min_replicas, &mut problems) {
            configured.push(Configured { binary, config });
        }
    }
    (problems, configured)
}

fn check_service(
    documents: &[Value],
    binary: &Binary,
    min_replicas: i64,
    problems: &mut Vec<String>,
) -> Option<ServiceConfig> {
    let name = binary.name;
    let Some(deployment) = find(documents, "Deployment", name) else {
        problems.push(format!("{name}: no Deployment"));
        return None;
    };
    let pod = &deployment["spec"]["template"];
    let pod_labels = &pod["metadata"]["labels"];
    let containers = items(&pod["spec"]["containers"]);
    let [container] = containers else {
        problems.push(format!("{name}: expected one container"));
        return None;
    };
    if container["command"] != json!([format!("{BINARY_DIR}/{name}")]) {
        problems.push(format!(
            "{name}: command {} does not run {BINARY_DIR}/{name}",
            container["command"]
        ));
    }
    // Service links would add variables that the checks below never see.
    if pod["spec"]["enableServiceLinks"] != false {
        problems.push(format!("{name}: enableServiceLinks must be false"));
    }

    // Every variable read, every required one set.
    let variables = environment(documents, name, container, problems);
    let asked = RefCell::new(BTreeSet::new());
    let parsed = ServiceConfig::from_lookup(binary.default_port, |key| {
        asked.borrow_mut().insert(key.to_owned());
        variables.get(key).map(|variable| variable.value.clone())
    });
    let asked = asked.into_inner();
    for (key, variable) in &variables {
        if !asked.contains(key) && !binary.other_variables.contains(&key.as_str()) {
            problems.push(format!(
                "{name}: sets {key}, which the binary does not read"
            ));
        }
        if SECRET_VARIABLES.contains(&key.as_str())
            && !matches!(variable.source, Source::Secret { .. })
        {
            problems.push(format!(
                "{name}: {key} comes from {:?}, not from a Secret",
                variable.source
            ));
        }
    }
    if let Some(days) = variables.get("ENROLLMENT_OVERRIDE_GRACE_DAYS")
        && days.value.parse::<u32>().is_err()
    {
        problems.push(format!(
            "{name}: ENROLLMENT_OVERRIDE_GRACE_DAYS is not a number"
        ));
    }
    let config = match parsed {
        Ok(config) => config,
        Err(error) => {
            problems.push(format!(
                "{name}: the binary refuses its environment: {error}"
            ));
            return None;
        }
    };

    // The database: with CloudNativePG, the Secret its operator writes and the way there.
    let database = format!("{name}-db");
    if find(documents, "Cluster", &database).is_some() {
        let expected = Source::Secret {
            name: format!("{database}-app"),
            key: "uri".to_owned(),
        };
        if variables.get("DATABASE_URL").map(|v| &v.source) != Some(&expected) {
            problems.push(format!(
                "{name}: DATABASE_URL must come from Secret {database}-app, key uri"
            ));
        }
        let database_pods = json!({ "cnpg.io/cluster": database });
        if !policies_allow(
            documents,
            Direction::Egress,
            pod_labels,
            &database_pods,
            5432,
        ) {
            problems.push(format!(
                "{name}: NetworkPolicies block its database {database}"
            ));
        }
    }

    // Port, Service and probes agree with where the binary listens and what health serves.
    let port = i64::from(config.listen_addr.port());
    if !config.listen_addr.ip().is_unspecified() {
        problems.push(format!(
            "{name}: LISTEN_ADDR {} is unreachable from other pods",
            config.listen_addr
        ));
    }
    let grpc_port = items(&container["ports"])
        .iter()
        .find(|p| p["name"] == "grpc")
        .and_then(|p| p["containerPort"].as_i64());
    if grpc_port != Some(port) {
        problems.push(format!(
            "{name}: container port `grpc` {grpc_port:?} is not LISTEN_ADDR's {port}"
        ));
    }
    // The scrape endpoint listens where the pod's `metrics` port and its annotation say.
    match config.metrics_addr {
        None => problems.push(format!("{name}: METRICS_ADDR unset: no scrape endpoint")),
        Some(metrics) => {
            let metrics_port = i64::from(metrics.port());
            let declared = items(&container["ports"])
                .iter()
                .find(|p| p["name"] == "metrics")
                .and_then(|p| p["containerPort"].as_i64());
            let annotated = pod["metadata"]["annotations"]["prometheus.io/port"]
                .as_str()
                .and_then(|port| port.parse::<i64>().ok());
            if !metrics.ip().is_unspecified()
                || declared != Some(metrics_port)
                || annotated != Some(metrics_port)
            {
                problems.push(format!(
                    "{name}: METRICS_ADDR {metrics}, container port `metrics` {declared:?}, annotation {annotated:?} disagree"
                ));
            }
        }
    }
    for (probe, allowed) in [
        ("readinessProbe", vec![binary.grpc_service]),
        ("startupProbe", vec![binary.grpc_service]),
        ("livenessProbe", vec![suite_server::LIVENESS_SERVICE]),
    ] {
        let grpc = &container[probe]["grpc"];
        if grpc.is_null() {
            if probe != "startupProbe" {
                problems.push(format!("{name}: no gRPC {probe}"));
            }
            continue;
        }
        if grpc["port"].as_i64() != Some(port) {
            problems.push(format!(
                "{name}: {probe} asks port {}, not {port}",
                grpc["port"]
            ));
        }
        let asked_service = grpc["service"].as_str().unwrap_or_default();
        if !allowed.contains(&asked_service) {
            problems.push(format!(
                "{name}: {probe} asks health for `{asked_service}`, the binary serves {allowed:?}"
            ));
        }
    }
    match find(documents, "Service", name) {
        None => problems.push(format!("{name}: no Service")),
        Some(service) => {
            let grpc = items(&service["spec"]["ports"])
                .iter()
                .find(|p| p["name"] == "grpc");
            let targets_container = grpc.is_some_and(|p| {
                p["targetPort"] == "grpc" || p["targetPort"].as_i64() == Some(port)
            });
            if !targets_container {
                problems.push(format!("{name}: Service has no port `grpc` to {port}"));
            }
            if !selects(
                &json!({ "matchLabels": service["spec"]["selector"] }),
                pod_labels,
            ) {
                problems.push(format!("{name}: Service does not select the pods"));
            }
        }
    }

    // SIGTERM drains calls for up to the request timeout, after the preStop pause.
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .unwrap_or(30);
    let pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_i64()
        .unwrap_or(0);
    let drain = config.request_timeout.as_secs_f64().ceil() as i64;
    if pause == 0 {
        problems.push(format!(
            "{name}: no preStop pause for endpoints to drop the pod"
        ));
    }
    if grace < pause + drain {
        problems.push(format!(
            "{name}: grace period {grace} s < preStop {pause} s + request timeout {drain} s"
        ));
    }

    // Peers: a Service of the overlay, reachable through the NetworkPolicies.
    for (kind, what) in [("Ingress", "accepts"), ("Egress", "reaches")] {
        if !isolated(documents, pod_labels, kind) {
            problems.push(format!(
                "{name}: no NetworkPolicy limits what it {what} ({kind})"
            ));
        }
    }
    if !dns_open(documents, pod_labels) {
        problems.push(format!("{name}: NetworkPolicies block DNS"));
    }
    let peers = &config.peers;
    for url in [
        &peers.enrollment,
        &peers.relationship,
        &peers.agreement,
        &peers.transfer,
    ]
    .into_iter()
    .flatten()
    {
        check_peer(documents, name, pod_labels, url, problems);
    }

    // Replicas: the Deployment's, or the autoscaler's floor when it owns the count.
    let replicas = deployment["spec"]["replicas"].as_i64().or_else(|| {
        of_kind(documents, "HorizontalPodAutoscaler")
            .find(|hpa| hpa["spec"]["scaleTargetRef"]["name"] == name)
            .map(|hpa| hpa["spec"]["minReplicas"].as_i64().unwrap_or(1))
    });
    match replicas {
        Some(count) if count >= min_replicas => {}
        other => problems.push(format!(
            "{name}: {other:?} replicas, the overlay promises at least {min_replicas}"
        )),
    }
    Some(config)
}

fn check_peer(
    documents: &[Value],
    caller: &str,
    caller_labels: &Value,
    url: &str,
    problems: &mut Vec<String>,
) {
    let authority = url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/');
    let Some((host, port)) = authority.rsplit_once(':') else {
        problems.push(format!("{caller}: peer URL {url} has no port"));
        return;
    };
    let service_name = host.split('.').next().unwrap_or_default();
    let Some(service) = find(documents, "Service", service_name) else {
        problems.push(format!(
            "{caller}: peer URL {url} names no Service of the overlay"
        ));
        return;
    };
    let port: i64 = port.parse().unwrap_or(-1);
    let Some(service_port) = items(&service["spec"]["ports"])
        .iter()
        .find(|p| p["port"].as_i64() == Some(port))
    else {
        problems.push(format!(
            "{caller}: Service {service_name} has no port {port}"
        ));
        return;
    };
    let Some(callee) = of_kind(documents, "Deployment").find(|deployment| {
        selects(
            &json!({ "matchLabels": service["spec"]["selector"] }),
            &deployment["spec"]["template"]["metadata"]["labels"],
        )
    }) else {
        problems.push(format!(
            "{caller}: Service {service_name} selects no Deployment"
        ));
        return;
    };
    let callee_pod = &callee["spec"]["template"];
    let callee_labels = &callee_pod["metadata"]["labels"];
    let target = &service_port["targetPort"];
    let container_port = items(&callee_pod["spec"]["containers"])
        .iter()
        .flat_map(|container| items(&container["ports"]))
        .find(|p| p["name"] == *target || p["containerPort"] == *target)
        .and_then(|p| p["containerPort"].as_i64());
    let Some(container_port) = container_port else {
        problems.push(format!(
            "{caller}: Service {service_name}'s target port is not a container port"
        ));
        return;
    };
    if !policies_allow(
        documents,
        Direction::Egress,
        caller_labels,
        callee_labels,
        container_port,
    ) {
        problems.push(format!(
            "{caller}: NetworkPolicies block egress to {service_name}:{container_port} ({url})"
        ));
    }
    if !policies_allow(
        documents,
        Direction::Ingress,
        caller_labels,
        callee_labels,
        container_port,
    ) {
        problems.push(format!(
            "{caller}: {service_name}'s NetworkPolicies refuse it on {container_port} ({url})"
        ));
    }
}

// --- the binary itself ----------------------------------------------------------------------

/// Starts the service with `config` (its database on a temporary SQLite file, and a shared
/// token secret when the manifest mounts key files this test does not have) and waits until
/// health reports SERVING under the readiness name and `""`, as the probes ask.
async fn serves_as_probed(binary: &Binary, mut config: ServiceConfig) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    config.database_url = Secret::new(format!(
        "sqlite://{}",
        dir.path().join("probe.db").display()
    ));
    if matches!(config.auth.keys, AuthKeys::PublicKeys(_)) {
        config.auth.keys = AuthKeys::SharedSecret(Secret::new(TEST_SECRET));
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task: tokio::task::JoinHandle<Result<(), StartError>> = match binary.name {
        "enrollment" => tokio::spawn(enrollment::run(config, listener, shutdown)),
        "relationship" => tokio::spawn(relationship::run(config, listener, shutdown)),
        "agreement" => tokio::spawn(agreement::run(config, listener, shutdown)),
        "transfer" => tokio::spawn(transfer::run(config, listener, shutdown)),
        other => return Err(format!("no binary {other}")),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut outcome = Err(format!("{}: not SERVING within 20 s", binary.name));
    while tokio::time::Instant::now() < deadline {
        if task.is_finished() {
            let why = match task.await {
                Ok(Ok(())) => "no error".to_owned(),
                Ok(Err(error)) => error.to_string(),
                Err(error) => error.to_string(),
            };
            return Err(format!("{}: stopped at start: {why}", binary.name));
        }
        let ask = |service: &'static str| {
            tokio::time::timeout(Duration::from_secs(1), health_status(addr, service))
        };
        if let (Ok(ServingStatus::Serving), Ok(ServingStatus::Serving)) =
            (ask(binary.grpc_service).await, ask("").await)
        {
            outcome = Ok(());
            break;
        }
        tokio::time::sleep(suite_testkit::POLL_INTERVAL).await;
    }
    let _ = stop.send(());
    match task.await {
        Ok(Ok(())) => outcome,
        Ok(Err(error)) => Err(format!("{}: {error}", binary.name)),
        Err(error) => Err(format!("{}: {error}", binary.name)),
    }
}

// --- the tests ------------------------------------------------------------------------------

#[tokio::test]
async fn every_overlay_agrees_with_the_binaries() {
    for (overlay, min_replicas) in OVERLAYS {
        let documents = render(overlay);
        let (problems, configured) = check_overlay(&documents, *min_replicas);
        assert!(problems.is_empty(), "{overlay}:\n{}", problems.join("\n"));
        assert_eq!(configured.len(), 4, "{overlay}: four services");
        for Configured { binary, config } in configured {
            if let Err(error) = serves_as_probed(&binary, config).await {
                panic!("{overlay}: {error}");
            }
        }
    }
}

/// Changes the first object of `kind` named `name` in a copy of `documents`.
fn edited(
    documents: &[Value],
    kind: &str,
    name: &str,
    edit: impl FnOnce(&mut Value),
) -> Vec<Value> {
    let mut copy = documents.to_vec();
    let target = copy
        .iter_mut()
        .find(|document| document["kind"] == kind && document["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"));
    edit(target);
    copy
}

fn at<'a>(value: &'a mut Value, pointer: &str) -> &'a mut Value {
    value
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer}"))
}

fn list<'a>(value: &'a mut Value, pointer: &str) -> &'a mut Vec<Value> {
    at(value, pointer)
        .as_array_mut()
        .unwrap_or_else(|| panic!("{pointer} is not a list"))
}

fn config_map_named<'a>(documents: &'a [Value], prefix: &str) -> &'a str {
    of_kind(documents, "ConfigMap")
        .filter_map(|map| map["metadata"]["name"].as_str())
        .find(|name| name.starts_with(prefix))
        .unwrap_or_else(|| panic!("no ConfigMap {prefix}*"))
}

fn assert_caught(documents: &[Value], expected: &str) {
    let (problems, _) = check_overlay(documents, 2);
    assert!(
        problems.iter().any(|problem| problem.contains(expected)),
        "expected a problem containing `{expected}`, got {problems:#?}"
    );
}

#[test]
fn manifests_that_disagree_with_the_binaries_are_caught() {
    let production = render("production");
    assert!(check_overlay(&production, 2).0.is_empty());
    let container = "/spec/template/spec/containers/0";

    let wrong_name = edited(&production, "Deployment", "transfer", |d| {
        *at(d, &format!("{container}/readinessProbe/grpc/service")) =
            json!("transfer.v1.Transfers");
    });
    assert_caught(
        &wrong_name,
        "readinessProbe asks health for `transfer.v1.Transfers`",
    );

    let misspelt = edited(&production, "Deployment", "relationship", |d| {
        list(d, &format!("{container}/env"))
            .push(json!({ "name": "ENROLMENT_URL", "value": "http://enrollment:50051" }));
    });
    assert_caught(
        &misspelt,
        "sets ENROLMENT_URL, which the binary does not read",
    );

    let map = config_map_named(&production, "enrollment-config").to_owned();
    let moved = edited(&production, "ConfigMap", &map, |m| {
        m["data"]["LISTEN_ADDR"] = json!("0.0.0.0:50061");
    });
    assert_caught(
        &moved,
        "container port `grpc` Some(50051) is not LISTEN_ADDR's 50061",
    );

    let map = config_map_named(&production, "relationship-config").to_owned();
    let unknown_peer = edited(&production, "ConfigMap", &map, |m| {
        m["data"]["AGREEMENT_URL"] = json!("http://agreement:50053");
    });
    assert_caught(
        &unknown_peer,
        "relationship: NetworkPolicies block egress to agreement:50053",
    );

    let closed = edited(&production, "NetworkPolicy", "transfer", |p| {
        list(p, "/spec/egress").retain(|rule| rule["ports"][0]["port"] != 50052);
    });
    assert_caught(
        &closed,
        "NetworkPolicies block egress to relationship:50052",
    );

    let refused = edited(&production, "NetworkPolicy", "enrollment", |p| {
        list(p, "/spec/ingress/0/from").retain(|peer| {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] != "agreement"
        });
    });
    assert_caught(
        &refused,
        "agreement: enrollment's NetworkPolicies refuse it on 50051",
    );

    let literal = edited(&production, "Deployment", "agreement", |d| {
        let env = list(d, &format!("{container}/env"));
        let entry = env
            .iter_mut()
            .find(|e| e["name"] == "DATABASE_URL")
            .unwrap();
        *entry =
            json!({ "name": "DATABASE_URL", "value": "postgresql://agreement:pw@db/agreement" });
    });
    assert_caught(
        &literal,
        "agreement: DATABASE_URL comes from Literal, not from a Secret",
    );

    let linked = edited(&production, "Deployment", "enrollment", |d| {
        d["spec"]["template"]["spec"]["enableServiceLinks"] = json!(true);
    });
    assert_caught(&linked, "enrollment: enableServiceLinks must be false");

    let hasty = edited(&production, "Deployment", "relationship", |d| {
        d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(8);
    });
    assert_caught(
        &hasty,
        "grace period 8 s < preStop 5 s + request timeout 10 s",
    );

    let single: Vec<Value> = production
        .iter()
        .filter(|d| {
            !(d["kind"] == "HorizontalPodAutoscaler" && d["metadata"]["name"] == "agreement")
        })
        .cloned()
        .collect();
    assert_caught(
        &single,
        "agreement: None replicas, the overlay promises at least 2",
    );
}

#[tokio::test]
async fn a_service_without_the_peer_its_code_calls_does_not_start() {
    let production = render("production");
    let map = config_map_named(&production, "transfer-config").to_owned();
    let without = edited(&production, "ConfigMap", &map, |m| {
        let data = at(m, "/data").as_object_mut().unwrap();
        assert!(data.remove("RELATIONSHIP_URL").is_some());
    });
    let (problems, configured) = check_overlay(&without, 2);
    assert!(problems.is_empty(), "{problems:#?}");
    let transfer = configured
        .into_iter()
        .find(|c| c.binary.name == "transfer")
        .unwrap();
    let error = serves_as_probed(&transfer.binary, transfer.config)
        .await
        .unwrap_err();
    assert!(error.contains("RELATIONSHIP_URL is required"), "{error}");
}
