//! Generates the Tauri context and the permissions of the shell's own commands.
fn main() {
    let commands = &[
        "list_graphs",
        "create_graph",
        "add_sample_graph",
        "rename_graph",
        "open_graph",
        "import_graph",
        "export_graph",
        "sync_status",
        "account_state",
        "register",
        "sign_in",
        "sign_in_with_provider",
        "list_providers",
        "sign_out",
        "update_profile",
        "request_password_reset",
        "confirm_password_reset",
        "billing_overview",
        "start_checkout",
        "open_billing_portal",
        "list_library",
        "get_agent",
        "save_agent",
        "duplicate_agent",
        "save_graph_as_agent",
        "get_prompt",
        "save_prompt",
        "duplicate_prompt",
        "add_prompt_version",
        "publish_prompt_version",
        "delete_library_item",
        "get_provider",
        "save_provider",
        "test_provider",
    ];
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("failed to run tauri-build");
}
