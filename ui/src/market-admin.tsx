// The management window's Marketplace screen: what people reported about
// listings, newest first, and taking a listing off the marketplace. A
// delisting is recorded in the audit log with the report's reason; people
// who got the listing keep their copies.
import { useEffect, useState } from "preact/hooks";
import { api, errorMessage, type MarketReport } from "./api";
import { ActionButton, Notice, useNotice } from "./controls";
import { confirmAction, toast } from "./feedback";

function when(at: string): string {
  const time = new Date(at);
  return Number.isNaN(time.getTime()) ? at : time.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
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
      <p class="muted lead">Listings people reported, newest report first. Delisting takes a listing off the marketplace for everyone.</p>
      <Notice said={said} />
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
