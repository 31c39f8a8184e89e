//! Sandbox sessions from the desktop: a task typed in the canvas's chat
//! panel runs on the open graph's agents (orrery-sessions), the canvas
//! follows the run, and the chat is kept in the graph's session document.

use std::sync::Arc;

use orrery_canvas::CanvasCommand;
use orrery_domain::GraphId;
use orrery_runtime::{ChatRequest, HttpProvider, Provider, ProviderSettings};
use orrery_sessions::{SessionError, SessionRunner};
use serde::Serialize;

use super::{Shell, ShellError};

/// The local setting that holds the provider the sandbox calls (JSON).
const PROVIDER_SETTING: &str = "provider";
/// Longest API key accepted.
const MAX_API_KEY_CHARS: usize = 4096;

/// The provider as the settings screen sees it: never the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct ProviderView {
    /// The settings.
    pub settings: ProviderSettings,
    /// Whether an API key is saved in the keyring for it.
    pub has_api_key: bool,
}

impl Shell {
    /// The model provider sandbox runs call: what the user chose, or a local
    /// Ollama (`http://127.0.0.1:11434/v1`).
    pub async fn provider_settings(&self) -> Result<ProviderSettings, ShellError> {
        let stored = self
            .inner
            .device
            .store()
            .setting(PROVIDER_SETTING)
            .await
            .map_err(orrery_sync::SyncError::from)?;
        Ok(stored
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_else(ProviderSettings::local))
    }

    /// The provider and whether its API key is saved.
    pub async fn provider_view(&self) -> Result<ProviderView, ShellError> {
        let settings = self.provider_settings().await?;
        let has_api_key = match &settings.api_key_ref {
            Some(name) => self.inner.vault.api_key(name).await?.is_some(),
            None => false,
        };
        Ok(ProviderView {
            settings,
            has_api_key,
        })
    }

    /// Chooses the model provider sandbox runs call (checked first). A
    /// given `api_key` goes to the keyring (an empty one forgets it); `None`
    /// keeps the saved one.
    pub async fn save_provider_settings(
        &self,
        settings: &ProviderSettings,
        api_key: Option<&str>,
    ) -> Result<ProviderView, ShellError> {
        let mut settings = settings.clone();
        settings.base_url = settings.base_url.trim().to_owned();
        settings.model = settings.model.trim().to_owned();
        settings
            .validate()
            .map_err(|error| ShellError::Session(SessionError::Runtime(error)))?;
        // One key per wire format, named after it.
        let key_name = format!("{:?}", settings.kind).to_lowercase();
        if let Some(key) = api_key {
            let key = key.trim();
            if key.chars().count() > MAX_API_KEY_CHARS || key.chars().any(char::is_control) {
                return Err(ShellError::Session(SessionError::InvalidTask(format!(
                    "an API key is one line of at most {MAX_API_KEY_CHARS} characters"
                ))));
            }
            self.inner.vault.save_api_key(&key_name, key).await?;
        }
        settings.api_key_ref = Some(key_name);
        let json = serde_json::to_string(&settings).expect("provider settings serialise");
        self.inner
            .device
            .store()
            .set_setting(PROVIDER_SETTING, &json)
            .await
            .map_err(orrery_sync::SyncError::from)?;
        self.provider_view().await
    }

    /// The provider sandbox runs call, with its API key from the keyring.
    pub async fn provider(&self) -> Result<HttpProvider, ShellError> {
        self.provider_for(self.provider_settings().await?).await
    }

    async fn provider_for(&self, settings: ProviderSettings) -> Result<HttpProvider, ShellError> {
        let key = match &settings.api_key_ref {
            Some(name) => self.inner.vault.api_key(name).await?,
            None => None,
        };
        Ok(HttpProvider::new(settings, key).map_err(SessionError::from)?)
    }

    /// Asks the provider for a one-word answer: its text, or exactly why it
    /// did not answer (for a local provider, how to start one).
    /// One attempt: the user is waiting for the answer, and a refused
    /// connection is said at once rather than after the retries a run makes.
    pub async fn test_provider(&self) -> Result<String, ShellError> {
        let mut settings = self.provider_settings().await?;
        settings.limits.max_attempts = 1;
        let provider = self.provider_for(settings).await?;
        let mut request = ChatRequest::user("Reply with the single word OK.");
        request.max_tokens = Some(8);
        let completion = provider
            .stream(request, orrery_runtime::CancellationToken::new())
            .collect()
            .await
            .map_err(SessionError::from)?;
        Ok(completion.text)
    }

    /// Runs `task` on `graph`'s agents; the canvas follows the run. Refused
    /// while another run goes, and when the plan allows no more runs now.
    pub async fn run_task(&self, graph: GraphId, task: String) -> Result<(), ShellError> {
        // A viewer's team runs nothing (a run writes the session's chat).
        self.check_writable()?;
        // The plan decides first, on what this device knows (online or not).
        self.check_allowance().await?;
        // Each run's calls are metered into the usage ledger, which syncs.
        let (usage, meter) = orrery_sessions::RunMeter::new();
        let provider = self.provider().await?.with_usage(usage);
        let runner = SessionRunner::new(self.replica(), Arc::new(provider)).with_meter(meter);
        let canvas = self.inner.canvas.clone();
        let shell = self.clone();
        self.inner.runs.start(
            runner,
            &tokio::runtime::Handle::current(),
            graph,
            task,
            move |update| {
                let ended = matches!(update, orrery_sessions::RunUpdate::Ended { .. });
                let _ = canvas.send(orrery_canvas::chat::command_for(update));
                if ended {
                    // The chat grew and the run is in the usage ledger: sync
                    // them, and show what is left.
                    shell.inner.changed.notify_one();
                    let shell = shell.clone();
                    tokio::spawn(async move { shell.show_allowance().await });
                }
            },
        )?;
        Ok(())
    }

    /// Tells the canvas why a run did not start.
    pub fn refuse_run(&self, reason: String) -> Result<(), ShellError> {
        self.inner
            .canvas
            .send(CanvasCommand::RunRefused(reason))
            .map_err(|_| ShellError::CanvasGone)
    }

    /// Cancels the run going now; false if none is.
    pub fn cancel_run(&self) -> bool {
        self.inner.runs.cancel()
    }

    /// Shows `graph`'s session chat in the canvas, if it has one.
    pub(super) async fn show_session_of(&self, graph: GraphId) -> Result<(), ShellError> {
        let messages = orrery_sessions::session_of_graph(&self.replica(), graph)
            .await?
            .map(|session| session.messages)
            .unwrap_or_default();
        self.inner
            .canvas
            .send(CanvasCommand::ShowChat(messages))
            .map_err(|_| ShellError::CanvasGone)?;
        self.show_allowance().await;
        Ok(())
    }
}
