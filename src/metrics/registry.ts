import { Counter, Registry, type Metric, type MetricValueWithName } from 'prom-client';

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

/** A value as prom-client's Histogram lists it: its buckets carry an (empty) exemplar too. */
type Bucketed = MetricValueWithName<string> & { exemplar?: null };

/** One label set of a TalliedHistogram: observations per bucket (not cumulative), their sum and count. */
interface Series<L extends string> {
  labels: Record<L, string>;
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * A histogram kept as plain numbers per label set, like Tally, and read by the registry as a metric
 * object of its own (name, help, type, get, reset): an observation on the read path is a bucket
 * search and three additions, not prom-client's label validation and hashing on every request. The
 * exposition text, JSON and cluster aggregation stay prom-client's; get() answers what its
 * Histogram does (cumulative `_bucket` series ending in le="+Inf", then `_sum` and `_count`).
 */
export class TalliedHistogram<L extends string> {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly #series = new Map<string, Series<L>>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    private readonly upperBounds: readonly number[],
  ) {}

  /** An observer for these label values, to keep and call on a hot path. */
  bind(labels: Record<L, string>): (value: number) => void {
    const key = this.labelNames.map((name) => labels[name]).join('\u0000');
    let series = this.#series.get(key);
    if (!series) {
      series = { labels, buckets: this.upperBounds.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    const kept = series;
    const bounds = this.upperBounds;
    return (value) => {
      if (!Number.isFinite(value)) return;
      let i = 0;
      while (i < bounds.length && value > (bounds[i] as number)) i += 1;
      if (i < bounds.length) kept.buckets[i] = (kept.buckets[i] as number) + 1;
      kept.sum += value;
      kept.count += 1;
    };
  }

  /** One observation: for paths that are not hot. */
  observe(labels: Record<L, string>, value: number): void {
    this.bind(labels)(value);
  }

  get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    values: Array<Bucketed>;
    aggregator: 'sum';
  }> {
    const values: Bucketed[] = [];
    for (const { labels, buckets, sum, count } of this.#series.values()) {
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += buckets[i] as number;
        values.push({
          labels: { le, ...labels },
          value: cumulative,
          metricName: `${this.name}_bucket`,
          exemplar: null,
        });
      });
      values.push({
        labels: { le: '+Inf', ...labels },
        value: count,
        metricName: `${this.name}_bucket`,
        exemplar: null,
      });
      values.push({ labels, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  reset(): void {
    this.#series.clear();
  }
}

/** A histogram in seconds, registered once per registry. */
export function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets: number[],
): TalliedHistogram<L> {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof TalliedHistogram) return existing as TalliedHistogram<L>;
  const made = new TalliedHistogram(
    name,
    help,
    labelNames,
    [...buckets].sort((a, b) => a - b),
  );
  // Refused (a name already taken) like any prom-client metric.
  registry.registerMetric(made as unknown as Metric);
  return made;
}
