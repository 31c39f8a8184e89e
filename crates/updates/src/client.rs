//! Asking a sync server's feed whether there is something newer, and
//! checking its answer before anything else reads it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{CheckRequest, FeedError, FeedRelease, SIGNATURE_HEADER, STATEMENT_HEADER, UpdateKey};

/// How long a check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a check found nothing to offer.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The server could not be reached: the check is skipped quietly.
    #[error("the update server cannot be reached")]
    Offline,
    /// The server answered with an error.
    #[error("the update server refused: {0}")]
    Refused(String),
    /// The answer was refused (see [`FeedError`]).
    #[error(transparent)]
    Feed(#[from] FeedError),
}

/// A server's update feed, and the key its answers must be signed with.
#[derive(Debug, Clone)]
pub struct FeedClient {
    http: reqwest::Client,
    server_url: String,
    key: UpdateKey,
}

impl FeedClient {
    /// The feed of the server at `server_url`, trusting `key`.
    pub fn new(server_url: &str, key: UpdateKey) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(CHECK_TIMEOUT)
                .build()
                .expect("an HTTP client builds"),
            server_url: server_url.trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// Asks the feed, checks its signed answer, and returns the release on
    /// offer with its `url` made absolute.
    pub async fn check(
        &self,
        request: &CheckRequest,
        now: DateTime<Utc>,
    ) -> Result<Option<FeedRelease>, CheckError> {
        let response = self
            .http
            .get(format!("{}{}", self.server_url, request.path()))
            .send()
            .await
            .map_err(|error| {
                if error.is_connect() || error.is_timeout() {
                    CheckError::Offline
                } else {
                    CheckError::Refused(error.to_string())
                }
            })?;
        let status = response.status();
        if !(status == reqwest::StatusCode::OK || status == reqwest::StatusCode::NO_CONTENT) {
            let body = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|value| value["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| status.to_string());
            return Err(CheckError::Refused(message));
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let statement = header(STATEMENT_HEADER);
        let signature = header(SIGNATURE_HEADER);
        let release =
            self.key
                .check_answer(statement.as_deref(), signature.as_deref(), request, now)?;
        Ok(release.map(|mut release| {
            if release.url.starts_with('/') {
                release.url = format!("{}{}", self.server_url, release.url);
            }
            release
        }))
    }
}
