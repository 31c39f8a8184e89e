// The About window: version, licence, the server this desktop syncs with,
// what Orrery is built on, and links (opened in the browser by the shell).
import { api, errorMessage, type About, type UpdateSettings } from "./api";
import { Notice, useNotice } from "./controls";
import { showModal } from "./feedback";
import { UpdateSection } from "./updates";

/** Shows the About dialog; resolves when it is closed. */
export async function showAbout(): Promise<void> {
  const about = await api.about();
  const updates = await api.updateSettings().catch(() => null);
  await showModal("about-dialog", "about-title", <AboutOrrery about={about} updates={updates} />);
}

function AboutOrrery({ about, updates }: { about: About; updates: UpdateSettings | null }) {
  const [said, say] = useNotice();
  const facts = [
    ["Version", about.version],
    ["Licence", about.licence.replace(" OR ", " or ")],
    ["Syncs with", about.server_url],
  ];
  return (
    <>
      <h2 id="about-title">Orrery</h2>
      <p class="lead">A desktop studio for teams of AI agents.</p>
      <dl class="facts">
        {facts.map(([term, value]) => (
          <>
            <dt>{term}</dt>
            <dd>{value}</dd>
          </>
        ))}
      </dl>
      <UpdateSection initial={updates} />
      <p class="built-with">Built on {about.built_with.join(", ")} and other open-source projects.</p>
      <ul class="about-links">
        {about.links.map((link) => (
          <li>
            <button
              type="button"
              class="link"
              onClick={() => void api.openAboutLink(link.key).catch((error) => say(errorMessage(error)))}
            >
              {link.label} ↗
            </button>
          </li>
        ))}
      </ul>
      <p class="hint about-logs">
        Something went wrong?{" "}
        <button
          type="button"
          class="link"
          data-testid="open-log-folder"
          onClick={() =>
            void api
              .openLogFolder()
              .then((folder) => say(`The log is in ${folder}.`, "good"))
              .catch((error) => say(errorMessage(error)))
          }
        >
          Open log folder
        </button>
      </p>
      <Notice said={said} testId="about-notice" />
      <div class="actions">
        <button value="close">Close</button>
      </div>
    </>
  );
}
