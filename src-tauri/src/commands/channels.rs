//! The Channels screen's commands: the tenant's Telegram bot and WhatsApp
//! number, and the provider the server calls for them.

use tauri::State;

use super::CommandError;
use crate::shell::Shell;

fn invalid(message: impl ToString) -> CommandError {
    CommandError {
        code: "invalid_input",
        message: message.to_string(),
    }
}

/// Longest secret or id a channel form may send.
const MAX_FIELD_CHARS: usize = 1_024;

/// The tenant's channels, with their last messages.
#[tauri::command]
#[specta::specta]
pub async fn list_channels(
    shell: State<'_, Shell>,
) -> Result<Vec<orrery_account::MessengerChannel>, CommandError> {
    Ok(shell.channels().await?)
}

/// Connects a Telegram bot or a WhatsApp number (the server checks the
/// secrets with the platform); the channels then.
#[tauri::command]
#[specta::specta]
pub async fn connect_channel(
    shell: State<'_, Shell>,
    connection: orrery_account::ChannelConnection,
) -> Result<Vec<orrery_account::MessengerChannel>, CommandError> {
    for value in [
        &connection.agent_id,
        &connection.graph_id,
        &connection.bot_token,
        &connection.phone_number_id,
        &connection.display_number,
        &connection.access_token,
        &connection.app_secret,
        &connection.verify_token,
    ]
    .into_iter()
    .flatten()
    {
        if value.chars().count() > MAX_FIELD_CHARS {
            return Err(invalid(format!(
                "a channel's fields are at most {MAX_FIELD_CHARS} characters"
            )));
        }
    }
    Ok(shell.connect_channel(&connection).await?)
}

/// Disconnects the channel of `kind` (`telegram` or `whatsapp`); the channels then.
#[tauri::command]
#[specta::specta]
pub async fn disconnect_channel(
    shell: State<'_, Shell>,
    kind: String,
) -> Result<Vec<orrery_account::MessengerChannel>, CommandError> {
    if kind != "telegram" && kind != "whatsapp" {
        return Err(invalid("channels are telegram or whatsapp"));
    }
    Ok(shell.disconnect_channel(&kind).await?)
}

/// The provider the server calls for runs from channels and the API, if set.
#[tauri::command]
#[specta::specta]
pub async fn server_provider(
    shell: State<'_, Shell>,
) -> Result<Option<orrery_account::ServerProvider>, CommandError> {
    Ok(shell.server_provider().await?)
}

/// Gives the server this app's provider, with its key from the keyring.
#[tauri::command]
#[specta::specta]
pub async fn share_provider_with_server(
    shell: State<'_, Shell>,
) -> Result<Option<orrery_account::ServerProvider>, CommandError> {
    Ok(shell.share_provider_with_server().await?)
}
