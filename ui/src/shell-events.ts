// Shell events (account, library, sync) as a hook: a component listens while
// it is on screen and stops listening when it leaves.
import { useEffect, useRef } from "preact/hooks";
import type { UnlistenFn } from "@tauri-apps/api/event";

/** Calls `handler` (its latest version) for every event `subscribe` delivers while the component is mounted. */
export function useShellEvent<Args extends unknown[]>(
  subscribe: (handler: (...args: Args) => void) => Promise<UnlistenFn>,
  handler: (...args: Args) => void,
): void {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    let unmounted = false;
    let stop: UnlistenFn | null = null;
    void subscribe((...args) => latest.current(...args)).then((unlisten) => {
      if (unmounted) unlisten();
      else stop = unlisten;
    });
    return () => {
      unmounted = true;
      stop?.();
    };
  }, [subscribe]);
}
