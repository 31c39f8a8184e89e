//! A local stand-in for the part of Stripe's REST API the server calls, for
//! tests: form-encoded requests with a secret key, Stripe-shaped objects
//! (customers, Checkout Sessions, portal sessions, subscriptions; for
//! Connect: accounts, account links, destination charges with application
//! fees, transfers, refunds with reversals) and Stripe-shaped errors.
//! `Idempotency-Key` behaves as Stripe's: the same key with the same
//! parameters answers what the first request got, with other parameters a
//! 400. Tests drive the "dashboard" side directly (complete a checkout,
//! finish a seller's onboarding, cancel a subscription) and deliver webhook
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
/// The Connect endpoint's signing secret (connected accounts' events).
pub const CONNECT_WEBHOOK_SECRET: &str = "whsec_orrery_double_connect";

#[derive(Default)]
struct Ledger {
    next: u64,
    customers: HashMap<String, Value>,
    sessions: HashMap<String, Value>,
    subscriptions: HashMap<String, Value>,
    /// Price objects by id ([`StripeDouble::define_price`]).
    prices: HashMap<String, Value>,
    requests: Vec<String>,
    /// Connected accounts.
    accounts: HashMap<String, Value>,
    /// Account links made, in order.
    account_links: Vec<Value>,
    /// Payments of paid Checkout Sessions, by payment intent id.
    payments: HashMap<String, Payment>,
    /// Refunds by id.
    refunds: HashMap<String, Value>,
    /// Set by [`StripeDouble::hold_next_session_read`]: told when the next
    /// read of a Checkout Session arrives, which is then never answered.
    hold_session_read: Option<tokio::sync::oneshot::Sender<()>>,
    /// Answers given per idempotency key: the request's line and
    /// parameters, and the answer.
    idempotent: HashMap<String, Answered>,
    /// Requests that carried an idempotency key already answered.
    replays: usize,
    /// Idempotency keys of requests being handled.
    in_flight: std::collections::HashSet<String>,
    /// Requests refused with 409 because of [`Ledger::in_flight`].
    conflicts: usize,
}

/// A request answered under an idempotency key: its line, its parameters
/// (sorted) and the answer.
type Answered = (String, Vec<(String, String)>, Value);

/// Where a destination charge's money went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The payment intent.
    pub id: String,
    /// The session it paid.
    pub session: String,
    /// Charged, minor units.
    pub amount: i64,
    /// The platform's application fee.
    pub application_fee: i64,
    /// The connected account the rest was transferred to.
    pub destination: String,
    /// Refunded to the buyer.
    pub refunded: i64,
    /// Transfer reversed from the connected account.
    pub transfer_reversed: i64,
    /// Application fee given back.
    pub fee_refunded: i64,
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

/// A list request's query, as form fields.
fn query_fields(query: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
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
            .route(
                "/v1/checkout/sessions",
                post(create_session).get(list_sessions),
            )
            .route("/v1/checkout/sessions/{id}", get(retrieve_session))
            .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
            .route("/v1/billing_portal/sessions", post(create_portal))
            .route("/v1/subscriptions/{id}", get(retrieve_subscription))
            .route("/v1/accounts", post(create_account))
            .route("/v1/accounts/{id}", get(retrieve_account))
            .route("/v1/account_links", post(create_account_link))
            .route("/v1/refunds", post(create_refund).get(list_refunds))
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

    /// The seller finishes Stripe's onboarding forms: their account can
    /// take charges and be paid out. Returns the account (for
    /// `account.updated`).
    pub fn finish_onboarding(&self, account: &str) -> Value {
        let mut ledger = self.ledger.lock().unwrap();
        let account = ledger
            .accounts
            .get_mut(account)
            .expect("an account the server created");
        account["charges_enabled"] = json!(true);
        account["payouts_enabled"] = json!(true);
        account["details_submitted"] = json!(true);
        account["capabilities"] = json!({ "card_payments": "active", "transfers": "active" });
        account.clone()
    }

    /// The connected accounts the server created.
    pub fn accounts(&self) -> Vec<Value> {
        self.ledger
            .lock()
            .unwrap()
            .accounts
            .values()
            .cloned()
            .collect()
    }

    /// The account links the server made, oldest first (with the URLs Stripe
    /// sends the browser back to, `_refresh_url` and `_return_url`).
    pub fn account_links(&self) -> Vec<Value> {
        self.ledger.lock().unwrap().account_links.clone()
    }

    /// The Checkout Sessions the server created, as Stripe shows them.
    pub fn sessions(&self) -> Vec<Value> {
        self.ledger
            .lock()
            .unwrap()
            .sessions
            .values()
            .map(session_now)
            .collect()
    }

    /// The next read of a Checkout Session (`GET /v1/checkout/sessions/{id}`)
    /// is held unanswered; the receiver is told when it arrives, so a test
    /// knows where the server is.
    pub fn hold_next_session_read(&self) -> tokio::sync::oneshot::Receiver<()> {
        let (arrived, told) = tokio::sync::oneshot::channel();
        self.ledger.lock().unwrap().hold_session_read = Some(arrived);
        told
    }

    /// Time passes a session's end: it can no longer be paid.
    pub fn let_session_expire(&self, session_id: &str) {
        let mut ledger = self.ledger.lock().unwrap();
        let session = ledger
            .sessions
            .get_mut(session_id)
            .expect("a known session");
        session["expires_at"] = json!(now() - 1);
    }

    /// How many requests were answered from an idempotency key's first answer.
    pub fn idempotent_replays(&self) -> usize {
        self.ledger.lock().unwrap().replays
    }

    /// How many requests were refused because another with their
    /// idempotency key was in flight.
    pub fn idempotent_conflicts(&self) -> usize {
        self.ledger.lock().unwrap().conflicts
    }

    /// The buyer pays a payment-mode Checkout Session: the charge, the
    /// application fee and the transfer to the destination are made.
    /// Returns the completed session (for `checkout.session.completed`).
    pub fn pay_checkout(&self, session_id: &str) -> Value {
        let mut ledger = self.ledger.lock().unwrap();
        ledger.next += 1;
        let intent = format!("pi_{:06}", ledger.next);
        let session = ledger
            .sessions
            .get_mut(session_id)
            .expect("a session the server created");
        assert_eq!(session["mode"], "payment", "a payment-mode session");
        assert_eq!(session_now(session)["status"], "open", "an open session");
        session["status"] = json!("complete");
        session["payment_status"] = json!("paid");
        session["payment_intent"] = json!(intent);
        session["url"] = Value::Null;
        let payment = Payment {
            id: intent.clone(),
            session: session_id.to_owned(),
            amount: session["amount_total"].as_i64().unwrap(),
            application_fee: session["_application_fee"].as_i64().unwrap_or(0),
            destination: session["_destination"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            refunded: 0,
            transfer_reversed: 0,
            fee_refunded: 0,
        };
        let completed = public(session);
        ledger.payments.insert(intent, payment);
        completed
    }

    /// A payment as Stripe's books hold it.
    pub fn payment(&self, intent: &str) -> Payment {
        self.ledger.lock().unwrap().payments[intent].clone()
    }

    /// Every payment made.
    pub fn payments(&self) -> Vec<Payment> {
        self.ledger
            .lock()
            .unwrap()
            .payments
            .values()
            .cloned()
            .collect()
    }

    /// A charge as `charge.refunded` carries it, after a refund made in
    /// the dashboard (the refund itself is made by [`Self::refund_in_dashboard`]).
    pub fn refund_in_dashboard(&self, intent: &str) -> Value {
        let mut ledger = self.ledger.lock().unwrap();
        ledger.next += 1;
        let id = format!("re_{:06}", ledger.next);
        let payment = ledger.payments.get_mut(intent).expect("a payment");
        let amount = payment.amount - payment.refunded;
        payment.refunded += amount;
        payment.transfer_reversed += amount - payment.application_fee;
        payment.fee_refunded += payment.application_fee;
        let charge_amount = payment.amount;
        ledger.refunds.insert(
            id.clone(),
            json!({ "id": id, "object": "refund", "amount": amount, "created": now(), "currency": "usd", "payment_intent": intent, "status": "succeeded" }),
        );
        json!({ "id": format!("ch_{intent}"), "object": "charge", "amount": charge_amount, "amount_refunded": charge_amount, "payment_intent": intent, "refunded": true })
    }

    /// An event from a connected account (Connect), as Stripe sends it.
    pub fn connect_event(&self, kind: &str, account: &str, object: Value) -> Value {
        let mut event = self.event(kind, object);
        event["account"] = json!(account);
        event
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

/// Stripe's idempotency: the answer a request with this `Idempotency-Key`
/// got before (`Err`: that answer again, or a 400 when the parameters
/// differ), or the key to remember this answer under.
#[allow(clippy::result_large_err)] // the error is the HTTP answer itself, returned at once
fn idempotency(
    ledger: &mut Ledger,
    headers: &HeaderMap,
    line: &str,
    fields: &[(String, String)],
) -> Result<Option<String>, Response> {
    let Some(key) = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
    else {
        return Ok(None);
    };
    // Parameters compare as a set, as Stripe's do (a form's order is free).
    let mut sorted = fields.to_vec();
    sorted.sort();
    match ledger.idempotent.get(&key) {
        Some((seen_line, seen_fields, answer)) if seen_line == line && *seen_fields == sorted => {
            let answer = answer.clone();
            ledger.replays += 1;
            Err(Json(answer).into_response())
        }
        Some(_) => Err(stripe_error(
            StatusCode::BAD_REQUEST,
            "idempotency_error",
            "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            None,
        )),
        None => Ok(Some(key)),
    }
}

/// Remembers a successful answer under its idempotency key.
fn remember(
    ledger: &mut Ledger,
    key: Option<String>,
    line: &str,
    fields: Vec<(String, String)>,
    answer: &Value,
) {
    if let Some(key) = key {
        let mut fields = fields;
        fields.sort();
        ledger
            .idempotent
            .insert(key, (line.to_owned(), fields, answer.clone()));
    }
}

/// Admits a POST: the key checked, the request recorded, idempotency
/// applied. The ledger and the key to remember the answer under.
///
/// As at Stripe, a request whose idempotency key another request is still
/// working on gets 409 `idempotency_key_in_use`: each keyed request is "in
/// flight" for a moment (the ledger let go while its task yields) before it
/// is handled, so two devices pressing at once can meet that answer, and
/// the client must try again.
async fn admit_post<'a>(
    ledger: &'a Shared,
    headers: &HeaderMap,
    line: &str,
    fields: &[(String, String)],
) -> Result<(std::sync::MutexGuard<'a, Ledger>, Option<String>), Response> {
    let key = {
        let mut held = admit(ledger, headers, line.to_owned())?;
        let key = idempotency(&mut held, headers, line, fields)?;
        if let Some(key) = &key
            && !held.in_flight.insert(key.clone())
        {
            held.conflicts += 1;
            return Err(stripe_error(
                StatusCode::CONFLICT,
                "idempotency_error",
                "There is currently another in-progress request using this Idempotency Key. Please try again later.",
                Some("idempotency_key_in_use"),
            ));
        }
        key
    };
    if key.is_some() {
        tokio::task::yield_now().await;
    }
    let mut held = ledger.lock().unwrap();
    if let Some(key) = &key {
        held.in_flight.remove(key);
    }
    Ok((held, key))
}

/// The public shape of a stored object: fields the stand-in keeps for
/// itself (named `_...`) left out.
fn public(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(fields) = object.as_object_mut() {
        fields.retain(|key, _| !key.starts_with('_'));
    }
    object
}

async fn create_customer(
    State(ledger): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form(&body);
    let line = "POST /v1/customers";
    let (mut ledger, key) = match admit_post(&ledger, &headers, line, &fields).await {
        Ok(admitted) => admitted,
        Err(answer) => return answer,
    };
    ledger.next += 1;
    let id = format!("cus_{:06}", ledger.next);
    let customer = json!({
        "id": id, "object": "customer", "created": now(), "livemode": false,
        "email": field(&fields, "email"), "metadata": metadata(&fields, "metadata["),
        "sources": { "object": "list", "data": [], "has_more": false, "url": format!("/v1/customers/{id}/sources") },
    });
    ledger.customers.insert(id, customer.clone());
    remember(&mut ledger, key, line, fields, &customer);
    Json(customer).into_response()
}

fn invalid(message: &str) -> Response {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        message,
        None,
    )
}

async fn create_session(State(ledger): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = form(&body);
    let line = "POST /v1/checkout/sessions";
    let (mut ledger, key) = match admit_post(&ledger, &headers, line, &fields).await {
        Ok(admitted) => admitted,
        Err(answer) => return answer,
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
    let customer = customer.to_owned();
    let created = now();
    let mode = field(&fields, "mode").unwrap_or_default().to_owned();
    let mut session = match mode.as_str() {
        "subscription" if field(&fields, "line_items[0][price]").is_some() => json!({
            "mode": "subscription",
            "expires_at": created + 86_400,
            "_subscription_metadata": metadata(&fields, "subscription_data[metadata]["),
            "_price": field(&fields, "line_items[0][price]"),
            "_trial_period_days": field(&fields, "subscription_data[trial_period_days]"),
        }),
        "payment" => {
            let number =
                |name: &str| field(&fields, name).and_then(|value| value.parse::<i64>().ok());
            let Some(amount) =
                number("line_items[0][price_data][unit_amount]").filter(|amount| *amount >= 50)
            else {
                return invalid("line_items[0][price_data][unit_amount] must be at least 50");
            };
            let Some(currency) = field(&fields, "line_items[0][price_data][currency]") else {
                return invalid("Missing required param: line_items[0][price_data][currency].");
            };
            if field(&fields, "line_items[0][price_data][product_data][name]").is_none() {
                return invalid(
                    "Missing required param: line_items[0][price_data][product_data][name].",
                );
            }
            let fee = number("payment_intent_data[application_fee_amount]").unwrap_or(0);
            if !(0..=amount).contains(&fee) {
                return invalid("The application fee cannot exceed the amount of the charge.");
            }
            let destination = field(&fields, "payment_intent_data[transfer_data][destination]");
            if let Some(destination) = destination {
                match ledger.accounts.get(destination) {
                    Some(account) if account["charges_enabled"] == true => {}
                    Some(_) => {
                        return invalid(
                            "The destination account cannot take charges: its card_payments capability is not active.",
                        );
                    }
                    None => {
                        return stripe_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_request_error",
                            &format!("No such destination: '{destination}'"),
                            Some("resource_missing"),
                        );
                    }
                }
            } else if fee > 0 {
                return invalid(
                    "An application fee needs a destination (payment_intent_data[transfer_data][destination]).",
                );
            }
            let expires_at = number("expires_at").unwrap_or(created + 86_400);
            if !(created + 1_800..=created + 86_400).contains(&expires_at) {
                return invalid("expires_at must be between 30 minutes and 24 hours from now.");
            }
            json!({
                "mode": "payment", "amount_total": amount, "amount_subtotal": amount, "currency": currency,
                "expires_at": expires_at, "metadata": metadata(&fields, "metadata["),
                "_application_fee": fee, "_destination": destination,
            })
        }
        _ => {
            return invalid(
                "mode=subscription needs a recurring price; mode=payment needs price_data",
            );
        }
    };
    ledger.next += 1;
    let id = format!("cs_test_{:06}", ledger.next);
    let common = json!({
        "id": id, "object": "checkout.session", "automatic_tax": { "enabled": false, "liability": null, "status": null },
        "client_reference_id": field(&fields, "client_reference_id"), "created": created, "customer": customer,
        "custom_fields": [], "custom_text": { "after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null },
        "livemode": false, "payment_method_types": ["card"],
        "payment_status": "unpaid", "shipping_options": [], "status": "open", "success_url": field(&fields, "success_url"),
        "url": format!("https://checkout.stripe.test/c/pay/{id}"),
    });
    for (name, value) in common.as_object().unwrap() {
        session[name] = value.clone();
    }
    ledger.sessions.insert(id, session.clone());
    let answer = public(&session);
    remember(&mut ledger, key, line, fields, &answer);
    Json(answer).into_response()
}

/// A session as Stripe shows it, expired once its time passed.
fn session_now(session: &Value) -> Value {
    let mut session = public(session);
    if session["status"] == "open" && session["expires_at"].as_i64().is_some_and(|at| at <= now()) {
        session["status"] = json!("expired");
        session["url"] = Value::Null;
    }
    session
}

async fn retrieve_session(
    State(ledger): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let held = ledger.lock().unwrap().hold_session_read.take();
    if let Some(arrived) = held {
        let _ = arrived.send(());
        // Stripe never answers this one (the server is stopped meanwhile).
        std::future::pending::<()>().await;
    }
    let ledger = match admit(&ledger, &headers, format!("GET /v1/checkout/sessions/{id}")) {
        Ok(ledger) => ledger,
        Err(refused) => return refused,
    };
    match ledger.sessions.get(&id) {
        Some(session) => Json(session_now(session)).into_response(),
        None => stripe_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            &format!("No such checkout.session: '{id}'"),
            Some("resource_missing"),
        ),
    }
}

/// `GET /v1/checkout/sessions`: newest first, `status`, `created[gte]`,
/// `limit` and `starting_after` as Stripe reads them.
async fn list_sessions(
    State(ledger): State<Shared>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let fields = query_fields(query);
    let ledger = match admit(&ledger, &headers, "GET /v1/checkout/sessions".into()) {
        Ok(ledger) => ledger,
        Err(refused) => return refused,
    };
    let status = field(&fields, "status");
    let since = field(&fields, "created[gte]").and_then(|value| value.parse::<i64>().ok());
    let limit = field(&fields, "limit")
        .and_then(|value| value.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let mut sessions: Vec<Value> = ledger
        .sessions
        .values()
        .map(session_now)
        .filter(|session| status.is_none_or(|status| session["status"] == status))
        .filter(|session| since.is_none_or(|since| session["created"].as_i64() >= Some(since)))
        .collect();
    sessions.sort_by(|a, b| {
        (b["created"].as_i64(), b["id"].as_str()).cmp(&(a["created"].as_i64(), a["id"].as_str()))
    });
    if let Some(after) = field(&fields, "starting_after") {
        match sessions.iter().position(|session| session["id"] == after) {
            Some(position) => {
                sessions.drain(..=position);
            }
            None => return invalid("starting_after names no session in this list"),
        }
    }
    let has_more = sessions.len() > limit;
    sessions.truncate(limit);
    Json(json!({ "object": "list", "data": sessions, "has_more": has_more, "url": "/v1/checkout/sessions" }))
        .into_response()
}

async fn expire_session(
    State(ledger): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut ledger = match admit(
        &ledger,
        &headers,
        format!("POST /v1/checkout/sessions/{id}/expire"),
    ) {
        Ok(ledger) => ledger,
        Err(refused) => return refused,
    };
    let Some(session) = ledger.sessions.get_mut(&id) else {
        return stripe_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            &format!("No such checkout.session: '{id}'"),
            Some("resource_missing"),
        );
    };
    if session_now(session)["status"] != "open" {
        return invalid("Only Checkout Sessions with a status in [\"open\"] can be expired.");
    }
    session["status"] = json!("expired");
    session["url"] = Value::Null;
    Json(public(session)).into_response()
}

async fn create_account(State(ledger): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = form(&body);
    let line = "POST /v1/accounts";
    let (mut ledger, key) = match admit_post(&ledger, &headers, line, &fields).await {
        Ok(admitted) => admitted,
        Err(answer) => return answer,
    };
    if field(&fields, "type") != Some("express") {
        return invalid("The stand-in makes Express accounts only (type=express).");
    }
    ledger.next += 1;
    let id = format!("acct_{:06}", ledger.next);
    let account = json!({
        "id": id, "object": "account", "type": "express", "country": "US", "created": now(),
        "email": field(&fields, "email"), "metadata": metadata(&fields, "metadata["),
        "charges_enabled": false, "payouts_enabled": false, "details_submitted": false,
        "capabilities": { "card_payments": "inactive", "transfers": "inactive" },
    });
    ledger.accounts.insert(id, account.clone());
    remember(&mut ledger, key, line, fields, &account);
    Json(account).into_response()
}

async fn retrieve_account(
    State(ledger): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ledger = match admit(&ledger, &headers, format!("GET /v1/accounts/{id}")) {
        Ok(ledger) => ledger,
        Err(refused) => return refused,
    };
    match ledger.accounts.get(&id) {
        Some(account) => Json(account.clone()).into_response(),
        None => stripe_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            &format!("No such account: '{id}'"),
            Some("resource_missing"),
        ),
    }
}

async fn create_account_link(
    State(ledger): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form(&body);
    let line = "POST /v1/account_links";
    let (mut ledger, key) = match admit_post(&ledger, &headers, line, &fields).await {
        Ok(admitted) => admitted,
        Err(answer) => return answer,
    };
    let Some(account) = field(&fields, "account").filter(|id| ledger.accounts.contains_key(*id))
    else {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "No such account",
            Some("resource_missing"),
        );
    };
    if field(&fields, "type") != Some("account_onboarding")
        || field(&fields, "refresh_url").is_none()
        || field(&fields, "return_url").is_none()
    {
        return invalid("type=account_onboarding, refresh_url and return_url are required");
    }
    ledger.next += 1;
    let created = now();
    let link = json!({
        "object": "account_link", "created": created, "expires_at": created + 300,
        "url": format!("https://connect.stripe.test/setup/e/{account}/{:06}", ledger.next),
        "_account": account, "_refresh_url": field(&fields, "refresh_url"), "_return_url": field(&fields, "return_url"),
    });
    ledger.account_links.push(link.clone());
    let answer = public(&link);
    remember(&mut ledger, key, line, fields, &answer);
    Json(answer).into_response()
}

async fn create_refund(State(ledger): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = form(&body);
    let line = "POST /v1/refunds";
    let (mut ledger, key) = match admit_post(&ledger, &headers, line, &fields).await {
        Ok(admitted) => admitted,
        Err(answer) => return answer,
    };
    let Some(intent) = field(&fields, "payment_intent").map(str::to_owned) else {
        return invalid("Missing required param: payment_intent.");
    };
    let Some(payment) = ledger.payments.get(&intent).cloned() else {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            &format!("No such payment_intent: '{intent}'"),
            Some("resource_missing"),
        );
    };
    if payment.refunded >= payment.amount {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "Charge has already been refunded.",
            Some("charge_already_refunded"),
        );
    }
    let amount = payment.amount - payment.refunded;
    let reverse = field(&fields, "reverse_transfer") == Some("true");
    let refund_fee = field(&fields, "refund_application_fee") == Some("true");
    let payment = ledger.payments.get_mut(&intent).unwrap();
    payment.refunded += amount;
    if reverse {
        payment.transfer_reversed += amount - payment.application_fee;
    }
    if refund_fee {
        payment.fee_refunded += payment.application_fee;
    }
    ledger.next += 1;
    let id = format!("re_{:06}", ledger.next);
    let refund = json!({
        "id": id, "object": "refund", "amount": amount, "created": now(), "currency": "usd",
        "payment_intent": intent, "status": "succeeded", "metadata": metadata(&fields, "metadata["),
    });
    ledger.refunds.insert(id, refund.clone());
    remember(&mut ledger, key, line, fields, &refund);
    Json(refund).into_response()
}

async fn list_refunds(
    State(ledger): State<Shared>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let fields = query_fields(query);
    let ledger = match admit(&ledger, &headers, "GET /v1/refunds".into()) {
        Ok(ledger) => ledger,
        Err(refused) => return refused,
    };
    let intent = field(&fields, "payment_intent");
    let since = field(&fields, "created[gte]").and_then(|value| value.parse::<i64>().ok());
    let data: Vec<Value> = ledger
        .refunds
        .values()
        .filter(|refund| intent.is_none_or(|intent| refund["payment_intent"] == intent))
        .filter(|refund| since.is_none_or(|since| refund["created"].as_i64() >= Some(since)))
        .cloned()
        .collect();
    Json(json!({ "object": "list", "data": data, "has_more": false, "url": "/v1/refunds" }))
        .into_response()
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
