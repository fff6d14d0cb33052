import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * Calls `load` now and every `intervalMs` while `active`, one call at a time, and stops when
 * the page is left: the live views of the console are polls of the HTTP API.
 */
export function usePoll<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[], active = true) {
  const [state, setValue] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const loadRef = useRef(load);
  const value = useRef<T | undefined>(undefined);
  loadRef.current = load;
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      // A tab nobody looks at costs the server nothing: its polls wait until it is shown again.
      if (document.hidden && value.current !== undefined) {
        timer = setTimeout(run, intervalMs);
        return;
      }
      try {
        const next = await loadRef.current();
        if (stopped) return;
        value.current = next;
        setValue(next);
        setError(undefined);
      } catch (err) {
        if (!stopped) setError(err instanceof Error ? err.message : String(err));
      }
      if (!stopped && active) timer = setTimeout(run, intervalMs);
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [...deps, active, tick]);
  return { value: state, error, reload: () => setTick((t) => t + 1) };
}
