// The model provider screen: which provider sandbox runs call (a local
// Ollama by default, or Anthropic, Gemini, any OpenAI-compatible server), its
// model, and its API key — kept in the system keyring, never shown again.
import { api, errorMessage, type ProviderKind, type ProviderSettings } from "./api";
import { element } from "./dom";

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

export async function mountProviders(root: HTMLElement): Promise<void> {
  root.replaceChildren();
  const header = element("header", { class: "bar" });
  header.append(element("h1", {}, "Model provider"));
  const notice = element("p", { class: "notice", role: "alert", "data-testid": "notice" });
  notice.hidden = true;
  const say = (message: string | null, kind: "bad" | "good" = "bad") => {
    notice.hidden = message === null;
    notice.textContent = message ?? "";
    notice.dataset.kind = kind;
  };
  const form = element("form", { class: "provider", "aria-label": "Provider settings" });
  const kindLabel = element("label", { class: "field" });
  const kind = element("select", { name: "kind", "aria-label": "Provider" });
  for (const [value, defaults] of Object.entries(PROVIDER_DEFAULTS)) {
    kind.append(element("option", { value }, defaults.label));
  }
  kindLabel.append(element("span", {}, "Provider"), kind);
  const field = (label: string, name: string, type = "text") => {
    const wrapper = element("label", { class: "field" });
    const input = element("input", { name, type, "aria-label": label, autocomplete: "off" });
    wrapper.append(element("span", {}, label), input);
    return { wrapper, input };
  };
  const baseUrl = field("Address", "base_url");
  const model = field("Model", "model");
  const apiKey = field("API key", "api_key", "password");
  const keyState = element("small", { class: "muted", "data-testid": "key-state" });
  const save = element("button", { type: "submit" }, "Save");
  const test = element("button", { type: "button", class: "quiet" }, "Test connection");
  const actions = element("div", { class: "actions" });
  actions.append(save, test);
  form.append(kindLabel, baseUrl.wrapper, model.wrapper, apiKey.wrapper, keyState, actions);
  root.append(header, notice, form);

  let hasKey = false;
  const showKeyState = () => {
    const needsKey = PROVIDER_DEFAULTS[kind.value as ProviderKind].needs_key;
    keyState.textContent = hasKey
      ? "A key is saved in the system keyring. Type a new one to replace it, or clear the field and save to forget it."
      : needsKey
        ? "This provider needs an API key; it is kept in the system keyring."
        : "No key needed for a local server.";
    apiKey.input.placeholder = hasKey ? "•••••••• (saved)" : "";
  };
  let keyTouched = false;
  // The call limits (timeouts, attempts) are not on this screen: saving keeps them.
  let limits: Record<string, unknown> | undefined;
  apiKey.input.addEventListener("input", () => {
    keyTouched = true;
  });
  kind.addEventListener("change", () => {
    const defaults = PROVIDER_DEFAULTS[kind.value as ProviderKind];
    baseUrl.input.value = defaults.base_url;
    model.input.value = defaults.model;
    showKeyState();
  });

  try {
    const view = await api.getProvider();
    limits = view.settings.limits;
    kind.value = view.settings.kind;
    baseUrl.input.value = view.settings.base_url;
    model.input.value = view.settings.model;
    hasKey = view.has_api_key;
  } catch (error) {
    say(`The provider settings could not be read: ${errorMessage(error)}`);
  }
  showKeyState();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const settings: ProviderSettings = {
      kind: kind.value as ProviderKind,
      base_url: baseUrl.input.value.trim(),
      model: model.input.value.trim(),
      ...(limits ? { limits } : {}),
    };
    const problem = checkProvider(settings);
    if (problem) return say(problem);
    save.disabled = true;
    try {
      const view = await api.saveProvider(settings, keyTouched ? apiKey.input.value : null);
      hasKey = view.has_api_key;
      apiKey.input.value = "";
      keyTouched = false;
      showKeyState();
      say("Saved.", "good");
    } catch (error) {
      say(errorMessage(error));
    } finally {
      save.disabled = false;
    }
  });
  test.addEventListener("click", async () => {
    test.disabled = true;
    say("Asking the provider…", "good");
    try {
      const answer = await api.testProvider();
      say(`The provider answered: “${answer.trim().slice(0, 80)}”`, "good");
    } catch (error) {
      say(errorMessage(error));
    } finally {
      test.disabled = false;
    }
  });
}
