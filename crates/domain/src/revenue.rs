//! Revenue analytics, defined once: what a subscription adds to monthly
//! recurring revenue (MRR), how a change to it moves MRR (new, reactivation,
//! expansion, contraction, churn), the daily figures the server rolls up, and
//! the overview's rates over a window of days. The definitions follow
//! Stripe's billing analytics (see ARCHITECTURE.md, "Revenue figures").
//!
//! Amounts are integer cents of the server's billing currency. Every daily
//! figure is a sum over events, so a day rolled up incrementally and the same
//! day rebuilt from the event log are equal, and for every day
//! `mrr(start) + new + reactivation + expansion − contraction − churn =
//! mrr(end)` holds by construction.

use serde::{Deserialize, Serialize};

/// How often a recurring price bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecurringInterval {
    /// Every `interval_count` days.
    Day,
    /// Every `interval_count` weeks.
    Week,
    /// Every `interval_count` months.
    Month,
    /// Every `interval_count` years.
    Year,
}

impl RecurringInterval {
    /// Months per interval as a fraction `(numerator, denominator)`.
    fn months(self) -> (i128, i128) {
        match self {
            RecurringInterval::Day => (12, 365),
            RecurringInterval::Week => (12, 52),
            RecurringInterval::Month => (1, 1),
            RecurringInterval::Year => (12, 1),
        }
    }
}

/// One item of a subscription: a price, how many, how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurringItem {
    /// Cents per unit per interval.
    pub unit_amount_cents: i64,
    /// Units (seats).
    pub quantity: u64,
    /// The billing interval.
    pub interval: RecurringInterval,
    /// Intervals per bill (2 with `Month`: every two months).
    pub interval_count: u64,
    /// Billed on metered usage: excluded from MRR.
    pub metered: bool,
}

/// A discount that lasts forever (discounts that end are left out of MRR,
/// as Stripe does).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ForeverDiscount {
    /// A percentage off every bill.
    PercentOff(f64),
    /// Cents off every bill.
    AmountOff(i64),
}

/// A subscription's monthly recurring revenue in cents: each licensed item's
/// price × quantity normalised to one month (a year ÷ 12, a week × 52 ÷ 12, a
/// day × 365 ÷ 12), less a forever discount, rounded to the nearest cent
/// (halves away from zero), never below zero. Metered items, taxes and
/// one-off payments are not recurring revenue.
pub fn monthly_recurring_cents(items: &[RecurringItem], discount: Option<ForeverDiscount>) -> i64 {
    // Exact arithmetic in a common denominator, one rounding at the end.
    let mut numerator: i128 = 0;
    let mut denominator: i128 = 1;
    let mut add = |cents: i128, interval: RecurringInterval, count: u64| {
        let (months_num, months_den) = interval.months();
        // cents per bill ÷ (months per bill) = cents × den ÷ (num × count)
        let term_num = cents * months_den;
        let term_den = months_num * i128::from(count.max(1));
        numerator = numerator * term_den + term_num * denominator;
        denominator *= term_den;
        let divisor = gcd(numerator.abs(), denominator);
        if divisor > 1 {
            numerator /= divisor;
            denominator /= divisor;
        }
    };
    let licensed: Vec<&RecurringItem> = items.iter().filter(|item| !item.metered).collect();
    for item in &licensed {
        add(
            i128::from(item.unit_amount_cents) * i128::from(item.quantity),
            item.interval,
            item.interval_count,
        );
    }
    match discount {
        Some(ForeverDiscount::PercentOff(percent)) if percent.is_finite() => {
            // Percent in hundredths, so 33.33 % stays exact enough.
            let kept = (10_000 - (percent.clamp(0.0, 100.0) * 100.0).round() as i128).max(0);
            numerator *= kept;
            denominator *= 10_000;
        }
        Some(ForeverDiscount::AmountOff(cents)) => {
            if let Some(first) = licensed.first() {
                add(-i128::from(cents), first.interval, first.interval_count);
            }
        }
        _ => {}
    }
    if numerator <= 0 {
        return 0;
    }
    let rounded = (2 * numerator + denominator) / (2 * denominator);
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// Whether a subscription in this Stripe status counts toward MRR: `active`
/// and `past_due` do; trials, incomplete, unpaid, paused and canceled ones
/// do not.
pub fn counts_toward_mrr(status: &str) -> bool {
    matches!(status, "active" | "past_due")
}

/// A subscription at one moment, as an event records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionSnapshot {
    /// Stripe's status.
    pub status: String,
    /// The subscription's price as MRR, whatever its status.
    pub mrr_cents: i64,
}

impl SubscriptionSnapshot {
    /// What it adds to MRR now: its price while active or past due, else 0.
    pub fn contribution(&self) -> i64 {
        if counts_toward_mrr(&self.status) {
            self.mrr_cents.max(0)
        } else {
            0
        }
    }

    fn trialing(&self) -> bool {
        self.status == "trialing"
    }
}

/// One change to a subscription, as the event log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionChange {
    /// Stripe's id.
    pub subscription: String,
    /// The plan after the change.
    pub plan: String,
    /// The state before (`None`: the server first hears of it).
    pub before: Option<SubscriptionSnapshot>,
    /// The state after.
    pub after: SubscriptionSnapshot,
    /// Whether the customer had paid through any subscription before this
    /// change: a return to paying is then a reactivation, not new MRR.
    pub customer_paid_before: bool,
}

/// The figures of one day (UTC). Counts of what happened that day, and the
/// state at its end. Every field is a sum over the day's events and the
/// day before's state, so rollups compose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DailyFigures {
    /// Accounts registered.
    pub users_new: i64,
    /// Accounts deleted.
    pub users_deleted: i64,
    /// Accounts at the end of the day.
    pub users_total: i64,
    /// Sign-ins.
    pub sign_ins: i64,
    /// MRR at the end of the day, cents.
    pub mrr_cents: i64,
    /// MRR from subscriptions paying for the first time.
    pub new_mrr_cents: i64,
    /// MRR from customers who paid before, churned and came back.
    pub reactivation_mrr_cents: i64,
    /// MRR added by upgrades.
    pub expansion_mrr_cents: i64,
    /// MRR lost to downgrades.
    pub contraction_mrr_cents: i64,
    /// MRR lost to subscriptions that stopped paying (cancelled, or a trial
    /// or unpaid state after paying).
    pub churned_mrr_cents: i64,
    /// Subscriptions with MRR at the end of the day.
    pub paying_subscriptions: i64,
    /// Subscriptions that began paying (new and reactivated).
    pub subscriptions_started: i64,
    /// Subscriptions that stopped paying.
    pub subscriptions_churned: i64,
    /// Subscriptions in a trial at the end of the day.
    pub trials: i64,
    /// Trials started.
    pub trials_started: i64,
    /// Trials that became paying subscriptions.
    pub trials_converted: i64,
    /// Trials that ended without paying.
    pub trials_lost: i64,
    /// Invoices paid.
    pub invoices_paid: i64,
    /// Invoice payments that failed.
    pub invoices_failed: i64,
    /// Agent runs finished.
    pub runs: i64,
    /// Runs that ended in an error.
    pub run_errors: i64,
    /// Tokens used by runs.
    pub tokens: i64,
    /// Sum of run latencies, milliseconds (÷ runs: the mean).
    pub run_latency_ms: i64,
    /// Calls through the public API.
    pub api_calls: i64,
}

/// The names of [`DailyFigures`]' fields in order: the columns of the
/// rollup table.
pub const DAILY_FIGURE_NAMES: [&str; 24] = [
    "users_new",
    "users_deleted",
    "users_total",
    "sign_ins",
    "mrr_cents",
    "new_mrr_cents",
    "reactivation_mrr_cents",
    "expansion_mrr_cents",
    "contraction_mrr_cents",
    "churned_mrr_cents",
    "paying_subscriptions",
    "subscriptions_started",
    "subscriptions_churned",
    "trials",
    "trials_started",
    "trials_converted",
    "trials_lost",
    "invoices_paid",
    "invoices_failed",
    "runs",
    "run_errors",
    "tokens",
    "run_latency_ms",
    "api_calls",
];

impl DailyFigures {
    /// The fields in the order of [`DAILY_FIGURE_NAMES`].
    pub fn values(&self) -> [i64; 24] {
        [
            self.users_new,
            self.users_deleted,
            self.users_total,
            self.sign_ins,
            self.mrr_cents,
            self.new_mrr_cents,
            self.reactivation_mrr_cents,
            self.expansion_mrr_cents,
            self.contraction_mrr_cents,
            self.churned_mrr_cents,
            self.paying_subscriptions,
            self.subscriptions_started,
            self.subscriptions_churned,
            self.trials,
            self.trials_started,
            self.trials_converted,
            self.trials_lost,
            self.invoices_paid,
            self.invoices_failed,
            self.runs,
            self.run_errors,
            self.tokens,
            self.run_latency_ms,
            self.api_calls,
        ]
    }

    /// The figures from values in the order of [`DAILY_FIGURE_NAMES`].
    pub fn from_values(values: [i64; 24]) -> Self {
        let [
            users_new,
            users_deleted,
            users_total,
            sign_ins,
            mrr_cents,
            new_mrr_cents,
            reactivation_mrr_cents,
            expansion_mrr_cents,
            contraction_mrr_cents,
            churned_mrr_cents,
            paying_subscriptions,
            subscriptions_started,
            subscriptions_churned,
            trials,
            trials_started,
            trials_converted,
            trials_lost,
            invoices_paid,
            invoices_failed,
            runs,
            run_errors,
            tokens,
            run_latency_ms,
            api_calls,
        ] = values;
        Self {
            users_new,
            users_deleted,
            users_total,
            sign_ins,
            mrr_cents,
            new_mrr_cents,
            reactivation_mrr_cents,
            expansion_mrr_cents,
            contraction_mrr_cents,
            churned_mrr_cents,
            paying_subscriptions,
            subscriptions_started,
            subscriptions_churned,
            trials,
            trials_started,
            trials_converted,
            trials_lost,
            invoices_paid,
            invoices_failed,
            runs,
            run_errors,
            tokens,
            run_latency_ms,
            api_calls,
        }
    }

    /// A new day that starts where `previous` ended: its state carried over,
    /// its counts at zero.
    pub fn following(previous: &DailyFigures) -> Self {
        Self {
            users_total: previous.users_total,
            mrr_cents: previous.mrr_cents,
            paying_subscriptions: previous.paying_subscriptions,
            trials: previous.trials,
            ..Self::default()
        }
    }

    /// The day's net MRR movement: new + reactivation + expansion −
    /// contraction − churn.
    pub fn net_new_mrr_cents(&self) -> i64 {
        self.new_mrr_cents + self.reactivation_mrr_cents + self.expansion_mrr_cents
            - self.contraction_mrr_cents
            - self.churned_mrr_cents
    }

    /// Adds one event of the log to the day.
    pub fn apply(&mut self, event: &EventFacts) {
        match event {
            EventFacts::Registered => {
                self.users_new += 1;
                self.users_total += 1;
            }
            EventFacts::Deleted => {
                self.users_deleted += 1;
                self.users_total -= 1;
            }
            EventFacts::SignedIn => self.sign_ins += 1,
            EventFacts::Subscription(change) => self.apply_subscription(change),
            EventFacts::InvoicePaid => self.invoices_paid += 1,
            EventFacts::InvoiceFailed => self.invoices_failed += 1,
            EventFacts::RunFinished {
                tokens,
                latency_ms,
                failed,
            } => {
                self.runs += 1;
                self.run_errors += i64::from(*failed);
                self.tokens = self.tokens.saturating_add(*tokens);
                self.run_latency_ms = self.run_latency_ms.saturating_add(*latency_ms);
            }
            EventFacts::ApiCall => self.api_calls += 1,
            EventFacts::Other => {}
        }
    }

    fn apply_subscription(&mut self, change: &SubscriptionChange) {
        let before = change
            .before
            .as_ref()
            .map_or(0, SubscriptionSnapshot::contribution);
        let after = change.after.contribution();
        match (before, after) {
            (0, 0) => {}
            (0, gained) => {
                if change.customer_paid_before {
                    self.reactivation_mrr_cents += gained;
                } else {
                    self.new_mrr_cents += gained;
                }
                self.subscriptions_started += 1;
                self.paying_subscriptions += 1;
            }
            (lost, 0) => {
                self.churned_mrr_cents += lost;
                self.subscriptions_churned += 1;
                self.paying_subscriptions -= 1;
            }
            (before, after) if after > before => self.expansion_mrr_cents += after - before,
            (before, after) => self.contraction_mrr_cents += before - after,
        }
        self.mrr_cents += after - before;
        let was_trial = change
            .before
            .as_ref()
            .is_some_and(SubscriptionSnapshot::trialing);
        let is_trial = change.after.trialing();
        match (was_trial, is_trial) {
            (false, true) => {
                self.trials_started += 1;
                self.trials += 1;
            }
            (true, false) => {
                self.trials -= 1;
                if after > 0 {
                    self.trials_converted += 1;
                } else {
                    self.trials_lost += 1;
                }
            }
            _ => {}
        }
    }
}

/// What an event of the log contributes to the daily figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFacts {
    /// An account was registered.
    Registered,
    /// An account was deleted.
    Deleted,
    /// Someone signed in.
    SignedIn,
    /// A subscription changed.
    Subscription(SubscriptionChange),
    /// An invoice was paid.
    InvoicePaid,
    /// An invoice's payment failed.
    InvoiceFailed,
    /// An agent run finished.
    RunFinished {
        /// Tokens used.
        tokens: i64,
        /// How long it took.
        latency_ms: i64,
        /// Whether it ended in an error.
        failed: bool,
    },
    /// A public API call.
    ApiCall,
    /// Anything that moves no figure (plan changes, admin actions).
    Other,
}

/// The overview's figures over a window of days (the last `days` of a
/// series), with the definitions of ARCHITECTURE.md.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct WindowFigures {
    /// Accounts at the end.
    pub users_total: i64,
    /// Accounts registered within the window.
    pub users_new: i64,
    /// Subscriptions paying at the end.
    pub paying_subscriptions: i64,
    /// Subscriptions in a trial at the end.
    pub trials: i64,
    /// Trials converted ÷ trials ended within the window (`None` when no
    /// trial ended).
    pub trial_conversion: Option<f64>,
    /// MRR at the end, cents.
    pub mrr_cents: i64,
    /// 12 × MRR.
    pub arr_cents: i64,
    /// MRR ÷ paying subscriptions, cents (`None` without any).
    pub arpu_cents: Option<i64>,
    /// Subscriptions churned within the window ÷ (paying at its start +
    /// started within it).
    pub subscriber_churn: Option<f64>,
    /// MRR lost to churn and contraction within the window ÷ MRR at its
    /// start.
    pub revenue_churn: Option<f64>,
    /// New + reactivation + expansion − contraction − churn within the window.
    pub net_new_mrr_cents: i64,
    /// MRR movements within the window, cents.
    pub new_mrr_cents: i64,
    /// Reactivations within the window, cents.
    pub reactivation_mrr_cents: i64,
    /// Expansion within the window, cents.
    pub expansion_mrr_cents: i64,
    /// Contraction within the window, cents.
    pub contraction_mrr_cents: i64,
    /// Churn within the window, cents.
    pub churned_mrr_cents: i64,
}

impl WindowFigures {
    /// The figures of `window` (consecutive days, oldest first), given the
    /// day before it (`None`: nothing existed before).
    pub fn over(before: Option<&DailyFigures>, window: &[DailyFigures]) -> Self {
        let start = before.copied().unwrap_or_default();
        let end = window.last().copied().unwrap_or(start);
        let sum = |field: fn(&DailyFigures) -> i64| window.iter().map(field).sum::<i64>();
        let ratio = |numerator: i64, denominator: i64| {
            (denominator > 0).then(|| numerator as f64 / denominator as f64)
        };
        let converted = sum(|day| day.trials_converted);
        let lost = sum(|day| day.trials_lost);
        let churned = sum(|day| day.subscriptions_churned);
        let started = sum(|day| day.subscriptions_started);
        let churned_mrr = sum(|day| day.churned_mrr_cents);
        let contraction = sum(|day| day.contraction_mrr_cents);
        let new_mrr = sum(|day| day.new_mrr_cents);
        let reactivation = sum(|day| day.reactivation_mrr_cents);
        let expansion = sum(|day| day.expansion_mrr_cents);
        Self {
            users_total: end.users_total,
            users_new: sum(|day| day.users_new),
            paying_subscriptions: end.paying_subscriptions,
            trials: end.trials,
            trial_conversion: ratio(converted, converted + lost),
            mrr_cents: end.mrr_cents,
            arr_cents: end.mrr_cents.saturating_mul(12),
            arpu_cents: (end.paying_subscriptions > 0)
                .then(|| end.mrr_cents / end.paying_subscriptions),
            subscriber_churn: ratio(churned, start.paying_subscriptions + started),
            revenue_churn: ratio(churned_mrr + contraction, start.mrr_cents),
            net_new_mrr_cents: new_mrr + reactivation + expansion - contraction - churned_mrr,
            new_mrr_cents: new_mrr,
            reactivation_mrr_cents: reactivation,
            expansion_mrr_cents: expansion,
            contraction_mrr_cents: contraction,
            churned_mrr_cents: churned_mrr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(cents: i64, interval: RecurringInterval, count: u64) -> RecurringItem {
        RecurringItem {
            unit_amount_cents: cents,
            quantity: 1,
            interval,
            interval_count: count,
            metered: false,
        }
    }

    #[test]
    fn prices_are_normalised_to_a_month() {
        use RecurringInterval::*;
        assert_eq!(monthly_recurring_cents(&[item(1900, Month, 1)], None), 1900);
        assert_eq!(monthly_recurring_cents(&[item(19000, Year, 1)], None), 1583);
        assert_eq!(monthly_recurring_cents(&[item(19002, Year, 1)], None), 1584); // 1583.5 rounds up
        assert_eq!(monthly_recurring_cents(&[item(6000, Month, 3)], None), 2000);
        assert_eq!(monthly_recurring_cents(&[item(1000, Week, 1)], None), 4333);
        let seats = RecurringItem {
            quantity: 3,
            ..item(1000, Month, 1)
        };
        assert_eq!(monthly_recurring_cents(&[seats], None), 3000);
        let metered = RecurringItem {
            metered: true,
            ..item(1000, Month, 1)
        };
        assert_eq!(
            monthly_recurring_cents(&[item(1900, Month, 1), metered], None),
            1900
        );
        assert_eq!(
            monthly_recurring_cents(
                &[item(1900, Month, 1)],
                Some(ForeverDiscount::PercentOff(50.0))
            ),
            950
        );
        assert_eq!(
            monthly_recurring_cents(
                &[item(12000, Year, 1)],
                Some(ForeverDiscount::AmountOff(2400))
            ),
            800
        );
        assert_eq!(
            monthly_recurring_cents(
                &[item(100, Month, 1)],
                Some(ForeverDiscount::AmountOff(500))
            ),
            0
        );
        assert_eq!(monthly_recurring_cents(&[], None), 0);
    }

    fn change(before: Option<(&str, i64)>, after: (&str, i64), paid: bool) -> EventFacts {
        let snapshot = |(status, mrr_cents): (&str, i64)| SubscriptionSnapshot {
            status: status.into(),
            mrr_cents,
        };
        EventFacts::Subscription(SubscriptionChange {
            subscription: "sub".into(),
            plan: "pro".into(),
            before: before.map(snapshot),
            after: snapshot(after),
            customer_paid_before: paid,
        })
    }

    #[test]
    fn movements_add_up_to_the_change_in_mrr() {
        let mut day = DailyFigures::default();
        let events = [
            change(None, ("trialing", 1900), false),
            change(Some(("trialing", 1900)), ("active", 1900), false),
            change(Some(("active", 1900)), ("active", 9900), true),
            change(Some(("active", 9900)), ("past_due", 4900), true),
            change(Some(("past_due", 4900)), ("canceled", 4900), true),
            change(None, ("active", 1900), true),
        ];
        for event in &events {
            day.apply(event);
        }
        assert_eq!(day.new_mrr_cents, 1900);
        assert_eq!(day.expansion_mrr_cents, 8000);
        assert_eq!(day.contraction_mrr_cents, 5000);
        assert_eq!(day.churned_mrr_cents, 4900);
        assert_eq!(day.reactivation_mrr_cents, 1900);
        assert_eq!(day.net_new_mrr_cents(), day.mrr_cents);
        assert_eq!(day.mrr_cents, 1900);
        assert_eq!(
            (day.trials_started, day.trials_converted, day.trials),
            (1, 1, 0)
        );
        assert_eq!(
            DailyFigures::from_values(day.values()),
            day,
            "the columns round-trip"
        );
    }
}
