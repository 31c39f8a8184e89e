// Updates of the app: the bar that says a new version is ready (with what it
// changes, "Install and restart" and a progress bar while it downloads), and
// the Updates part of About (the channel, "Check for updates"). The shell
// checks at start and every six hours; a failure at any step is shown with
// its reason, and the running version keeps running.
import { useState } from "preact/hooks";
import { api, errorMessage, type UpdateCheck, type UpdateProgress, type UpdateSettings } from "./api";
import { ActionButton, Notice, useNotice } from "./controls";
import { useShellEvent } from "./shell-events";

type Install =
  | { stage: "idle" }
  | { stage: "downloading"; downloaded: number; total: number | null }
  | { stage: "installing" }
  | { stage: "restarting" }
  | { stage: "failed"; message: string };

function megabytes(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MB`;
}

/** The bar under the header while an update is on offer. */
export function UpdateBar() {
  const [offer, setOffer] = useState<UpdateCheck | null>(null);
  const [dismissed, setDismissed] = useState<string | null>(null);
  const [install, setInstall] = useState<Install>({ stage: "idle" });
  useShellEvent(api.onUpdateState, (check: UpdateCheck) => {
    if (check.status === "available") setOffer(check);
  });
  useShellEvent(api.onUpdateProgress, (progress: UpdateProgress) => {
    if (progress.stage === "downloading") {
      setInstall({ stage: "downloading", downloaded: progress.downloaded, total: progress.total });
    } else if (progress.stage === "installing") setInstall({ stage: "installing" });
    else if (progress.stage === "restarting") setInstall({ stage: "restarting" });
  });
  if (!offer || !offer.version || dismissed === offer.version) return null;
  const busy = install.stage === "downloading" || install.stage === "installing" || install.stage === "restarting";
  const start = async () => {
    setInstall({ stage: "downloading", downloaded: 0, total: null });
    try {
      await api.installUpdate();
    } catch (error) {
      setInstall({ stage: "failed", message: errorMessage(error) });
    }
  };
  return (
    <section class="update-bar" data-testid="update-bar" aria-labelledby="update-title">
      <div class="update-inner">
        <div class="update-text">
          <h2 id="update-title">Orrery {offer.version} is ready</h2>
          <p class="hint">You have {offer.current_version}. Your graphs and settings stay as they are.</p>
          {offer.notes && (
            <details class="update-notes">
              <summary>What's new</summary>
              <p data-testid="update-notes">{offer.notes}</p>
            </details>
          )}
        </div>
        <div class="update-actions">
          {install.stage === "downloading" && (
            <label class="update-progress">
              <span>
                Downloading…{" "}
                {install.total ? `${megabytes(install.downloaded)} of ${megabytes(install.total)}` : megabytes(install.downloaded)}
              </span>
              <progress
                data-testid="update-progress"
                max={install.total ?? undefined}
                value={install.total ? install.downloaded : undefined}
              />
            </label>
          )}
          {install.stage === "installing" && <p class="hint" role="status">Installing…</p>}
          {install.stage === "restarting" && <p class="hint" role="status">Restarting into {offer.version}…</p>}
          {!busy && (
            <>
              <button type="button" class="quiet" onClick={() => setDismissed(offer.version)}>
                Later
              </button>
              <ActionButton data-testid="install-update" onClick={start}>
                {install.stage === "failed" ? "Try again" : "Install and restart"}
              </ActionButton>
            </>
          )}
        </div>
      </div>
      {install.stage === "failed" && (
        <p class="notice update-failed" role="alert" data-testid="update-failed">
          {install.message}. Orrery {offer.current_version} keeps running.
        </p>
      )}
    </section>
  );
}

function checkSentence(check: UpdateCheck): string {
  switch (check.status) {
    case "up_to_date":
      return `Orrery ${check.current_version} is the newest version.`;
    case "available":
      return `Orrery ${check.version} is ready to install (see the bar at the top).`;
    case "offline":
      return "The update server cannot be reached; Orrery checks again later.";
    default:
      return check.message ?? "The check failed.";
  }
}

/** The Updates part of About: channel and "Check for updates". */
export function UpdateSection({ initial }: { initial: UpdateSettings | null }) {
  const [settings, setSettings] = useState<UpdateSettings | null>(initial);
  const [said, say] = useNotice();
  const check = async () => {
    say(null);
    try {
      const answer = await api.checkForUpdate();
      say(checkSentence(answer), answer.status === "failed" || answer.status === "unsupported" ? "bad" : "good");
    } catch (error) {
      say(errorMessage(error));
    }
  };
  const choose = async (channel: string) => {
    try {
      setSettings(await api.setUpdateChannel(channel));
      say(channel === "beta" ? "You will be offered betas as well as stable releases." : "You will be offered stable releases only.", "good");
    } catch (error) {
      say(errorMessage(error));
    }
  };
  return (
    <section class="about-updates" aria-labelledby="updates-title">
      <h3 id="updates-title">Updates</h3>
      <div class="row">
        <label class="field">
          Channel
          <select
            data-testid="update-channel"
            value={settings?.channel ?? "stable"}
            onChange={(event) => void choose((event.target as HTMLSelectElement).value)}
          >
            <option value="stable">Stable</option>
            <option value="beta">Beta (earlier, less tested)</option>
          </select>
        </label>
        <ActionButton type="button" class="quiet" data-testid="check-updates" onClick={check}>
          Check for updates
        </ActionButton>
      </div>
      <Notice said={said} testId="update-check" />
    </section>
  );
}
