// Account screens: sign in (email or a provider), create an account, reset a
// password, and the profile with theme and sign-out. Every call goes through
// the shell's commands; the webview never holds a token.
import { useEffect, useState } from "preact/hooks";
import {
  api,
  errorMessage,
  MAX_PASSWORD_CHARS,
  MIN_PASSWORD_CHARS,
  type AccountState,
  type CommandError,
  type Provider,
  type Theme,
} from "./api";
import { Field, Notice, useNotice, type Say } from "./controls";
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

/** "Free plan", "Pro plan": a plan key as people read it. */
export function describePlan(key: string): string {
  const words = key.split(/[-_]/).filter(Boolean);
  const name = words.map((word) => word[0].toUpperCase() + word.slice(1)).join(" ");
  return `${name || "Unknown"} plan`;
}

/** Runs a command (`which` names it, so its button is disabled meanwhile). */
type Run = <T>(which: string, work: () => Promise<T>, waiting?: string) => Promise<{ value: T } | null>;

/**
 * Account commands one at a time: `busy` names the one running. The notice
 * says `waiting` meanwhile (or nothing), then any refusal; a refused command
 * resolves null.
 */
function useCommand(say: Say): [string | null, Run] {
  const [busy, setBusy] = useState<string | null>(null);
  const run: Run = async (which, work, waiting) => {
    setBusy(which);
    say(waiting ?? null, "good");
    try {
      return { value: await work() };
    } catch (error) {
      say(describeAccountError(error));
      return null;
    } finally {
      setBusy(null);
    }
  };
  return [busy, run];
}

type Mode = "sign-in" | "register" | "reset";

const TITLES: Record<Mode, string> = { "sign-in": "Sign in", register: "Create account", reset: "Forgot password" };

/** The sign-in / create-account / reset screen. */
export function SignIn({ signedIn }: { signedIn: (state: AccountState) => void }) {
  const [mode, setMode] = useState<Mode>("sign-in");
  const [said, say] = useNotice();
  const choose = (next: Mode) => {
    setMode(next);
    say(null);
  };
  return (
    <section class="auth" aria-label="Account">
      <h1>{TITLES[mode]}</h1>
      <nav class="tabs" role="tablist">
        {(Object.keys(TITLES) as Mode[]).map((each) => (
          <button type="button" role="tab" class="quiet" aria-selected={each === mode} onClick={() => choose(each)}>
            {TITLES[each]}
          </button>
        ))}
      </nav>
      {mode === "sign-in" && <SignInForms say={say} signedIn={signedIn} />}
      {mode === "register" && <Register say={say} signedIn={signedIn} />}
      {mode === "reset" && <Reset say={say} done={() => choose("sign-in")} />}
      <Notice said={said} testId="account-notice" />
    </section>
  );
}

function SignInForms({ say, signedIn }: { say: Say; signedIn: (state: AccountState) => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [providers, setProviders] = useState<Provider[]>([]);
  const [busy, run] = useCommand(say);
  useEffect(() => {
    // Offline: only email sign-in is shown; it explains the network when tried.
    api.listProviders().then(setProviders, () => undefined);
  }, []);
  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    const problem = checkEmail(email) ?? (password ? null : "Enter your password.");
    if (problem) return say(problem);
    const state = await run("email", () => api.signIn(email.trim(), password));
    if (state) signedIn(state.value);
  }
  async function withProvider(provider: Provider): Promise<void> {
    const state = await run(provider.id, () => api.signInWithProvider(provider.id), `Finish signing in with ${provider.name} in your browser…`);
    if (state) signedIn(state.value);
  }
  return (
    <>
      <form aria-label="Sign in with email" noValidate onSubmit={submit}>
        <Field label="Email" type="email" name="email" autocomplete="username" value={email} onValue={setEmail} />
        <Field label="Password" type="password" name="password" autocomplete="current-password" value={password} onValue={setPassword} />
        <button type="submit" disabled={busy === "email"}>Sign in</button>
      </form>
      <div class="providers" role="group" aria-label="Other ways to sign in">
        {providers.map((provider) => (
          <button
            type="button"
            class="quiet"
            data-provider={provider.id}
            disabled={busy === provider.id}
            onClick={() => void withProvider(provider)}
          >
            Continue with {provider.name}
          </button>
        ))}
      </div>
    </>
  );
}

function Register({ say, signedIn }: { say: Say; signedIn: (state: AccountState) => void }) {
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, run] = useCommand(say);
  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    const problem = (name.trim() ? null : "Tell us your name.") ?? checkEmail(email) ?? checkNewPassword(password);
    if (problem) return say(problem);
    const state = await run("register", () => api.register(email.trim(), password, name.trim()));
    if (state) signedIn(state.value);
  }
  return (
    <form aria-label="Create an account" noValidate onSubmit={submit}>
      <Field label="Name" name="name" autocomplete="name" maxLength={100} value={name} onValue={setName} />
      <Field label="Email" type="email" name="email" autocomplete="username" value={email} onValue={setEmail} />
      <Field label="Password" type="password" name="password" autocomplete="new-password" value={password} onValue={setPassword} />
      <button type="submit" disabled={busy === "register"}>Create account</button>
    </form>
  );
}

/** Asks for a reset code by email, then sets a new password with it; `done` once it is set. */
function Reset({ say, done }: { say: Say; done: () => void }) {
  const [email, setEmail] = useState("");
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const [busy, run] = useCommand(say);
  async function ask(event: Event): Promise<void> {
    event.preventDefault();
    const problem = checkEmail(email);
    if (problem) return say(problem);
    if (await run("ask", () => api.requestPasswordReset(email.trim())))
      say("If an account uses that address, a code is on its way. It works once, for 30 minutes.", "good");
  }
  async function confirm(event: Event): Promise<void> {
    event.preventDefault();
    const problem = (code.trim() ? null : "Paste the code from the email.") ?? checkNewPassword(password);
    if (problem) return say(problem);
    if (await run("confirm", () => api.confirmPasswordReset(code.trim(), password))) done();
  }
  return (
    <>
      <form aria-label="Ask for a reset code" noValidate onSubmit={ask}>
        <Field label="Email" type="email" name="email" autocomplete="username" value={email} onValue={setEmail} />
        <button type="submit" disabled={busy === "ask"}>Send a reset code</button>
      </form>
      <form aria-label="Set a new password" noValidate onSubmit={confirm}>
        <Field label="Code from the email" name="code" autocomplete="one-time-code" value={code} onValue={setCode} />
        <Field label="New password" type="password" name="password" autocomplete="new-password" value={password} onValue={setPassword} />
        <button type="submit" disabled={busy === "confirm"}>Set new password</button>
      </form>
    </>
  );
}

const THEMES: Theme[] = ["light", "dark", "system"];

/** The profile: name, theme, plan and trial, sign-out. `changed` is told the account after each change, signing out too. */
export function Profile(props: { state: AccountState; changed: (state: AccountState) => void }) {
  const account = props.state.account;
  const [name, setName] = useState(account?.name ?? "");
  const [theme, setTheme] = useState<Theme>(account?.theme ?? "system");
  const [said, say] = useNotice();
  const [busy, run] = useCommand(say);
  if (!account) return null;

  async function saveName(event: Event): Promise<void> {
    event.preventDefault();
    if (!name.trim()) return say("A name cannot be empty.");
    const next = await run("name", () => api.updateProfile({ name: name.trim() }));
    if (next) {
      props.changed(next.value);
      say("Saved.", "good");
    }
  }
  async function chooseTheme(next: Theme): Promise<void> {
    const previous = theme;
    setTheme(next);
    applyTheme(next); // at once, before the server answers
    try {
      props.changed(await api.updateProfile({ theme: next }));
      say(null);
    } catch (error) {
      setTheme(previous);
      applyTheme(previous);
      say(describeAccountError(error));
    }
  }
  async function signOut(): Promise<void> {
    const next = await run("sign-out", () => api.signOut());
    if (next) props.changed(next.value);
  }

  const days = account.trial_days_remaining;
  const facts = [
    ["Email", account.email],
    ["Plan", describePlan(account.plan)],
    ["Role", account.role === "admin" ? "Administrator of this server" : "Member"],
    ["Trial", days === null ? "No trial" : days > 0 ? `${days} ${days === 1 ? "day" : "days"} left` : "Trial ended"],
    ["Signed in with", account.providers.length ? account.providers.join(", ") : "email and password"],
  ];
  return (
    <section class="auth profile" aria-label="Profile">
      <h1>
        Profile and settings
        {account.role === "admin" && (
          <>
            {" "}
            <span class="badge role" data-testid="admin-badge" title="The first account on this server administers it">
              Admin
            </span>
          </>
        )}
      </h1>
      <dl class="facts">
        {facts.map(([term, value]) => (
          <>
            <dt>{term}</dt>
            <dd data-fact={term}>{value}</dd>
          </>
        ))}
      </dl>
      <form aria-label="Change name" noValidate onSubmit={saveName}>
        <Field label="Name" name="name" maxLength={100} value={name} onValue={setName} />
        <button type="submit" disabled={busy === "name"}>Save name</button>
      </form>
      <fieldset class="themes">
        <legend>Theme</legend>
        {THEMES.map((each) => (
          <label>
            <input type="radio" name="theme" value={each} checked={theme === each} onChange={() => void chooseTheme(each)} />
            {` ${each[0].toUpperCase()}${each.slice(1)}`}
          </label>
        ))}
      </fieldset>
      <button type="button" class="quiet" data-testid="sign-out" disabled={busy === "sign-out"} onClick={() => void signOut()}>
        Sign out
      </button>
      <Notice said={said} testId="account-notice" />
      {props.state.keyring_problem && <p class="hint">{props.state.keyring_problem}</p>}
    </section>
  );
}
