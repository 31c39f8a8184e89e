//! Revenue analytics end to end: subscriptions made through the real
//! checkout and webhook path (against the Stripe stand-in, with monthly and
//! yearly prices, a trial that converts and one that lapses, an upgrade and
//! a downgrade mid-period, a forever discount, a failed payment, a
//! cancellation and a return), days stepped on the server's clock; the
//! admin overview's figures and daily series are checked against numbers
//! computed here by hand from the definitions, and a rebuild of the rollup
//! from the event log gives exactly the same answer.

use std::collections::BTreeMap;

use chrono::{Duration, Timelike};
use orrery_e2e::TestServer;
use orrery_e2e::postgres::PostgresServer;
use orrery_e2e::stripe::{SECRET_KEY, StripeDouble, WEBHOOK_SECRET, deliver};
use orrery_server::billing::StripeConfig;
use orrery_store::DatabaseLocation;
use reqwest::Method;
use serde_json::{Value, json};

struct Shop {
    server: TestServer,
    stripe: StripeDouble,
}

impl Shop {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.server.url()))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn token(&self, who: &str) -> String {
        self.server
            .session_for(&format!("{who}@orrery.test"), "laptop")
            .await
            .unwrap()
            .access_token
    }

    async fn deliver(&self, kind: &str, object: Value) {
        let event = self.stripe.event(kind, object);
        let (status, answer) = deliver(
            &self.server.url(),
            &event,
            WEBHOOK_SECRET,
            self.server.clock_now().timestamp(),
        )
        .await;
        assert_eq!(status, 200, "{kind}: {answer}");
    }

    /// `who` checks out `plan`; Stripe's page ends with the subscription
    /// in `status` at `price` (the price the customer chose there), with
    /// a coupon of `percent_off` forever if any. Returns the subscription's id.
    async fn subscribe(
        &self,
        who: &str,
        plan: &str,
        price: &str,
        status: &str,
        percent_off: Option<f64>,
    ) -> String {
        let token = self.token(who).await;
        let (code, page) = self
            .call(
                Method::POST,
                "/v1/billing/checkout",
                &token,
                Some(json!({ "plan": plan })),
            )
            .await;
        assert_eq!(code, 200, "{page}");
        let session_id = page["url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        let mut completed = self.stripe.complete_checkout(&session_id, status);
        let subscription = completed["subscription"].as_str().unwrap().to_owned();
        self.stripe.change_plan(&subscription, plan, price);
        if let Some(percent_off) = percent_off {
            self.stripe.discount_forever(&subscription, percent_off);
        }
        completed
            .as_object_mut()
            .unwrap()
            .retain(|key, _| !key.starts_with('_'));
        self.deliver("checkout.session.completed", completed).await;
        subscription
    }

    async fn updated(&self, subscription: Value) {
        self.deliver("customer.subscription.updated", subscription)
            .await;
    }

    async fn invoice(&self, kind: &str, subscription: &Value, number: u32, status: &str) {
        self.deliver(
            kind,
            json!({
                "id": format!("in_{}_{number}", subscription["id"].as_str().unwrap()), "object": "invoice",
                "customer": subscription["customer"], "subscription": subscription["id"], "status": status,
                "amount_due": 1900, "amount_paid": if status == "paid" { 1900 } else { 0 }, "currency": "usd",
                "attempt_count": 1, "created": self.server.clock_now().timestamp(),
            }),
        )
        .await;
    }

    /// Moves the clock to 01:00 UTC of day `day` (day 0 is the first
    /// midnight after the server started).
    fn go_to_day(&self, start: chrono::DateTime<chrono::Utc>, day: i64) {
        let target = start + Duration::days(day);
        let now = self.server.clock_now();
        assert!(target >= now, "days only move forward");
        self.server.clock.advance(target - now);
    }

    async fn overview(&self, token: &str, days: u32) -> Value {
        let (status, overview) = self
            .call(
                Method::GET,
                &format!("/v1/admin/overview?days={days}"),
                token,
                None,
            )
            .await;
        assert_eq!(status, 200, "{overview}");
        overview
    }
}

fn close(actual: &Value, expected: f64) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{actual} is not a number"));
    assert!((actual - expected).abs() < 1e-9, "{actual} ≠ {expected}");
}

#[tokio::test]
async fn revenue_metrics_match_their_definitions() {
    figures_match_by_hand(None).await;
}

#[tokio::test]
async fn revenue_metrics_match_their_definitions_on_postgres() {
    let postgres = PostgresServer::start().unwrap();
    let url = postgres.database("revenue").await.unwrap();
    figures_match_by_hand(Some(DatabaseLocation::Postgres(url))).await;
}

async fn figures_match_by_hand(location: Option<DatabaseLocation>) {
    let stripe = StripeDouble::start().await.unwrap();
    stripe.define_price("price_pro_monthly", 1900, "month");
    stripe.define_price("price_ent_monthly", 9900, "month");
    stripe.define_price("price_pro_yearly", 19_000, "year");
    stripe.define_price("price_lite_yearly", 9_500, "year");
    let api_base = stripe.api_base();
    let server = TestServer::start_on(location, |config| {
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
    let shop = Shop { server, stripe };
    // The operator registers first (the server's admin), then six customers.
    shop.token("operator").await;
    for who in ["alice", "bob", "carol", "dave", "erin", "frank"] {
        shop.token(who).await;
    }
    let started = shop.server.clock_now();
    let day0 = (started + Duration::days(1))
        .with_hour(1)
        .and_then(|at| at.with_minute(0))
        .unwrap();

    // Day 0: Alice pays $19/month; Bob $190/year (1583.33 → 1583 a month);
    // Carol starts a trial.
    shop.go_to_day(day0, 0);
    let alice = shop
        .subscribe("alice", "pro", "price_pro_monthly", "active", None)
        .await;
    let bob = shop
        .subscribe("bob", "pro", "price_pro_yearly", "active", None)
        .await;
    let carol = shop
        .subscribe("carol", "pro", "price_pro_monthly", "trialing", None)
        .await;
    // Day 2: Erin starts a trial.
    shop.go_to_day(day0, 2);
    let erin = shop
        .subscribe("erin", "pro", "price_pro_monthly", "trialing", None)
        .await;
    // Day 3: Carol's trial converts (new MRR 1900). The overview is read on
    // the way, so the rollup is built incrementally.
    shop.go_to_day(day0, 3);
    shop.updated(shop.stripe.update_subscription(&carol, "active", false))
        .await;
    let early = shop.overview(&shop.token("operator").await, 30).await;
    assert_eq!(early["figures"]["mrr_cents"], 5383);
    // Day 4: Frank pays $19/month with 50 % off forever: 950.
    shop.go_to_day(day0, 4);
    shop.subscribe("frank", "pro", "price_pro_monthly", "active", Some(50.0))
        .await;
    // Day 5: Alice upgrades to Enterprise (expansion 8000).
    shop.go_to_day(day0, 5);
    shop.updated(
        shop.stripe
            .change_plan(&alice, "enterprise", "price_ent_monthly"),
    )
    .await;
    // Day 7: Bob moves to a $95/year price (792 a month: contraction 791).
    shop.go_to_day(day0, 7);
    shop.updated(shop.stripe.change_plan(&bob, "pro", "price_lite_yearly"))
        .await;
    // Day 9: Erin's trial ends unpaid.
    shop.go_to_day(day0, 9);
    shop.updated(shop.stripe.update_subscription(&erin, "canceled", false))
        .await;
    // Day 10: Dave pays $19/month.
    shop.go_to_day(day0, 10);
    let dave = shop
        .subscribe("dave", "pro", "price_pro_monthly", "active", None)
        .await;
    // Day 12: Dave's renewal fails: past due still counts toward MRR.
    shop.go_to_day(day0, 12);
    let failing = shop.stripe.update_subscription(&dave, "past_due", false);
    shop.invoice("invoice.payment_failed", &failing, 2, "open")
        .await;
    shop.invoice("invoice.payment_failed", &failing, 2, "open")
        .await; // delivered twice
    // Day 14: the retry succeeds.
    shop.go_to_day(day0, 14);
    let paid = shop.stripe.update_subscription(&dave, "active", false);
    shop.invoice("invoice.paid", &paid, 2, "paid").await;
    let middle = shop.overview(&shop.token("operator").await, 30).await;
    assert_eq!(middle["figures"]["mrr_cents"], 15_442);
    // Day 15: Alice cancels (churn 9900).
    shop.go_to_day(day0, 15);
    shop.updated(shop.stripe.update_subscription(&alice, "canceled", false))
        .await;
    // Day 20: Alice comes back on Pro (reactivation 1900).
    shop.go_to_day(day0, 20);
    shop.subscribe("alice", "pro", "price_pro_monthly", "active", None)
        .await;

    // MRR at the end of each day, by hand.
    let mrr_by_day: [(i64, i64); 12] = [
        (0, 1900 + 1583),
        (2, 3483),
        (3, 3483 + 1900),
        (4, 5383 + 950),
        (5, 6333 + 8000),
        (7, 14_333 - 791),
        (9, 13_542),
        (10, 13_542 + 1900),
        (12, 15_442),
        (14, 15_442),
        (15, 15_442 - 9900),
        (20, 5542 + 1900),
    ];

    // Day 34: the 30-day window is days 5 to 34; the day before it (4)
    // ended with MRR 6333 from 4 paying subscriptions.
    shop.go_to_day(day0, 34);
    // One sign-in for everything read from here on: the log stays still.
    let token = shop.token("operator").await;
    let overview = shop.overview(&token, 30).await;
    let figures = &overview["figures"];
    assert_eq!(figures["mrr_cents"], 7442);
    assert_eq!(figures["arr_cents"], 12 * 7442);
    assert_eq!(figures["paying_subscriptions"], 5);
    assert_eq!(figures["arpu_cents"], 7442 / 5);
    assert_eq!(figures["new_mrr_cents"], 1900, "Dave");
    assert_eq!(figures["reactivation_mrr_cents"], 1900, "Alice's return");
    assert_eq!(figures["expansion_mrr_cents"], 8000);
    assert_eq!(figures["contraction_mrr_cents"], 791);
    assert_eq!(figures["churned_mrr_cents"], 9900);
    assert_eq!(
        figures["net_new_mrr_cents"],
        7442 - 6333,
        "start + movements = end"
    );
    // Churned within the window ÷ (paying at its start + started within it).
    close(&figures["subscriber_churn"], 1.0 / (4.0 + 2.0));
    // MRR lost to churn and contraction ÷ MRR at the start.
    close(&figures["revenue_churn"], (9900.0 + 791.0) / 6333.0);
    // Erin's trial ended unpaid within the window; Carol's converted before it.
    close(&figures["trial_conversion"], 0.0);
    assert_eq!(figures["trials"], 0);
    assert_eq!(figures["users_total"], 7);
    assert_eq!(figures["users_new"], 0);

    // The window before (days −25 to 4): everyone registered, four started
    // paying, Carol's trial converted.
    let previous = &overview["previous"];
    assert_eq!(previous["mrr_cents"], 6333);
    assert_eq!(previous["users_new"], 7);
    assert_eq!(previous["new_mrr_cents"], 6333);
    close(&previous["trial_conversion"], 1.0);
    assert_eq!(
        previous["revenue_churn"],
        Value::Null,
        "no MRR at its start"
    );

    // The series: one point a day, MRR as computed by hand, and start +
    // movements = end on every day.
    let series = overview["series"].as_array().unwrap();
    assert_eq!(series.len(), 30);
    let day_text = |day: i64| (day0 + Duration::days(day)).format("%Y-%m-%d").to_string();
    assert_eq!(series[0]["day"], day_text(5));
    assert_eq!(series[29]["day"], day_text(34));
    let expected_mrr = |day: i64| {
        mrr_by_day
            .iter()
            .rev()
            .find(|(from, _)| *from <= day)
            .map_or(0, |(_, mrr)| *mrr)
    };
    let mut yesterday = 6333;
    for (offset, point) in series.iter().enumerate() {
        let day = 5 + offset as i64;
        assert_eq!(
            point["mrr_cents"],
            expected_mrr(day),
            "MRR at the end of day {day}"
        );
        let movements = [
            "new_mrr_cents",
            "reactivation_mrr_cents",
            "expansion_mrr_cents",
        ]
        .iter()
        .map(|name| point[name].as_i64().unwrap())
        .sum::<i64>()
            - point["contraction_mrr_cents"].as_i64().unwrap()
            - point["churned_mrr_cents"].as_i64().unwrap();
        assert_eq!(
            yesterday + movements,
            point["mrr_cents"].as_i64().unwrap(),
            "day {day}"
        );
        yesterday = point["mrr_cents"].as_i64().unwrap();
    }
    let day12 = &series[12 - 5];
    assert_eq!(
        day12["invoices_failed"], 1,
        "a webhook delivered twice counts once"
    );
    assert_eq!(series[14 - 5]["invoices_paid"], 1);

    // The year's view agrees on every day it shares.
    let year = shop.overview(&token, 365).await;
    let year_series = year["series"].as_array().unwrap();
    assert_eq!(year_series.len(), 365);
    for day in 0..=34 {
        let point = year_series
            .iter()
            .find(|point| point["day"] == day_text(day))
            .unwrap();
        assert_eq!(
            point["mrr_cents"],
            expected_mrr(day),
            "day {day} in the year"
        );
    }

    // Rebuilding the rollup from the event log gives exactly the same answer.
    let (status, _) = shop
        .call(Method::POST, "/v1/admin/metrics/rebuild", &token, None)
        .await;
    assert_eq!(status, 200);
    let rebuilt = shop.overview(&token, 30).await;
    assert_eq!(rebuilt["figures"], overview["figures"]);
    assert_eq!(rebuilt["previous"], overview["previous"]);
    assert_eq!(rebuilt["series"], overview["series"]);
    let rebuilt_year = shop.overview(&token, 365).await;
    assert_eq!(rebuilt_year["series"], year["series"]);

    // Bad windows are refused with the reason.
    let (status, body) = shop
        .call(Method::GET, "/v1/admin/overview?days=31", &token, None)
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = shop
        .call(Method::GET, "/v1/admin/overview?days=-1&x=1", &token, None)
        .await;
    assert_eq!(status, 400);
    // Customers do not see it.
    let customer = shop.token("bob").await;
    let (status, _) = shop
        .call(Method::GET, "/v1/admin/overview", &customer, None)
        .await;
    assert_eq!(status, 403);
}
