// The histograms of our series are kept as plain numbers (TalliedHistogram, registry.ts) and read by
// prom-client's registry as a metric object: what it shows must be what prom-client's own Histogram
// shows for the same observations, in the text format, as JSON, and after a reset.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { histogram } from '../../src/metrics/registry.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.1, 1];
const OBSERVED: Array<[{ method: string; route: string }, number]> = [
  [{ method: 'GET', route: '/' }, 0.001],
  [{ method: 'GET', route: '/' }, 0.005], // on a bound: counted in it (le is "less or equal")
  [{ method: 'GET', route: '/' }, 0.02],
  [{ method: 'GET', route: '/' }, 3], // above every bound: +Inf only
  [{ method: 'POST', route: '/admin/balance' }, 0.3],
  [{ method: 'GET', route: '/' }, 0.0999],
];

function both() {
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new Histogram({
    name: 'x_seconds',
    help: 'Time, seconds',
    labelNames: ['method', 'route'],
    buckets: BUCKETS,
    registers: [theirs],
  });
  const tallied = histogram(ours, 'x_seconds', 'Time, seconds', ['method', 'route'], [...BUCKETS].reverse());
  for (const [labels, value] of OBSERVED) {
    reference.observe(labels, value);
    tallied.observe(labels, value);
  }
  return { theirs, ours, tallied };
}

test('a tallied histogram shows what prom-client’s Histogram shows for the same observations', async () => {
  const { theirs, ours } = both();
  assert.equal(await ours.metrics(), await theirs.metrics());
  // As JSON goes out (prom-client lists some keys as undefined).
  const json = async (r: Registry) => JSON.parse(JSON.stringify(await r.getMetricsAsJSON())) as unknown;
  assert.deepEqual(await json(ours), await json(theirs));
  assert.match(await ours.metrics(), /x_seconds_bucket\{le="0.005",method="GET",route="\/"\} 2/);
});

test('one histogram per registry and name; a reset empties it; a taken name is refused', async () => {
  const { theirs, ours, tallied } = both();
  assert.equal(histogram(ours, 'x_seconds', 'Time, seconds', ['method', 'route'], BUCKETS), tallied);
  ours.resetMetrics();
  theirs.resetMetrics();
  assert.equal(await ours.metrics(), await theirs.metrics());
  const bind = tallied.bind({ method: 'GET', route: '/' });
  bind(Number.NaN);
  bind(0.5);
  assert.match(await ours.metrics(), /x_seconds_count\{method="GET",route="\/"\} 1/);
  new Histogram({ name: 'y_seconds', help: 'y', registers: [ours] });
  assert.throws(() => histogram(ours, 'y_seconds', 'y', ['method'], BUCKETS), /already been registered/);
});
