// Typed calls to the desktop shell's commands (src-tauri/src/commands.rs).
// The webview talks only to these commands: never to the server, never with tokens.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";

/** One graph as the library lists it (orrery_store::GraphSummary). */
export interface GraphSummary {
  id: string;
  name: string;
  node_count: number;
  edge_count: number;
  pending_changes: number;
  synced_once: boolean;
  updated_at: string;
}

/** Where sync stands (src-tauri shell::SyncStatus). */
export interface SyncStatus {
  state: "synced" | "pending" | "offline" | "error";
  pending_changes: number;
  message: string | null;
}

/** An error from a command (src-tauri commands::CommandError). */
export interface CommandError {
  code: string;
  message: string;
}

/** The message of whatever a command rejected with. */
export function errorMessage(error: unknown): string {
  if (typeof error === "object" && error !== null && "message" in error) {
    return String((error as CommandError).message);
  }
  return String(error);
}

export const api = {
  listGraphs: () => invoke<GraphSummary[]>("list_graphs"),
  createGraph: (name: string) => invoke<GraphSummary>("create_graph", { name }),
  addSampleGraph: (nodes: number) => invoke<GraphSummary>("add_sample_graph", { nodes }),
  renameGraph: (id: string, name: string) => invoke<GraphSummary>("rename_graph", { id, name }),
  openGraph: (id: string) => invoke<void>("open_graph", { id }),
  syncStatus: () => invoke<SyncStatus>("sync_status"),
  onLibraryChanged: (handler: () => void): Promise<UnlistenFn> =>
    listen<string>("library-changed", () => handler()),
  onSyncStatus: (handler: (status: SyncStatus) => void): Promise<UnlistenFn> =>
    listen<SyncStatus>("sync-status", (event) => handler(event.payload)),
};

/** Longest graph name the library accepts (orrery_domain::MAX_NAME_CHARS). */
export const MAX_GRAPH_NAME_CHARS = 120;
