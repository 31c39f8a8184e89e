//! Billing through Stripe, against a local stand-in for Stripe's API that the
//! same async-stripe client code talks to, with webhooks signed like Stripe's.

use std::collections::BTreeMap;

use orrery_e2e::stripe::{SECRET_KEY, StripeDouble, WEBHOOK_SECRET, deliver};
use orrery_e2e::{TEST_PASSWORD, TestServer};
use orrery_server::billing::StripeConfig;
use serde_json::{Value, json};

struct Billed {
    server: TestServer,
    stripe: StripeDouble,
    token: String,
}

async fn billed(email: &str) -> Billed {
    let stripe = StripeDouble::start().await.unwrap();
    let api_base = stripe.api_base();
    let server = TestServer::start_with(|config| {
        config.stripe = Some(StripeConfig {
            api_base,
            secret_key: SECRET_KEY.into(),
            webhook_secret: WEBHOOK_SECRET.into(),
            connect_webhook_secret: None,
            prices: BTreeMap::from([
                ("pro".into(), "price_pro_monthly".into()),
                ("enterprise".into(), "price_ent_monthly".into()),
            ]),
            return_url: "http://127.0.0.1/billing-done".into(),
        });
    })
    .await
    .unwrap();
    let session = server
        .accounts()
        .register(email, TEST_PASSWORD, "Payer", "laptop")
        .await
        .unwrap();
    Billed {
        server,
        stripe,
        token: session.access_token,
    }
}

impl Billed {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.server.url()))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn plan(&self) -> String {
        self.call(reqwest::Method::GET, "/v1/me", None).await.1["plan"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Checkout through the server, paid on Stripe's page; returns the subscription id
    /// and the checkout.session.completed event (not yet delivered).
    async fn checkout(&self, plan: &str) -> (String, Value) {
        let (status, page) = self
            .call(
                reqwest::Method::POST,
                "/v1/billing/checkout",
                Some(json!({ "plan": plan })),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let url = page["url"].as_str().unwrap();
        let session_id = url.rsplit('/').next().unwrap();
        assert_eq!(
            self.stripe.session(session_id)["_trial_period_days"],
            "14",
            "the plan's trial goes to Stripe"
        );
        let completed = self.stripe.complete_checkout(session_id, "active");
        let subscription = completed["subscription"].as_str().unwrap().to_owned();
        let mut object = completed;
        object
            .as_object_mut()
            .unwrap()
            .retain(|key, _| !key.starts_with('_'));
        (
            subscription,
            self.stripe.event("checkout.session.completed", object),
        )
    }

    async fn deliver(&self, event: &Value) -> (u16, Value) {
        deliver(
            &self.server.url(),
            event,
            WEBHOOK_SECRET,
            self.server.clock_now().timestamp(),
        )
        .await
    }
}

#[tokio::test]
async fn checkout_and_portal_open_stripe_pages_and_the_webhook_upgrades_the_plan() {
    let billed = billed("checkout@orrery.test").await;
    let (status, _) = billed
        .call(reqwest::Method::POST, "/v1/billing/portal", None)
        .await;
    assert_eq!(status, 404, "no billing account before a first checkout");
    let (status, body) = billed
        .call(
            reqwest::Method::POST,
            "/v1/billing/checkout",
            Some(json!({ "plan": "free" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    let (subscription, completed) = billed.checkout("pro").await;
    assert_eq!(
        billed.plan().await,
        "free",
        "nothing changes before Stripe says so"
    );
    assert_eq!(billed.deliver(&completed).await.0, 200);
    assert_eq!(billed.plan().await, "pro");
    let (_, current) = billed
        .call(reqwest::Method::GET, "/v1/billing/subscription", None)
        .await;
    assert_eq!(current["status"], "active");
    assert_eq!(current["plan"], "pro");

    let (status, page) = billed
        .call(reqwest::Method::POST, "/v1/billing/portal", None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page["url"]
            .as_str()
            .unwrap()
            .starts_with("https://billing.stripe.test/")
    );
    let requests = billed.stripe.requests();
    assert_eq!(
        requests
            .iter()
            .filter(|r| *r == "POST /v1/customers")
            .count(),
        1,
        "one customer per user: {requests:?}"
    );
    assert!(requests.contains(&format!("GET /v1/subscriptions/{subscription}")));
}

#[tokio::test]
async fn webhook_replay_is_idempotent() {
    let billed = billed("replay@orrery.test").await;
    let (subscription, completed) = billed.checkout("pro").await;
    billed.deliver(&completed).await;
    let invoice = json!({
        "id": "in_000001", "object": "invoice", "customer": billed.stripe.subscription(&subscription)["customer"],
        "subscription": subscription, "status": "paid", "amount_due": 1900, "amount_paid": 1900, "currency": "usd",
        "created": billed.server.clock_now().timestamp(), "hosted_invoice_url": "https://invoice.stripe.test/i/1",
    });
    let paid = billed.stripe.event("invoice.paid", invoice);
    let fetches = |stripe: &StripeDouble| {
        stripe
            .requests()
            .iter()
            .filter(|r| r.starts_with("GET /v1/subscriptions/"))
            .count()
    };
    let before = fetches(&billed.stripe);
    assert_eq!(
        billed.deliver(&paid).await,
        (200, json!({ "received": true }))
    );
    assert_eq!(fetches(&billed.stripe), before + 1);
    for _ in 0..3 {
        assert_eq!(
            billed.deliver(&paid).await,
            (200, json!({ "received": true, "duplicate": true }))
        );
    }
    assert_eq!(fetches(&billed.stripe), before + 1, "a replay does no work");
    let (_, invoices) = billed
        .call(reqwest::Method::GET, "/v1/billing/invoices", None)
        .await;
    assert_eq!(invoices.as_array().unwrap().len(), 1, "{invoices}");
    assert_eq!(invoices[0]["amount_paid"], 1900);
}

#[tokio::test]
async fn forged_webhook_is_rejected() {
    let billed = billed("forged@orrery.test").await;
    let (_, completed) = billed.checkout("pro").await;
    let now = billed.server.clock_now().timestamp();
    let (status, body) = deliver(&billed.server.url(), &completed, "whsec_guessed", now).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("no signature"),
        "{body}"
    );
    // A body changed after signing.
    let payload = serde_json::to_vec(&completed).unwrap();
    let header = orrery_e2e::stripe::signature_header(WEBHOOK_SECRET, now, &payload);
    let mut tampered = completed.clone();
    tampered["data"]["object"]["client_reference_id"] = json!("someone-else");
    let response = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/stripe", billed.server.url()))
        .header("stripe-signature", header)
        .body(serde_json::to_vec(&tampered).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = reqwest::Client::new()
        .post(format!("{}/v1/webhooks/stripe", billed.server.url()))
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "no signature header");
    assert_eq!(billed.plan().await, "free");
    // The genuine event still works afterwards: forged tries did not use up its id.
    assert_eq!(billed.deliver(&completed).await.0, 200);
    assert_eq!(billed.plan().await, "pro");
}

#[tokio::test]
async fn stale_webhook_is_rejected() {
    let billed = billed("stale@orrery.test").await;
    let (_, completed) = billed.checkout("pro").await;
    let old = billed.server.clock_now().timestamp() - 600;
    let (status, body) = deliver(&billed.server.url(), &completed, WEBHOOK_SECRET, old).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("tolerance"),
        "{body}"
    );
    assert_eq!(billed.plan().await, "free");
}

#[tokio::test]
async fn out_of_order_subscription_events_converge() {
    let billed = billed("order@orrery.test").await;
    let (subscription, completed) = billed.checkout("pro").await;
    billed.deliver(&completed).await;
    assert_eq!(billed.plan().await, "pro");

    // On Stripe: the user schedules cancellation, then the subscription ends.
    let scheduled = billed.stripe.event(
        "customer.subscription.updated",
        billed
            .stripe
            .update_subscription(&subscription, "active", true),
    );
    let ended = billed.stripe.event(
        "customer.subscription.deleted",
        billed
            .stripe
            .update_subscription(&subscription, "canceled", true),
    );
    // They arrive newest first.
    assert_eq!(billed.deliver(&ended).await.0, 200);
    assert_eq!(billed.deliver(&scheduled).await.0, 200);
    assert_eq!(
        billed.plan().await,
        "free",
        "the late 'still active' event does not bring Pro back"
    );
    let (_, current) = billed
        .call(reqwest::Method::GET, "/v1/billing/subscription", None)
        .await;
    assert_eq!(current["status"], "canceled");

    // A payment failure marks the account past due: metered work stops with a reason.
    let (again, completed) = billed.checkout("pro").await;
    billed.deliver(&completed).await;
    let failed_invoice = json!({
        "id": "in_failed", "object": "invoice", "customer": billed.stripe.subscription(&again)["customer"],
        "subscription": again, "status": "open", "amount_due": 1900, "amount_paid": 0, "currency": "usd",
        "created": billed.server.clock_now().timestamp(),
    });
    billed.stripe.update_subscription(&again, "past_due", false);
    assert_eq!(
        billed
            .deliver(
                &billed
                    .stripe
                    .event("invoice.payment_failed", failed_invoice)
            )
            .await
            .0,
        200
    );
    let (_, decision) = billed
        .call(
            reqwest::Method::POST,
            "/v1/policy/decide",
            Some(json!({ "kind": "run_agent", "agent": "analyst", "tokens": 10 })),
        )
        .await;
    assert_eq!(decision["allowed"], false);
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .contains("payment failed"),
        "{decision}"
    );
}

#[tokio::test]
async fn downgrade_removes_agent_access() {
    let billed = billed("downgrade@orrery.test").await;
    let ask = json!({ "kind": "run_agent", "agent": "analyst", "tokens": 500 });
    let (_, decision) = billed
        .call(
            reqwest::Method::POST,
            "/v1/policy/decide",
            Some(ask.clone()),
        )
        .await;
    assert_eq!(
        decision["allowed"], false,
        "Free does not include the analyst"
    );

    let (subscription, completed) = billed.checkout("pro").await;
    billed.deliver(&completed).await;
    let (_, decision) = billed
        .call(
            reqwest::Method::POST,
            "/v1/policy/decide",
            Some(ask.clone()),
        )
        .await;
    assert_eq!(decision["allowed"], true, "{decision}");

    let ended = billed.stripe.event(
        "customer.subscription.deleted",
        billed
            .stripe
            .update_subscription(&subscription, "canceled", false),
    );
    billed.deliver(&ended).await;
    let (_, decision) = billed
        .call(reqwest::Method::POST, "/v1/policy/decide", Some(ask))
        .await;
    assert_eq!(decision["allowed"], false);
    assert_eq!(
        decision["reason"],
        "the agent `analyst` is not included in the Free plan; upgrade to run it"
    );
}
