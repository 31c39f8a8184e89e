// Entry point of the main window: the graph library screen.
import { mountGraphList } from "./graph-list";

const root = document.querySelector<HTMLDivElement>("#app");
if (root) {
  void mountGraphList(root);
}
