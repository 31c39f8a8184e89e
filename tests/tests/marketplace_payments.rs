//! Paid listings on a real server, against the local Stripe stand-in that
//! the product's own async-stripe client talks to, with webhooks signed as
//! Stripe signs them: a seller connects a Stripe account and lists for
//! money; a buyer pays through Checkout (a destination charge with the
//! commission as the application fee); the item is delivered exactly once
//! however often Stripe reports the payment, even across a SIGKILL; forged
//! and foreign sessions deliver nothing; a refund reverses the money and
//! takes the copy off every device; the ledger and the sales report add up.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use orrery_domain::{Agent, DocumentKind};
use orrery_e2e::stripe::{
    CONNECT_WEBHOOK_SECRET, SECRET_KEY, StripeDouble, WEBHOOK_SECRET, deliver,
};
use orrery_e2e::{TEST_PASSWORD, TestDevice, TestServer};
use orrery_server::billing::StripeConfig;
use orrery_store::ServerStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const PRICE: i64 = 1_999;
const TITLE: &str = "Contract reviewer Pro";
const REVIEWER_PROMPT: &str = "You read contracts and flag risky clauses, citing each.";

async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn stripe_config(api_base: String) -> StripeConfig {
    StripeConfig {
        api_base,
        secret_key: SECRET_KEY.into(),
        webhook_secret: WEBHOOK_SECRET.into(),
        connect_webhook_secret: Some(CONNECT_WEBHOOK_SECRET.into()),
        prices: BTreeMap::new(),
        return_url: "http://127.0.0.1/market-done".into(),
    }
}

/// Sends a Stripe event to `base`, signed now with the real secret.
async fn send_event(base: &str, event: &Value) -> (u16, Value) {
    deliver(base, event, WEBHOOK_SECRET, chrono::Utc::now().timestamp()).await
}

/// Sends a connected account's event to `base`, signed with the Connect
/// endpoint's secret.
async fn send_connect_event(base: &str, event: &Value) -> (u16, Value) {
    deliver(
        base,
        event,
        CONNECT_WEBHOOK_SECRET,
        chrono::Utc::now().timestamp(),
    )
    .await
}

/// A seller whose Stripe account is connected and can take charges, with a
/// paid listing of their agent. Returns the listing's id.
async fn onboarded_seller_listing(
    base: &str,
    stripe: &StripeDouble,
    seller_token: &str,
    agent: &Agent,
) -> String {
    let (status, link) = call(
        base,
        reqwest::Method::POST,
        "/v1/marketplace/seller/onboarding",
        seller_token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let account = stripe
        .accounts()
        .into_iter()
        .find(|account| {
            link["url"]
                .as_str()
                .unwrap()
                .contains(account["id"].as_str().unwrap())
        })
        .expect("the link is for the seller's new account");
    let account_id = account["id"].as_str().unwrap().to_owned();
    let finished = stripe.finish_onboarding(&account_id);
    let (status, _) = send_connect_event(
        base,
        &stripe.connect_event("account.updated", &account_id, finished),
    )
    .await;
    assert_eq!(status, 200);
    let (status, listing) = call(
        base,
        reqwest::Method::POST,
        "/v1/marketplace/listings",
        seller_token,
        Some(paid_listing(agent)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{listing}");
    listing["id"].as_str().unwrap().to_owned()
}

fn paid_listing(agent: &Agent) -> Value {
    json!({
        "kind": "agent",
        "item_id": agent.id,
        "title": TITLE,
        "description": "Reads a contract and flags risky clauses, with citations.",
        "tags": ["legal"],
        "pricing": "one_off",
        "price_minor": PRICE,
        "currency": "usd",
    })
}

async fn seller_agent(device: &TestDevice) -> Agent {
    let mut agent = Agent::new(TITLE);
    agent.description = "Flags risky clauses.".into();
    agent.system_prompt = REVIEWER_PROMPT.into();
    agent.model = "llama3.1:8b".into();
    let agent = device.replica.save_agent(&agent).await.unwrap();
    device.client.sync_all(&device.replica).await.unwrap();
    agent
}

/// A server that takes payments through the stand-in, its admin, and a
/// seller with a paid listing.
struct Market {
    server: Arc<TestServer>,
    stripe: StripeDouble,
    admin: TestDevice,
    seller: TestDevice,
    listing: String,
}

impl Market {
    async fn open() -> Self {
        let stripe = StripeDouble::start().await.unwrap();
        let api_base = stripe.api_base();
        let server = TestServer::start_with(|config| config.stripe = Some(stripe_config(api_base)))
            .await
            .unwrap();
        // The first account of a server is its admin.
        let admin = TestDevice::signed_in(&server, "admin@orrery.test", "console")
            .await
            .unwrap();
        let seller = TestDevice::signed_in(&server, "seller@orrery.test", "studio")
            .await
            .unwrap();
        let agent = seller_agent(&seller).await;
        let listing =
            onboarded_seller_listing(&server.url(), &stripe, seller.token(), &agent).await;
        Self {
            server: Arc::new(server),
            stripe,
            admin,
            seller,
            listing,
        }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    /// Presses Buy: the purchase, waiting for its payment.
    async fn buy(&self, token: &str) -> Value {
        let (status, purchase) = call(
            &self.url(),
            reqwest::Method::POST,
            &format!("/v1/marketplace/listings/{}/purchase", self.listing),
            token,
            None,
        )
        .await;
        assert!(
            matches!(status, StatusCode::ACCEPTED),
            "{status}: {purchase}"
        );
        purchase
    }

    /// The Checkout Session behind a purchase's checkout URL.
    fn session_of(&self, purchase: &Value) -> Value {
        let url = purchase["checkout_url"].as_str().expect("a checkout URL");
        self.stripe
            .sessions()
            .into_iter()
            .find(|session| session["url"] == url)
            .expect("a session the stand-in made")
    }

    /// The buyer pays a purchase's session at Stripe, and Stripe says so
    /// (`checkout.session.completed`, signed): the payment's id.
    async fn pay(&self, purchase: &Value) -> String {
        let paid = self
            .stripe
            .pay_checkout(self.session_of(purchase)["id"].as_str().unwrap());
        let intent = paid["payment_intent"].as_str().unwrap().to_owned();
        let (status, answer) = send_event(
            &self.url(),
            &self.stripe.event("checkout.session.completed", paid),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        intent
    }

    /// The admin runs the reconciliation pass now.
    async fn reconcile(&self) -> (StatusCode, Value) {
        call(
            &self.url(),
            reqwest::Method::POST,
            "/v1/admin/marketplace/reconcile",
            self.admin.token(),
            None,
        )
        .await
    }

    async fn store(&self) -> ServerStore {
        self.server.store().await.unwrap()
    }
}

/// The copies of the listing in a device's library, after a sync.
async fn copies(device: &TestDevice) -> Vec<orrery_store::LibrarySummary> {
    device.client.sync_all(&device.replica).await.unwrap();
    device
        .replica
        .list_documents(DocumentKind::Agent)
        .await
        .unwrap()
        .into_iter()
        .filter(|agent| agent.title == TITLE)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seller_connects_stripe_and_a_buyer_pays_through_checkout() {
    let stripe = StripeDouble::start().await.unwrap();
    let api_base = stripe.api_base();
    let server = TestServer::start_with(|config| config.stripe = Some(stripe_config(api_base)))
        .await
        .unwrap();
    let base = server.url();
    let admin = TestDevice::signed_in(&server, "admin@orrery.test", "console")
        .await
        .unwrap();
    let seller = TestDevice::signed_in(&server, "seller@orrery.test", "studio")
        .await
        .unwrap();
    let agent = seller_agent(&seller).await;

    // Not connected: paid listings are refused with the way forward.
    let (_, state) = call(
        &base,
        reqwest::Method::GET,
        "/v1/marketplace/seller",
        seller.token(),
        None,
    )
    .await;
    assert_eq!(
        (state["payments"].as_bool(), state["connected"].as_bool()),
        (Some(true), Some(false)),
        "{state}"
    );
    assert_eq!(state["commission_bps"], 2000);
    let (status, refused) = call(
        &base,
        reqwest::Method::POST,
        "/v1/marketplace/listings",
        seller.token(),
        Some(paid_listing(&agent)),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("Stripe account"),
        "{refused}"
    );

    // Onboarding: one Express account however often the seller asks; an
    // expired link's refresh URL makes a new link and sends the browser there.
    let (status, first) = call(
        &base,
        reqwest::Method::POST,
        "/v1/marketplace/seller/onboarding",
        seller.token(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, second) = call(
        &base,
        reqwest::Method::POST,
        "/v1/marketplace/seller/onboarding",
        seller.token(),
        None,
    )
    .await;
    assert_eq!(stripe.accounts().len(), 1);
    assert_ne!(first["url"], second["url"], "each press makes a fresh link");
    let account = stripe.accounts()[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(stripe.accounts()[0]["type"], "express");
    // Each link carries a token of its own in the URLs Stripe sends the
    // browser back to (never the account); a newer link replaces it.
    let links = stripe.account_links();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let replaced = no_redirects
        .get(links[0]["_refresh_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        replaced.status(),
        StatusCode::NOT_FOUND,
        "the first link's token was replaced by the second's"
    );
    let refresh = links[1]["_refresh_url"].as_str().unwrap().to_owned();
    assert!(
        refresh.starts_with(&base) && !refresh.contains(&account),
        "{refresh}: the account is not named in the URL"
    );
    // An expired (or used) link: its refresh URL makes a new link and
    // sends the browser there.
    let redirected = no_redirects.get(&refresh).send().await.unwrap();
    assert!(
        redirected.status().is_redirection(),
        "{}",
        redirected.status()
    );
    let location = redirected.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        Some(location.as_str()),
        stripe.account_links().last().unwrap()["url"].as_str()
    );
    assert_eq!(stripe.account_links().len(), 3);
    let return_to = stripe.account_links()[2]["_return_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = no_redirects
        .get(format!(
            "{base}/v1/marketplace/onboarding/not-a-token/refresh"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::NOT_FOUND);
    // Back from Stripe before finishing: still not able to sell.
    let page = reqwest::get(&return_to)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Stripe still needs some details"), "{page}");
    let (status, _) = call(
        &base,
        reqwest::Method::POST,
        "/v1/marketplace/listings",
        seller.token(),
        Some(paid_listing(&agent)),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Stripe says the account can take charges (account.updated).
    let finished = stripe.finish_onboarding(&account);
    let (status, _) = send_connect_event(
        &base,
        &stripe.connect_event("account.updated", &account, finished),
    )
    .await;
    assert_eq!(status, 200);
    let (_, state) = call(
        &base,
        reqwest::Method::GET,
        "/v1/marketplace/seller",
        seller.token(),
        None,
    )
    .await;
    assert_eq!(
        (
            state["charges_enabled"].as_bool(),
            state["payouts_enabled"].as_bool()
        ),
        (Some(true), Some(true)),
        "{state}"
    );
    let page = reqwest::get(&return_to)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("You can sell now"), "{page}");

    // The admin sets the commission to 15%; out-of-range rates are refused.
    let (status, refused) = call(
        &base,
        reqwest::Method::PUT,
        "/v1/admin/marketplace/commission",
        admin.token(),
        Some(json!({ "commission_bps": 9000 })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, refused) = call(
        &base,
        reqwest::Method::PUT,
        "/v1/admin/marketplace/commission",
        seller.token(),
        Some(json!({ "commission_bps": 0 })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, entry) = call(
        &base,
        reqwest::Method::PUT,
        "/v1/admin/marketplace/commission",
        admin.token(),
        Some(json!({ "commission_bps": 1500 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{entry}");
    assert_eq!(entry["after"]["commission_bps"], 1500);

    let mut monthly = paid_listing(&agent);
    monthly["pricing"] = json!("monthly");
    let (status, refused) = call(
        &base,
        reqwest::Method::POST,
        "/v1/marketplace/listings",
        seller.token(),
        Some(monthly),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, listing) = call(
        &base,
        reqwest::Method::POST,
        "/v1/marketplace/listings",
        seller.token(),
        Some(paid_listing(&agent)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{listing}");
    let listing = listing["id"].as_str().unwrap().to_owned();

    // The buyer presses Buy: a Checkout Session with a destination charge
    // to the seller and the commission (15% of 19.99, rounded half up:
    // 3.00) as the application fee. Nothing is delivered yet.
    let laptop = TestDevice::signed_in(&server, "buyer@orrery.test", "laptop")
        .await
        .unwrap();
    let desktop = TestDevice::signed_in(&server, "buyer@orrery.test", "desktop")
        .await
        .unwrap();
    let (status, purchase) = call(
        &base,
        reqwest::Method::POST,
        &format!("/v1/marketplace/listings/{listing}/purchase"),
        laptop.token(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{purchase}");
    assert_eq!(
        (purchase["state"].as_str(), purchase["item_id"].as_str()),
        (Some("pending"), None)
    );
    let session = stripe
        .sessions()
        .into_iter()
        .find(|session| {
            Some(session["url"].as_str().unwrap_or_default()) == purchase["checkout_url"].as_str()
        })
        .unwrap();
    assert_eq!(
        (session["mode"].as_str(), session["amount_total"].as_i64()),
        (Some("payment"), Some(PRICE))
    );
    let id = session["id"].as_str().unwrap().to_owned();
    assert!(
        copies(&laptop).await.is_empty(),
        "nothing before the payment"
    );

    // Paid: the webhook delivers to every device of the buyer's.
    let paid = stripe.pay_checkout(&id);
    let (status, answer) =
        send_event(&base, &stripe.event("checkout.session.completed", paid)).await;
    assert_eq!(status, 200, "{answer}");
    let payment = stripe.payments().pop().unwrap();
    assert_eq!(
        (
            payment.amount,
            payment.application_fee,
            payment.destination.as_str()
        ),
        (PRICE, 300, account.as_str())
    );
    for device in [&laptop, &desktop] {
        let found = copies(device).await;
        assert_eq!(found.len(), 1, "{found:?}");
        let copy = device.replica.agent(found[0].id).await.unwrap();
        assert_eq!(copy.system_prompt, REVIEWER_PROMPT);
    }
    let (_, purchases) = call(
        &base,
        reqwest::Method::GET,
        "/v1/marketplace/purchases",
        desktop.token(),
        None,
    )
    .await;
    assert_eq!(purchases[0]["state"], "paid");
    assert_eq!(purchases[0]["amount_minor"], PRICE);
    assert!(purchases[0]["checkout_url"].is_null());

    // Bought: a second Buy is refused, and the seller's report adds up.
    let (status, again) = call(
        &base,
        reqwest::Method::POST,
        &format!("/v1/marketplace/listings/{listing}/purchase"),
        desktop.token(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (_, report) = call(
        &base,
        reqwest::Method::GET,
        "/v1/marketplace/sales",
        seller.token(),
        None,
    )
    .await;
    let month = &report["months"][0];
    assert_eq!(
        (
            month["sales"].as_i64(),
            month["gross_minor"].as_i64(),
            month["fee_minor"].as_i64(),
            month["net_minor"].as_i64()
        ),
        (Some(1), Some(PRICE), Some(300), Some(PRICE - 300)),
        "{report}"
    );
    assert_eq!(report["totals"]["usd"]["net_minor"], PRICE - 300);
    assert_eq!(report["sales"][0]["buyer"], "buyer");

    // A payout Stripe reports for the seller's account shows in the report.
    let payout = json!({ "id": "po_000001", "object": "payout", "amount": PRICE - 300, "currency": "usd", "status": "paid", "arrival_date": chrono::Utc::now().timestamp() });
    let (status, _) = send_connect_event(
        &base,
        &stripe.connect_event("payout.paid", &account, payout),
    )
    .await;
    assert_eq!(status, 200);
    let (_, with_payout) = call(
        &base,
        reqwest::Method::GET,
        "/v1/marketplace/sales",
        seller.token(),
        None,
    )
    .await;
    assert_eq!(with_payout["payouts"][0]["amount_minor"], PRICE - 300);
    assert_eq!(with_payout["payouts"][0]["status"], "paid");
    // Nobody else sees the seller's sales.
    let (_, theirs) = call(
        &base,
        reqwest::Method::GET,
        "/v1/marketplace/sales",
        laptop.token(),
        None,
    )
    .await;
    assert_eq!(theirs["sales"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn double_buy_creates_one_checkout() {
    let market = Market::open().await;
    let laptop = Arc::new(
        TestDevice::signed_in(&market.server, "buyer@orrery.test", "laptop")
            .await
            .unwrap(),
    );
    let desktop = Arc::new(
        TestDevice::signed_in(&market.server, "buyer@orrery.test", "desktop")
            .await
            .unwrap(),
    );
    let market = Arc::new(market);
    let presses: Vec<_> = (0..8)
        .map(|index| {
            let market = market.clone();
            let token = if index % 2 == 0 {
                laptop.token().to_owned()
            } else {
                desktop.token().to_owned()
            };
            tokio::spawn(async move { market.buy(&token).await })
        })
        .collect();
    let mut urls = std::collections::BTreeSet::new();
    let mut purchases = std::collections::BTreeSet::new();
    for press in presses {
        let purchase = press.await.unwrap();
        urls.insert(purchase["checkout_url"].as_str().unwrap().to_owned());
        purchases.insert(purchase["id"].as_str().unwrap().to_owned());
    }
    // Some presses may have met another in flight at Stripe (409) and
    // asked again: the answer is the same.
    eprintln!(
        "{} requests met one in flight under their idempotency key; {} were answered from the first",
        market.stripe.idempotent_conflicts(),
        market.stripe.idempotent_replays()
    );
    assert_eq!(urls.len(), 1, "one checkout page: {urls:?}");
    assert_eq!(purchases.len(), 1, "one purchase: {purchases:?}");
    assert_eq!(
        market.stripe.sessions().len(),
        1,
        "one Checkout Session in Stripe"
    );

    // Paying it once delivers one copy; Buy again is refused.
    let session = market.stripe.sessions().pop().unwrap();
    let paid = market.stripe.pay_checkout(session["id"].as_str().unwrap());
    let (status, _) = send_event(
        &market.url(),
        &market.stripe.event("checkout.session.completed", paid),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(copies(&laptop).await.len(), 1);
    let (status, _) = call(
        &market.url(),
        reqwest::Method::POST,
        &format!("/v1/marketplace/listings/{}/purchase", market.listing),
        desktop.token(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(market.stripe.sessions().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purchase_delivers_exactly_once() {
    let market = Market::open().await;
    let buyer = TestDevice::signed_in(&market.server, "buyer@orrery.test", "laptop")
        .await
        .unwrap();
    let purchase = market.buy(buyer.token()).await;
    let purchase_id: uuid::Uuid = purchase["id"].as_str().unwrap().parse().unwrap();
    let session = market.session_of(&purchase);
    let paid = market.stripe.pay_checkout(session["id"].as_str().unwrap());
    let event = market
        .stripe
        .event("checkout.session.completed", paid.clone());
    let retry = market.stripe.event("checkout.session.completed", paid);

    // Four deliveries of the same event, another event for the same
    // session, and a reconciliation pass, all at once.
    let url = market.url();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (url, event) = (url.clone(), event.clone());
        tasks.push(tokio::spawn(
            async move { send_event(&url, &event).await.0 },
        ));
    }
    {
        let (url, retry) = (url.clone(), retry.clone());
        tasks.push(tokio::spawn(
            async move { send_event(&url, &retry).await.0 },
        ));
    }
    let admin_token = market.admin.token().to_owned();
    let pass = {
        let url = url.clone();
        tokio::spawn(async move {
            call(
                &url,
                reqwest::Method::POST,
                "/v1/admin/marketplace/reconcile",
                &admin_token,
                None,
            )
            .await
        })
    };
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let (status, reconciled) = pass.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{reconciled}");
    // And once more, after all of them.
    let (_, again) = market.reconcile().await;
    assert_eq!(
        (again["settled"].as_u64(), again["delivered"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );

    assert_eq!(copies(&buyer).await.len(), 1, "one library item");
    let store = market.store().await;
    let ledger = store.purchase_ledger(purchase_id).await.unwrap();
    let kinds: Vec<_> = ledger
        .iter()
        .map(|row| (row.kind.as_str(), row.amount_minor))
        .collect();
    assert_eq!(kinds.len(), 2, "one sale and its fee: {kinds:?}");
    assert!(
        kinds.contains(&("sale", PRICE)) && kinds.contains(&("fee", 400)),
        "{kinds:?}"
    );
    let (_, listing) = call(
        &url,
        reqwest::Method::GET,
        &format!("/v1/marketplace/listings/{}", market.listing),
        buyer.token(),
        None,
    )
    .await;
    assert_eq!(listing["purchases"], 1);
    assert_eq!(listing["owned"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_or_foreign_checkout_delivers_nothing() {
    let market = Market::open().await;
    let buyer = TestDevice::signed_in(&market.server, "buyer@orrery.test", "laptop")
        .await
        .unwrap();
    let other = TestDevice::signed_in(&market.server, "other@orrery.test", "pc")
        .await
        .unwrap();
    let purchase = market.buy(buyer.token()).await;
    let purchase_id = purchase["id"].as_str().unwrap().to_owned();
    let session = market.session_of(&purchase);
    let url = market.url();

    // Signed with another secret, or long ago: refused before it is read.
    let unpaid_claim = {
        let mut claimed = session.clone();
        claimed["status"] = json!("complete");
        claimed["payment_status"] = json!("paid");
        claimed["payment_intent"] = json!("pi_forged");
        claimed
    };
    let event = market
        .stripe
        .event("checkout.session.completed", unpaid_claim.clone());
    let (status, _) = deliver(
        &url,
        &event,
        "whsec_someone_else",
        chrono::Utc::now().timestamp(),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = deliver(
        &url,
        &event,
        WEBHOOK_SECRET,
        chrono::Utc::now().timestamp() - 600,
    )
    .await;
    assert_eq!(status, 400, "a stale (replayed) event");
    // Correctly signed, but the event's copy says paid where Stripe's
    // session is not: the server reads Stripe's, and delivers nothing.
    let (status, _) = send_event(&url, &event).await;
    assert_eq!(status, 200);

    // A genuine, paid session naming the purchase, but made for another
    // buyer (by another integration with the account's key).
    let customer: Value = reqwest::Client::new()
        .post(format!("{}v1/customers", market.stripe.api_base()))
        .bearer_auth(SECRET_KEY)
        .form(&[("email", "other@orrery.test")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other_user = other.session.account.id.clone();
    let foreign: Value = reqwest::Client::new()
        .post(format!("{}v1/checkout/sessions", market.stripe.api_base()))
        .bearer_auth(SECRET_KEY)
        .form(&[
            ("mode", "payment"),
            ("customer", customer["id"].as_str().unwrap()),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", &PRICE.to_string()),
            ("line_items[0][price_data][product_data][name]", TITLE),
            ("metadata[orrery_purchase]", &purchase_id),
            ("metadata[listing_id]", &market.listing),
            ("metadata[buyer_user]", &other_user),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paid = market.stripe.pay_checkout(foreign["id"].as_str().unwrap());
    let (status, _) = send_event(
        &url,
        &market.stripe.event("checkout.session.completed", paid),
    )
    .await;
    assert_eq!(status, 200);
    // Paid, for this buyer, but for less than the price.
    let cheap: Value = reqwest::Client::new()
        .post(format!("{}v1/checkout/sessions", market.stripe.api_base()))
        .bearer_auth(SECRET_KEY)
        .form(&[
            ("mode", "payment"),
            ("customer", customer["id"].as_str().unwrap()),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "100"),
            ("line_items[0][price_data][product_data][name]", TITLE),
            ("metadata[orrery_purchase]", &purchase_id),
            ("metadata[listing_id]", &market.listing),
            ("metadata[buyer_user]", buyer.session.account.id.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paid = market.stripe.pay_checkout(cheap["id"].as_str().unwrap());
    let (status, _) = send_event(
        &url,
        &market.stripe.event("checkout.session.completed", paid),
    )
    .await;
    assert_eq!(status, 200);
    // And the reconciliation pass, which sees all of them in Stripe's list.
    let (status, reconciled) = market.reconcile().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reconciled["settled"], 0, "{reconciled}");

    assert!(copies(&buyer).await.is_empty());
    assert!(copies(&other).await.is_empty());
    let (_, purchases) = call(
        &url,
        reqwest::Method::GET,
        "/v1/marketplace/purchases",
        buyer.token(),
        None,
    )
    .await;
    assert_eq!(purchases[0]["state"], "pending", "{purchases}");
    let store = market.store().await;
    assert!(
        store
            .purchase_ledger(purchase_id.parse().unwrap())
            .await
            .unwrap()
            .is_empty()
    );

    // Its own session, once paid, still delivers.
    let paid = market.stripe.pay_checkout(session["id"].as_str().unwrap());
    let (status, _) = send_event(
        &url,
        &market.stripe.event("checkout.session.completed", paid),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(copies(&buyer).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refund_revokes_on_every_device() {
    let market = Market::open().await;
    let url = market.url();
    let laptop = TestDevice::signed_in(&market.server, "buyer@orrery.test", "laptop")
        .await
        .unwrap();
    let desktop = TestDevice::signed_in(&market.server, "buyer@orrery.test", "desktop")
        .await
        .unwrap();
    let purchase = market.buy(laptop.token()).await;
    let purchase_id = purchase["id"].as_str().unwrap().to_owned();
    let intent = market.pay(&purchase).await;
    assert_eq!(copies(&laptop).await.len(), 1);
    assert_eq!(copies(&desktop).await.len(), 1);

    // Only the listing's seller (or an admin) refunds; bad ids are refused.
    let refund_path = format!("/v1/marketplace/purchases/{purchase_id}/refund");
    let reason = json!({ "reason": "The buyer asked within a day." });
    let (status, _) = call(
        &url,
        reqwest::Method::POST,
        &refund_path,
        laptop.token(),
        Some(reason.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not the buyer's to refund");
    // Nor with an API key: refunds move money, so they take the app.
    let seller_account = &market.seller.session.account;
    market
        .store()
        .await
        .set_plan(
            seller_account.tenant_id.parse().unwrap(),
            seller_account.id.parse().unwrap(),
            "pro",
        )
        .await
        .unwrap();
    let (status, key) = call(
        &url,
        reqwest::Method::POST,
        "/v1/api-keys",
        market.seller.token(),
        Some(json!({ "name": "script" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let (status, refused) = call(
        &url,
        reqwest::Method::POST,
        &refund_path,
        key["key"].as_str().unwrap(),
        Some(reason.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, _) = call(
        &url,
        reqwest::Method::POST,
        "/v1/marketplace/purchases/not-an-id/refund",
        market.seller.token(),
        Some(reason.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        &url,
        reqwest::Method::POST,
        &refund_path,
        market.seller.token(),
        Some(json!({ "reason": "" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, refunded) = call(
        &url,
        reqwest::Method::POST,
        &refund_path,
        market.seller.token(),
        Some(reason.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refunded}");
    assert_eq!(refunded["state"], "refunded");
    // Stripe: the buyer got it all back, the transfer was reversed and the
    // platform's fee given back.
    let payment = market.stripe.payment(&intent);
    assert_eq!(
        (
            payment.refunded,
            payment.transfer_reversed,
            payment.fee_refunded
        ),
        (PRICE, PRICE - 400, 400)
    );
    // The copy leaves both devices.
    assert!(copies(&laptop).await.is_empty());
    assert!(copies(&desktop).await.is_empty());
    // The ledger balances to zero and the report says so.
    let store = market.store().await;
    let ledger = store
        .purchase_ledger(purchase_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(ledger.len(), 4, "{ledger:?}");
    assert_eq!(
        ledger
            .iter()
            .map(|row| row.amount_minor)
            .filter(|amount| *amount > 0)
            .sum::<i64>(),
        PRICE + 400
    );
    assert_eq!(ledger.iter().map(|row| row.amount_minor).sum::<i64>(), 0);
    let (_, report) = call(
        &url,
        reqwest::Method::GET,
        "/v1/marketplace/sales",
        market.seller.token(),
        None,
    )
    .await;
    let totals = &report["totals"]["usd"];
    assert_eq!(
        (
            totals["refunds_minor"].as_i64(),
            totals["net_minor"].as_i64()
        ),
        (Some(PRICE), Some(0)),
        "{report}"
    );
    assert_eq!(report["sales"][0]["state"], "refunded");
    // The buyer sees it, and was told by email.
    let (_, purchases) = call(
        &url,
        reqwest::Method::GET,
        "/v1/marketplace/purchases",
        desktop.token(),
        None,
    )
    .await;
    assert_eq!(purchases[0]["state"], "refunded");
    assert_eq!(
        purchases[0]["refund_reason"],
        "The buyer asked within a day."
    );
    let mails = store.mail_outbox().await.unwrap();
    assert!(
        mails
            .iter()
            .any(|mail| mail.to == "buyer@orrery.test" && mail.template == "purchase_refunded"),
        "{mails:?}"
    );
    // Twice is refused, and Stripe is not asked again.
    let (status, again) = call(
        &url,
        reqwest::Method::POST,
        &refund_path,
        market.seller.token(),
        Some(reason.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(market.stripe.payment(&intent).refunded, PRICE);

    // A refund made in Stripe's dashboard (charge.refunded) does the same
    // for another buyer.
    let second = TestDevice::signed_in(&market.server, "second@orrery.test", "pc")
        .await
        .unwrap();
    let purchase = market.buy(second.token()).await;
    let intent = market.pay(&purchase).await;
    assert_eq!(copies(&second).await.len(), 1);
    let charge = market.stripe.refund_in_dashboard(&intent);
    let (status, _) = send_event(&url, &market.stripe.event("charge.refunded", charge)).await;
    assert_eq!(status, 200);
    assert!(copies(&second).await.is_empty());
    let (_, purchases) = call(
        &url,
        reqwest::Method::GET,
        "/v1/marketplace/purchases",
        second.token(),
        None,
    )
    .await;
    assert_eq!(purchases[0]["state"], "refunded");

    // A refund made in the dashboard whose webhook never came: the
    // reconciliation pass finds it in Stripe's list of refunds.
    let third = TestDevice::signed_in(&market.server, "third@orrery.test", "pc")
        .await
        .unwrap();
    let bought = market.buy(third.token()).await;
    let third_intent = market.pay(&bought).await;
    assert_eq!(copies(&third).await.len(), 1);
    market.stripe.refund_in_dashboard(&third_intent);
    let (status, reconciled) = market.reconcile().await;
    assert_eq!(status, StatusCode::OK, "{reconciled}");
    assert_eq!(reconciled["refunded"], 1, "{reconciled}");
    assert!(copies(&third).await.is_empty());
    let (_, again) = market.reconcile().await;
    assert_eq!(again["refunded"], 0, "once: {again}");

    // Bought again after a refund: a new checkout. The old, refunded
    // session (still "paid" in Stripe's list) does not settle it.
    let again = market.buy(second.token()).await;
    assert_eq!(
        again["id"], purchase["id"],
        "the same purchase, opened again"
    );
    assert_ne!(again["checkout_url"], purchase["checkout_url"]);
    let (_, reconciled) = market.reconcile().await;
    assert_eq!(reconciled["settled"], 0, "{reconciled}");
    let (_, purchases) = call(
        &url,
        reqwest::Method::GET,
        "/v1/marketplace/purchases",
        second.token(),
        None,
    )
    .await;
    assert_eq!(purchases[0]["state"], "pending");
    assert!(copies(&second).await.is_empty());
    // Paid: a new copy; refunded again: Stripe refunds the new payment.
    let new_intent = market.pay(&again).await;
    assert_eq!(copies(&second).await.len(), 1);
    let (status, refunded) = call(
        &url,
        reqwest::Method::POST,
        &format!(
            "/v1/admin/marketplace/purchases/{}/refund",
            again["id"].as_str().unwrap()
        ),
        market.admin.token(),
        Some(reason),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refunded}");
    assert_eq!(market.stripe.payment(&new_intent).refunded, PRICE);
    assert!(copies(&second).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_checkout_is_replaced_and_a_listing_made_free_needs_none() {
    let market = Market::open().await;
    let url = market.url();
    let buyer = TestDevice::signed_in(&market.server, "buyer@orrery.test", "laptop")
        .await
        .unwrap();
    let first = market.buy(buyer.token()).await;
    let first_session = market.session_of(&first)["id"].as_str().unwrap().to_owned();

    // A day passes: the session expires unpaid, and the hourly pass marks
    // the purchase expired.
    market.stripe.let_session_expire(&first_session);
    market.server.clock.advance(chrono::Duration::hours(25));
    let admin = market
        .server
        .session_for("admin@orrery.test", "console")
        .await
        .unwrap();
    let (_, reconciled) = call(
        &url,
        reqwest::Method::POST,
        "/v1/admin/marketplace/reconcile",
        &admin.access_token,
        None,
    )
    .await;
    assert_eq!(
        (
            reconciled["settled"].as_u64(),
            reconciled["delivered"].as_u64()
        ),
        (Some(0), Some(0)),
        "{reconciled}"
    );
    let buyer = market
        .server
        .session_for("buyer@orrery.test", "laptop")
        .await
        .unwrap();
    let (_, purchases) = call(
        &url,
        reqwest::Method::GET,
        "/v1/marketplace/purchases",
        &buyer.access_token,
        None,
    )
    .await;
    assert_eq!(purchases[0]["state"], "expired", "{purchases}");

    // Buy again: a new session; the expired one stays unpayable.
    let second = market.buy(&buyer.access_token).await;
    assert_eq!(second["id"], first["id"]);
    let second_session = market.session_of(&second)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second_session, first_session);
    assert_eq!(market.stripe.sessions().len(), 2);

    // The seller makes it free: Buy now delivers at once, and the open
    // session is expired so it can never be paid.
    let seller = market
        .server
        .session_for("seller@orrery.test", "studio")
        .await
        .unwrap();
    let (status, edited) = call(
        &url,
        reqwest::Method::PATCH,
        &format!("/v1/marketplace/listings/{}", market.listing),
        &seller.access_token,
        Some(json!({
            "title": TITLE, "description": "Now free for everyone.", "tags": ["legal"],
            "pricing": "free", "price_minor": 0, "currency": "usd",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let (status, got) = call(
        &url,
        reqwest::Method::POST,
        &format!("/v1/marketplace/listings/{}/purchase", market.listing),
        &buyer.access_token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{got}");
    assert_eq!(
        (got["state"].as_str(), got["amount_minor"].as_u64()),
        (Some("paid"), Some(0))
    );
    assert!(got["item_id"].is_string());
    let status_now = market
        .stripe
        .sessions()
        .into_iter()
        .find(|session| session["id"] == second_session.as_str())
        .unwrap()["status"]
        .clone();
    assert_eq!(status_now, "expired");
    let store = market.store().await;
    assert!(
        store
            .purchase_ledger(got["id"].as_str().unwrap().parse().unwrap())
            .await
            .unwrap()
            .is_empty(),
        "nothing was paid"
    );
}

/// A line-printing `orrery-e2e-server` process (see its source).
struct ServerProcess {
    child: tokio::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    heard: Vec<String>,
}

const E2E_SERVER: &str = env!("CARGO_BIN_EXE_orrery-e2e-server");

impl ServerProcess {
    fn spawn(database: &std::path::Path, stripe_api: &str) -> Self {
        let mut child = tokio::process::Command::new(E2E_SERVER)
            .arg("--database")
            .arg(database)
            .args(["--listen", "127.0.0.1:0"])
            .env("ORRERY_STRIPE_SECRET_KEY", SECRET_KEY)
            .env("ORRERY_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env(
                "ORRERY_STRIPE_CONNECT_WEBHOOK_SECRET",
                CONNECT_WEBHOOK_SECRET,
            )
            .env("ORRERY_STRIPE_API_BASE", stripe_api)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("orrery-e2e-server starts");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            heard: Vec::new(),
        }
    }

    /// Reads lines until one starts with `prefix` (a guard of 60 s against
    /// hanging, never a wait for something to happen).
    async fn until(&mut self, prefix: &str) -> String {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(60), self.lines.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "silent for 60 s; last lines: {:?}",
                        &self.heard[self.heard.len().saturating_sub(8)..]
                    )
                })
                .unwrap_or_else(|| {
                    panic!(
                        "the server ended before `{prefix}`; last lines: {:?}",
                        &self.heard[self.heard.len().saturating_sub(8)..]
                    )
                });
            self.heard.push(line.clone());
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    async fn listening(&mut self) -> String {
        let line = self.until("LISTENING ").await;
        format!("http://{}", &line["LISTENING ".len()..])
    }
}

/// Where the server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crash {
    /// SIGKILLed while it handles Stripe's webhook: it has taken up the
    /// event and is reading the session back from Stripe (which the
    /// stand-in holds until the kill), so the purchase is still pending.
    MidSettlement,
    /// Killed once the settlement committed, before any delivery: the
    /// purchase is paid and nothing is in the buyer's library. (That state
    /// is written into the stopped server's database, exactly as a crash
    /// leaves it; a kill timed by the server's own output cannot land
    /// there every time.)
    AfterSettlement,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_between_payment_and_delivery_delivers_on_restart() {
    for crash in [Crash::MidSettlement, Crash::AfterSettlement] {
        payment_interrupted(crash).await;
    }
}

async fn payment_interrupted(crash: Crash) {
    let stripe = StripeDouble::start().await.unwrap();
    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("server.db");
    let mut server = ServerProcess::spawn(&database, &stripe.api_base());
    let base = server.listening().await;

    let accounts = orrery_account::AccountClient::new(&base);
    accounts
        .register("admin@orrery.test", TEST_PASSWORD, "admin", "console")
        .await
        .unwrap();
    let seller = accounts
        .register("seller@orrery.test", TEST_PASSWORD, "seller", "studio")
        .await
        .unwrap();
    let buyer = accounts
        .register("buyer@orrery.test", TEST_PASSWORD, "buyer", "laptop")
        .await
        .unwrap();
    let seller_device = TestDevice::with_session(&base, seller).await.unwrap();
    let agent = seller_agent(&seller_device).await;
    let listing = onboarded_seller_listing(&base, &stripe, seller_device.token(), &agent).await;
    let (status, purchase) = call(
        &base,
        reqwest::Method::POST,
        &format!("/v1/marketplace/listings/{listing}/purchase"),
        &buyer.access_token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{purchase}");
    let purchase_id: uuid::Uuid = purchase["id"].as_str().unwrap().parse().unwrap();
    let session = stripe
        .sessions()
        .into_iter()
        .find(|session| {
            Some(session["url"].as_str().unwrap_or_default()) == purchase["checkout_url"].as_str()
        })
        .unwrap();

    // The buyer pays at Stripe.
    let paid = stripe.pay_checkout(session["id"].as_str().unwrap());
    let intent = paid["payment_intent"].as_str().unwrap().to_owned();
    let event = stripe.event("checkout.session.completed", paid);
    match crash {
        Crash::MidSettlement => {
            let reading = stripe.hold_next_session_read();
            let webhook = {
                // Its connection dies with the server: an error, not an answer.
                let (base, payload) = (base.clone(), serde_json::to_vec(&event).unwrap());
                let signature = orrery_e2e::stripe::signature_header(
                    WEBHOOK_SECRET,
                    chrono::Utc::now().timestamp(),
                    &payload,
                );
                tokio::spawn(async move {
                    let answer = reqwest::Client::new()
                        .post(format!("{base}/v1/webhooks/stripe"))
                        .header("stripe-signature", signature)
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(payload)
                        .send()
                        .await;
                    answer
                        .map(|response| response.status().as_u16())
                        .unwrap_or(0)
                })
            };
            tokio::time::timeout(Duration::from_secs(60), reading)
                .await
                .expect("the server reads the session back from Stripe")
                .unwrap();
            server.child.start_kill().unwrap();
            server.child.wait().await.unwrap();
            assert_eq!(
                webhook.await.unwrap(),
                0,
                "Stripe got no answer, so it retries"
            );
            let store = ServerStore::open(&database.clone().into()).await.unwrap();
            let purchase = store.purchase_by_id(purchase_id).await.unwrap().unwrap();
            assert_eq!(
                (purchase.state.as_str(), purchase.delivered_item.as_deref()),
                ("pending", None)
            );
        }
        Crash::AfterSettlement => {
            server.child.start_kill().unwrap();
            server.child.wait().await.unwrap();
            let store = ServerStore::open(&database.clone().into()).await.unwrap();
            let pending = store.purchase_by_id(purchase_id).await.unwrap().unwrap();
            let (_, listing) = store
                .purchase_with_listing(purchase_id)
                .await
                .unwrap()
                .unwrap();
            assert!(
                store
                    .settle_purchase(
                        &pending,
                        listing.seller_tenant,
                        (session["id"].as_str().unwrap(), &intent),
                        chrono::Utc::now()
                    )
                    .await
                    .unwrap()
            );
        }
    }
    eprintln!("{crash:?}: restarting");

    // Restarted (no webhook retry yet): the pass at start settles and
    // delivers before the server listens.
    let mut restarted = ServerProcess::spawn(&database, &stripe.api_base());
    drop(server);
    let base = restarted.listening().await;
    let store = ServerStore::open(&database.clone().into()).await.unwrap();
    let purchase = store.purchase_by_id(purchase_id).await.unwrap().unwrap();
    assert_eq!(purchase.state, "paid");
    let item = purchase.delivered_item.clone().expect("delivered at start");
    let buyer_device = TestDevice::with_session(
        &base,
        accounts_on(&base)
            .sign_in("buyer@orrery.test", TEST_PASSWORD, "desktop")
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let found = copies(&buyer_device).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].id.to_string(), item);

    // The ledger balances with Stripe's books: one sale, one fee.
    let payment = stripe.payments().pop().unwrap();
    let ledger = store.purchase_ledger(purchase_id).await.unwrap();
    let sum = |kind: &str| {
        ledger
            .iter()
            .filter(|row| row.kind == kind)
            .map(|row| row.amount_minor)
            .sum::<i64>()
    };
    assert_eq!(ledger.len(), 2, "{ledger:?}");
    assert_eq!(
        (sum("sale"), sum("fee")),
        (payment.amount, payment.application_fee)
    );

    // Stripe's retry of the same event then changes nothing.
    let (status, _) = send_event(&base, &event).await;
    assert_eq!(status, 200);
    assert_eq!(store.purchase_ledger(purchase_id).await.unwrap().len(), 2);
    assert_eq!(copies(&buyer_device).await.len(), 1);
}

fn accounts_on(base: &str) -> orrery_account::AccountClient {
    orrery_account::AccountClient::new(base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deleted_seller_leaves_buyers_what_they_bought() {
    let market = Market::open().await;
    let url = market.url();
    let buyer = TestDevice::signed_in(&market.server, "buyer@orrery.test", "laptop")
        .await
        .unwrap();
    let purchase = market.buy(buyer.token()).await;
    market.pay(&purchase).await;
    assert_eq!(copies(&buyer).await.len(), 1);

    // Exports hold the marketplace: the buyer's purchase, the seller's
    // listing and Stripe account.
    let buyer_id = buyer.session.account.id.clone();
    let seller_id = market.seller.session.account.id.clone();
    let (status, exported) = call(
        &url,
        reqwest::Method::GET,
        &format!("/v1/admin/users/{buyer_id}/export"),
        market.admin.token(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        exported["marketplace"]["purchases"][0]["title"], TITLE,
        "{}",
        exported["marketplace"]
    );
    assert_eq!(exported["marketplace"]["purchases"][0]["state"], "paid");
    let (_, exported) = call(
        &url,
        reqwest::Method::GET,
        &format!("/v1/admin/users/{seller_id}/export"),
        market.admin.token(),
        None,
    )
    .await;
    assert_eq!(exported["marketplace"]["listings"][0]["title"], TITLE);
    assert!(
        exported["marketplace"]["seller"][0]["stripe_account"]
            .as_str()
            .unwrap()
            .starts_with("acct_")
    );

    // The admin deletes the seller (a Stripe account connected, a listing
    // sold): it goes through, and the listing leaves the marketplace.
    let (status, deleted) = call(
        &url,
        reqwest::Method::DELETE,
        &format!("/v1/admin/users/{seller_id}"),
        market.admin.token(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    let (_, found) = call(
        &url,
        reqwest::Method::GET,
        "/v1/marketplace/listings?q=contract",
        buyer.token(),
        None,
    )
    .await;
    assert_eq!(found["total"], 0, "{found}");
    // The buyer keeps the copy and the purchase, from "a former seller".
    assert_eq!(copies(&buyer).await.len(), 1);
    let (_, purchases) = call(
        &url,
        reqwest::Method::GET,
        "/v1/marketplace/purchases",
        buyer.token(),
        None,
    )
    .await;
    assert_eq!(purchases.as_array().unwrap().len(), 1, "{purchases}");
    assert_eq!(purchases[0]["state"], "paid");
    let (status, shown) = call(
        &url,
        reqwest::Method::GET,
        &format!("/v1/marketplace/listings/{}", market.listing),
        buyer.token(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["seller"], "a former seller");
}
