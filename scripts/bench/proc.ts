/**
 * Process figures from Linux's `/proc`: CPU time (`/proc/PID/stat`, whole
 * process and per thread), resident memory and its peak (`/proc/PID/status`),
 * the children of a process (nginx's workers), open-file limits, and the
 * machine's description.
 *
 * @module
 */

let clockTicks = 100;

/** Reads the kernel's clock-tick rate once (`getconf CLK_TCK`; 100 if unknown). */
export async function initClockTicks(): Promise<void> {
  try {
    const out = await new Deno.Command("getconf", {
      args: ["CLK_TCK"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const value = Number(new TextDecoder().decode(out.stdout).trim());
    if (value > 0) clockTicks = value;
  } catch {
    // Keep 100, Linux's value on every common architecture.
  }
}

/** Fields of a `stat` file after the command name (field 3 is index 0). */
function statFields(text: string): string[] {
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

/** User + system CPU seconds of a process (all its threads), or NaN if gone. */
export function cpuSeconds(pid: number): number {
  try {
    const f = statFields(Deno.readTextFileSync(`/proc/${pid}/stat`));
    return (Number(f[11]) + Number(f[12])) / clockTicks;
  } catch {
    return NaN;
  }
}

/** CPU seconds of each thread of a process, by thread id. */
export function threadCpuSeconds(pid: number): Map<number, number> {
  const result = new Map<number, number>();
  try {
    for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        const f = statFields(
          Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/stat`),
        );
        result.set(
          Number(entry.name),
          (Number(f[11]) + Number(f[12])) / clockTicks,
        );
      } catch {
        // The thread ended.
      }
    }
  } catch {
    // The process ended.
  }
  return result;
}

/**
 * The most CPU any one thread used between two {@linkcode threadCpuSeconds}
 * snapshots, in seconds: near the wall time means that thread was saturated.
 */
export function busiestThread(
  before: Map<number, number>,
  after: Map<number, number>,
): number {
  let most = 0;
  for (const [tid, seconds] of after) {
    const used = seconds - (before.get(tid) ?? 0);
    if (used > most) most = used;
  }
  return most;
}

/**
 * CPU seconds the whole machine has been busy (all CPUs: user, nice,
 * system, irq, softirq, steal), from `/proc/stat`.
 */
export function machineBusySeconds(): number {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n", 1)[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0)) / clockTicks;
  } catch {
    return NaN;
  }
}

/** Resident set size in KiB (`VmRSS`), or NaN if gone. */
export function rssKiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Peak resident set size in KiB (`VmHWM`) over the whole life of the
 * process so far, or NaN if gone.
 */
export function peakRssKiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Direct children of a process (from `/proc/PID/task/*\/children`). */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        const text = Deno.readTextFileSync(
          `/proc/${pid}/task/${entry.name}/children`,
        ).trim();
        if (text) children.push(...text.split(/\s+/).map(Number));
      } catch {
        // The thread ended.
      }
    }
  } catch {
    // The process ended.
  }
  return children;
}

/** Soft and hard limits on open files of a process. */
export function openFileLimits(pid: number | "self" = "self"): {
  soft: number;
  hard: number;
} {
  const text = Deno.readTextFileSync(`/proc/${pid}/limits`);
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  const value = (s: string | undefined) =>
    s === undefined || s === "unlimited" ? Infinity : Number(s);
  return { soft: value(match?.[1]), hard: value(match?.[2]) };
}

/** What the figures were measured on. */
export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly memGiB: number;
  readonly deno: string;
  readonly os: string;
}

export function machineInfo(): MachineInfo {
  const read = (path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return "";
    }
  };
  const cpuinfo = read("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ??
    "unknown";
  const mem = Number(/^MemTotal:\s+(\d+)/m.exec(read("/proc/meminfo"))?.[1]);
  const osName = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(read("/etc/os-release"))
    ?.[1] ?? Deno.build.os;
  return {
    cpus: navigator.hardwareConcurrency,
    cpuModel: model,
    kernel: read("/proc/sys/kernel/osrelease").trim(),
    memGiB: Math.round(mem / 1024 / 1024 * 10) / 10,
    deno: Deno.version.deno,
    os: osName,
  };
}
