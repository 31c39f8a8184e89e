// Toasts and confirmation dialogs: how every screen reports what an action
// did when the result does not belong beside a form, and asks before an
// action that deletes.
import { element } from "./dom";

/** An action a toast offers (Undo, Open…). */
export interface ToastAction {
  label: string;
  run: () => void | Promise<void>;
}

/** How long a toast stays unless the pointer or focus is on it. */
const TOAST_MS = 8000;

function toastRegion(): HTMLElement {
  let region = document.querySelector<HTMLElement>("section.toasts");
  if (!region) {
    // One polite live region for every toast, so screen readers read each.
    region = element("section", { class: "toasts", "aria-label": "Notifications", "aria-live": "polite" });
    document.body.append(region);
  }
  return region;
}

/** Shows `message` at the bottom of the window, with an optional action. */
export function toast(message: string, options: { kind?: "good" | "bad"; action?: ToastAction } = {}): HTMLElement {
  const item = element("div", { class: "toast", role: "status", "data-kind": options.kind ?? "good" });
  item.append(element("span", {}, message));
  const close = () => item.remove();
  if (options.action) {
    const { label, run } = options.action;
    const button = element("button", { type: "button", class: "link" }, label);
    button.addEventListener("click", () => {
      button.disabled = true;
      void Promise.resolve(run()).finally(close);
    });
    item.append(button);
  }
  const dismiss = element("button", { type: "button", class: "icon", "aria-label": "Dismiss" }, "×");
  dismiss.addEventListener("click", close);
  item.append(dismiss);
  // Hovered or focused, a toast waits: its action must stay reachable.
  let timer = window.setTimeout(close, TOAST_MS);
  const hold = () => window.clearTimeout(timer);
  const release = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(close, TOAST_MS);
  };
  item.addEventListener("pointerenter", hold);
  item.addEventListener("pointerleave", release);
  item.addEventListener("focusin", hold);
  item.addEventListener("focusout", release);
  toastRegion().append(item);
  return item;
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

/**
 * Shows `content` in a modal `<dialog>` of class `kind`, named by the element
 * with id `titleId`, with `focus` focused; resolves with the value of the
 * button that closed it ("" for Esc). The dialog is removed once closed.
 */
export function showModal(kind: string, titleId: string, content: HTMLFormElement, focus?: HTMLElement): Promise<string> {
  content.method = "dialog";
  const dialog = element("dialog", { class: kind, "aria-labelledby": titleId });
  dialog.append(content);
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue);
    });
    dialog.showModal();
    focus?.focus();
  });
}

/** Asks in a modal dialog; resolves true when confirmed, false when cancelled (Esc too). */
export async function confirmAction(question: Confirmation): Promise<boolean> {
  const form = element("form", {});
  const cancel = element("button", { value: "cancel", class: "quiet" }, "Cancel");
  const confirm = element("button", { value: "confirm", class: question.danger ? "danger" : "" }, question.confirm);
  const actions = element("div", { class: "actions" });
  actions.append(cancel, confirm);
  form.append(element("h2", { id: "confirm-title" }, question.title), element("p", {}, question.body), actions);
  // The safe choice has focus: Enter does not delete by accident.
  return (await showModal("confirm", "confirm-title", form, cancel)) === "confirm";
}
