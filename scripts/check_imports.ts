/**
 * Fails when the modules of `lib/` (and `main.ts`) import each other in a
 * cycle, type-only imports included, or when a module grows past the size
 * the project keeps them under. Part of `deno task check`.
 *
 * Usage: `deno run --allow-read scripts/check_imports.ts`
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url);
/** The most lines a module of `lib/` may have. */
const MAX_LINES = 500;

// Static imports and re-exports, type-only ones included, and dynamic
// imports with a literal specifier.
const SPECIFIER =
  /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm;

/** Every `.ts` file under `dir`, as paths relative to the project. */
function walk(dir: string): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(new URL(dir, ROOT))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...walk(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

/** `spec` imported from `from`, as a path relative to the project. */
function resolve(from: string, spec: string): string {
  const url = new URL(spec, new URL(from, ROOT));
  return url.pathname.slice(ROOT.pathname.length);
}

const modules = ["main.ts", ...walk("lib")].sort();
const graph = new Map<string, string[]>();
const problems: string[] = [];
for (const module of modules) {
  const text = Deno.readTextFileSync(new URL(module, ROOT));
  graph.set(
    module,
    [...text.matchAll(SPECIFIER)].map((match) => resolve(module, match[1])),
  );
  const lines = text.split("\n").length;
  if (module.startsWith("lib/") && lines > MAX_LINES) {
    problems.push(`${module} has ${lines} lines (at most ${MAX_LINES})`);
  }
}

// Depth-first search; a grey module met again closes a cycle.
const state = new Map<string, "grey" | "black">();
const stack: string[] = [];
const cycles = new Set<string>();
function visit(module: string): void {
  state.set(module, "grey");
  stack.push(module);
  for (const next of graph.get(module) ?? []) {
    const seen = state.get(next);
    if (seen === "grey") {
      cycles.add([...stack.slice(stack.indexOf(next)), next].join(" -> "));
    } else if (seen === undefined && graph.has(next)) {
      visit(next);
    }
  }
  stack.pop();
  state.set(module, "black");
}
for (const module of modules) if (!state.has(module)) visit(module);
for (const cycle of cycles) problems.push(`import cycle: ${cycle}`);

if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  Deno.exit(1);
}
console.log(
  `${modules.length} modules, no import cycle, none over ${MAX_LINES} lines`,
);
