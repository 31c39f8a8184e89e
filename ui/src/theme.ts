// The theme applies to the whole window at once: a data-theme attribute on the
// root element that styles.css reads. "system" follows the OS.
import type { Theme } from "./api";

export function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
}
