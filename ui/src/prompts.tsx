// The prompt screen: prompts in projects and segments, the editor of the
// chosen one with its checks, and its versions (draft / active / archived):
// publish, roll back, and a side-by-side comparison of two versions.
import { useState } from "preact/hooks";
import {
  api,
  MAX_DESCRIPTION_CHARS,
  MAX_PROMPT_CHARS,
  type PromptDraft,
  type PromptVersion,
  type ValidationFailure,
} from "./api";
import { ActionButton, Field } from "./controls";
import { diffLines } from "./diff";
import { checkLine, checkList, checkText, EditorActions, LibraryScreen, splitList, useLibrary, type Library, type Listed } from "./library";
import { checkRow, ChecksEditor, readChecks, VersionChecks } from "./prompt-checks";
import { count } from "./words";

/** The first problem with a prompt's own fields before they are saved, or null. */
export function checkPrompt(prompt: PromptDraft): string | null {
  return (
    checkLine("title", prompt.title, true) ??
    checkLine("project", prompt.project, false) ??
    checkLine("segment", prompt.segment, false) ??
    checkText("description", prompt.description, MAX_DESCRIPTION_CHARS) ??
    checkList("tags", prompt.tags)
  );
}

/** The `{{variables}}` a prompt's content uses, in order of first use. */
export function templateVariables(content: string): string[] {
  const seen: string[] = [];
  for (const match of content.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/g)) {
    if (!seen.includes(match[1])) seen.push(match[1]);
  }
  return seen;
}

const EMPTY_PROMPT: PromptDraft = {
  id: null, title: "", project: "", segment: "", description: "", tags: [], validators: [],
};

/** What the prompt editor shows: the draft fields, and for a stored prompt its versions and what its checks say of them. */
type PromptEditing = PromptDraft & {
  versions?: PromptVersion[];
  checks?: Record<string, ValidationFailure[]>;
};

/** Where a prompt sits: "Project / Segment", or "No project". */
function place(summary: Record<string, unknown>): string {
  const parts = [summary.project, summary.segment].filter((part) => typeof part === "string" && part.length > 0);
  return parts.length > 0 ? parts.join(" / ") : "No project";
}

function describeVersion(version: PromptVersion, index: number): string {
  return `v${index + 1} · ${version.status}`;
}

function shortTime(at: string): string {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? at : date.toLocaleString("en", { dateStyle: "medium", timeStyle: "short" });
}

/** The prompts, grouped by project and segment, then most recently changed first. */
async function listPrompts(): Promise<Listed[]> {
  const prompts = await api.listLibrary("prompt");
  prompts.sort((a, b) => place(a.summary).localeCompare(place(b.summary)));
  return prompts.map((item) => ({
    id: item.id,
    title: item.title,
    detail: `${place(item.summary)} · ${count(Number(item.summary.versions ?? 0), "version")}`,
  }));
}

export function Prompts() {
  const library = useLibrary<PromptEditing>("prompt", listPrompts, api.getPrompt);
  const editing = library.editing;
  return (
    <LibraryScreen
      title="Prompts"
      newLabel="New prompt"
      blank={EMPTY_PROMPT}
      library={library}
      emptyList="No prompts yet. Create one, then write its first version."
      emptyEditor="Choose a prompt, or create one."
    >
      {editing && <PromptEditor key={editing.serial} prompt={editing.item} library={library} />}
    </LibraryScreen>
  );
}

function PromptEditor({ prompt, library }: { prompt: PromptEditing; library: Library<PromptEditing> }) {
  const [form, setForm] = useState({
    title: prompt.title,
    project: prompt.project,
    segment: prompt.segment,
    description: prompt.description,
    tags: prompt.tags.join(", "),
  });
  const set = (field: keyof typeof form) => (value: string) => setForm((last) => ({ ...last, [field]: value }));
  const [checks, setChecks] = useState(() => (prompt.validators ?? []).map(checkRow));
  const [saving, setSaving] = useState(false);

  async function save(event: Event): Promise<void> {
    event.preventDefault();
    const validators = readChecks(checks);
    if ("error" in validators) return library.say(validators.error);
    const draft: PromptDraft = {
      id: prompt.id,
      title: form.title,
      project: form.project,
      segment: form.segment,
      description: form.description,
      tags: splitList(form.tags),
      validators: validators.value,
    };
    const problem = checkPrompt(draft);
    if (problem) return library.say(problem);
    setSaving(true);
    await library.act(() => api.savePrompt(draft), () => "Saved.");
    setSaving(false);
  }

  return (
    <>
      <form class="prompt" aria-label={prompt.id ? "Edit prompt" : "New prompt"} onSubmit={save}>
        <Field label="Title" name="title" autocomplete="off" value={form.title} onValue={set("title")} />
        <Field label="Project" name="project" autocomplete="off" value={form.project} onValue={set("project")} />
        <Field label="Segment" name="segment" autocomplete="off" value={form.segment} onValue={set("segment")} />
        <Field label="Description" name="description" rows={2} value={form.description} onValue={set("description")} />
        <Field label="Tags (comma-separated)" name="tags" autocomplete="off" value={form.tags} onValue={set("tags")} />
        <ChecksEditor rows={checks} onRows={setChecks} />
        <EditorActions
          what="prompt"
          id={prompt.id}
          name={prompt.title}
          saving={saving}
          library={library}
          duplicate={api.duplicatePrompt}
          nameOf={(copy) => copy.title}
        />
      </form>
      {prompt.id && prompt.versions && (
        <Versions
          id={prompt.id}
          versions={prompt.versions}
          checks={prompt.checks ?? {}}
          contentChecks={(prompt.validators ?? []).filter((validator) => validator.target === "content").length}
          library={library}
        />
      )}
    </>
  );
}

/** A stored prompt's versions: each with its checks and Publish / Roll back, a comparison of two, and a box to write the next. */
function Versions(props: {
  id: string;
  versions: PromptVersion[];
  checks: Record<string, ValidationFailure[]>;
  contentChecks: number;
  library: Library<PromptEditing>;
}) {
  const { id, versions, library } = props;
  const [left, setLeft] = useState(versions.at(-2)?.id ?? "");
  const [right, setRight] = useState(versions.at(-1)?.id ?? "");
  const [content, setContent] = useState(versions.at(-1)?.content ?? "");
  const [saving, setSaving] = useState(false);
  const variables = templateVariables(content);
  const options = versions.map((version, index) => <option value={version.id}>{describeVersion(version, index)}</option>);
  const from = versions.find((version) => version.id === left);
  const to = versions.find((version) => version.id === right);

  async function saveDraft(event: Event): Promise<void> {
    event.preventDefault();
    const problem = checkText("version", content, MAX_PROMPT_CHARS);
    if (problem) return library.say(problem);
    if (content.trim().length === 0) return library.say("Write the version's text first.");
    setSaving(true);
    await library.act(() => api.addPromptVersion(id, content), (updated) => `Saved v${updated.versions.length} as a draft.`);
    setSaving(false);
  }

  return (
    <section class="versions" aria-label="Versions">
      <h2>Versions</h2>
      <ol class="version-list">
        {versions.map((version, index) => {
          const used = templateVariables(version.content);
          return (
            <li data-version={version.id} data-status={version.status} key={version.id}>
              <span class={`status ${version.status}`}>{describeVersion(version, index)}</span>
              <small>{shortTime(version.activated_at ?? version.created_at)}</small>
              {used.length > 0 && <small class="vars">Variables: {used.join(", ")}</small>}
              <VersionChecks failures={props.checks[version.id]} contentChecks={props.contentChecks} />
              {version.status !== "active" && (
                <ActionButton
                  class="quiet"
                  onClick={() =>
                    library.act(
                      () => api.publishPromptVersion(id, version.id),
                      () => (version.status === "archived" ? `Rolled back to v${index + 1}.` : `Published v${index + 1}.`),
                    )
                  }
                >
                  {version.status === "archived" ? "Roll back to this" : "Publish"}
                </ActionButton>
              )}
              <pre class="content">{version.content}</pre>
            </li>
          );
        })}
        {versions.length === 0 && <li class="empty">No versions yet: write the first draft below.</li>}
      </ol>
      {versions.length >= 2 && (
        <>
          <div class="compare">
            <span>Compare</span>
            <select name="compare-left" aria-label="Compare from" value={left} onChange={(event) => setLeft(event.currentTarget.value)}>
              {options}
            </select>
            <span>with</span>
            <select name="compare-right" aria-label="Compare with" value={right} onChange={(event) => setRight(event.currentTarget.value)}>
              {options}
            </select>
          </div>
          <table class="diff" aria-label="Comparison">
            <tbody>
              {from &&
                to &&
                diffLines(from.content, to.content).map((row) => (
                  <tr data-kind={row.kind}>
                    <td>{row.left ?? ""}</td>
                    <td>{row.right ?? ""}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </>
      )}
      <form class="draft" aria-label="Write a version" onSubmit={saveDraft}>
        <Field label="New version" name="content" rows={6} value={content} onValue={setContent} />
        <small class="vars" data-testid="variables">
          {variables.length > 0 ? `Variables: ${variables.join(", ")}` : "No {{variables}}"}
        </small>
        <button type="submit" disabled={saving}>Save as draft</button>
      </form>
    </section>
  );
}
