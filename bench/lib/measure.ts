import { readdirSync, readFileSync } from 'node:fs';

/** Peak resident set of a process so far (Linux VmHWM), in bytes. */
export function peakRss(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** The middle value (the upper one of an even count). */
export const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const start = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - start) / 1000 };
}

/** A process's direct child processes (from /proc); none once it is gone. */
function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

/** Peak RSS of a process plus its child processes (inlet serve forks its workers): the sum of each one's peak. */
export function peakRssTree(pid: number): number | undefined {
  const own = peakRss(pid);
  if (own === undefined) return undefined;
  return childrenOf(pid).reduce((sum, child) => sum + (peakRssTree(child) ?? 0), own);
}

/** CPU seconds (user + system) a process alone has used so far, from /proc; 0 once it is gone. */
export function cpuSecondsOwn(pid: number): number {
  let fields: string[];
  try {
    // Fields after the command name, which may itself hold spaces: utime and stime are the 12th and 13th.
    fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  } catch {
    return 0;
  }
  // USER_HZ, 100 on Linux (getconf CLK_TCK).
  const ticksPerSecond = 100;
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** CPU seconds (user + system) a process and its child processes have used so far, from /proc. */
export function cpuSecondsTree(pid: number): number {
  return childrenOf(pid).reduce((sum, child) => sum + cpuSecondsTree(child), cpuSecondsOwn(pid));
}
