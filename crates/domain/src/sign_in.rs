//! How a provider's sign-in page hands the user back to the desktop
//! (RFC 8252, OAuth for native apps): to a one-shot listener on loopback
//! (§7.3, what Google allows for desktop clients), or to the app's own
//! `orrery://` link (§7.1, a private-use URI scheme the system routes to the
//! app, for providers registered with it). The server names the way per
//! provider; the desktop and the server both check it.

use serde::{Deserialize, Serialize};

/// The redirect URI of [`OAuthRedirect::App`]: the one link the system
/// hands to the running app, and the only one the server accepts for it.
pub const APP_REDIRECT_URI: &str = "orrery://oauth/callback";

/// Where a provider sends the browser back to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum OAuthRedirect {
    /// `http://127.0.0.1:PORT/callback`, a port the app listens on once.
    #[default]
    Loopback,
    /// [`APP_REDIRECT_URI`], which the system opens with the app.
    App,
}

impl OAuthRedirect {
    /// Reads the server's setting (`loopback` or `app`).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "loopback" => Ok(Self::Loopback),
            "app" => Ok(Self::App),
            other => Err(format!(
                "`{}` is not a redirect: say `loopback` or `app`",
                other.chars().take(40).collect::<String>()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_are_read_strictly() {
        assert_eq!(OAuthRedirect::parse("app"), Ok(OAuthRedirect::App));
        assert_eq!(
            OAuthRedirect::parse(" loopback "),
            Ok(OAuthRedirect::Loopback)
        );
        assert!(OAuthRedirect::parse("orrery://oauth/callback").is_err());
        assert!(OAuthRedirect::parse("").is_err());
        assert_eq!(
            serde_json::to_string(&OAuthRedirect::App).unwrap(),
            "\"app\"",
            "the wire name the desktop reads"
        );
    }
}
