// What the agent and prompt screens share: a list on the left, the editor of
// the chosen item on the right, the editor's Save / Duplicate / Delete, and
// the checks their fields get before a round trip.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, errorMessage, MAX_LIST_ITEMS, MAX_TITLE_CHARS } from "./api";
import { Notice, useNotice, type Said, type Say } from "./controls";
import { useShellEvent } from "./shell-events";

// ---------------------------------------------------------------- checks

/** Checks a one-line field the way the library will. */
export function checkLine(what: string, text: string, required: boolean): string | null {
  const trimmed = text.trim();
  if (required && trimmed.length === 0) return `Give the ${what} a value.`;
  if ([...trimmed].length > MAX_TITLE_CHARS) return `The ${what} is at most ${MAX_TITLE_CHARS} characters.`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(trimmed)) return `The ${what} cannot hold control characters.`;
  // What the server refuses in names (orrery_domain::text): direction
  // overrides and marks, and invisible characters that make look-alikes.
  if (/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(trimmed))
    return `The ${what} cannot hold characters that change the direction of text.`;
  if (/[\u00ad\u180e\u200b\u2028\u2029\u2060\ufeff]/.test(trimmed))
    return `The ${what} cannot hold invisible characters.`;
  return null;
}

/** Checks a text field: its length, and no control characters but tabs and new lines. */
export function checkText(what: string, text: string, limit: number): string | null {
  if ([...text].length > limit) return `The ${what} is at most ${limit.toLocaleString("en")} characters.`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text))
    return `The ${what} cannot hold control characters.`;
  return null;
}

/** Splits "a, b, ,c" into ["a", "b", "c"]. */
export function splitList(text: string): string[] {
  return text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
}

/** Checks a list field's length and each entry as a one-line field. */
export function checkList(what: string, items: string[]): string | null {
  if (items.length > MAX_LIST_ITEMS) return `At most ${MAX_LIST_ITEMS} ${what}.`;
  for (const item of items) {
    const problem = checkLine(what, item, true);
    if (problem) return problem;
  }
  return null;
}

// ---------------------------------------------------------------- screens

/** One row of a library list: the item, and the line under its name. */
export interface Listed {
  id: string;
  title: string;
  detail: string;
}

/** An item the editor shows: a new one has no id yet. */
type Item = { id: string | null };

/** A library screen's state: its list, the item in the editor, the notice. */
export interface Library<T extends Item> {
  items: Listed[] | null;
  /** The item in the editor; `serial` counts openings, so each opening gets a fresh form. */
  editing: { item: T; serial: number } | null;
  said: Said | null;
  say: Say;
  refresh: () => Promise<void>;
  edit: (item: T) => void;
  open: (id: string) => Promise<void>;
  /** Empties the editor (after a delete). */
  close: () => void;
  /** Runs `work`, shows the item it gives in the editor, lists again and says `done`; a refusal is said instead. */
  act: <R extends T>(work: () => Promise<R>, done: (item: R) => string) => Promise<void>;
}

/** The state of a screen that lists `kind` with `list` and opens one with `load`. */
export function useLibrary<T extends Item>(
  kind: "agent" | "prompt",
  list: () => Promise<Listed[]>,
  load: (id: string) => Promise<T>,
): Library<T> {
  const [items, setItems] = useState<Listed[] | null>(null);
  const [editing, setEditing] = useState<{ item: T; serial: number } | null>(null);
  const openings = useRef(0);
  const [said, say] = useNotice();
  const refresh = async () => {
    try {
      setItems(await list());
    } catch (error) {
      say(`The ${kind}s could not be listed: ${errorMessage(error)}`);
    }
  };
  const edit = (item: T) => {
    say(null);
    setEditing({ item, serial: ++openings.current });
  };
  useShellEvent(api.onLibraryItemChanged, (changed) => {
    if (changed === kind) void refresh();
  });
  useEffect(() => void refresh(), []);
  return {
    items,
    editing,
    said,
    say,
    refresh,
    edit,
    open: async (id) => {
      try {
        edit(await load(id));
      } catch (error) {
        say(errorMessage(error));
      }
    },
    close: () => setEditing(null),
    act: async (work, done) => {
      try {
        const item = await work();
        edit(item);
        await refresh();
        say(done(item), "good");
      } catch (error) {
        say(errorMessage(error));
      }
    },
  };
}

/** A library screen: title and New button, the notice, the list beside the editor (`children`, or a hint when nothing is open). */
export function LibraryScreen<T extends Item>(props: {
  title: string;
  newLabel: string;
  /** What New opens. */
  blank: T;
  library: Library<T>;
  emptyList: string;
  emptyEditor: string;
  children: ComponentChildren;
}) {
  const { library } = props;
  const selected = library.editing?.item.id ?? null;
  return (
    <>
      <header class="bar">
        <h1>{props.title}</h1>
        <button type="button" onClick={() => library.edit({ ...props.blank })}>{props.newLabel}</button>
      </header>
      <Notice said={library.said} />
      <div class="library">
        <ul class="items" aria-label={props.title}>
          {library.items?.length === 0 && <li class="empty">{props.emptyList}</li>}
          {library.items?.map((item) => (
            <li data-id={item.id} key={item.id}>
              <button type="button" class="item" aria-current={item.id === selected} onClick={() => void library.open(item.id)}>
                <strong>{item.title}</strong>
                <small>{item.detail}</small>
              </button>
            </li>
          ))}
        </ul>
        <section class="editor" aria-label="Editor">
          {library.editing ? props.children : <p class="empty">{props.emptyEditor}</p>}
        </section>
      </div>
    </>
  );
}

/** The editor's buttons: Save (or Create), and for a stored item Duplicate and Delete. */
export function EditorActions<T extends Item>(props: {
  what: "agent" | "prompt";
  id: string | null;
  /** The item's name as stored, for "Deleted “…”." */
  name: string;
  saving: boolean;
  library: Library<T>;
  duplicate: (id: string) => Promise<T>;
  nameOf: (item: T) => string;
}) {
  const { what, id, library } = props;
  const remove = async (id: string) => {
    try {
      await api.deleteLibraryItem(what, id);
      library.close();
      await library.refresh();
      library.say(`Deleted “${props.name}”.`, "good");
    } catch (error) {
      library.say(errorMessage(error));
    }
  };
  return (
    <div class="actions">
      <button type="submit" disabled={props.saving}>{id ? `Save ${what}` : `Create ${what}`}</button>
      {id !== null && (
        <>
          <button
            type="button"
            class="quiet"
            onClick={() => library.act(() => props.duplicate(id), (copy) => `Made “${props.nameOf(copy)}”.`)}
          >
            Duplicate
          </button>
          <DeleteButton what={what} remove={() => remove(id)} />
        </>
      )}
    </div>
  );
}

/** A Delete button that asks once more (its words change) before it deletes; leaving it disarms it. */
function DeleteButton({ what, remove }: { what: string; remove: () => Promise<void> }) {
  const [armed, setArmed] = useState(false);
  const [removing, setRemoving] = useState(false);
  return (
    <button
      type="button"
      class="quiet danger"
      disabled={removing}
      onBlur={() => setArmed(false)}
      onClick={() => {
        if (!armed) return setArmed(true);
        setRemoving(true);
        void remove().finally(() => setRemoving(false));
      }}
    >
      {armed ? `Delete this ${what} everywhere?` : "Delete"}
    </button>
  );
}
