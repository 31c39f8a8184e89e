// Small components every screen uses: the notice under a form, a button that
// waits while its action runs, page links, and the management window's
// period picker and search box.
import type { ButtonHTMLAttributes, InputHTMLAttributes, Ref } from "preact";
import { useCallback, useState } from "preact/hooks";

/** What a notice says: a problem (red) or what went well (green). */
export interface Said {
  message: string;
  kind: "bad" | "good";
}

/** Says something in a notice, or clears it with null. */
export type Say = (message: string | null, kind?: "bad" | "good") => void;

/** A notice's state: what it says, and how to change that. */
export function useNotice(): [Said | null, Say] {
  const [said, setSaid] = useState<Said | null>(null);
  const say = useCallback<Say>((message, kind = "bad") => setSaid(message === null ? null : { message, kind }), []);
  return [said, say];
}

/** The alert under a form: it stays in the page, hidden while it has nothing to say. */
export function Notice({ said, testId = "notice" }: { said: Said | null; testId?: string }) {
  return (
    <p class="notice" role="alert" data-testid={testId} data-kind={said?.kind} hidden={said === null}>{said?.message}</p>
  );
}

type ActionButtonProps = Omit<ButtonHTMLAttributes<HTMLButtonElement>, "onClick"> & {
  /** The action; while the promise it returns is pending, the button is disabled. */
  onClick: () => Promise<unknown> | void;
};

/** A button disabled while its action runs, so one click does one thing. */
export function ActionButton({ onClick, disabled, ...props }: ActionButtonProps) {
  const [busy, setBusy] = useState(false);
  const run = () => {
    const running = onClick();
    if (!running) return;
    setBusy(true);
    void running.finally(() => setBusy(false));
  };
  return <button type="button" {...props} disabled={busy || disabled} onClick={run} />;
}

interface FieldProps {
  label: string;
  value: string;
  onValue: (value: string) => void;
  /** A text area this many rows tall instead of a one-line input. */
  rows?: number;
  name?: string;
  type?: "text" | "email" | "password" | "number";
  placeholder?: string;
  autocomplete?: string;
  maxLength?: number;
  inputRef?: Ref<HTMLInputElement>;
}

/** A labelled input (or text area) whose value lives in the caller's state. */
export function Field({ label, value, onValue, rows, type, inputRef, ...attributes }: FieldProps) {
  const shared = {
    ...attributes,
    "aria-label": label,
    value,
    onInput: (event: { currentTarget: HTMLInputElement | HTMLTextAreaElement }) => onValue(event.currentTarget.value),
  };
  return (
    <label class="field">
      <span>{label}</span>
      {rows ? <textarea rows={rows} {...shared} /> : <input {...({ type, ...shared } as InputHTMLAttributes)} ref={inputRef} />}
    </label>
  );
}

/** "Page 2 of 5" with the way back and on. */
export function Pages({ page, pages, go }: { page: number; pages: number; go: (page: number) => void }) {
  if (pages <= 1) return null;
  return (
    <nav class="pages" aria-label="Pages">
      <button type="button" class="quiet" disabled={page <= 1} onClick={() => go(page - 1)}>Previous</button>
      <span>{`Page ${page} of ${pages}`}</span>
      <button type="button" class="quiet" disabled={page >= pages} onClick={() => go(page + 1)}>Next</button>
    </nav>
  );
}

/** The windows the management window's figures cover, in days. */
export const PERIODS = [30, 90, 365] as const;
export type Period = (typeof PERIODS)[number];

/** A choice of 30 days, 90 days or a year, as one group of buttons. */
export function PeriodPicker({ days, choose }: { days: Period; choose: (days: Period) => void }) {
  return (
    <div class="segmented" role="group" aria-label="Period">
      {PERIODS.map((period) => (
        <button type="button" class="quiet" aria-pressed={days === period} data-days={period} onClick={() => choose(period)}>
          {period === 365 ? "1 year" : `${period} days`}
        </button>
      ))}
    </div>
  );
}

/** A list's search box: a search form with one field, searching as it is typed. */
export function SearchBox({ value, placeholder, search }: { value: string; placeholder: string; search: (text: string) => void }) {
  return (
    <form class="admin-filters audit" role="search" onSubmit={(event) => event.preventDefault()}>
      <label class="field">
        Search
        <input type="search" maxLength={200} placeholder={placeholder} value={value} onInput={(event) => search(event.currentTarget.value)} />
      </label>
    </form>
  );
}
