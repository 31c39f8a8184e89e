// A graph's version history, opened from its card: named versions ("Save
// version"), which everyone in the workspace sees, and the points where a
// sync brought in others' edits. Each point compares with now (what was
// added, removed, moved, relabelled) and can be restored: the restore is one
// new edit that everyone receives, and "Undo restore" takes it back. Any
// point opens read-only on the canvas, and a comparison shows there too,
// each node that differs in colour.
import { useEffect, useState } from "preact/hooks";
import { api, errorMessage, type GraphSummary, type HistoryDiff, type HistoryPoint, type PromptHistory } from "./api";
import { ActionButton, Field } from "./controls";
import { confirmAction, toast } from "./feedback";

function when(at: string): string {
  const time = new Date(at);
  return Number.isNaN(time.getTime()) ? at : time.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

interface Props {
  graph: GraphSummary;
  writable: boolean;
  close: () => void;
  say: (message: string | null) => void;
}

export function GraphHistory({ graph, writable, close, say }: Props) {
  const [points, setPoints] = useState<HistoryPoint[] | null>(null);
  const [name, setName] = useState("");
  // A comparison: from `point` to `against` (null: now).
  const [compared, setCompared] = useState<{ point: HistoryPoint; against: HistoryPoint | null; diff: HistoryDiff } | null>(null);
  const [prompts, setPrompts] = useState<PromptHistory[]>([]);

  useEffect(() => {
    api.graphHistory(graph.id).then(setPoints, (error) => say(errorMessage(error)));
    api.graphPromptHistory(graph.id).then(setPrompts, () => setPrompts([]));
  }, [graph.id]);

  async function save(event: Event): Promise<void> {
    event.preventDefault();
    if (!name.trim()) return say("Name the version, such as “Before the review”.");
    try {
      setPoints(await api.saveGraphVersion(graph.id, name.trim()));
      toast(`Saved “${name.trim()}”. Everyone in this workspace sees it.`, { kind: "good" });
      setName("");
      say(null);
    } catch (error) {
      say(errorMessage(error));
    }
  }

  async function compare(point: HistoryPoint, against: HistoryPoint | null = null): Promise<void> {
    try {
      setCompared({ point, against, diff: await api.graphDiff(graph.id, point.id, against?.id ?? null) });
    } catch (error) {
      say(errorMessage(error));
    }
  }

  async function showOnCanvas(point: HistoryPoint, compare: boolean, against: HistoryPoint | null = null): Promise<void> {
    try {
      await api.showGraphVersion(graph.id, point.id, compare, against?.id ?? null);
      say(null);
    } catch (error) {
      say(errorMessage(error));
    }
  }

  async function restore(point: HistoryPoint): Promise<void> {
    const sure = await confirmAction({
      title: `Restore “${point.name}”?`,
      body: `“${graph.name}” goes back to how it was on ${when(point.at)}, as a new change everyone receives. You can undo it.`,
      confirm: "Restore",
    });
    if (!sure) return;
    try {
      const changed = await api.restoreGraphVersion(graph.id, point.id);
      if (!changed) {
        toast(`“${graph.name}” is already as it was then.`);
        return;
      }
      setCompared(null);
      toast(`“${graph.name}” is back to “${point.name}”.`, {
        kind: "good",
        action: {
          label: "Undo restore",
          run: () =>
            api.undoRestore(graph.id).then(
              () => toast("The restore was undone."),
              (error) => say(errorMessage(error)),
            ),
        },
      });
    } catch (error) {
      say(errorMessage(error));
    }
  }

  const label = (id: string) => compared?.diff.labels[id] ?? id.slice(0, 8);
  const diff = compared?.diff.diff;
  const rows: [string, string, string[]][] = diff
    ? [
        ["added", "Added", diff.added_nodes.map(label)],
        ["removed", "Removed", diff.removed_nodes.map(label)],
        ["moved", "Moved", diff.moved_nodes.map(label)],
        ["relabelled", "Relabelled", diff.relabelled_nodes.map(label)],
      ]
    : [];

  return (
    <section class="graph-history" aria-label={`History of ${graph.name}`}>
      <header class="channel-head">
        <h2>History of “{graph.name}”</h2>
        <button type="button" class="quiet" onClick={close}>
          Close
        </button>
      </header>
      {writable && (
        <form class="history-save" aria-label="Save a version" onSubmit={save}>
          <Field label="Version name" name="version_name" placeholder="Before the review" maxLength={100} value={name} onValue={setName} />
          <button type="submit">Save version</button>
        </form>
      )}
      {points === null ? (
        <p class="muted">Reading the history…</p>
      ) : points.length === 0 ? (
        <p class="muted">No versions yet. Save one before a big change; edits from others are marked here as they arrive.</p>
      ) : (
        <ol class="history-points" aria-label="Versions">
          {points.map((point) => (
            <li data-named={point.named ? "yes" : "no"} aria-current={compared?.point.id === point.id}>
              <span>
                <strong>{point.name}</strong>
                <span class="muted">
                  {" "}
                  · {when(point.at)}
                  {point.by ? ` · ${point.by}` : ""}
                </span>
              </span>
              <span class="history-actions">
                <ActionButton class="quiet" aria-label={`Open “${point.name}” on the canvas`} onClick={() => showOnCanvas(point, false)}>
                  Open
                </ActionButton>
                <ActionButton class="quiet" onClick={() => compare(point)}>
                  Compare with now
                </ActionButton>
                {writable && (
                  <ActionButton class="quiet" onClick={() => restore(point)}>
                    Restore
                  </ActionButton>
                )}
              </span>
            </li>
          ))}
        </ol>
      )}
      {compared && diff && (
        <div class="history-diff" aria-label="Changes since then" role="region">
          <div class="history-diff-head">
            <h3>{compared.against ? `From “${compared.point.name}” to “${compared.against.name}”` : `Since “${compared.point.name}”`}</h3>
            <label class="history-against">
              <span>Compared with</span>
              <select
                value={compared.against?.id ?? ""}
                onChange={(event) =>
                  compare(compared.point, points?.find((point) => point.id === event.currentTarget.value) ?? null)
                }
              >
                <option value="">Now</option>
                {(points ?? [])
                  .filter((point) => point.id !== compared.point.id)
                  .map((point) => (
                    <option value={point.id}>{point.name}</option>
                  ))}
              </select>
            </label>
            <ActionButton class="quiet" onClick={() => showOnCanvas(compared.point, true, compared.against)}>
              Show on the canvas
            </ActionButton>
          </div>
          {rows.every(([, , names]) => names.length === 0) && diff.added_edges.length === 0 && diff.removed_edges.length === 0 && !diff.renamed ? (
            <p class="muted">Nothing changed.</p>
          ) : (
            <dl>
              {diff.renamed && (
                <>
                  <dt>Renamed</dt>
                  <dd>
                    “{diff.renamed[0]}” → “{diff.renamed[1]}”
                  </dd>
                </>
              )}
              {rows
                .filter(([, , names]) => names.length > 0)
                .map(([kind, title, names]) => (
                  <>
                    <dt data-change={kind}>{title}</dt>
                    <dd>{names.join(", ")}</dd>
                  </>
                ))}
              {(diff.added_edges.length > 0 || diff.removed_edges.length > 0) && (
                <>
                  <dt data-change="edges">Connections</dt>
                  <dd>
                    {[diff.added_edges.length > 0 && `${diff.added_edges.length} added`, diff.removed_edges.length > 0 && `${diff.removed_edges.length} removed`]
                      .filter(Boolean)
                      .join(", ")}
                  </dd>
                </>
              )}
            </dl>
          )}
        </div>
      )}
      {prompts.length > 0 && (
        <div class="history-prompts" role="region" aria-label="Prompts this graph uses">
          <h3>Prompts this graph uses</h3>
          {prompts.map((prompt) => (
            <details data-prompt={prompt.title}>
              <summary>
                <strong>{prompt.title}</strong>
                <span class="muted">
                  {" "}
                  · {prompt.versions.length} {prompt.versions.length === 1 ? "version" : "versions"}
                  {prompt.versions.find((version) => version.status === "active") &&
                    ` · version ${prompt.versions.find((version) => version.status === "active")?.number} in use`}
                </span>
              </summary>
              <ol class="history-points" aria-label={`Versions of ${prompt.title}`}>
                {prompt.versions.map((version) => (
                  <li data-status={version.status}>
                    <span>
                      <strong>Version {version.number}</strong>
                      <span class="muted">
                        {" "}
                        · {version.status === "active" ? "in use" : version.status} · written {when(version.created_at)}
                        {version.activated_at ? ` · used from ${when(version.activated_at)}` : ""}
                      </span>
                    </span>
                  </li>
                ))}
              </ol>
            </details>
          ))}
        </div>
      )}
    </section>
  );
}
