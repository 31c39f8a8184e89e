//! Generates the Tauri context and the permissions of the shell's own commands.
fn main() {
    // Every command the webview may call (src-tauri/src/commands.rs); a test
    // checks this list and the main window's capability against the bindings.
    let commands = &[
        "list_graphs",
        "create_graph",
        "add_sample_graph",
        "rename_graph",
        "delete_graph",
        "restore_graph",
        "list_deleted_graphs",
        "duplicate_graph",
        "list_templates",
        "about",
        "open_about_link",
        "welcome_due",
        "dismiss_welcome",
        "add_template",
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
        "admin_list_users",
        "admin_change_user",
        "admin_audit_log",
    ];
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("failed to run tauri-build");
}
