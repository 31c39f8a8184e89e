// The management window's Emails: the account emails' templates (welcome,
// trial reminders, payments, plan changes, password reset). Each is edited
// as a subject, a plain-text part and an HTML part with the variables it is
// given; "Preview" renders them with sample values (the server checks that
// they parse and use no other variable), "Save" puts them in use, and an
// edited template can go back to the text it ships with.
import { useEffect, useState } from "preact/hooks";
import { api, errorMessage, type MailTemplate, type MailPreview } from "./api";
import { Notice, useNotice } from "./controls";
import { confirmAction, toast } from "./feedback";

/** What each template is for, in words. */
const NAMES: Record<string, string> = {
  welcome: "Welcome",
  trial_ending: "Trial ending",
  trial_ended: "Trial ended",
  payment_succeeded: "Payment received",
  payment_failed: "Payment failed",
  plan_changed: "Plan changed",
  password_reset: "Password reset",
  purchase_refunded: "Purchase refunded",
};

interface Parts {
  subject: string;
  text: string;
  html: string;
}

export function MailTemplates() {
  const [templates, setTemplates] = useState<MailTemplate[] | null>(null);
  const [chosen, setChosen] = useState<string>("welcome");
  const [draft, setDraft] = useState<Parts | null>(null);
  const [preview, setPreview] = useState<MailPreview | null>(null);
  const [busy, setBusy] = useState(false);
  const [said, say] = useNotice();

  const open = (all: MailTemplate[], key: string) => {
    const template = all.find((each) => each.key === key) ?? all[0];
    setChosen(template.key);
    setDraft({ ...template.parts });
    setPreview(null);
    say(null);
  };
  useEffect(() => {
    api
      .adminMailTemplates()
      .then((all) => {
        setTemplates(all);
        open(all, chosen);
      })
      .catch((error: unknown) => say(errorMessage(error)));
  }, []);

  if (templates === null || draft === null) {
    return (
      <section aria-labelledby="emails-title">
        <h1 id="emails-title">Emails</h1>
        <Notice said={said} testId="emails-notice" />
      </section>
    );
  }
  const template = templates.find((each) => each.key === chosen)!;
  const changed = draft.subject !== template.parts.subject || draft.text !== template.parts.text || draft.html !== template.parts.html;
  const edit = (part: keyof Parts) => (event: Event) => {
    setDraft({ ...draft, [part]: (event.currentTarget as HTMLInputElement | HTMLTextAreaElement).value });
  };

  async function run(action: () => Promise<void>) {
    setBusy(true);
    say(null);
    try {
      await action();
    } catch (error) {
      say(errorMessage(error));
    } finally {
      setBusy(false);
    }
  }
  const replace = (saved: MailTemplate) => {
    const all = templates.map((each) => (each.key === saved.key ? saved : each));
    setTemplates(all);
    setDraft({ ...saved.parts });
  };

  return (
    <section aria-labelledby="emails-title">
      <div class="bar">
        <h1 id="emails-title">Emails</h1>
        <span class="counts">Sent to users by the server, from these templates</span>
      </div>
      <div class="mail-templates">
        <nav aria-label="Templates">
          <ul class="plain template-list">
            {templates.map((each) => (
              <li>
                <button
                  type="button"
                  class="quiet"
                  aria-current={each.key === chosen}
                  data-template={each.key}
                  onClick={() => open(templates, each.key)}
                >
                  {NAMES[each.key] ?? each.key}
                  {each.edited && <span class="badge edited">edited</span>}
                </button>
              </li>
            ))}
          </ul>
        </nav>
        <form
          class="template-editor"
          aria-label={`Edit ${NAMES[template.key] ?? template.key}`}
          onSubmit={(event) => {
            event.preventDefault();
            void run(async () => {
              replace(await api.adminSaveMailTemplate(template.key, draft.subject, draft.text, draft.html));
              setPreview(await api.adminPreviewMailTemplate(template.key, draft.subject, draft.text, draft.html));
              toast(`“${NAMES[template.key]}” is saved; the next such email uses it.`, { kind: "good" });
            });
          }}
        >
          <p class="variables" data-testid="template-variables">
            Variables:{" "}
            {template.variables.map((variable) => (
              <code>{`{{ ${variable} }}`}</code>
            ))}
          </p>
          <label class="field">
            Subject
            <input name="subject" maxLength={300} value={draft.subject} onInput={edit("subject")} />
          </label>
          <label class="field">
            Text
            <textarea name="text" rows={8} maxLength={20000} value={draft.text} onInput={edit("text")} />
          </label>
          <label class="field">
            HTML
            <textarea name="html" rows={6} maxLength={20000} value={draft.html} onInput={edit("html")} />
          </label>
          <Notice said={said} testId="emails-notice" />
          <div class="actions">
            <button
              type="button"
              class="quiet"
              disabled={busy}
              onClick={() =>
                void run(async () => setPreview(await api.adminPreviewMailTemplate(template.key, draft.subject, draft.text, draft.html)))
              }
            >
              Preview
            </button>
            <button type="submit" disabled={busy || !changed}>
              Save
            </button>
            {template.edited && (
              <button
                type="button"
                class="quiet"
                disabled={busy}
                onClick={() =>
                  void run(async () => {
                    const agreed = await confirmAction({
                      title: `Restore “${NAMES[template.key]}”?`,
                      body: "The text this email ships with is used again; your edit is kept only in the audit log.",
                      confirm: "Restore",
                    });
                    if (!agreed) return;
                    replace(await api.adminResetMailTemplate(template.key));
                    setPreview(null);
                    toast(`“${NAMES[template.key]}” is back to the text it ships with.`, { kind: "good" });
                  })
                }
              >
                Restore the shipped text…
              </button>
            )}
          </div>
        </form>
        {preview && (
          <section class="template-preview" aria-label="Preview">
            <h2>Preview</h2>
            <p class="counts">With sample values for each variable.</p>
            <p data-testid="preview-subject">
              <strong>{preview.subject}</strong>
            </p>
            <pre data-testid="preview-text">{preview.text}</pre>
            <iframe title="HTML part" sandbox="" srcdoc={preview.html} />
          </section>
        )}
      </div>
    </section>
  );
}
