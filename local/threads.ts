/**
 * CPU time per thread of this process (Linux /proc), for the benchmarks' "which thread is busy":
 * the main thread, each named worker thread (emulators, functions) and the rest (V8's GC helpers,
 * libuv's pool). Elsewhere every figure is undefined.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Worker threads of this process by name, as they reported their thread ids. */
const named = new Map<string, number>();

/** The calling thread's kernel thread id, when the platform says. */
export function currentThreadId(): number | undefined {
  try {
    const m = /\/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Records the kernel thread id of a worker thread under `name`. */
export function nameThread(name: string, tid: number | undefined): void {
  if (tid !== undefined) named.set(name, tid);
}

/** CPU seconds (user + system) per thread: `main`, each named thread, and `other` for the rest. */
export function threadCpuSeconds(): Map<string, number> | undefined {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return undefined;
  }
  const names = new Map([...named].map(([name, tid]) => [String(tid), name]));
  names.set(String(process.pid), 'main');
  const out = new Map<string, number>();
  for (const tid of tids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100/s).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(f[11]) + Number(f[12])) / 100;
    const name = names.get(tid) ?? 'other';
    out.set(name, (out.get(name) ?? 0) + seconds);
  }
  return out;
}
