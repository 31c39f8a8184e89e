// The model provider screen: which provider sandbox runs call (a local
// Ollama by default, or Anthropic, Gemini, any OpenAI-compatible server), its
// model, and its API key — kept in the system keyring, never shown again.
import { useEffect, useState } from "preact/hooks";
import { api, errorMessage, type ProviderKind, type ProviderSettings } from "./api";
import { ActionButton, Field, Notice, useNotice } from "./controls";

/** Where each kind answers unless told otherwise (orrery_runtime::ProviderKind). */
export const PROVIDER_DEFAULTS: Record<ProviderKind, { label: string; base_url: string; model: string; needs_key: boolean }> = {
  open_ai_compatible: { label: "OpenAI-compatible (Ollama, llama.cpp, vLLM, OpenAI)", base_url: "http://127.0.0.1:11434/v1", model: "llama3.2", needs_key: false },
  anthropic: { label: "Anthropic", base_url: "https://api.anthropic.com", model: "claude-3-5-haiku-latest", needs_key: true },
  gemini: { label: "Gemini", base_url: "https://generativelanguage.googleapis.com", model: "gemini-2.0-flash", needs_key: true },
};

/** Checks the address and model before a round trip; null when fine. */
export function checkProvider(settings: ProviderSettings): string | null {
  let url: URL;
  try {
    url = new URL(settings.base_url.trim());
  } catch {
    return "The address is not a URL, like http://127.0.0.1:11434/v1.";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "The address starts with http:// or https://.";
  if (url.username || url.password) return "Put the API key in its own field, not in the address.";
  if (settings.model.trim().length === 0) return "Name the model to ask, like llama3.2.";
  if ([...settings.model.trim()].length > 200) return "Model names are at most 200 characters.";
  return null;
}


export function Providers() {
  const [settings, setSettings] = useState<ProviderSettings>({ kind: "open_ai_compatible", base_url: "", model: "" });
  const [hasKey, setHasKey] = useState(false);
  /** The key as typed; null until it is touched, so saving keeps the stored one. */
  const [apiKey, setApiKey] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [said, say] = useNotice();
  const defaults = PROVIDER_DEFAULTS[settings.kind];

  useEffect(() => {
    // The call limits (timeouts, attempts) are not on this screen: saving sends back what was read.
    api.getProvider().then(
      (view) => {
        setSettings(view.settings);
        setHasKey(view.has_api_key);
      },
      (error) => say(`The provider settings could not be read: ${errorMessage(error)}`),
    );
  }, []);

  async function save(event: Event): Promise<void> {
    event.preventDefault();
    const next: ProviderSettings = {
      kind: settings.kind,
      base_url: settings.base_url.trim(),
      model: settings.model.trim(),
      ...(settings.limits ? { limits: settings.limits } : {}),
    };
    const problem = checkProvider(next);
    if (problem) return say(problem);
    setSaving(true);
    try {
      const view = await api.saveProvider(next, apiKey);
      setHasKey(view.has_api_key);
      setApiKey(null);
      say("Saved.", "good");
    } catch (error) {
      say(errorMessage(error));
    } finally {
      setSaving(false);
    }
  }

  async function test(): Promise<void> {
    say("Asking the provider…", "good");
    try {
      const answer = await api.testProvider();
      say(`The provider answered: “${answer.trim().slice(0, 80)}”`, "good");
    } catch (error) {
      say(errorMessage(error));
    }
  }

  return (
    <>
      <header class="bar">
        <h1>Model provider</h1>
      </header>
      <Notice said={said} />
      <form class="provider" aria-label="Provider settings" onSubmit={save}>
        <label class="field">
          <span>Provider</span>
          <select
            name="kind"
            aria-label="Provider"
            value={settings.kind}
            onChange={(event) => {
              // Another kind starts from where it usually answers.
              const kind = event.currentTarget.value as ProviderKind;
              setSettings({ ...settings, kind, base_url: PROVIDER_DEFAULTS[kind].base_url, model: PROVIDER_DEFAULTS[kind].model });
            }}
          >
            {Object.entries(PROVIDER_DEFAULTS).map(([value, each]) => (
              <option value={value}>{each.label}</option>
            ))}
          </select>
        </label>
        <Field label="Address" name="base_url" autocomplete="off" value={settings.base_url} onValue={(base_url) => setSettings({ ...settings, base_url })} />
        <Field label="Model" name="model" autocomplete="off" value={settings.model} onValue={(model) => setSettings({ ...settings, model })} />
        <Field
          label="API key"
          name="api_key"
          type="password"
          autocomplete="off"
          placeholder={hasKey ? "•••••••• (saved)" : ""}
          value={apiKey ?? ""}
          onValue={setApiKey}
        />
        <small class="muted" data-testid="key-state">
          {hasKey
            ? "A key is saved in the system keyring. Type a new one to replace it, or clear the field and save to forget it."
            : defaults.needs_key
              ? "This provider needs an API key; it is kept in the system keyring."
              : "No key needed for a local server."}
        </small>
        <div class="actions">
          <button type="submit" disabled={saving}>Save</button>
          <ActionButton class="quiet" onClick={test}>Test connection</ActionButton>
        </div>
      </form>
    </>
  );
}
