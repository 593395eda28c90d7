import { Counter, Histogram, Registry } from 'prom-client';

/**
 * The series of one registry, made once per registry: two memberCard() on one host registry (two
 * cards, say) share them, as prom-client refuses a name registered twice.
 */

/** True for a prom-client Registry, ours or the host's copy of prom-client (so not instanceof). */
export function isRegistry(value: unknown): value is Registry {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.registerMetric === 'function' && typeof r.getSingleMetric === 'function' && typeof r.metrics === 'function'
  );
}

/**
 * Counts kept as plain numbers and handed to prom-client only when the registry is read: a hit of
 * the read cache then costs an addition, not prom-client's label hashing and validation.
 */
export class Tally<L extends string> {
  readonly #counts = new Map<string, { labels: Record<L, string>; n: number }>();

  constructor(private readonly labelNames: readonly L[]) {}

  /** A counter for these label values, to keep and call on a hot path. */
  bind(labels: Record<L, string>): () => void {
    const key = this.labelNames.map((name) => labels[name]).join('\u0000');
    let entry = this.#counts.get(key);
    if (!entry) this.#counts.set(key, (entry = { labels, n: 0 }));
    const counted = entry;
    return () => {
      counted.n += 1;
    };
  }

  /** Adds one to these label values: for paths that are not hot (a few label values each). */
  add(labels: Record<L, string>): void {
    const key = this.labelNames.map((name) => labels[name]).join('\u0000');
    const entry = this.#counts.get(key);
    if (entry) entry.n += 1;
    else this.#counts.set(key, { labels, n: 1 });
  }

  /** Copies the counts into the prom-client counter (called by its collect(), when read). */
  flush(counter: Counter<L>): void {
    counter.reset();
    for (const { labels, n } of this.#counts.values()) if (n > 0) counter.inc(labels, n);
  }
}

/** A counter fed by a Tally, registered once per registry. */
export function tallied<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
): Tally<L> {
  const existing = tallies.get(registry)?.get(name);
  if (existing) return existing as Tally<L>;
  const tally = new Tally(labelNames);
  new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      tally.flush(this);
    },
  });
  let byName = tallies.get(registry);
  if (!byName) tallies.set(registry, (byName = new Map<string, Tally<string>>()));
  byName.set(name, tally);
  return tally;
}

const tallies = new WeakMap<Registry, Map<string, Tally<string>>>();

/** A histogram in seconds, registered once per registry. */
export function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets: number[],
): Histogram<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Histogram<L>;
  return new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });
}
