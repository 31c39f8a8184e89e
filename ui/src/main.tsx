// Entry point of the main window: the app frame (the product mark and the
// screens' tabs, which stay at the top while a page scrolls) over one content
// column that every screen shares. The account decides the theme for the
// whole window.
import { render, type VNode } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, type AccountState } from "./api";
import { Profile, SignIn } from "./account";
import { Billing } from "./billing";
import { GraphList } from "./graph-list";
import { Agents } from "./agents";
import { Prompts } from "./prompts";
import { Providers } from "./providers";
import { Channels } from "./channels";
import { Teams } from "./teams";
import { Marketplace } from "./marketplace";
import { applyTheme } from "./theme";
import { showWelcomeIfDue } from "./welcome";
import { showAbout } from "./about";
import { UpdateBar } from "./updates";
import { toast } from "./feedback";
import { AdminApp } from "./admin";
import { useShellEvent } from "./shell-events";

type ScreenKey = "graphs" | "agents" | "prompts" | "providers" | "marketplace" | "teams" | "channels" | "billing" | "account";

/** What a screen is handed by the frame. */
interface Frame {
  account: AccountState;
  /** The account changed here (signed in, profile saved): the frame adopts it. */
  adopt: (next: AccountState) => void;
  show: (screen: ScreenKey) => void;
  /** The welcome's "Start from a template" led here. */
  showTemplates: boolean;
  /** What an orrery:// link named for the screen: a marketplace listing's id, an invitation's code. */
  linked: string | null;
}

interface Screen {
  key: ScreenKey;
  tab: (account: AccountState) => string;
  /** Needs an account: signed out, the sign-in form stands in its place. */
  signedIn?: boolean;
  /** Its tab is offered only to a signed-in user. */
  hiddenSignedOut?: boolean;
  view: (frame: Frame) => VNode;
}

/** What stands in for a screen that needs an account, when signed out. */
function signIn(frame: Frame): VNode {
  return (
    <SignIn
      signedIn={(next) => {
        frame.adopt(next);
        frame.show("graphs");
      }}
    />
  );
}

/** Every screen, in the order of the tabs. */
const SCREENS: Screen[] = [
  { key: "graphs", tab: () => "Graphs", view: (frame) => <GraphList showTemplates={frame.showTemplates} /> },
  { key: "agents", tab: () => "Agents", view: () => <Agents /> },
  { key: "prompts", tab: () => "Prompts", view: () => <Prompts /> },
  { key: "providers", tab: () => "Providers", view: () => <Providers /> },
  { key: "marketplace", tab: () => "Marketplace", signedIn: true, hiddenSignedOut: true, view: (frame) => <Marketplace listing={frame.linked} /> },
  { key: "teams", tab: () => "Teams", signedIn: true, hiddenSignedOut: true, view: (frame) => <Teams invitation={frame.linked} /> },
  { key: "channels", tab: () => "Channels", signedIn: true, hiddenSignedOut: true, view: () => <Channels /> },
  { key: "billing", tab: () => "Billing", signedIn: true, hiddenSignedOut: true, view: () => <Billing /> },
  {
    key: "account",
    tab: (account) => account.account?.name ?? "Sign in",
    signedIn: true,
    // Signed out here, the same tab shows the sign-in form.
    view: (frame) => <Profile state={frame.account} changed={frame.adopt} />,
  },
];

const SIGNED_OUT: AccountState = { signed_in: false, account: null, keyring_problem: null };

function App() {
  const [account, setAccount] = useState<AccountState>(SIGNED_OUT);
  /**
   * The screen on show, once the account is known. `visit` counts the times
   * a screen was chosen: choosing a tab, even the current one, opens its
   * screen afresh.
   */
  const [place, setPlace] = useState<{ screen: ScreenKey; visit: number; templates: boolean; linked: string | null } | null>(null);
  const show = (screen: ScreenKey, templates = false, linked: string | null = null) =>
    setPlace((last) => ({ screen, visit: (last?.visit ?? 0) + 1, templates, linked }));
  const adopt = (next: AccountState) => {
    setAccount(next);
    applyTheme(next.account?.theme ?? "system");
  };
  useShellEvent(api.onAccountChanged, adopt);
  // The canvas asks for a screen by name (a failed run offers "Open Providers").
  // An orrery:// link asked for a listing, or for something that failed.
  useShellEvent(api.onOpenListing, (listing: string) => show("marketplace", false, listing));
  // An invitation link: the Teams screen with its code in the Join box.
  useShellEvent(api.onOpenInvitation, (code: string) => show("teams", false, code));
  useShellEvent(api.onNotice, (message: string) => toast(message, { kind: "bad" }));
  useShellEvent(api.onOpenScreen, (screen: string) => {
    const known = SCREENS.find((each) => each.key === screen);
    if (known) show(known.key);
  });

  useEffect(() => {
    void (async () => {
      let first = SIGNED_OUT;
      try {
        first = await api.accountState();
        adopt(first);
      } catch {
        // Shown as signed out; the account screen explains problems when used.
      }
      show(first.signed_in ? "graphs" : "account");
      // The first start explains the two windows and where to begin.
      const choice = await showWelcomeIfDue();
      if (choice === "providers") show("providers");
      else if (choice === "templates") show("graphs", true);
    })();
  }, []);

  const frame: Frame = { account, adopt, show: (screen) => show(screen), showTemplates: place?.templates ?? false, linked: place?.linked ?? null };
  const current = SCREENS.find((each) => each.key === place?.screen);
  return (
    <>
      <header class="frame">
        <div class="frame-inner">
          <Brand />
          <nav class="screens" aria-label="Screens">
            {SCREENS.map((each) => (
              <button
                type="button"
                class={each.key === "account" ? "quiet account-tab" : "quiet"}
                data-screen={each.key}
                aria-current={each.key === place?.screen}
                hidden={each.hiddenSignedOut && !account.signed_in}
                onClick={() => show(each.key)}
              >
                {each.tab(account)}
              </button>
            ))}
            {account.account?.role === "admin" && (
              <button type="button" class="quiet manage-tab" data-testid="manage" title="Users, plans and the audit log of this server" onClick={() => void api.openAdminWindow()}>
                Manage
              </button>
            )}
          </nav>
        </div>
      </header>
      <UpdateBar />
      <main class="page" id="page" key={place?.visit}>
        {current && (current.signedIn && !account.signed_in ? signIn(frame) : current.view(frame))}
      </main>
    </>
  );
}

/** The product mark: an orbit around a body, and the name; it opens About. */
function Brand() {
  return (
    <button type="button" class="brand" aria-label="About Orrery" title="About Orrery" onClick={() => void showAbout()}>
      <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">
        <circle cx="12" cy="12" r="4" fill="currentColor" />
        <ellipse cx="12" cy="12" rx="10" ry="4.5" fill="none" stroke="currentColor" stroke-width="1.5" transform="rotate(-25 12 12)" />
        <circle cx="20.2" cy="8.4" r="1.8" fill="var(--accent)" />
      </svg>
      <span>Orrery</span>
    </button>
  );
}

// One bundle, two windows: the management window opens it at `#admin`.
const root = document.querySelector<HTMLDivElement>("#app");
if (root) render(location.hash === "#admin" ? <AdminApp /> : <App />, root);
