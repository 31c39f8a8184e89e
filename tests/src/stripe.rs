//! A local stand-in for the part of Stripe's REST API the server calls, for
//! tests: form-encoded requests with a secret key, Stripe-shaped objects
//! (customers, Checkout Sessions, portal sessions, subscriptions) and
//! Stripe-shaped errors. Tests drive the "dashboard" side directly (complete
//! a checkout, cancel a subscription, fail a payment) and deliver webhook
//! events signed with a genuine `Stripe-Signature`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// The secret key the stand-in accepts.
pub const SECRET_KEY: &str = "sk_test_orrery_double";
/// The webhook signing secret it signs with.
pub const WEBHOOK_SECRET: &str = "whsec_orrery_double";

#[derive(Default)]
struct Ledger {
    next: u64,
    customers: HashMap<String, Value>,
    sessions: HashMap<String, Value>,
    subscriptions: HashMap<String, Value>,
    /// Price objects by id ([`StripeDouble::define_price`]).
    prices: HashMap<String, Value>,
    requests: Vec<String>,
}

/// A recurring price object as Stripe shows it inside a subscription item.
fn price_object(id: &str, unit_amount: i64, interval: &str) -> Value {
    json!({
        "id": id, "object": "price", "active": true, "billing_scheme": "per_unit", "currency": "usd",
        "livemode": false, "type": "recurring", "unit_amount": unit_amount,
        "recurring": { "interval": interval, "interval_count": 1, "usage_type": "licensed", "aggregate_usage": null, "trial_period_days": null },
    })
}

/// A running stand-in.
#[derive(Clone)]
pub struct StripeDouble {
    address: SocketAddr,
    ledger: Arc<Mutex<Ledger>>,
}

fn stripe_error(status: StatusCode, kind: &str, message: &str, code: Option<&str>) -> Response {
    (
        status,
        Json(json!({ "error": { "type": kind, "message": message, "code": code } })),
    )
        .into_response()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Form fields in order (`metadata[plan]=pro` keeps its brackets).
fn form(body: &Bytes) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn metadata(fields: &[(String, String)], prefix: &str) -> Value {
    let mut map = serde_json::Map::new();
    for (key, value) in fields {
        if let Some(name) = key
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(']'))
        {
            map.insert(name.to_owned(), json!(value));
        }
    }
    Value::Object(map)
}

/// Checks the secret key as Stripe does and records the request line; the
/// ledger comes back locked for the handler.
#[allow(clippy::result_large_err)] // the error is the HTTP answer itself, returned at once
fn admit<'a>(
    ledger: &'a Shared,
    headers: &HeaderMap,
    line: String,
) -> Result<std::sync::MutexGuard<'a, Ledger>, Response> {
    if !authorized(headers) {
        return Err(stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Invalid API Key provided",
            None,
        ));
    }
    let mut ledger = ledger.lock().unwrap();
    ledger.requests.push(line);
    Ok(ledger)
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == format!("Bearer {SECRET_KEY}"))
}

type Shared = Arc<Mutex<Ledger>>;

impl StripeDouble {
    /// Starts on a free port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let ledger: Shared = Arc::default();
        let router = Router::new()
            .route("/v1/customers", post(create_customer))
            .route("/v1/checkout/sessions", post(create_session))
            .route("/v1/billing_portal/sessions", post(create_portal))
            .route("/v1/subscriptions/{id}", get(retrieve_subscription))
            .with_state(ledger.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Self { address, ledger })
    }

    /// The base URL to configure as Stripe's API.
    pub fn api_base(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// What the server asked for, as `METHOD path` lines.
    pub fn requests(&self) -> Vec<String> {
        self.ledger.lock().unwrap().requests.clone()
    }

    /// The customer paying through a Checkout Session the server created.
    pub fn session(&self, id: &str) -> Value {
        self.ledger.lock().unwrap().sessions[id].clone()
    }

    /// The user pays: the session completes and a subscription starts in
    /// `status` (`trialing` or `active`). Returns the completed session.
    pub fn complete_checkout(&self, session_id: &str, status: &str) -> Value {
        let mut ledger = self.ledger.lock().unwrap();
        ledger.next += 1;
        let subscription_id = format!("sub_{:06}", ledger.next);
        let session = ledger
            .sessions
            .get_mut(session_id)
            .expect("a session the server created");
        session["status"] = json!("complete");
        session["payment_status"] = json!("paid");
        session["subscription"] = json!(subscription_id);
        let customer = session["customer"].clone();
        let metadata = session["_subscription_metadata"].clone();
        let price_id = session["_price"]
            .as_str()
            .unwrap_or("price_default")
            .to_owned();
        let completed = session.clone();
        let created = now();
        // A price the test did not define costs $19.00 a month.
        let price = ledger
            .prices
            .get(&price_id)
            .cloned()
            .unwrap_or_else(|| price_object(&price_id, 1900, "month"));
        let item_id = format!("si_{:06}", ledger.next);
        ledger.subscriptions.insert(
            subscription_id.clone(),
            json!({
                "id": subscription_id, "object": "subscription", "automatic_tax": { "enabled": false, "liability": null },
                "billing_cycle_anchor": created, "cancel_at_period_end": false, "created": created, "currency": "usd",
                "current_period_start": created, "current_period_end": created + 30 * 86_400, "customer": customer,
                "items": { "object": "list", "data": [{ "id": item_id, "object": "subscription_item", "created": created, "price": price, "quantity": 1, "subscription": subscription_id }], "has_more": false, "url": format!("/v1/subscription_items?subscription={subscription_id}") },
                "discount": null,
                "livemode": false, "metadata": metadata, "start_date": created, "status": status,
            }),
        );
        completed
    }

    /// Changes a subscription as the dashboard or a billing run would.
    pub fn update_subscription(&self, id: &str, status: &str, cancel_at_period_end: bool) -> Value {
        let mut ledger = self.ledger.lock().unwrap();
        let subscription = ledger
            .subscriptions
            .get_mut(id)
            .expect("a known subscription");
        subscription["status"] = json!(status);
        subscription["cancel_at_period_end"] = json!(cancel_at_period_end);
        subscription.clone()
    }

    /// Defines a recurring price (`interval`: `month` or `year`) that
    /// checkouts naming it subscribe to.
    pub fn define_price(&self, id: &str, unit_amount: i64, interval: &str) {
        self.ledger
            .lock()
            .unwrap()
            .prices
            .insert(id.to_owned(), price_object(id, unit_amount, interval));
    }

    /// Moves a subscription to another plan and price, as an upgrade or a
    /// downgrade in the portal does.
    pub fn change_plan(&self, id: &str, plan: &str, price_id: &str) -> Value {
        let mut ledger = self.ledger.lock().unwrap();
        let price = ledger.prices[price_id].clone();
        let subscription = ledger
            .subscriptions
            .get_mut(id)
            .expect("a known subscription");
        subscription["metadata"]["plan"] = json!(plan);
        subscription["items"]["data"][0]["price"] = price;
        subscription.clone()
    }

    /// Applies a coupon that lasts forever: `percent_off` of every bill.
    pub fn discount_forever(&self, id: &str, percent_off: f64) -> Value {
        let mut ledger = self.ledger.lock().unwrap();
        ledger.next += 1;
        let discount_id = format!("di_{:06}", ledger.next);
        let subscription = ledger
            .subscriptions
            .get_mut(id)
            .expect("a known subscription");
        subscription["discount"] = json!({
            "id": discount_id, "object": "discount", "start": now(), "subscription": id,
            "coupon": { "id": "FOREVER", "object": "coupon", "duration": "forever", "percent_off": percent_off, "valid": true },
        });
        subscription.clone()
    }

    /// The subscription as Stripe holds it.
    pub fn subscription(&self, id: &str) -> Value {
        self.ledger.lock().unwrap().subscriptions[id].clone()
    }

    /// An event envelope as Stripe sends it.
    pub fn event(&self, kind: &str, object: Value) -> Value {
        let mut ledger = self.ledger.lock().unwrap();
        ledger.next += 1;
        json!({
            "id": format!("evt_{:06}", ledger.next), "object": "event", "api_version": "2024-06-20",
            "created": now(), "livemode": false, "pending_webhooks": 1, "type": kind,
            "data": { "object": object },
        })
    }
}

/// `Stripe-Signature` for `payload` signed at `timestamp` with `secret`, as Stripe computes it.
pub fn signature_header(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(payload);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={timestamp},v1={hex}")
}

/// Posts `event` to the server's webhook endpoint, signed at `timestamp`.
pub async fn deliver(
    server_url: &str,
    event: &Value,
    secret: &str,
    timestamp: i64,
) -> (u16, Value) {
    let payload = serde_json::to_vec(event).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{server_url}/v1/webhooks/stripe"))
        .header(
            "stripe-signature",
            signature_header(secret, timestamp, &payload),
        )
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(payload)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn create_customer(
    State(ledger): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form(&body);
    let mut ledger = match admit(&ledger, &headers, "POST /v1/customers".into()) {
        Ok(ledger) => ledger,
        Err(refused) => return refused,
    };
    ledger.next += 1;
    let id = format!("cus_{:06}", ledger.next);
    let customer = json!({
        "id": id, "object": "customer", "created": now(), "livemode": false,
        "email": field(&fields, "email"), "metadata": metadata(&fields, "metadata["),
        "sources": { "object": "list", "data": [], "has_more": false, "url": format!("/v1/customers/{id}/sources") },
    });
    ledger.customers.insert(id, customer.clone());
    Json(customer).into_response()
}

async fn create_session(State(ledger): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = form(&body);
    let mut ledger = match admit(&ledger, &headers, "POST /v1/checkout/sessions".into()) {
        Ok(ledger) => ledger,
        Err(refused) => return refused,
    };
    let Some(customer) = field(&fields, "customer").filter(|id| ledger.customers.contains_key(*id))
    else {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "No such customer",
            Some("resource_missing"),
        );
    };
    if field(&fields, "mode") != Some("subscription")
        || field(&fields, "line_items[0][price]").is_none()
    {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "mode=subscription needs a recurring price",
            None,
        );
    }
    let customer = customer.to_owned();
    ledger.next += 1;
    let id = format!("cs_test_{:06}", ledger.next);
    let created = now();
    let session = json!({
        "id": id, "object": "checkout.session", "automatic_tax": { "enabled": false, "liability": null, "status": null },
        "client_reference_id": field(&fields, "client_reference_id"), "created": created, "customer": customer,
        "custom_fields": [], "custom_text": { "after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null },
        "expires_at": created + 86_400, "livemode": false, "mode": "subscription", "payment_method_types": ["card"],
        "payment_status": "unpaid", "shipping_options": [], "status": "open", "success_url": field(&fields, "success_url"),
        "url": format!("https://checkout.stripe.test/c/pay/{id}"),
        "_subscription_metadata": metadata(&fields, "subscription_data[metadata]["),
        "_price": field(&fields, "line_items[0][price]"),
        "_trial_period_days": field(&fields, "subscription_data[trial_period_days]"),
    });
    ledger.sessions.insert(id, session.clone());
    let mut public = session;
    public
        .as_object_mut()
        .unwrap()
        .retain(|key, _| !key.starts_with('_'));
    Json(public).into_response()
}

async fn create_portal(State(ledger): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = form(&body);
    let mut ledger = match admit(&ledger, &headers, "POST /v1/billing_portal/sessions".into()) {
        Ok(ledger) => ledger,
        Err(refused) => return refused,
    };
    let Some(customer) = field(&fields, "customer")
        .filter(|id| ledger.customers.contains_key(*id))
        .map(str::to_owned)
    else {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "No such customer",
            Some("resource_missing"),
        );
    };
    ledger.next += 1;
    let id = format!("bps_{:06}", ledger.next);
    Json(json!({
        "id": id, "object": "billing_portal.session", "configuration": "bpc_default", "created": now(), "customer": customer,
        "livemode": false, "return_url": field(&fields, "return_url"), "url": format!("https://billing.stripe.test/p/session/{id}"),
    }))
    .into_response()
}

async fn retrieve_subscription(
    State(ledger): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ledger = match admit(&ledger, &headers, format!("GET /v1/subscriptions/{id}")) {
        Ok(ledger) => ledger,
        Err(refused) => return refused,
    };
    match ledger.subscriptions.get(&id) {
        Some(subscription) => Json(subscription.clone()).into_response(),
        None => stripe_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            &format!("No such subscription: '{id}'"),
            Some("resource_missing"),
        ),
    }
}
