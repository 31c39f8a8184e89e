// The management window's Prompts: every prompt version published on the
// server, in every tenant, most recent first, with who published it and
// when; searched by title, text, tenant or publisher. An earlier version can
// be made active again ("Roll back"): the server merges that into the prompt,
// so every device of the tenant runs it after its next sync.
import { useEffect, useState } from "preact/hooks";
import { api, errorMessage, type PublishedPrompt } from "./api";
import { Notice, Pages, SearchBox, useNotice } from "./controls";
import { confirmAction, toast } from "./feedback";

const PER_PAGE = 25;
/** Characters of a version's text shown before "Show all". */
const PREVIEW_CHARS = 160;

/** `2026-12-06T12:30:05Z` → `2026-12-06 12:30 UTC`. */
function when(at: string): string {
  return `${at.slice(0, 10)} ${at.slice(11, 16)} UTC`;
}

/** A version's text, cut to a preview unless opened. */
function VersionText({ content }: { content: string }) {
  const [open, setOpen] = useState(false);
  const long = content.length > PREVIEW_CHARS;
  return (
    <div class="prompt-text">
      <pre class={open ? "content open" : "content"}>{open || !long ? content : `${content.slice(0, PREVIEW_CHARS)}…`}</pre>
      {long && (
        <button type="button" class="link" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? "Show less" : "Show all"}
        </button>
      )}
    </div>
  );
}

export function PromptsAdmin() {
  const [query, setQuery] = useState("");
  const [page, setPage] = useState(1);
  const [answer, setAnswer] = useState<{ versions: PublishedPrompt[]; total: number } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  const [said, say] = useNotice();
  useEffect(() => {
    let current = true;
    api
      .adminListPrompts(query.trim() || null, page)
      .then((found) => current && setAnswer({ versions: found.versions, total: found.total }))
      .catch((error: unknown) => current && say(errorMessage(error)));
    return () => {
      current = false;
    };
  }, [query, page, reloads]);

  async function rollBack(version: PublishedPrompt) {
    const agreed = await confirmAction({
      title: `Roll “${version.title}” back?`,
      body: `The version published on ${when(version.activated_at)} becomes the one every run of ${version.tenant_name} uses, on each of its devices after their next sync. The version active now stays in the prompt's history and can be made active again.`,
      confirm: "Roll back",
    });
    if (!agreed) return;
    setBusy(version.version_id);
    try {
      await api.adminRollBackPrompt(version.tenant_id, version.prompt_id, version.version_id);
      toast(`“${version.title}” is back at the version of ${version.activated_at.slice(0, 10)}.`, { kind: "good" });
      setReloads((count) => count + 1);
    } catch (error) {
      say(errorMessage(error));
    } finally {
      setBusy(null);
    }
  }

  const pages = answer ? Math.max(1, Math.ceil(answer.total / PER_PAGE)) : 1;
  return (
    <section aria-labelledby="prompts-title">
      <div class="bar">
        <h1 id="prompts-title">Prompts</h1>
        {answer && (
          <span class="counts" data-testid="prompt-count">{`${answer.total.toLocaleString("en-US")} published ${answer.total === 1 ? "version" : "versions"}`}</span>
        )}
      </div>
      <SearchBox
        value={query}
        placeholder="Title, text, tenant or publisher"
        search={(text) => {
          setQuery(text);
          setPage(1);
        }}
      />
      <Notice said={said} testId="prompts-notice" />
      {answer && answer.versions.length === 0 ? (
        <p class="empty">{query.trim() ? "No published version matches." : "No prompt has been published on this server yet."}</p>
      ) : (
        answer && (
          <table class="admin-table prompt-versions" aria-label="Published prompt versions">
            <thead>
              <tr>
                <th>Prompt</th>
                <th>Version</th>
                <th>Published</th>
                <th>Text</th>
                <th>
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {answer.versions.map((version) => (
                <tr data-version={version.version_id} data-status={version.status}>
                  <td>
                    <strong>{version.title}</strong>
                    <div class="counts">{version.tenant_name}</div>
                  </td>
                  <td>
                    <span class="badge version-status" data-status={version.status}>
                      {version.status === "active" ? "Active" : "Earlier"}
                    </span>
                    <div class="counts">{`written ${version.created_at.slice(0, 10)}`}</div>
                  </td>
                  <td>
                    {when(version.activated_at)}
                    <div class="counts">{version.published_by_email ? `by ${version.published_by_email}` : "by someone no longer known"}</div>
                  </td>
                  <td>
                    <VersionText content={version.content} />
                  </td>
                  <td>
                    {version.status !== "active" && (
                      <button type="button" disabled={busy !== null} onClick={() => void rollBack(version)}>
                        {busy === version.version_id ? "Rolling back…" : "Roll back"}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      )}
      <Pages page={page} pages={pages} go={setPage} />
    </section>
  );
}
