// The Marketplace screen: find agents and prompts other people made, get
// them into your library, review what you got; list your own. Browse is a
// search with filters and sorts over the server's listings; a listing opens
// on its page (what you get, versions, reviews, report). A paid listing is
// bought through Stripe Checkout in the browser: the purchase waits for the
// payment, and the item arrives (the library changes) once Stripe confirms
// it. "Purchased" lists what came from here with its state; "Selling" has
// the Stripe account that takes payments and your listings; "Sales" is the
// report of what sold, the platform's fee, refunds and payouts.
import { useEffect, useRef, useState } from "preact/hooks";
import {
  api,
  errorMessage,
  type MarketListing,
  type MarketListingDetail,
  type MarketPage,
  type MarketPurchase,
  type MarketSale,
  type MarketSales,
  type MarketSearch,
  type MarketSeller,
} from "./api";
import { ActionButton, Field, Notice, Pages, useNotice, type Say } from "./controls";
import { askReason, confirmAction, toast } from "./feedback";

type View = "browse" | "purchased" | "selling" | "sales";

const SORTS: [string, string][] = [
  ["relevance", "Best match"],
  ["newest", "Newest"],
  ["most_bought", "Most popular"],
  ["rating", "Top rated"],
  ["price_low", "Price: low to high"],
  ["price_high", "Price: high to low"],
];

const KIND_WORDS: Record<string, string> = { agent: "Agent", prompt: "Prompt" };

function day(at: string): string {
  const time = new Date(at);
  return Number.isNaN(time.getTime()) ? at : time.toLocaleDateString(undefined, { dateStyle: "medium" });
}

/** An amount in minor units (cents), in its currency. */
function money(minor: number, currency: string): string {
  return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).format(minor / 100);
}

function price(listing: { pricing: string; price_minor: number; currency: string }): string {
  if (listing.pricing === "free" || listing.price_minor === 0) return "Free";
  const amount = money(listing.price_minor, listing.currency);
  return listing.pricing === "monthly" ? `${amount} a month` : amount;
}

/** The commission as people say it: "20%", "12.5%". */
function percent(bps: number): string {
  return `${Number((bps / 100).toFixed(2))}%`;
}

function Rating({ rating, count }: { rating: number | null; count: number }) {
  if (rating === null || count === 0) return <span class="muted">No ratings yet</span>;
  return (
    <span class="market-rating" aria-label={`Rated ${rating.toFixed(1)} of 5 by ${count}`}>
      <span aria-hidden="true">★</span> {rating.toFixed(1)} <span class="muted">({count})</span>
    </span>
  );
}

/** The Marketplace screen; `listing` (an orrery:// link's) opens on that listing's page. */
export function Marketplace({ listing = null }: { listing?: string | null }) {
  const [view, setView] = useState<View>("browse");
  const [open, setOpen] = useState<string | null>(listing);
  const [said, say] = useNotice();

  const show = (next: View) => {
    setOpen(null);
    setView(next);
  };

  return (
    <>
      <header class="bar">
        <h1>Marketplace</h1>
        <div class="segmented" role="group" aria-label="Marketplace view">
          {(
            [
              ["browse", "Browse"],
              ["purchased", "Purchased"],
              ["selling", "Selling"],
              ["sales", "Sales"],
            ] as [View, string][]
          ).map(([key, label]) => (
            <button type="button" class="quiet" aria-pressed={view === key && !open} onClick={() => show(key)}>
              {label}
            </button>
          ))}
        </div>
      </header>
      <Notice said={said} />
      {open ? (
        <ListingPage id={open} back={() => setOpen(null)} say={say} />
      ) : view === "browse" ? (
        <Browse open={setOpen} say={say} />
      ) : view === "purchased" ? (
        <Purchased open={setOpen} say={say} />
      ) : view === "selling" ? (
        <Selling open={setOpen} say={say} />
      ) : (
        <Sales open={setOpen} say={say} />
      )}
    </>
  );
}

function Browse({ open, say }: { open: (id: string) => void; say: Say }) {
  const [search, setSearch] = useState<MarketSearch>({ query: null, kind: null, free_only: false, tags: [], min_rating: null, sort: null, page: 1 });
  const [page, setPage] = useState<MarketPage | null>(null);
  const asked = useRef(0);

  useEffect(() => {
    const mine = ++asked.current;
    api.marketSearch(search).then(
      (answer) => {
        if (mine === asked.current) setPage(answer);
      },
      (error) => say(`The marketplace could not be searched: ${errorMessage(error)}`),
    );
  }, [search]);

  const change = (patch: Partial<MarketSearch>) => setSearch({ ...search, page: 1, ...patch });
  const pages = page ? Math.max(1, Math.ceil(page.total / page.per_page)) : 1;

  return (
    <>
      <p class="muted lead">Agents and prompts made by people like you. What you get lands in your library on every device, and it is yours to run.</p>
      <form class="market-filters" role="search" aria-label="Search the marketplace" onSubmit={(event) => event.preventDefault()}>
        <label class="field market-query">
          <span>Search</span>
          <input
            type="search"
            aria-label="Search"
            maxLength={200}
            placeholder="Search agents and prompts"
            value={search.query ?? ""}
            onInput={(event) => change({ query: event.currentTarget.value || null })}
          />
        </label>
        <label class="field">
          <span>Kind</span>
          <select aria-label="Kind" value={search.kind ?? ""} onChange={(event) => change({ kind: event.currentTarget.value || null })}>
            <option value="">Agents and prompts</option>
            <option value="agent">Agents</option>
            <option value="prompt">Prompts</option>
          </select>
        </label>
        <label class="field">
          <span>Sort</span>
          <select aria-label="Sort" value={search.sort ?? "relevance"} onChange={(event) => change({ sort: event.currentTarget.value })}>
            {SORTS.map(([value, label]) => (
              <option value={value}>{label}</option>
            ))}
          </select>
        </label>
        <label class="check">
          <input type="checkbox" checked={search.free_only} onChange={(event) => change({ free_only: event.currentTarget.checked })} />
          Free only
        </label>
        <label class="check">
          <input type="checkbox" checked={search.min_rating !== null} onChange={(event) => change({ min_rating: event.currentTarget.checked ? 4 : null })} />
          Rated 4 and up
        </label>
      </form>
      {search.tags.length > 0 && (
        <p class="market-active-tags">
          Tagged{" "}
          {search.tags.map((tag) => (
            <button type="button" class="tag" aria-label={`Remove tag ${tag}`} onClick={() => change({ tags: search.tags.filter((each) => each !== tag) })}>
              {tag} ×
            </button>
          ))}
        </p>
      )}
      {page === null ? (
        <p class="muted">Searching…</p>
      ) : page.listings.length === 0 ? (
        <p class="empty" data-testid="market-empty">
          {search.query ? `Nothing matches “${search.query}”. Try fewer words, or clear the filters.` : "Nothing is listed here yet."}
        </p>
      ) : (
        <>
          <p class="muted" data-testid="market-total">
            {page.total === 1 ? "1 listing" : `${page.total.toLocaleString()} listings`}
          </p>
          <div class="market-grid">
            {page.listings.map((listing) => (
              <ListingCard listing={listing} open={open} tag={(tag) => !search.tags.includes(tag) && change({ tags: [...search.tags, tag] })} />
            ))}
          </div>
          <Pages page={page.page} pages={pages} go={(next) => setSearch({ ...search, page: next })} />
        </>
      )}
    </>
  );
}

function ListingCard({ listing, open, tag }: { listing: MarketListing; open: (id: string) => void; tag?: (tag: string) => void }) {
  return (
    <article class="market-card" aria-label={listing.title} data-kind={listing.kind}>
      <header>
        <span class="market-kind">{KIND_WORDS[listing.kind] ?? listing.kind}</span>
        {listing.mine ? <span class="badge">Yours</span> : listing.owned ? <span class="badge">In your library</span> : null}
      </header>
      <h2>
        <button type="button" class="link" onClick={() => open(listing.id)}>
          {listing.title}
        </button>
      </h2>
      <p class="muted market-seller">by {listing.seller}</p>
      <p class="market-description">{listing.description}</p>
      {listing.tags.length > 0 && (
        <p class="market-tags">
          {listing.tags.map((each) =>
            tag ? (
              <button type="button" class="tag" title={`Only listings tagged ${each}`} onClick={() => tag(each)}>
                {each}
              </button>
            ) : (
              <span class="tag">{each}</span>
            ),
          )}
        </p>
      )}
      <footer>
        <Rating rating={listing.rating} count={listing.rating_count} />
        <span class="muted">{listing.purchases === 1 ? "1 has it" : `${listing.purchases.toLocaleString()} have it`}</span>
        <strong class="market-price">{price(listing)}</strong>
      </footer>
    </article>
  );
}

function ListingPage({ id, back, say }: { id: string; back: () => void; say: Say }) {
  const [detail, setDetail] = useState<MarketListingDetail | null>(null);
  const [rating, setRating] = useState(5);
  const [review, setReview] = useState("");
  const [reason, setReason] = useState("");
  // A payment under way in the browser: the page follows the library.
  const [awaiting, setAwaiting] = useState(false);

  const load = () =>
    api.marketListing(id).then(
      (answer) => {
        setDetail(answer);
        if (answer.your_review) {
          setRating(answer.your_review.rating);
          setReview(answer.your_review.body);
        }
      },
      (error) => say(`The listing could not be opened: ${errorMessage(error)}`),
    );
  useEffect(() => {
    void load();
  }, [id]);
  useEffect(() => {
    if (!awaiting) return;
    const stop = api.onLibraryChanged(() => void load());
    return () => void stop.then((unlisten) => unlisten());
  }, [awaiting, id]);
  useEffect(() => {
    if (detail?.listing.owned && awaiting) {
      setAwaiting(false);
      toast(`Paid: “${detail.listing.title}” is in your library.`, { kind: "good" });
    }
  }, [detail, awaiting]);

  if (!detail) return <p class="muted">Opening…</p>;
  const { listing } = detail;

  async function get(): Promise<void> {
    try {
      const purchase = await api.marketBuy(listing.id);
      if (purchase.state === "pending") {
        setAwaiting(true);
        toast("Finish the payment in your browser. The item lands in your library as soon as Stripe confirms it.", { kind: "good" });
      } else {
        toast(`“${listing.title}” is in your library.`, { kind: "good" });
      }
      await load();
    } catch (error) {
      say(errorMessage(error));
    }
  }

  async function saveReview(event: Event): Promise<void> {
    event.preventDefault();
    try {
      await api.marketReview(listing.id, rating, review.trim());
      toast("Your review is saved.", { kind: "good" });
      await load();
    } catch (error) {
      say(errorMessage(error));
    }
  }

  async function sendReport(event: Event): Promise<void> {
    event.preventDefault();
    if (!reason.trim()) return say("Say what is wrong with this listing.");
    try {
      await api.marketReport(listing.id, reason.trim());
      setReason("");
      toast("Thank you. The admins will look at it.", { kind: "good" });
    } catch (error) {
      say(errorMessage(error));
    }
  }

  return (
    <article class="market-page" aria-label={listing.title}>
      <button type="button" class="quiet back" onClick={back}>
        ← Back
      </button>
      <header class="market-page-head">
        <div>
          <h2>{listing.title}</h2>
          <p class="muted">
            {KIND_WORDS[listing.kind] ?? listing.kind} · by {listing.seller} · listed {day(listing.created_at)}
            {listing.state !== "listed" ? " · no longer listed" : ""}
          </p>
          <p>
            <Rating rating={listing.rating} count={listing.rating_count} /> <span class="muted">· {listing.purchases.toLocaleString()} have it</span>
          </p>
        </div>
        <div class="market-get">
          <strong class="market-price">{price(listing)}</strong>
          {listing.mine ? (
            <span class="badge">Your listing</span>
          ) : listing.owned ? (
            <span class="badge">In your library</span>
          ) : listing.state === "listed" ? (
            <>
              <ActionButton data-testid="market-get" onClick={get}>
                {listing.pricing === "free" || listing.price_minor === 0 ? "Get it free" : awaiting ? "Open the payment page again" : `Buy for ${price(listing)}`}
              </ActionButton>
              {awaiting ? (
                <p class="hint" role="status" data-testid="market-awaiting">
                  Waiting for your payment in the browser…
                </p>
              ) : listing.pricing !== "free" && listing.price_minor > 0 ? (
                <p class="hint">Paid securely through Stripe. Yours to keep, on every device.</p>
              ) : null}
            </>
          ) : null}
        </div>
      </header>
      {listing.tags.length > 0 && (
        <p class="market-tags">
          {listing.tags.map((tag) => (
            <span class="tag">{tag}</span>
          ))}
        </p>
      )}
      <p class="market-about">{listing.description}</p>
      <section aria-label="What you get">
        <h3>What you get</h3>
        <pre class="market-preview">{detail.preview}</pre>
      </section>
      <section aria-label="Versions">
        <h3>Versions</h3>
        <ul class="market-versions">
          {detail.versions.map((version) => (
            <li>
              Version {version.number} · <code title={version.version}>{version.version.slice(0, 12)}</code> · {day(version.created_at)}
              {version.version === listing.version ? <span class="badge"> current</span> : null}
            </li>
          ))}
        </ul>
      </section>
      <section aria-label="Reviews">
        <h3>Reviews</h3>
        {detail.reviews.length === 0 ? (
          <p class="muted">No reviews yet.</p>
        ) : (
          <ul class="market-reviews">
            {detail.reviews.map((each) => (
              <li>
                <strong aria-label={`${each.rating} of 5`}>{"★".repeat(each.rating)}{"☆".repeat(5 - each.rating)}</strong> {each.author}
                <span class="muted"> · {day(each.updated_at)}</span>
                {each.body && <p>{each.body}</p>}
              </li>
            ))}
          </ul>
        )}
        {listing.owned && (
          <form class="market-review-form" aria-label="Your review" onSubmit={saveReview}>
            <label class="field">
              <span>Your rating</span>
              <select aria-label="Your rating" value={rating} onChange={(event) => setRating(Number(event.currentTarget.value))}>
                {[5, 4, 3, 2, 1].map((value) => (
                  <option value={value}>{`${"★".repeat(value)} ${value}`}</option>
                ))}
              </select>
            </label>
            <Field label="Your review" rows={3} maxLength={4000} value={review} onValue={setReview} />
            <div class="actions">
              <button type="submit">{detail.your_review ? "Update review" : "Save review"}</button>
            </div>
          </form>
        )}
      </section>
      {!listing.mine && (
        <details class="market-report">
          <summary>Report this listing</summary>
          <form aria-label="Report" onSubmit={sendReport}>
            <Field label="What is wrong with it?" rows={2} maxLength={1000} value={reason} onValue={setReason} />
            <div class="actions">
              <button type="submit" class="quiet">
                Send report
              </button>
            </div>
          </form>
        </details>
      )}
    </article>
  );
}

/** Where a purchase stands, in words. */
function PurchaseState({ purchase, pay }: { purchase: MarketPurchase; pay: () => void }) {
  switch (purchase.state) {
    case "paid":
      return <span class="badge">{purchase.item_id ? "In your library" : "On its way"}</span>;
    case "pending":
      return (
        <span class="market-state">
          <span class="badge warn">Waiting for payment</span>{" "}
          <ActionButton class="quiet" onClick={pay}>
            Pay now
          </ActionButton>
        </span>
      );
    case "expired":
      return <span class="badge off">Checkout expired</span>;
    case "refunded":
      return (
        <span class="market-state">
          <span class="badge off">Refunded{purchase.refunded_at ? ` ${day(purchase.refunded_at)}` : ""}</span>
          {purchase.refund_reason ? <span class="muted"> · {purchase.refund_reason}</span> : null}
          <span class="muted"> · removed from your library</span>
        </span>
      );
    default:
      return <span class="badge">{purchase.state}</span>;
  }
}

function Purchased({ open, say }: { open: (id: string) => void; say: Say }) {
  const [purchases, setPurchases] = useState<MarketPurchase[] | null>(null);
  const reload = () => api.marketPurchases().then(setPurchases, (error) => say(`What you got could not be read: ${errorMessage(error)}`));
  useEffect(() => {
    void reload();
    // A payment confirmed (or a refund) changes the library: follow it.
    const stop = api.onLibraryChanged(() => void reload());
    return () => void stop.then((unlisten) => unlisten());
  }, []);
  if (purchases === null) return <p class="muted">Reading…</p>;
  if (purchases.length === 0) return <p class="empty">Nothing yet. What you get from Browse shows here, and in your library.</p>;

  async function pay(purchase: MarketPurchase): Promise<void> {
    try {
      const again = await api.marketBuy(purchase.listing_id);
      if (again.state === "pending") toast("The payment page is open in your browser.", { kind: "good" });
      await reload();
    } catch (error) {
      say(errorMessage(error));
    }
  }

  return (
    <table class="admin-table market-purchases">
      <thead>
        <tr>
          <th>Listing</th>
          <th>Kind</th>
          <th>Got on</th>
          <th>Paid</th>
          <th>State</th>
        </tr>
      </thead>
      <tbody>
        {purchases.map((purchase) => (
          <tr data-state={purchase.state}>
            <td>
              <button type="button" class="link" onClick={() => open(purchase.listing_id)}>
                {purchase.title}
              </button>
            </td>
            <td>{KIND_WORDS[purchase.kind] ?? purchase.kind}</td>
            <td class="nowrap">{day(purchase.created_at)}</td>
            <td class="nowrap">{price({ pricing: purchase.amount_minor === 0 ? "free" : "one_off", price_minor: purchase.amount_minor, currency: purchase.currency })}</td>
            <td>
              <PurchaseState purchase={purchase} pay={() => pay(purchase)} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

interface Item {
  value: string;
  label: string;
  title: string;
}

/** The Stripe account that takes payments: whether there is one, what
 * Stripe still needs, and the way there. */
function SellerPanel({ seller, refresh, say }: { seller: MarketSeller | null; refresh: () => Promise<unknown>; say: Say }) {
  if (seller === null) return null;
  const start = async (): Promise<void> => {
    try {
      await api.marketStartSelling();
      toast("Stripe's forms are open in your browser. Come back here when you are done.", { kind: "good" });
    } catch (error) {
      say(errorMessage(error));
    }
  };
  let body;
  if (!seller.payments) {
    body = <p class="muted">This server takes no payments, so listings here are free. Its admin can connect Stripe.</p>;
  } else if (!seller.connected) {
    body = (
      <>
        <p>
          Sell for money: connect a Stripe account. Buyers pay through Stripe; you receive the price less the platform's {percent(seller.commission_bps)} fee,
          paid out to your bank by Stripe.
        </p>
        <div class="actions">
          <ActionButton data-testid="market-connect" onClick={start}>
            Connect with Stripe
          </ActionButton>
        </div>
      </>
    );
  } else if (!seller.charges_enabled) {
    body = (
      <>
        <p>
          {seller.details_submitted
            ? "Stripe has your details and is checking them. Paid listings open as soon as it is done."
            : "Stripe still needs some details before you can take payments. Free listings work meanwhile."}
        </p>
        <div class="actions">
          <ActionButton data-testid="market-connect" onClick={start}>
            Continue with Stripe
          </ActionButton>
          <ActionButton class="quiet" onClick={refresh}>
            Check again
          </ActionButton>
        </div>
      </>
    );
  } else {
    body = (
      <p data-testid="market-payments-on">
        <span class="badge">Payments on</span>{" "}
        {seller.payouts_enabled ? <span class="badge">Payouts on</span> : <span class="badge warn">Payouts paused by Stripe</span>}{" "}
        <span class="muted">You receive each price less the platform's {percent(seller.commission_bps)} fee.</span>
      </p>
    );
  }
  return (
    <section class="market-seller-panel" aria-label="Payments">
      <h2>Payments</h2>
      {body}
    </section>
  );
}

function Selling({ open, say }: { open: (id: string) => void; say: Say }) {
  const [listings, setListings] = useState<MarketListing[] | null>(null);
  const [seller, setSeller] = useState<MarketSeller | null>(null);
  const [items, setItems] = useState<Item[]>([]);
  const [item, setItem] = useState("");
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [tags, setTags] = useState("");
  const [paid, setPaid] = useState(false);
  const [amount, setAmount] = useState("");
  const [currency, setCurrency] = useState("usd");

  const reload = () => api.marketSelling().then(setListings, (error) => say(`Your listings could not be read: ${errorMessage(error)}`));
  const readSeller = () => api.marketSeller().then(setSeller, (error) => say(`Your selling account could not be read: ${errorMessage(error)}`));
  useEffect(() => {
    void reload();
    void readSeller();
    void (async () => {
      const [agents, prompts] = await Promise.all([api.listLibrary("agent"), api.listLibrary("prompt")]);
      setItems([
        ...agents.map((agent) => ({ value: `agent:${agent.id}`, label: `Agent · ${agent.title}`, title: agent.title })),
        ...prompts.map((prompt) => ({ value: `prompt:${prompt.id}`, label: `Prompt · ${prompt.title}`, title: prompt.title })),
      ]);
    })().catch(() => setItems([]));
  }, []);

  const chosen = item || items[0]?.value || "";
  const chosenTitle = items.find((each) => each.value === chosen)?.title ?? "";
  const canCharge = seller?.charges_enabled === true;
  // The price as typed (2 decimals at most), in minor units; null when it is not one.
  const typed = /^\d{1,5}(\.\d{1,2})?$/.test(amount.trim()) ? Math.round(Number(amount.trim()) * 100) : null;
  const keep = typed !== null && seller ? typed - Math.floor((typed * seller.commission_bps + 5_000) / 10_000) : null;

  async function list(event: Event): Promise<void> {
    event.preventDefault();
    const [kind, id] = chosen.split(":");
    if (!id) return say("Make an agent or a prompt first: it is what you list.");
    if (paid && (typed === null || typed < 100 || typed > 1_000_000)) return say("A price is from 1.00 to 10,000.00, with at most two decimals.");
    try {
      const listed = await api.marketCreateListing({
        kind,
        item_id: id,
        title: (title || chosenTitle).trim(),
        description: description.trim(),
        tags: tags
          .split(",")
          .map((tag) => tag.trim())
          .filter(Boolean),
        pricing: paid ? "one_off" : "free",
        price_minor: paid ? (typed ?? 0) : 0,
        currency,
      });
      toast(`“${listed.title}” is on the marketplace.`, { kind: "good" });
      setTitle("");
      setDescription("");
      setTags("");
      setAmount("");
      setPaid(false);
      await reload();
    } catch (error) {
      say(errorMessage(error));
    }
  }

  async function publish(listing: MarketListing): Promise<void> {
    try {
      const changed = await api.marketPublishVersion(listing.id);
      toast(changed ? `A new version of “${listing.title}” is out.` : `“${listing.title}” has not changed since its last version.`, { kind: changed ? "good" : undefined });
      await reload();
    } catch (error) {
      say(errorMessage(error));
    }
  }

  async function delist(listing: MarketListing): Promise<void> {
    const sure = await confirmAction({
      title: `Take “${listing.title}” off the marketplace?`,
      body: "Nobody can find or get it any more. People who have it keep it.",
      confirm: "Delist",
      danger: true,
    });
    if (!sure) return;
    try {
      await api.marketDelist(listing.id);
      toast(`“${listing.title}” is no longer listed.`);
      await reload();
    } catch (error) {
      say(errorMessage(error));
    }
  }

  return (
    <div class="market-selling">
      <SellerPanel seller={seller} refresh={readSeller} say={say} />
      <form class="market-list-form" aria-label="List an item" onSubmit={list}>
        <h2>List an agent or a prompt</h2>
        <p class="muted">Others get a copy of it as it is now; a prompt at its published version.</p>
        <label class="field">
          <span>Item</span>
          <select aria-label="Item" value={chosen} onChange={(event) => setItem(event.currentTarget.value)}>
            {items.length === 0 && <option value="">No agents or prompts yet</option>}
            {items.map((each) => (
              <option value={each.value}>{each.label}</option>
            ))}
          </select>
        </label>
        <Field label="Title" maxLength={120} placeholder={chosenTitle} value={title} onValue={setTitle} />
        <Field label="Description" rows={3} maxLength={5000} placeholder="What it does, and for whom" value={description} onValue={setDescription} />
        <Field label="Tags" placeholder="legal, contracts" value={tags} onValue={setTags} />
        <fieldset class="market-pricing">
          <legend>Price</legend>
          <label class="check">
            <input type="radio" name="pricing" checked={!paid} onChange={() => setPaid(false)} />
            Free
          </label>
          <label class="check">
            <input type="radio" name="pricing" checked={paid} disabled={!canCharge} aria-describedby="market-price-why" onChange={() => setPaid(true)} />
            One-off price
          </label>
          {paid && (
            <span class="market-price-input">
              <input aria-label="Price" inputMode="decimal" placeholder="19.99" maxLength={8} value={amount} onInput={(event) => setAmount(event.currentTarget.value)} />
              <select aria-label="Currency" value={currency} onChange={(event) => setCurrency(event.currentTarget.value)}>
                <option value="usd">USD</option>
                <option value="eur">EUR</option>
                <option value="gbp">GBP</option>
              </select>
            </span>
          )}
          <span class="hint" id="market-price-why">
            {!canCharge
              ? "Paid listings open once your Stripe account takes payments (Payments, above)."
              : paid && keep !== null
                ? `You receive ${money(keep, currency)} of each sale after the ${percent(seller?.commission_bps ?? 0)} fee.`
                : ""}
          </span>
        </fieldset>
        <div class="actions">
          <button type="submit">List it</button>
        </div>
      </form>
      <section aria-label="Your listings">
        <h2>Your listings</h2>
        {listings === null ? (
          <p class="muted">Reading…</p>
        ) : listings.length === 0 ? (
          <p class="empty">You list nothing yet.</p>
        ) : (
          <table class="admin-table market-listings">
            <thead>
              <tr>
                <th>Listing</th>
                <th>Price</th>
                <th>State</th>
                <th>Have it</th>
                <th>Rating</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {listings.map((listing) => (
                <tr data-state={listing.state}>
                  <td>
                    <button type="button" class="link" onClick={() => open(listing.id)}>
                      {listing.title}
                    </button>
                    <span class="muted"> · {KIND_WORDS[listing.kind] ?? listing.kind}</span>
                  </td>
                  <td class="nowrap">{price(listing)}</td>
                  <td>{listing.state === "listed" ? <span class="badge">Listed</span> : <span class="badge off">Delisted</span>}</td>
                  <td>{listing.purchases.toLocaleString()}</td>
                  <td>
                    <Rating rating={listing.rating} count={listing.rating_count} />
                  </td>
                  <td class="card-actions">
                    {listing.state === "listed" && (
                      <>
                        <ActionButton class="quiet" onClick={() => publish(listing)}>
                          Publish new version
                        </ActionButton>
                        <ActionButton class="quiet danger" onClick={() => delist(listing)}>
                          Delist
                        </ActionButton>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}

/** The seller's sales: totals per currency, each listing's months, the
 * latest sales (refundable), and Stripe's payouts. */
function Sales({ open, say }: { open: (id: string) => void; say: Say }) {
  const [sales, setSales] = useState<MarketSales | null>(null);
  const reload = () => api.marketSales().then(setSales, (error) => say(`Your sales could not be read: ${errorMessage(error)}`));
  useEffect(() => {
    void reload();
  }, []);
  if (sales === null) return <p class="muted">Reading…</p>;
  if (sales.sales.length === 0 && sales.payouts.length === 0)
    return <p class="empty">No sales yet. When someone buys one of your paid listings, it shows here with the fee and what you receive.</p>;

  async function refund(sale: MarketSale): Promise<void> {
    const reason = await askReason({
      title: `Refund ${money(sale.amount_minor, sale.currency)} to ${sale.buyer}?`,
      body: `Stripe gives the buyer the whole price back, takes your share back from your balance and returns the platform's fee. “${sale.title}” leaves their library on every device.`,
      label: "Why (the buyer sees this)",
      confirm: "Refund",
      danger: true,
    });
    if (reason === null) return;
    try {
      await api.marketRefund(sale.purchase_id, reason);
      toast(`Refunded. “${sale.title}” has left ${sale.buyer}'s library.`);
      await reload();
    } catch (error) {
      say(errorMessage(error));
    }
  }

  return (
    <div class="market-sales">
      <section aria-label="Totals" class="market-totals">
        {Object.entries(sales.totals).map(([currency, total]) => (
          <dl class="market-total" data-currency={currency}>
            <div>
              <dt>Sales</dt>
              <dd>{total.sales.toLocaleString()}</dd>
            </div>
            <div>
              <dt>Buyers paid</dt>
              <dd>{money(total.gross_minor, currency)}</dd>
            </div>
            <div>
              <dt>Platform fee</dt>
              <dd>{money(total.fee_minor, currency)}</dd>
            </div>
            <div>
              <dt>Refunded</dt>
              <dd>{money(total.refunds_minor, currency)}</dd>
            </div>
            <div class="market-net">
              <dt>You receive</dt>
              <dd data-testid={`market-net-${currency}`}>{money(total.net_minor, currency)}</dd>
            </div>
          </dl>
        ))}
      </section>
      <section aria-label="By month">
        <h2>By month</h2>
        <table class="admin-table market-months">
          <thead>
            <tr>
              <th>Month</th>
              <th>Listing</th>
              <th class="number">Sales</th>
              <th class="number">Gross</th>
              <th class="number">Fee</th>
              <th class="number">Refunds</th>
              <th class="number">Net</th>
            </tr>
          </thead>
          <tbody>
            {sales.months.map((month) => (
              <tr>
                <td class="nowrap">{month.month}</td>
                <td>
                  <button type="button" class="link" onClick={() => open(month.listing_id)}>
                    {month.title}
                  </button>
                </td>
                <td class="number">{month.sales}</td>
                <td class="number">{money(month.gross_minor, month.currency)}</td>
                <td class="number">{money(month.fee_minor, month.currency)}</td>
                <td class="number">{money(month.refunds_minor, month.currency)}</td>
                <td class="number">
                  <strong>{money(month.net_minor, month.currency)}</strong>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-label="Latest sales">
        <h2>Latest sales</h2>
        <table class="admin-table market-sale-list">
          <thead>
            <tr>
              <th>When</th>
              <th>Listing</th>
              <th>Buyer</th>
              <th class="number">Paid</th>
              <th class="number">Fee</th>
              <th>State</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {sales.sales.map((sale) => (
              <tr data-state={sale.state}>
                <td class="nowrap">{day(sale.created_at)}</td>
                <td>{sale.title}</td>
                <td>{sale.buyer}</td>
                <td class="number">{money(sale.amount_minor, sale.currency)}</td>
                <td class="number">{money(sale.fee_minor, sale.currency)}</td>
                <td>
                  {sale.state === "refunded" ? (
                    <span class="market-state">
                      <span class="badge off">Refunded</span>
                      {sale.refund_reason ? <span class="muted"> · {sale.refund_reason}</span> : null}
                    </span>
                  ) : (
                    <span class="badge">Paid</span>
                  )}
                </td>
                <td class="card-actions">
                  {sale.state === "paid" && sale.amount_minor > 0 && (
                    <ActionButton class="quiet danger" onClick={() => refund(sale)}>
                      Refund…
                    </ActionButton>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-label="Payouts">
        <h2>Payouts</h2>
        {sales.payouts.length === 0 ? (
          <p class="muted">Stripe pays your balance out to your bank on its schedule; payouts show here as Stripe reports them.</p>
        ) : (
          <table class="admin-table market-payouts">
            <thead>
              <tr>
                <th>Arrives</th>
                <th class="number">Amount</th>
                <th>Status</th>
              </tr>
            </thead>
            <tbody>
              {sales.payouts.map((payout) => (
                <tr>
                  <td class="nowrap">{day(payout.arrival_date)}</td>
                  <td class="number">{money(payout.amount_minor, payout.currency)}</td>
                  <td>
                    <span class={payout.status === "failed" ? "badge warn" : "badge"}>{payout.status.replace("_", " ")}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
