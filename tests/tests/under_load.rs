//! The server under concurrent and hostile load: limits that hold against
//! parallel requests, memory that stays bounded whatever clients send,
//! connections that cannot be held open forever, keys that do only what
//! their scopes say, and no 5xx to legitimate requests. Every test drives a
//! real server over loopback with real concurrent clients; the memory tests
//! measure a server in a process of its own (`orrery-e2e-server`, the real
//! server with its allocator settings).
//!
//! Clients come from different loopback addresses (127.0.0.0/8 all reaches
//! the server) where a test needs different client addresses.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::time::Duration;

use futures_util::future::join_all;
use orrery_e2e::smtp::SmtpSink;
use orrery_e2e::{TEST_PASSWORD, TestServer};
use orrery_server::auth::mailer::SmtpConfig;
use orrery_server::http::{Access, endpoints};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

const E2E_SERVER: &str = env!("CARGO_BIN_EXE_orrery-e2e-server");

/// A deadline for things that should happen far sooner; only a failing test
/// waits it out.
const DEADLINE: Duration = Duration::from_secs(20);

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// An HTTP client whose connections come from `address`.
fn client_from(address: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

/// POSTs `body` to a route that needs no sign-in.
async fn post_public(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: &Value,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    call(client, base, Method::POST, path, None, Some(body)).await
}

async fn register(client: &reqwest::Client, base: &str, email: &str) -> Value {
    let (status, body, _) = post_public(
        client,
        base,
        "/v1/auth/register",
        &json!({ "email": email, "password": TEST_PASSWORD, "name": "Load" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn sign_in_body(email: &str, password: &str) -> Value {
    json!({ "email": email, "password": password })
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_are_limited() {
    let server = TestServer::start().await.unwrap();
    let base = server.url();
    let home = client_from(loopback(1));
    register(&home, &base, "grace@orrery.test").await;

    // Forty wrong passwords at once from one address: the attempts are taken
    // before the hashes run, so at most five are checked.
    let guesser = client_from(loopback(66));
    let statuses: Vec<StatusCode> = join_all((0..40).map(|n| {
        let guesser = guesser.clone();
        let base = base.clone();
        async move {
            call(
                &guesser,
                &base,
                Method::POST,
                "/v1/auth/sign-in",
                None,
                Some(&sign_in_body(
                    "grace@orrery.test",
                    &format!("wrong guess {n}"),
                )),
            )
            .await
            .0
        }
    }))
    .await;
    assert!(
        count(&statuses, StatusCode::UNAUTHORIZED) <= 5,
        "{statuses:?}"
    );
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED)
            + count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        40,
        "{statuses:?}"
    );

    // Once the limit is reached, a burst that includes the right password
    // signs nobody in from that address.
    let burst: Vec<StatusCode> = join_all((0..31).map(|n| {
        let guesser = guesser.clone();
        let base = base.clone();
        let password = if n == 17 {
            TEST_PASSWORD.to_owned()
        } else {
            format!("wrong again {n}")
        };
        async move {
            post_public(
                &guesser,
                &base,
                "/v1/auth/sign-in",
                &sign_in_body("grace@orrery.test", &password),
            )
            .await
            .0
        }
    }))
    .await;
    assert_eq!(
        count(&burst, StatusCode::TOO_MANY_REQUESTS),
        31,
        "{burst:?}"
    );

    // Four earlier failures leave one attempt: a burst of 31 gets one check.
    let other = client_from(loopback(67));
    for n in 0..4 {
        let (status, _, _) = post_public(
            &other,
            &base,
            "/v1/auth/sign-in",
            &sign_in_body("grace@orrery.test", &format!("miss {n}")),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let burst: Vec<StatusCode> = join_all((0..31).map(|n| {
        let other = other.clone();
        let base = base.clone();
        async move {
            post_public(
                &other,
                &base,
                "/v1/auth/sign-in",
                &sign_in_body("grace@orrery.test", &format!("burst {n}")),
            )
            .await
            .0
        }
    }))
    .await;
    assert_eq!(count(&burst, StatusCode::UNAUTHORIZED), 1, "{burst:?}");
    assert_eq!(
        count(&burst, StatusCode::TOO_MANY_REQUESTS),
        30,
        "{burst:?}"
    );

    // The guessers' locks are theirs: the owner, elsewhere, signs in.
    let (status, body, _) = post_public(
        &home,
        &base,
        "/v1/auth/sign-in",
        &sign_in_body("grace@orrery.test", TEST_PASSWORD),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The real server in a process of its own, with warnings only on stdout.
struct ServerProcess {
    child: tokio::process::Child,
    address: SocketAddr,
    _directory: tempfile::TempDir,
}

impl ServerProcess {
    async fn start(limits: &[&str]) -> Self {
        let directory = tempfile::tempdir().unwrap();
        let database = directory.path().join("server.db");
        let mut args = vec![
            "--quiet".to_owned(),
            "--database".to_owned(),
            database.display().to_string(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
        ];
        args.extend(limits.iter().map(|arg| (*arg).to_owned()));
        let mut child = tokio::process::Command::new(E2E_SERVER)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("starting orrery-e2e-server");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let address = tokio::time::timeout(DEADLINE, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(address) = line.strip_prefix("LISTENING ") {
                    return address.parse::<SocketAddr>().unwrap();
                }
            }
            panic!("the server ended before listening");
        })
        .await
        .expect("the server listens");
        // Keep reading so the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            address,
            _directory: directory,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A `/proc/PID/status` figure in MiB (`VmRSS`, `VmHWM`).
    fn memory_mib(&self, field: &str) -> f64 {
        let pid = self.child.id().expect("the server runs");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{field}:")))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in {status}"));
        kib / 1024.0
    }

    /// Resident memory once it has settled: freed pages go back to the
    /// system as they are freed, so the figure stops falling once the work
    /// is done; read it until two readings agree within 1 MiB.
    async fn settled_rss_mib(&self) -> f64 {
        let mut last = self.memory_mib("VmRSS");
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.memory_mib("VmRSS");
            if (now - last).abs() < 1.0 {
                return now;
            }
            last = now;
        }
        last
    }
}

/// Ceiling on the server's peak resident memory under a hashing flood
/// (before hashing was bounded: 1,446 MiB).
const HASHING_FLOOD_PEAK_MIB: f64 = 256.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_hashing_is_bounded_under_flood() {
    let server = ServerProcess::start(&["--registrations-per-hour", "100000"]).await;
    let base = server.url();
    let warm = client_from(loopback(1));
    register(&warm, &base, "warm@orrery.test").await;
    let before = server.settled_rss_mib().await;

    // 100 registrations and 100 reset confirmations with made-up codes, at
    // once, from 50 addresses.
    let requests = (0..200u32).map(|n| {
        let client = client_from(loopback(10 + (n % 50) as u8));
        let base = base.clone();
        async move {
            if n % 2 == 0 {
                call(
                    &client,
                    &base,
                    Method::POST,
                    "/v1/auth/register",
                    None,
                    Some(&json!({
                        "email": format!("flood{n}@orrery.test"),
                        "password": TEST_PASSWORD,
                        "name": "Flood"
                    })),
                )
                .await
            } else {
                call(
                    &client,
                    &base,
                    Method::POST,
                    "/v1/auth/password-reset/confirm",
                    None,
                    Some(&json!({
                        "code": format!("orp_made-up-code-{n}"),
                        "password": "a new passphrase for nobody"
                    })),
                )
                .await
            }
        }
    });
    let answers = join_all(requests).await;
    let peak = server.memory_mib("VmHWM");
    let after = server.settled_rss_mib().await;

    let mut by_status = BTreeMap::new();
    for (status, body, headers) in &answers {
        *by_status.entry(status.as_u16()).or_insert(0) += 1;
        assert!(
            !status.is_server_error() || *status == StatusCode::SERVICE_UNAVAILABLE,
            "{status} {body}"
        );
        if *status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(headers.contains_key("retry-after"), "{body}");
        }
    }
    // Every made-up code is refused before any hashing.
    assert_eq!(by_status.get(&400), Some(&100), "{by_status:?}");
    assert!(
        by_status.get(&201).copied().unwrap_or(0) >= 10,
        "registrations still go through: {by_status:?}"
    );
    assert!(
        peak < HASHING_FLOOD_PEAK_MIB,
        "peak {peak:.0} MiB (before the flood {before:.0} MiB; {by_status:?})"
    );
    assert!(
        after < before + 48.0,
        "resident memory went back: {before:.0} → {after:.0} MiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_never_500() {
    let server = TestServer::start_with(|config| {
        config.limits.registrations_per_address_per_hour = 10_000;
    })
    .await
    .unwrap();
    let base = server.url();

    // 150 people register at once: each registration reads (is the address
    // taken? is this the first account?) and then writes.
    let registrations = join_all((0..150u8).map(|n| {
        let client = client_from(IpAddr::V4(Ipv4Addr::new(127, 0, 1, n)));
        let base = base.clone();
        async move {
            call(
                &client,
                &base,
                Method::POST,
                "/v1/auth/register",
                None,
                Some(&json!({
                    "email": format!("writer{n}@orrery.test"),
                    "password": TEST_PASSWORD,
                    "name": format!("Writer {n}")
                })),
            )
            .await
        }
    }))
    .await;
    let statuses: Vec<_> = registrations.iter().map(|(status, _, _)| *status).collect();
    assert_eq!(count(&statuses, StatusCode::CREATED), 150, "{statuses:?}");

    // Ten devices signed in beforehand (one address: its password checks
    // are capped at a few at once, so they sign in one after another).
    let mut devices = Vec::new();
    for n in 0..10u64 {
        devices.push(
            orrery_e2e::TestDevice::signed_in(&server, &format!("device{n}@orrery.test"), "laptop")
                .await
                .unwrap(),
        );
    }

    // Then mixed writes at once from 50 of them: sign-ins (a session each),
    // refreshes (rotation), profile changes, graph pushes, and the same
    // address registered twice more.
    let mut writes = Vec::new();
    for (n, (_, session, _)) in registrations.iter().take(50).enumerate() {
        let client = client_from(loopback(100 + n as u8));
        let base = base.clone();
        let token = session["access_token"].as_str().unwrap().to_owned();
        let refresh = session["refresh_token"].as_str().unwrap().to_owned();
        writes.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            let email = format!("writer{n}@orrery.test");
            statuses.push(
                post_public(&client, &base, "/v1/auth/sign-in", &sign_in_body(&email, TEST_PASSWORD))
                    .await
                    .0,
            );
            statuses.push(
                post_public(&client, &base, "/v1/auth/refresh", &json!({ "refresh_token": refresh }))
                    .await
                    .0,
            );
            statuses.push(
                call(&client, &base, Method::PATCH, "/v1/me", Some(&token), Some(&json!({ "name": format!("Renamed {n}") })))
                    .await
                    .0,
            );
            statuses.push(
                post_public(&client, &base, "/v1/auth/register", &json!({ "email": "twice@orrery.test", "password": TEST_PASSWORD, "name": "Twice" }),
                )
                .await
                .0,
            );
            statuses
        }));
    }
    let pushes = join_all(devices.iter().zip(0u64..).map(|(device, n)| async move {
        let graph = device
            .replica
            .add_graph(orrery_domain::sample_graph(&format!("Graph {n}"), 50, n))
            .await
            .unwrap();
        device.client.sync_graph(&device.replica, graph.id).await
    }))
    .await;
    let mut all = Vec::new();
    for write in writes {
        all.extend(write.await.unwrap());
    }
    for status in &all {
        assert!(!status.is_server_error(), "{all:?}");
    }
    assert_eq!(
        count(&all, StatusCode::CREATED),
        1,
        "one of the parallel registrations of one address wins: {all:?}"
    );
    assert_eq!(count(&all, StatusCode::CONFLICT), 49, "{all:?}");
    for push in pushes {
        push.expect("a graph push under load succeeds");
    }

    // The desktop store: the canvas, background sync and the screens write
    // at once.
    let directory = tempfile::tempdir().unwrap();
    let store = orrery_store::LocalStore::open(&directory.path().join("local.db"))
        .await
        .unwrap();
    let saves = (0..40u64).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            let graph = orrery_domain::sample_graph(&format!("Local {n}"), 20, n);
            for round in 0..5u64 {
                store
                    .save_graph(
                        &graph,
                        format!("document {n} {round}").as_bytes(),
                        Some(b"v"),
                        round,
                        None,
                    )
                    .await?;
                store
                    .set_setting(&format!("key{}", n % 4), &format!("value {n} {round}"))
                    .await?;
            }
            Ok::<_, orrery_store::StoreError>(())
        })
    });
    for save in join_all(saves).await {
        save.unwrap()
            .expect("no local write fails under concurrency");
    }
    assert_eq!(store.list_graphs().await.unwrap().len(), 40);
}

/// Opens a TCP connection from `from` to `to`.
async fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_bodies_are_bounded_server_wide() {
    let budget_mib = 32.0;
    let server = ServerProcess::start(&["--body-budget-mib", "32"]).await;
    let base = server.url();
    let session = register(&client_from(loopback(1)), &base, "bulk@orrery.test").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let graph = orrery_domain::GraphId::new();

    // A body over the largest any route accepts is refused from its header.
    let mut stream = connect_from(loopback(2), server.address).await;
    stream
        .write_all(
            format!(
                "POST /v1/graphs/{graph}/sync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 8388609\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = vec![0; 64];
    let read = tokio::time::timeout(DEADLINE, stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(
        answer[..read].starts_with(b"HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&answer[..read])
    );

    let before = server.settled_rss_mib().await;
    let body = vec![0xA5u8; 8 * 1024 * 1024];
    let floods = (0..60u8).map(|n| {
        let client = client_from(loopback(20 + n));
        let url = format!("{base}/v1/graphs/{graph}/sync");
        let token = token.clone();
        let body = body.clone();
        async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/vnd.orrery.sync")
                .body(body)
                .send()
                .await;
            match response {
                Ok(response) => Some((
                    response.status(),
                    response.headers().contains_key("retry-after"),
                )),
                // Turned away before the client finished sending.
                Err(_) => None,
            }
        }
    });
    let answers = join_all(floods).await;
    let peak = server.memory_mib("VmHWM");
    let after = server.settled_rss_mib().await;
    let mut by_status = BTreeMap::new();
    for answer in &answers {
        let key = answer.map_or(0, |(status, _)| status.as_u16());
        *by_status.entry(key).or_insert(0) += 1;
        if let Some((status, retry_after)) = answer {
            assert!(
                *status == StatusCode::BAD_REQUEST || *status == StatusCode::SERVICE_UNAVAILABLE,
                "{by_status:?}"
            );
            if *status == StatusCode::SERVICE_UNAVAILABLE {
                assert!(retry_after, "503 says when to come back");
            }
        }
    }
    assert!(
        by_status.get(&503).copied().unwrap_or(0) >= 1,
        "past the budget bodies are refused: {by_status:?}"
    );
    // 60 bodies of 8 MiB (480 MiB) sent at once: what the server holds is
    // bounded by the budget, with room for decoding copies.
    let ceiling = before + budget_mib * 4.0 + 64.0;
    assert!(
        peak < ceiling,
        "peak {peak:.0} MiB over {ceiling:.0} MiB (before {before:.0}; {by_status:?})"
    );
    assert!(
        after < before + 48.0,
        "resident memory went back: {before:.0} → {after:.0} MiB"
    );
}

/// Reads until the server closes the connection; true if it did within the
/// deadline.
async fn closed_by_server(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    let outcome = tokio::time::timeout(DEADLINE, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(outcome.is_ok(), "the server kept the connection open");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_and_idle_connections_are_closed() {
    let server = TestServer::start_with(|config| {
        config.limits.header_timeout = Duration::from_secs(1);
        config.limits.body_timeout = Duration::from_secs(1);
        config.limits.live_ping_interval = Duration::from_millis(300);
    })
    .await
    .unwrap();

    // Idle connections, new and kept alive after a request, are closed.
    let mut idle = Vec::new();
    for n in 0..30u8 {
        idle.push(connect_from(loopback(10 + n), server.address).await);
    }
    let mut kept_alive = connect_from(loopback(50), server.address).await;
    kept_alive
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    for stream in &mut idle {
        assert!(closed_by_server(stream).await.is_empty());
    }
    let answered = closed_by_server(&mut kept_alive).await;
    assert!(
        answered.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answered)
    );

    // A client that drips its headers a byte at a time is closed.
    let mut slowloris = connect_from(loopback(60), server.address).await;
    slowloris
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let drip = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(100));
        for _ in 0..200 {
            ticks.tick().await;
            if slowloris.write_all(b"X").await.is_err() {
                return Ok(slowloris);
            }
            let mut probe = [0u8; 1];
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(1), slowloris.read(&mut probe)).await
            {
                return Ok(slowloris);
            }
        }
        Err("still open after 20 s of dripping")
    });
    drip.await.unwrap().expect("the slow client is cut off");

    // A body that trickles in is answered 408 and the connection closed.
    let mut slow_body = connect_from(loopback(61), server.address).await;
    slow_body
        .write_all(b"POST /v1/auth/sign-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
        .await
        .unwrap();
    let answer = closed_by_server(&mut slow_body).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // Connections past the cap are closed at once; once one goes, new ones
    // are served again.
    let capped = TestServer::start_with(|config| {
        config.limits.max_connections = 5;
        config.limits.header_timeout = Duration::from_secs(120);
    })
    .await
    .unwrap();
    let mut held = Vec::new();
    for n in 0..5u8 {
        let mut stream = connect_from(loopback(70 + n), capped.address).await;
        // A request answered shows the connection was accepted and counted.
        stream
            .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buffer = [0u8; 256];
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
        held.push(stream);
    }
    let mut over = connect_from(loopback(80), capped.address).await;
    assert!(closed_by_server(&mut over).await.is_empty());
    drop(held.pop());
    let health = tokio::time::timeout(DEADLINE, async {
        loop {
            let client = client_from(loopback(81));
            if let Ok(response) = client
                .get(format!("{}/v1/health", capped.url()))
                .send()
                .await
            {
                return response.status();
            }
        }
    })
    .await
    .expect("a freed slot is served again");
    assert_eq!(health, StatusCode::OK);

    // The live feed pings its listeners; one that answers stays connected.
    let session = register(
        &client_from(loopback(90)),
        &server.url(),
        "live@orrery.test",
    )
    .await;
    let token = session["access_token"].as_str().unwrap();
    let url = format!("ws://{}/v1/live", server.address);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    use futures_util::StreamExt;
    let mut pings = 0;
    let outcome = tokio::time::timeout(DEADLINE, async {
        while let Some(message) = socket.next().await {
            match message.unwrap() {
                tokio_tungstenite::tungstenite::Message::Ping(_) => {
                    pings += 1;
                    if pings == 4 {
                        return true;
                    }
                }
                tokio_tungstenite::tungstenite::Message::Close(_) => return false,
                _ => {}
            }
        }
        false
    })
    .await;
    assert_eq!(outcome, Ok(true), "four pings answered, still connected");

    // Live feeds leave the accept loop's count when they upgrade, so they
    // are counted on their own: 32 per account.
    let connect = || {
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("ws://{}/v1/live", server.address),
            )
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    let mut feeds = vec![socket];
    for _ in 1..32 {
        feeds.push(connect().await.expect("a feed within the cap").0);
    }
    match connect().await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429)
        }
        other => panic!(
            "the 33rd feed of one account is refused, got {:?}",
            other.map(|_| ())
        ),
    }
    drop(feeds.pop());
    let reopened = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Ok((socket, _)) = connect().await {
                return socket;
            }
        }
    })
    .await;
    assert!(reopened.is_ok(), "a closed feed frees its place");
}

async fn pro_account(server: &TestServer, client: &reqwest::Client, email: &str) -> String {
    let session = register(client, &server.url(), email).await;
    let store = server.store().await.unwrap();
    let user = session["user"]["id"].as_str().unwrap().parse().unwrap();
    let tenant = session["user"]["tenant_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(store.set_plan(tenant, user, "pro").await.unwrap());
    session["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_key_limit_holds_under_concurrency() {
    let server = TestServer::start().await.unwrap();
    let client = client_from(loopback(1));
    let token = pro_account(&server, &client, "keys@orrery.test").await;
    let base = server.url();
    let statuses: Vec<StatusCode> = join_all((0..40).map(|n| {
        let client = client.clone();
        let base = base.clone();
        let token = token.clone();
        async move {
            call(
                &client,
                &base,
                Method::POST,
                "/v1/api-keys",
                Some(&token),
                Some(&json!({ "name": format!("key {n}") })),
            )
            .await
            .0
        }
    }))
    .await;
    assert_eq!(count(&statuses, StatusCode::CREATED), 20, "{statuses:?}");
    assert_eq!(count(&statuses, StatusCode::CONFLICT), 20, "{statuses:?}");
    let (_, keys, _) = call(
        &client,
        &base,
        Method::GET,
        "/v1/api-keys",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(keys.as_array().unwrap().len(), 20, "{keys}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reset_unlocks_the_account() {
    let sink = SmtpSink::start().await.unwrap();
    let smtp = sink.address();
    let server = TestServer::start_with(|config| {
        config.smtp = Some(SmtpConfig {
            host: smtp.ip().to_string(),
            port: smtp.port(),
            starttls: false,
            credentials: None,
            from: "Orrery <no-reply@orrery.test>".into(),
        });
    })
    .await
    .unwrap();
    let base = server.url();
    let owner = client_from(loopback(1));
    register(&owner, &base, "ada@orrery.test").await;
    let sign_in = |client: reqwest::Client, password: &'static str| {
        let base = base.clone();
        async move {
            post_public(
                &client,
                &base,
                "/v1/auth/sign-in",
                &sign_in_body("ada@orrery.test", password),
            )
            .await
        }
    };

    // The owner mistypes five times and is locked out on this address.
    for _ in 0..5 {
        assert_eq!(
            sign_in(owner.clone(), "mistyped password").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, body, headers) = sign_in(owner.clone(), TEST_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(headers.contains_key("retry-after"));

    // Someone else's guesses lock only their own address: the owner's other
    // device still signs in.
    let stranger = client_from(loopback(99));
    for _ in 0..6 {
        sign_in(stranger.clone(), "guessing away").await;
    }
    assert_eq!(
        sign_in(stranger.clone(), TEST_PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sign_in(client_from(loopback(2)), TEST_PASSWORD).await.0,
        StatusCode::OK
    );

    // A reset through the emailed code unlocks the account at once.
    let (status, _, _) = post_public(
        &owner,
        &base,
        "/v1/auth/password-reset",
        &json!({ "email": "ada@orrery.test" }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mail = sink
        .wait_for_containing("Subject: Reset your Orrery password", 1, DEADLINE)
        .await;
    let code = mail[0]
        .data
        .split_whitespace()
        .find(|word| word.starts_with("orp_"))
        .expect("the mail carries the code")
        .to_owned();
    let (status, body, _) = post_public(
        &owner,
        &base,
        "/v1/auth/password-reset/confirm",
        &json!({ "code": code, "password": "a brand new passphrase" }),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        sign_in(owner.clone(), "a brand new passphrase").await.0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_key_scopes_limit_what_a_key_can_do() {
    let server = TestServer::start().await.unwrap();
    let base = server.url();
    let client = client_from(loopback(1));
    let token = pro_account(&server, &client, "scopes@orrery.test").await;
    let mint = |scopes: Option<Value>| {
        let client = client.clone();
        let base = base.clone();
        let token = token.clone();
        async move {
            let mut body = json!({ "name": "scoped" });
            if let Some(scopes) = scopes {
                body["scopes"] = scopes;
            }
            let (status, key, _) = call(
                &client,
                &base,
                Method::POST,
                "/v1/api-keys",
                Some(&token),
                Some(&body),
            )
            .await;
            (status, key)
        }
    };
    let (status, full) = mint(None).await;
    assert_eq!(status, StatusCode::CREATED, "{full}");
    assert_eq!(
        full["scopes"].as_array().unwrap().len(),
        orrery_domain::api_scope::ApiScope::ALL.len(),
        "{full}"
    );
    let full = full["key"].as_str().unwrap().to_owned();
    let (status, read_only) = mint(Some(json!(["graphs:read"]))).await;
    assert_eq!(status, StatusCode::CREATED, "{read_only}");
    assert_eq!(read_only["scopes"], json!(["graphs:read"]));
    let read_only = read_only["key"].as_str().unwrap().to_owned();
    for garbage in [
        json!(["keys:manage"]),
        json!([]),
        json!("graphs:read"),
        json!([1]),
    ] {
        let (status, body) = mint(Some(garbage.clone())).await;
        assert!(status.is_client_error(), "{garbage}: {status} {body}");
    }

    // Every signed-in route: keys are refused where no scope opens it, and
    // where one does, a key without that scope is refused.
    let graph = orrery_domain::GraphId::new();
    let fill = |path: &str| {
        path.replace("{graph_id}", &graph.to_string())
            .replace("{kind}", "agent")
            .replace(
                "{document_id}",
                &orrery_domain::DocumentId::new().to_string(),
            )
            .replace("{key_id}", &uuid::Uuid::now_v7().to_string())
            .replace("{plan_key}", "pro")
            .replace("{agent_id}", &uuid::Uuid::now_v7().to_string())
            .replace("{run_id}", &uuid::Uuid::now_v7().to_string())
            .replace("{mode}", "live")
            .replace("{channel_id}", &uuid::Uuid::now_v7().to_string())
    };
    let mut opened = 0;
    for endpoint in endpoints()
        .into_iter()
        .filter(|endpoint| endpoint.access != Access::Public)
    {
        let path = fill(endpoint.path);
        let method = Method::from_bytes(endpoint.method.as_str().as_bytes()).unwrap();
        let body = json!({});
        let (status, answer, _) = call(
            &client,
            &base,
            method.clone(),
            &path,
            Some(&full),
            Some(&body),
        )
        .await;
        match endpoint.key_scope {
            None => {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
                assert!(
                    answer["message"].as_str().unwrap().contains("API key"),
                    "{method} {path}: {answer}"
                );
            }
            Some(scope) => {
                opened += 1;
                assert!(
                    !answer["message"].as_str().unwrap_or("").contains("API key"),
                    "a key with every scope may call {method} {path}: {answer}"
                );
                if scope != orrery_domain::api_scope::ApiScope::GraphsRead {
                    let (status, answer, _) = call(
                        &client,
                        &base,
                        method.clone(),
                        &path,
                        Some(&read_only),
                        Some(&body),
                    )
                    .await;
                    assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
                    assert!(
                        answer["message"].as_str().unwrap().contains(scope.as_str()),
                        "{method} {path}: {answer}"
                    );
                }
            }
        }
    }
    assert!(opened >= 6, "keys reach graphs, library, account and live");

    // A read-only key pulls graphs but cannot send changes.
    let device = orrery_e2e::TestDevice::signed_in(&server, "writer@orrery.test", "laptop")
        .await
        .unwrap();
    let graph = device
        .replica
        .add_graph(orrery_domain::sample_graph("Shared", 5, 7))
        .await
        .unwrap();
    let keyed = orrery_sync::SyncClient::new(&base, &read_only);
    let error = keyed
        .sync_graph(&device.replica, graph.id)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("graphs:write"), "{error}");
    let (status, _, _) = call(
        &client,
        &base,
        Method::GET,
        "/v1/graphs",
        Some(&read_only),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outside_numbers_never_overflow() {
    use rand::Rng;
    let server = TestServer::start().await.unwrap();
    let base = server.url();
    let client = client_from(loopback(1));
    let session = register(&client, &base, "numbers@orrery.test").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let extremes: [i128; 10] = [
        0,
        -1,
        i64::MIN as i128,
        i64::MAX as i128,
        u64::MAX as i128,
        u64::MAX as i128 + 1,
        i128::from(i32::MAX),
        -(u64::MAX as i128),
        1 << 53,
        (1 << 53) + 1,
    ];
    let mut rng = rand::rng();
    let numbers: Vec<i128> = extremes
        .into_iter()
        .chain((0..40).map(|_| rng.random::<i64>() as i128 * rng.random_range(1..4)))
        .collect();
    for number in numbers {
        // Numbers the policy engine adds up.
        let asks = [
            format!(r#"{{"kind":"add_nodes","graph_nodes":{number},"adding":{number}}}"#),
            format!(r#"{{"kind":"run_agent","agent":"writer","tokens":{number}}}"#),
        ];
        for ask in asks {
            let response = client
                .post(format!("{base}/v1/policy/decide"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(ask.clone())
                .send()
                .await
                .unwrap();
            assert!(
                !response.status().is_server_error(),
                "{ask}: {}",
                response.status()
            );
        }
        // Sizes in headers.
        let mut stream = connect_from(loopback(2), server.address).await;
        stream
            .write_all(
                format!(
                    "POST /v1/auth/sign-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {number}\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let _ = stream.shutdown().await;
        let answer = closed_by_server(&mut stream).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || text.starts_with("HTTP/1.1 4"),
            "Content-Length {number}: {text}"
        );
    }
    // The server is still up and answering.
    let (status, _, _) = call(&client, &base, Method::GET, "/v1/me", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookalike_emails_are_one_account() {
    let server = TestServer::start().await.unwrap();
    let base = server.url();
    let client = client_from(loopback(1));
    // "zoë" composed (NFC) and decomposed (NFD): one address.
    let composed = "zo\u{00EB}@orrery.test";
    let decomposed = "zoe\u{0308}@orrery.test";
    let session = register(&client, &base, composed).await;
    assert_eq!(session["user"]["email"], composed);
    let (status, body, _) = post_public(
        &client,
        &base,
        "/v1/auth/register",
        &json!({ "email": decomposed.to_uppercase(), "password": TEST_PASSWORD, "name": "Zoe" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body, _) = post_public(
        &client,
        &base,
        "/v1/auth/sign-in",
        &sign_in_body(decomposed, TEST_PASSWORD),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Names that hide or reorder characters are refused with the reason.
    let token = session["access_token"].as_str().unwrap();
    for (name, kind) in [
        ("Admin\u{202E}nimdA", "U+202E"),
        ("ad\u{200B}min", "U+200B"),
        ("\u{2066}Support", "U+2066"),
        ("tab\there", "U+0009"),
    ] {
        let (status, body, _) = call(
            &client,
            &base,
            Method::PATCH,
            "/v1/me",
            Some(token),
            Some(&json!({ "name": name })),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}: {body}");
        assert!(body["message"].as_str().unwrap().contains(kind), "{body}");
        let (status, body, _) = post_public(
            &client,
            &base,
            "/v1/auth/register",
            &json!({ "email": "other@orrery.test", "password": TEST_PASSWORD, "name": name }),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}: {body}");
    }
    for email in ["ad\u{200B}a@orrery.test", "ada\u{202E}@orrery.test"] {
        let (status, body, _) = post_public(
            &client,
            &base,
            "/v1/auth/register",
            &json!({ "email": email, "password": TEST_PASSWORD, "name": "Ada" }),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{email:?}: {body}"
        );
    }
    // A graph name that reorders text is refused by the server's merge.
    let device = orrery_e2e::TestDevice::signed_in(&server, "bidi@orrery.test", "laptop")
        .await
        .unwrap();
    let mut graph = orrery_domain::sample_graph("fine", 3, 9);
    graph.name = "invoice\u{202E}fdp.exe".into();
    assert!(device.replica.add_graph(graph).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_account_is_the_only_admin_on_postgres() {
    let postgres = orrery_e2e::postgres::PostgresServer::start().unwrap();
    let location =
        orrery_store::DatabaseLocation::Postgres(postgres.database("orrery").await.unwrap());
    let first = TestServer::start_on(Some(location.clone()), |_| {})
        .await
        .unwrap();
    let second = TestServer::start_on(Some(location), |_| {}).await.unwrap();
    let client = client_from(loopback(1));
    // Twelve first registrations at once, over two server instances.
    let sessions = join_all((0..12).map(|n| {
        let client = client.clone();
        let base = if n % 2 == 0 {
            first.url()
        } else {
            second.url()
        };
        async move { register(&client, &base, &format!("founder{n}@orrery.test")).await }
    }))
    .await;
    let admins = sessions
        .iter()
        .filter(|session| session["user"]["role"] == "admin")
        .count();
    assert_eq!(admins, 1, "{sessions:#?}");
    // And the same address registered on both at once is one account.
    let twice = join_all((0..6).map(|n| {
        let client = client.clone();
        let base = if n % 2 == 0 {
            first.url()
        } else {
            second.url()
        };
        async move {
            post_public(
                &client,
                &base,
                "/v1/auth/register",
                &json!({ "email": "same@orrery.test", "password": TEST_PASSWORD, "name": "Same" }),
            )
            .await
            .0
        }
    }))
    .await;
    assert_eq!(count(&twice, StatusCode::CREATED), 1, "{twice:?}");
    assert_eq!(count(&twice, StatusCode::CONFLICT), 5, "{twice:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_up_to_date_pull_is_answered_from_the_stored_version() {
    use orrery_sync::protocol::{CONTENT_TYPE, SyncRequest, SyncResponse};
    use orrery_sync::{GraphDocument, Version};
    let server = TestServer::start().await.unwrap();
    let base = server.url();
    let client = client_from(loopback(1));
    let session = register(&client, &base, "puller@orrery.test").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let exchange = |frame: Vec<u8>, graph: orrery_domain::GraphId| {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let response = client
                .post(format!("{base}/v1/graphs/{graph}/sync"))
                .bearer_auth(token)
                .header("content-type", CONTENT_TYPE)
                .body(frame)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            SyncResponse::decode(&response.bytes().await.unwrap()).unwrap()
        }
    };
    let graph = orrery_domain::sample_graph("Pulled", 30, 11);
    let mut document = GraphDocument::create(&graph).unwrap();
    let pushed = exchange(
        SyncRequest {
            client_version: document.version().encode(),
            updates: document.updates_since(&Version::default()),
        }
        .encode(),
        graph.id,
    )
    .await;
    assert_eq!(
        Version::decode(&pushed.server_version).unwrap(),
        document.version()
    );

    // A fresh device gets the stored snapshot and the stored version.
    let fresh = exchange(SyncRequest::default().encode(), graph.id).await;
    let mut copy = GraphDocument::empty(graph.id);
    copy.merge(&fresh.updates).unwrap();
    assert_eq!(copy.to_graph().unwrap().nodes.len(), 30);
    assert_eq!(
        Version::decode(&fresh.server_version).unwrap(),
        document.version()
    );

    // Up to date: nothing to send, and the stored version comes back.
    let pull = SyncRequest {
        client_version: document.version().encode(),
        updates: Vec::new(),
    }
    .encode();
    let answer = exchange(pull.clone(), graph.id).await;
    assert!(answer.updates.is_empty(), "answered without the document");
    assert_eq!(
        Version::decode(&answer.server_version).unwrap(),
        document.version()
    );

    // Another device moves a node: the same pull now gets the change.
    let mut other = GraphDocument::empty(graph.id);
    other
        .merge(&document.updates_since(&Version::default()))
        .unwrap();
    let node = *graph.nodes.keys().next().unwrap();
    other
        .move_node(node, orrery_domain::Position::new(123.0, 4.0, 5.0))
        .unwrap();
    exchange(
        SyncRequest {
            client_version: other.version().encode(),
            updates: other.updates_since(&document.version()),
        }
        .encode(),
        graph.id,
    )
    .await;
    let answer = exchange(pull, graph.id).await;
    assert!(!answer.updates.is_empty());
    document.merge(&answer.updates).unwrap();
    assert_eq!(document.to_graph().unwrap().nodes[&node].position.x, 123.0);
}
