// `process.nextTick` for readable-stream in the browser build, injected where that module names it (no global
// `process` is made: other code on the page reads one as "this is Node"). A microtask, as Node's nextTick is
// close to; browserify's shim, in simplepeer.min.js, ran the queue on a setTimeout.
export default function nextTick(fn: (...args: unknown[]) => void, ...args: unknown[]): void {
  queueMicrotask(() => fn(...args));
}
