// The app's event bus, so modules can tell each other about changes without
// importing each other:
//   "compose"        { replyTo?: Status }     open a composer
//   "posted"         { status }               the user published a status
//   "status-changed" { status }               counters or flags changed
//   "status-deleted" { id }                   a status is gone
//   "relationship"   { relationship }         a follow changed

export const bus = new EventTarget();

/** emit dispatches an app event with detail. */
export function emit(name, detail) {
  bus.dispatchEvent(new CustomEvent(name, { detail }));
}

/** on listens to an app event and returns a function that stops listening. */
export function on(name, fn) {
  const l = (e) => fn(e.detail);
  bus.addEventListener(name, l);
  return () => bus.removeEventListener(name, l);
}
