// Toasts and modal dialogs: how every screen reports what an action did when
// the result does not belong beside a form, asks before an action that
// deletes, and shows the welcome and About.
import { render, type ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";

/** An action a toast offers (Undo, Open…). */
export interface ToastAction {
  label: string;
  run: () => void | Promise<void>;
}

interface ToastItem {
  message: string;
  kind: "good" | "bad";
  action?: ToastAction;
}

/** How long a toast stays unless the pointer or focus is on it. */
const TOAST_MS = 8000;

/** The toasts on show, oldest first. */
let toasts: ToastItem[] = [];

function showToasts(): void {
  let region = document.querySelector<HTMLElement>("section.toasts");
  if (!region) {
    // One polite live region for every toast, so screen readers read each.
    region = document.createElement("section");
    region.className = "toasts";
    region.setAttribute("aria-label", "Notifications");
    region.setAttribute("aria-live", "polite");
    document.body.append(region);
  }
  const close = (item: ToastItem) => {
    toasts = toasts.filter((other) => other !== item);
    showToasts();
  };
  render(
    <>
      {toasts.map((item) => (
        <Toast item={item} close={() => close(item)} />
      ))}
    </>,
    region,
  );
}

/** Shows `message` at the bottom of the window, with an optional action. */
export function toast(message: string, options: { kind?: "good" | "bad"; action?: ToastAction } = {}): void {
  toasts = [...toasts, { message, kind: options.kind ?? "good", action: options.action }];
  showToasts();
}

function Toast({ item, close }: { item: ToastItem; close: () => void }) {
  const [running, setRunning] = useState(false);
  const timer = useRef(0);
  // Hovered or focused, a toast waits: its action must stay reachable.
  const hold = () => window.clearTimeout(timer.current);
  const release = () => {
    hold();
    timer.current = window.setTimeout(close, TOAST_MS);
  };
  useEffect(() => {
    release();
    return hold;
  }, []);
  const { action } = item;
  return (
    <div
      class="toast"
      role="status"
      data-kind={item.kind}
      onPointerEnter={hold}
      onPointerLeave={release}
      onFocusIn={hold}
      onFocusOut={release}
    >
      <span>{item.message}</span>
      {action && (
        <button
          type="button"
          class="link"
          disabled={running}
          onClick={() => {
            setRunning(true);
            void Promise.resolve(action.run()).finally(close);
          }}
        >
          {action.label}
        </button>
      )}
      <button type="button" class="icon" aria-label="Dismiss" onClick={close}>×</button>
    </div>
  );
}

/**
 * Shows `content` in a modal `<dialog>` of class `kind`, inside a form whose
 * buttons close it, named by the element with id `titleId`; the element with
 * `autofocus` has focus. Resolves with the value of the button that closed it
 * ("" for Esc). The dialog is removed once closed, and focus goes back to
 * where it was.
 */
export function showModal(kind: string, titleId: string, content: ComponentChildren): Promise<string> {
  const host = document.body.appendChild(document.createElement("div"));
  return new Promise((resolve) => {
    const closed = (value: string) => {
      render(null, host);
      host.remove();
      resolve(value);
    };
    render(
      <Modal kind={kind} titleId={titleId} closed={closed}>
        {content}
      </Modal>,
      host,
    );
  });
}

function Modal(props: { kind: string; titleId: string; closed: (value: string) => void; children: ComponentChildren }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const done = useRef(false);
  useLayoutEffect(() => dialog.current?.showModal(), []);
  // Closed in the same task as the click or Esc that closes it (the close
  // event comes a task later), so whatever the answer leads to is on screen
  // as soon as the dialog is gone. Closing gives focus back.
  const finish = (value: string) => {
    if (done.current) return;
    done.current = true;
    if (dialog.current?.open) dialog.current.close(value);
    props.closed(value);
  };
  return (
    <dialog
      ref={dialog}
      class={props.kind}
      aria-labelledby={props.titleId}
      onCancel={() => finish("")}
      onClose={(event) => finish(event.currentTarget.returnValue)}
    >
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          finish((event.submitter as HTMLButtonElement | null)?.value ?? "");
        }}
      >
        {props.children}
      </form>
    </dialog>
  );
}

/** What a confirmation dialog says. */
export interface Confirmation {
  title: string;
  body: string;
  /** The confirming button's words ("Delete graph"). */
  confirm: string;
  /** A destructive action: the confirming button is red. */
  danger?: boolean;
}

/** Asks in a modal dialog; resolves true when confirmed, false when cancelled (Esc too). */
export async function confirmAction(question: Confirmation): Promise<boolean> {
  const answer = await showModal(
    "confirm",
    "confirm-title",
    <>
      <h2 id="confirm-title">{question.title}</h2>
      <p>{question.body}</p>
      <div class="actions">
        {/* The safe choice has focus: Enter does not delete by accident. */}
        <button value="cancel" class="quiet" autofocus>Cancel</button>
        <button value="confirm" class={question.danger ? "danger" : undefined}>{question.confirm}</button>
      </div>
    </>,
  );
  return answer === "confirm";
}

/** Asks for a reason in a modal dialog (a refund's, which its buyer sees);
 * resolves with the reason when confirmed, null when cancelled (Esc too). */
export async function askReason(question: Confirmation & { label: string }): Promise<string | null> {
  let reason = "";
  const answer = await showModal(
    "confirm",
    "reason-title",
    <>
      <h2 id="reason-title">{question.title}</h2>
      <p>{question.body}</p>
      <label class="field">
        <span>{question.label}</span>
        <textarea
          rows={3}
          maxLength={1000}
          required
          autofocus
          aria-label={question.label}
          onInput={(event) => {
            reason = event.currentTarget.value;
          }}
        />
      </label>
      <div class="actions">
        <button value="cancel" class="quiet" formNoValidate>Cancel</button>
        <button value="confirm" class={question.danger ? "danger" : undefined}>{question.confirm}</button>
      </div>
    </>,
  );
  return answer === "confirm" && reason.trim() ? reason.trim() : null;
}
