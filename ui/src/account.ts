// Account screens: sign in (email or a provider), create an account, reset a
// password, and the profile with theme and sign-out. Every call goes through
// the shell's commands; the webview never holds a token.
import {
  api,
  errorMessage,
  MAX_PASSWORD_CHARS,
  MIN_PASSWORD_CHARS,
  type AccountState,
  type CommandError,
  type Theme,
} from "./api";
import { element, field } from "./dom";
import { applyTheme } from "./theme";

/** What the user reads for a refused account command. */
export function describeAccountError(error: unknown): string {
  const code = typeof error === "object" && error !== null && "code" in error ? (error as CommandError).code : "";
  switch (code) {
    case "offline":
      return "Can't reach the Orrery server. Check your connection — your library keeps working on this device.";
    case "unauthorized":
      return "Wrong email or password.";
    case "locked":
      return errorMessage(error).replace(/^./, (first) => first.toUpperCase());
    case "conflict":
      return "An account with this email already exists. Sign in instead.";
    default:
      return errorMessage(error);
  }
}

/** Checks an email the way the server will. */
export function checkEmail(email: string): string | null {
  const trimmed = email.trim();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(trimmed)) return "Enter an email address like name@example.com.";
  if (trimmed.length > 254) return "That email address is too long.";
  return null;
}

/** Checks a new password against the server's rules. */
export function checkNewPassword(password: string): string | null {
  const length = [...password].length;
  if (length < MIN_PASSWORD_CHARS) return `Use at least ${MIN_PASSWORD_CHARS} characters.`;
  if (length > MAX_PASSWORD_CHARS) return `Use at most ${MAX_PASSWORD_CHARS} characters.`;
  if (password.trim().length === 0) return "A password of only spaces is not allowed.";
  return null;
}

type Mode = "sign-in" | "register" | "reset";

function notice(): HTMLParagraphElement {
  const node = element("p", { class: "notice", role: "alert", "data-testid": "account-notice" });
  node.hidden = true;
  return node;
}

function show(node: HTMLElement, message: string | null, kind: "bad" | "good" = "bad"): void {
  node.textContent = message ?? "";
  node.hidden = message === null;
  node.dataset.kind = kind;
}

/** Runs a command with its button disabled, showing any refusal. */
async function busy<T>(button: HTMLButtonElement, out: HTMLElement, work: () => Promise<T>): Promise<T | undefined> {
  button.disabled = true;
  show(out, null);
  try {
    return await work();
  } catch (error) {
    show(out, describeAccountError(error));
    return undefined;
  } finally {
    button.disabled = false;
  }
}

/** The sign-in / create-account / reset screen. */
export function mountSignIn(root: HTMLElement, onSignedIn: (state: AccountState) => void, mode: Mode = "sign-in"): void {
  root.replaceChildren();
  const panel = element("section", { class: "auth", "aria-label": "Account" });
  const tabs = element("nav", { class: "tabs", role: "tablist" });
  const titles: Record<Mode, string> = { "sign-in": "Sign in", register: "Create account", reset: "Forgot password" };
  for (const each of ["sign-in", "register", "reset"] as Mode[]) {
    const tab = element("button", { type: "button", role: "tab", class: "quiet", "aria-selected": String(each === mode) }, titles[each]);
    tab.addEventListener("click", () => mountSignIn(root, onSignedIn, each));
    tabs.append(tab);
  }
  const out = notice();
  panel.append(element("h1", {}, titles[mode]), tabs);

  if (mode === "sign-in") {
    const form = element("form", { "aria-label": "Sign in with email", novalidate: "" });
    const email = field("Email", { type: "email", name: "email", autocomplete: "username" });
    const password = field("Password", { type: "password", name: "password", autocomplete: "current-password" });
    const submit = element("button", { type: "submit" }, "Sign in");
    form.append(email.wrapper, password.wrapper, submit);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const problem = checkEmail(email.input.value) ?? (password.input.value ? null : "Enter your password.");
      if (problem) return show(out, problem);
      void busy(submit, out, () => api.signIn(email.input.value.trim(), password.input.value)).then((state) => {
        if (state) onSignedIn(state);
      });
    });
    const providers = element("div", { class: "providers", "aria-label": "Other ways to sign in" });
    panel.append(form, providers);
    void api
      .listProviders()
      .then((list) => {
        for (const provider of list) {
          const button = element("button", { type: "button", class: "quiet", "data-provider": provider.id }, `Continue with ${provider.name}`);
          button.addEventListener("click", () => {
            show(out, `Finish signing in with ${provider.name} in your browser…`, "good");
            void busy(button, out, () => api.signInWithProvider(provider.id)).then((state) => {
              if (state) onSignedIn(state);
            });
          });
          providers.append(button);
        }
      })
      .catch(() => {
        // Offline: only email sign-in is shown; it explains the network when tried.
      });
  } else if (mode === "register") {
    const form = element("form", { "aria-label": "Create an account", novalidate: "" });
    const name = field("Name", { name: "name", autocomplete: "name", maxlength: "100" });
    const email = field("Email", { type: "email", name: "email", autocomplete: "username" });
    const password = field("Password", { type: "password", name: "password", autocomplete: "new-password" });
    const submit = element("button", { type: "submit" }, "Create account");
    form.append(name.wrapper, email.wrapper, password.wrapper, submit);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const problem =
        (name.input.value.trim() ? null : "Tell us your name.") ?? checkEmail(email.input.value) ?? checkNewPassword(password.input.value);
      if (problem) return show(out, problem);
      void busy(submit, out, () => api.register(email.input.value.trim(), password.input.value, name.input.value.trim())).then(
        (state) => {
          if (state) onSignedIn(state);
        },
      );
    });
    panel.append(form);
  } else {
    const ask = element("form", { "aria-label": "Ask for a reset code", novalidate: "" });
    const email = field("Email", { type: "email", name: "email", autocomplete: "username" });
    const send = element("button", { type: "submit" }, "Send a reset code");
    ask.append(email.wrapper, send);
    const confirm = element("form", { "aria-label": "Set a new password", novalidate: "" });
    const code = field("Code from the email", { name: "code", autocomplete: "one-time-code" });
    const password = field("New password", { type: "password", name: "password", autocomplete: "new-password" });
    const save = element("button", { type: "submit" }, "Set new password");
    confirm.append(code.wrapper, password.wrapper, save);
    ask.addEventListener("submit", (event) => {
      event.preventDefault();
      const problem = checkEmail(email.input.value);
      if (problem) return show(out, problem);
      void busy(send, out, () => api.requestPasswordReset(email.input.value.trim())).then((done) => {
        if (done !== undefined || !out.textContent) {
          show(out, "If an account uses that address, a code is on its way. It works once, for 30 minutes.", "good");
        }
      });
    });
    confirm.addEventListener("submit", (event) => {
      event.preventDefault();
      const problem = (code.input.value.trim() ? null : "Paste the code from the email.") ?? checkNewPassword(password.input.value);
      if (problem) return show(out, problem);
      void busy(save, out, () => api.confirmPasswordReset(code.input.value.trim(), password.input.value)).then(() => {
        if (!out.textContent) mountSignIn(root, onSignedIn, "sign-in");
      });
    });
    panel.append(ask, confirm);
  }
  panel.append(out);
  root.append(panel);
}

/** "Free plan", "Pro plan": a plan key as people read it. */
export function describePlan(key: string): string {
  const words = key.split(/[-_]/).filter(Boolean);
  const name = words.map((word) => word[0].toUpperCase() + word.slice(1)).join(" ");
  return `${name || "Unknown"} plan`;
}

/** The profile: name, theme, plan and trial, sign-out. */
export function mountProfile(root: HTMLElement, state: AccountState, onSignedOut: (state: AccountState) => void): void {
  root.replaceChildren();
  const account = state.account;
  if (!account) return;
  const panel = element("section", { class: "auth", "aria-label": "Profile" });
  const out = notice();
  const heading = element("h1", {}, "Profile and settings");
  if (account.role === "admin") {
    heading.append(
      " ",
      element(
        "span",
        { class: "badge role", "data-testid": "admin-badge", title: "The first account on this server administers it" },
        "Admin",
      ),
    );
  }
  panel.append(heading);
  const facts = element("dl", { class: "facts" });
  const trial =
    account.trial_days_remaining === null
      ? "No trial"
      : account.trial_days_remaining > 0
        ? `${account.trial_days_remaining} ${account.trial_days_remaining === 1 ? "day" : "days"} left`
        : "Trial ended";
  for (const [term, value] of [
    ["Email", account.email],
    ["Plan", describePlan(account.plan)],
    ["Role", account.role === "admin" ? "Administrator of this server" : "Member"],
    ["Trial", trial],
    ["Signed in with", account.providers.length ? account.providers.join(", ") : "email and password"],
  ]) {
    facts.append(element("dt", {}, term), element("dd", { "data-fact": term }, value));
  }
  panel.append(facts);

  const nameForm = element("form", { "aria-label": "Change name", novalidate: "" });
  const name = field("Name", { name: "name", maxlength: "100" });
  name.input.value = account.name;
  const saveName = element("button", { type: "submit" }, "Save name");
  nameForm.append(name.wrapper, saveName);
  nameForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!name.input.value.trim()) return show(out, "A name cannot be empty.");
    void busy(saveName, out, () => api.updateProfile({ name: name.input.value.trim() })).then((next) => {
      if (next) show(out, "Saved.", "good");
    });
  });

  const themes = element("fieldset", { class: "themes" });
  themes.append(element("legend", {}, "Theme"));
  for (const theme of ["light", "dark", "system"] as Theme[]) {
    const label = element("label", {});
    const radio = element("input", { type: "radio", name: "theme", value: theme });
    radio.checked = account.theme === theme;
    radio.addEventListener("change", () => {
      const previous = account.theme;
      applyTheme(theme); // at once, before the server answers
      void api
        .updateProfile({ theme })
        .then((next) => {
          account.theme = theme;
          show(out, null);
          return next;
        })
        .catch((error) => {
          applyTheme(previous);
          for (const other of themes.querySelectorAll<HTMLInputElement>("input")) other.checked = other.value === previous;
          show(out, describeAccountError(error));
        });
    });
    label.append(radio, document.createTextNode(` ${theme[0].toUpperCase()}${theme.slice(1)}`));
    themes.append(label);
  }

  const signOut = element("button", { type: "button", class: "quiet", "data-testid": "sign-out" }, "Sign out");
  signOut.addEventListener("click", () => {
    void busy(signOut, out, () => api.signOut()).then((next) => {
      if (next) onSignedOut(next);
    });
  });
  panel.append(nameForm, themes, signOut, out);
  if (state.keyring_problem) {
    panel.append(element("p", { class: "hint" }, state.keyring_problem));
  }
  root.append(panel);
}
