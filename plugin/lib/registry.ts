// The member-card components on screen, so that the host's refresh() reaches them all (a host cannot
// reach into a plugin component by itself: selectComponent gives it only what `export()` returns).

export interface Refreshable {
  refresh(): void;
}

const attached = new Set<Refreshable>();

export function track(component: Refreshable): void {
  attached.add(component);
}

export function untrack(component: Refreshable): void {
  attached.delete(component);
}

/** Reloads every attached component; returns how many there were. */
export function refreshAll(): number {
  for (const component of attached) component.refresh();
  return attached.size;
}
