// The member-card components on screen, so that the host's refresh() reaches them all (a host cannot
// reach into a plugin component by itself: selectComponent gives it only what `export()` returns).

export interface Refreshable {
  refresh(): void;
  /** The host's outcome of a wx.requestPayment the component asked for (its `topup` event). */
  topupResult?(orderId: string, result: unknown): boolean;
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

/** Hands the host's payment outcome to the component waiting for that order; true when one was. */
export function topupResultAll(orderId: string, result: unknown): boolean {
  let taken = false;
  for (const component of attached) if (component.topupResult?.(orderId, result)) taken = true;
  return taken;
}
