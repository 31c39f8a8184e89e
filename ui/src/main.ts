// Entry point of the main window: the app frame (the product mark and the
// screens' tabs, which stay at the top while a page scrolls) over one content
// column that every screen shares. The account decides the theme for the
// whole window.
import { api, type AccountState } from "./api";
import { mountProfile, mountSignIn } from "./account";
import { element } from "./dom";
import { mountBilling } from "./billing";
import { mountGraphList } from "./graph-list";
import { mountAgents, mountPrompts } from "./library";
import { mountProviders } from "./providers";
import { applyTheme } from "./theme";
import { showWelcomeIfDue } from "./welcome";
import { showAbout } from "./about";

type Screen = "graphs" | "agents" | "prompts" | "providers" | "billing" | "account";

async function start(root: HTMLElement): Promise<void> {
  const nav = element("nav", { class: "screens", "aria-label": "Screens" });
  const graphsTab = element("button", { type: "button", class: "quiet", "data-screen": "graphs" }, "Graphs");
  const agentsTab = element("button", { type: "button", class: "quiet", "data-screen": "agents" }, "Agents");
  const promptsTab = element("button", { type: "button", class: "quiet", "data-screen": "prompts" }, "Prompts");
  const providersTab = element("button", { type: "button", class: "quiet", "data-screen": "providers" }, "Providers");
  const billingTab = element("button", { type: "button", class: "quiet", "data-screen": "billing" }, "Billing");
  const accountTab = element("button", { type: "button", class: "quiet", "data-screen": "account" }, "Sign in");
  accountTab.classList.add("account-tab");
  nav.append(graphsTab, agentsTab, promptsTab, providersTab, billingTab, accountTab);
  const frame = element("header", { class: "frame" });
  const inner = element("div", { class: "frame-inner" });
  inner.append(brand(), nav);
  frame.append(inner);
  const view = element("main", { class: "page", id: "page" });
  root.replaceChildren(frame, view);

  let state: AccountState = { signed_in: false, account: null, keyring_problem: null };
  let screen: Screen = "graphs";

  function show(next: Screen): void {
    screen = next;
    graphsTab.setAttribute("aria-current", String(screen === "graphs"));
    agentsTab.setAttribute("aria-current", String(screen === "agents"));
    promptsTab.setAttribute("aria-current", String(screen === "prompts"));
    providersTab.setAttribute("aria-current", String(screen === "providers"));
    accountTab.setAttribute("aria-current", String(screen === "account"));
    billingTab.setAttribute("aria-current", String(screen === "billing"));
    if (screen === "graphs") {
      void mountGraphList(view);
    } else if (screen === "agents") {
      void mountAgents(view);
    } else if (screen === "prompts") {
      void mountPrompts(view);
    } else if (screen === "providers") {
      void mountProviders(view);
    } else if (screen === "billing" && state.signed_in) {
      void mountBilling(view);
    } else if (state.signed_in) {
      mountProfile(view, state, signedOut);
    } else {
      mountSignIn(view, signedIn);
    }
  }

  function adopt(next: AccountState): void {
    state = next;
    accountTab.textContent = next.account ? next.account.name : "Sign in";
    billingTab.hidden = !next.signed_in;
    applyTheme(next.account?.theme ?? "system");
  }

  function signedIn(next: AccountState): void {
    adopt(next);
    show("graphs");
  }

  function signedOut(next: AccountState): void {
    adopt(next);
    show("account");
  }

  graphsTab.addEventListener("click", () => show("graphs"));
  agentsTab.addEventListener("click", () => show("agents"));
  promptsTab.addEventListener("click", () => show("prompts"));
  providersTab.addEventListener("click", () => show("providers"));
  billingTab.addEventListener("click", () => show("billing"));
  accountTab.addEventListener("click", () => show("account"));
  await api.onAccountChanged((next) => {
    const wasSignedIn = state.signed_in;
    adopt(next);
    if (screen === "account" && wasSignedIn !== next.signed_in) show("account");
  });
  try {
    adopt(await api.accountState());
  } catch {
    // Shown as signed out; the account screen explains problems when used.
  }
  show(state.signed_in ? "graphs" : "account");
  // The first start explains the two windows and where to begin.
  const choice = await showWelcomeIfDue();
  if (choice === "providers") show("providers");
  else if (choice === "templates") {
    show("graphs");
    document.querySelector<HTMLElement>("[aria-label='Templates'], details.templates")?.scrollIntoView({ block: "start" });
  }
}

/** The product mark: an orbit around a body, and the name; it opens About. */
function brand(): HTMLElement {
  const mark = element("button", { type: "button", class: "brand", "aria-label": "About Orrery", title: "About Orrery" });
  mark.addEventListener("click", () => void showAbout());
  mark.innerHTML =
    '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">' +
    '<circle cx="12" cy="12" r="4" fill="currentColor"/>' +
    '<ellipse cx="12" cy="12" rx="10" ry="4.5" fill="none" stroke="currentColor" stroke-width="1.5" transform="rotate(-25 12 12)"/>' +
    '<circle cx="20.2" cy="8.4" r="1.8" fill="var(--accent)"/></svg>';
  mark.append(element("span", {}, "Orrery"));
  return mark;
}

const root = document.querySelector<HTMLDivElement>("#app");
if (root) {
  void start(root);
}
