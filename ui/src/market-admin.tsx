// The management window's Marketplace screen: the platform's commission on
// sales (audited), a reconciliation pass on demand (it also runs at start
// and hourly: purchases Stripe says are paid are delivered, refunded ones
// taken back), and what people
// reported about listings, newest first, with taking a listing off the
// marketplace. A delisting is recorded in the audit log with the report's
// reason; people who got the listing keep their copies.
import { useEffect, useState } from "preact/hooks";
import { api, errorMessage, type MarketReport } from "./api";
import { ActionButton, Notice, useNotice, type Say } from "./controls";
import { confirmAction, toast } from "./feedback";

function when(at: string): string {
  const time = new Date(at);
  return Number.isNaN(time.getTime()) ? at : time.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** The commission, as a percentage an admin types, and the pass on demand. */
function MarketMoney({ say }: { say: Say }) {
  const [bps, setBps] = useState<number | null>(null);
  const [typed, setTyped] = useState("");
  useEffect(() => {
    api.adminMarketCommission().then(
      (current) => {
        setBps(current);
        setTyped(String(current / 100));
      },
      (error) => say(`The commission could not be read: ${errorMessage(error)}`),
    );
  }, []);

  async function save(event: Event): Promise<void> {
    event.preventDefault();
    const percent = Number(typed.trim());
    if (!/^\d{1,2}(\.\d{1,2})?$/.test(typed.trim()) || percent > 50) return say("The commission is a percentage from 0 to 50, with at most two decimals.");
    const next = Math.round(percent * 100);
    try {
      await api.adminSetMarketCommission(next);
      setBps(next);
      toast(`The commission is ${percent}% from the next sale on.`, { kind: "good" });
    } catch (error) {
      say(errorMessage(error));
    }
  }

  async function reconcile(): Promise<void> {
    try {
      const done = await api.adminMarketReconcile();
      toast(
        done.settled + done.delivered + done.refunded === 0
          ? "Nothing to catch up: every payment and refund Stripe reports is reflected here."
          : `Caught up: ${done.settled} paid purchase(s) settled, ${done.delivered} delivered, ${done.refunded} refund(s) applied.`,
        { kind: "good" },
      );
    } catch (error) {
      say(errorMessage(error));
    }
  }

  return (
    <section class="market-money" aria-label="Payments">
      <form class="market-commission" aria-label="Commission" onSubmit={save}>
        <label class="field">
          <span>Platform commission (%)</span>
          <input aria-label="Platform commission (%)" inputMode="decimal" maxLength={5} value={typed} disabled={bps === null} onInput={(event) => setTyped(event.currentTarget.value)} />
        </label>
        <button type="submit" disabled={bps === null || Math.round(Number(typed) * 100) === bps}>
          Save
        </button>
        <span class="hint">Taken from each sale as Stripe's application fee; sellers receive the rest. Changes are in the audit log.</span>
      </form>
      <div class="actions">
        <ActionButton class="quiet" onClick={reconcile}>
          Reconcile with Stripe now
        </ActionButton>
        <span class="hint">Runs at start and hourly: what Stripe says is paid is delivered, what it says is refunded is taken back.</span>
      </div>
    </section>
  );
}

export function MarketplaceAdmin() {
  const [reports, setReports] = useState<MarketReport[] | null>(null);
  const [said, say] = useNotice();

  const reload = () => api.adminMarketReports().then(setReports, (error) => say(`The reports could not be read: ${errorMessage(error)}`));
  useEffect(() => {
    void reload();
  }, []);

  async function delist(report: MarketReport): Promise<void> {
    const sure = await confirmAction({
      title: `Delist “${report.title}”?`,
      body: "Nobody can find or get it any more; people who have it keep their copies. The report's reason goes to the audit log.",
      confirm: "Delist",
      danger: true,
    });
    if (!sure) return;
    try {
      await api.adminDelistListing(report.listing_id, report.reason);
      toast(`“${report.title}” is off the marketplace.`);
      await reload();
    } catch (error) {
      say(errorMessage(error));
    }
  }

  // One row per listing: its reports together.
  const listings = new Map<string, MarketReport[]>();
  for (const report of reports ?? []) listings.set(report.listing_id, [...(listings.get(report.listing_id) ?? []), report]);

  return (
    <>
      <header class="bar">
        <h1>Marketplace</h1>
      </header>
      <Notice said={said} />
      <MarketMoney say={say} />
      <h2>Reports</h2>
      <p class="muted lead">Listings people reported, newest report first. Delisting takes a listing off the marketplace for everyone.</p>
      {reports === null ? (
        <p class="muted">Reading…</p>
      ) : reports.length === 0 ? (
        <p class="empty">No reports. Listings people report show here.</p>
      ) : (
        <table class="admin-table market-reports" aria-label="Reports">
          <thead>
            <tr>
              <th>Listing</th>
              <th>Reports</th>
              <th>Last reported</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {[...listings.values()].map((group) => (
              <tr>
                <td>
                  <strong>{group[0].title}</strong>
                </td>
                <td>
                  <ul class="plain">
                    {group.map((report) => (
                      <li>{report.reason}</li>
                    ))}
                  </ul>
                </td>
                <td class="nowrap">{when(group[0].created_at)}</td>
                <td>
                  <ActionButton class="quiet danger" onClick={() => delist(group[0])}>
                    Delist…
                  </ActionButton>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
