// The first-run welcome: what the two windows are, where to start, and how
// to connect a model. Shown once per device; any way of closing it counts.
import { api } from "./api";
import { showModal } from "./feedback";

/** Where the newcomer chose to go from the welcome. */
export type WelcomeChoice = "templates" | "providers" | "close";

const STEPS = [
  ["This window is your library", "Graphs, agents, prompts and model providers live here, with your account and plan. Everything is saved on this computer first and syncs when you are online."],
  ["The canvas opens with a graph", "Open a graph to see its agents as nodes in 3D: drag them, connect them, press L to lay them out, and give the team a task in the Chat panel."],
  ["Connect a model", "Ollama runs models on this computer with no key (ollama.com). Or add an OpenAI-compatible, Anthropic or Gemini key in Providers; keys stay in your system keyring."],
] as const;

/** Shows the welcome if it is due; resolves with the choice (or "close" when it was not shown). */
export async function showWelcomeIfDue(): Promise<WelcomeChoice> {
  if (!(await api.welcomeDue().catch(() => false))) return "close";
  const choice = await showModal(
    "welcome-dialog",
    "welcome-title",
    <>
      <h2 id="welcome-title">Welcome to Orrery</h2>
      <p class="lead">Build teams of AI agents as graphs, run them, and watch them work.</p>
      <ol class="welcome-steps">
        {STEPS.map(([title, body]) => (
          <li>
            <strong>{title}</strong>
            <p>{body}</p>
          </li>
        ))}
      </ol>
      <div class="actions">
        <button value="close" class="quiet">Close</button>
        <button value="providers" class="quiet">Connect a model provider</button>
        {/* The way forward has focus. */}
        <button value="templates" autofocus>Start from a template</button>
      </div>
    </>,
  );
  void api.dismissWelcome().catch(() => undefined);
  return (["templates", "providers"] as const).find((value) => value === choice) ?? "close";
}
