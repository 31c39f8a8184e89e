// The About window: version, licence, the server this desktop syncs with,
// what Orrery is built on, and links (opened in the browser by the shell).
import { api, errorMessage } from "./api";
import { element } from "./dom";
import { showModal } from "./feedback";

/** Shows the About dialog; resolves when it is closed. */
export async function showAbout(): Promise<void> {
  const about = await api.about();
  const form = element("form", {});
  const facts = element("dl", { class: "facts" });
  for (const [term, value] of [
    ["Version", about.version],
    ["Licence", about.licence.replace(" OR ", " or ")],
    ["Syncs with", about.server_url],
  ]) {
    facts.append(element("dt", {}, term), element("dd", {}, value));
  }
  const links = element("ul", { class: "about-links" });
  const problem = element("p", { class: "notice", role: "alert" });
  problem.hidden = true;
  for (const link of about.links) {
    const button = element("button", { type: "button", class: "link" }, `${link.label} ↗`);
    button.addEventListener("click", () => {
      void api.openAboutLink(link.key).catch((error) => {
        problem.textContent = errorMessage(error);
        problem.hidden = false;
      });
    });
    const item = element("li", {});
    item.append(button);
    links.append(item);
  }
  const actions = element("div", { class: "actions" });
  actions.append(element("button", { value: "close" }, "Close"));
  form.append(
    element("h2", { id: "about-title" }, "Orrery"),
    element("p", { class: "lead" }, "A desktop studio for teams of AI agents."),
    facts,
    element("p", { class: "built-with" }, `Built on ${about.built_with.join(", ")} and other open-source projects.`),
    links,
    problem,
    actions,
  );
  await showModal("about-dialog", "about-title", form);
}
